import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpExecutor } from '../../src/worker/executors/http.ts';
import { assignmentForTest, recordingContext } from './helpers.ts';

const exec = new HttpExecutor();
let server: http.Server;
let base = '';
let closedPort = 0;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString();
      switch (req.url) {
        case '/json':
          res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'x-baton': 'yes' }).end('{"hello":"world"}');
          return;
        case '/text':
          res.writeHead(200, { 'content-type': 'text/plain' }).end('plain words');
          return;
        case '/echo':
          res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify({ method: req.method, contentType: req.headers['content-type'] ?? null, auth: req.headers.authorization ?? null, body }));
          return;
        case '/broken':
          res.writeHead(503, { 'content-type': 'text/plain' }).end('x'.repeat(5000));
          return;
        case '/missing':
          res.writeHead(404).end('no such thing');
          return;
        case '/slow':
          // Never answers: the attempt's timeout or cancel must end it.
          return;
        default:
          res.writeHead(500).end();
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const probe = http.createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  closedPort = (probe.address() as AddressInfo).port;
  await new Promise<void>((r) => probe.close(() => r()));
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
});

describe('http executor', () => {
  it('returns status, headers and a JSON body parsed when the response is JSON', async () => {
    const ctx = recordingContext();
    const out = await exec.execute(assignmentForTest('http', { url: `${base}/json` }), ctx);
    expect(out).toMatchObject({ ok: true, result: { status: 200, body: { hello: 'world' }, headers: { 'x-baton': 'yes' } } });
    expect(ctx.text('system')).toContain(`GET ${base}/json → 200`);
  });

  it('keeps a non-JSON body as text', async () => {
    const out = await exec.execute(assignmentForTest('http', { url: `${base}/text` }), recordingContext());
    expect(out).toMatchObject({ ok: true, result: { status: 200, body: 'plain words' } });
  });

  it('sends an object body as JSON with its content type, and a string body as is', async () => {
    const json = await exec.execute(assignmentForTest('http', { url: `${base}/echo`, method: 'POST', headers: { authorization: 'Bearer t' }, body: { a: 1 } }), recordingContext());
    expect(json).toMatchObject({ ok: true, result: { status: 201, body: { method: 'POST', contentType: 'application/json', auth: 'Bearer t', body: '{"a":1}' } } });
    const text = await exec.execute(assignmentForTest('http', { url: `${base}/echo`, method: 'PUT', headers: { 'content-type': 'text/csv' }, body: 'a,b' }), recordingContext());
    expect(text).toMatchObject({ ok: true, result: { body: { method: 'PUT', contentType: 'text/csv', body: 'a,b' } } });
  });

  it('fails with http_status and a truncated body when the status is not 2xx', async () => {
    const out = await exec.execute(assignmentForTest('http', { url: `${base}/broken` }), recordingContext());
    expect(out).toMatchObject({ ok: false, error: { code: 'http_status', message: expect.stringContaining('503'), details: { status: 503 } } });
    const body = (out as { error: { details: { body: string } } }).error.details.body;
    expect(body.length).toBeLessThan(2100);
  });

  it('accepts the statuses listed in okStatus and only those', async () => {
    expect(await exec.execute(assignmentForTest('http', { url: `${base}/missing`, okStatus: [404] }), recordingContext())).toMatchObject({ ok: true, result: { status: 404, body: 'no such thing' } });
    expect(await exec.execute(assignmentForTest('http', { url: `${base}/json`, okStatus: [204] }), recordingContext())).toMatchObject({ ok: false, error: { code: 'http_status' } });
  });

  it('fails with BATON_E_TIMEOUT when the server does not answer in time', async () => {
    const t0 = Date.now();
    const out = await exec.execute(assignmentForTest('http', { url: `${base}/slow` }, { timeoutMs: 200 }), recordingContext());
    expect(out).toMatchObject({ ok: false, timedOut: true, error: { code: 'BATON_E_TIMEOUT' } });
    expect(Date.now() - t0).toBeLessThan(1500);
  });

  it('stops at once when cancelled', async () => {
    const ctx = recordingContext();
    const run = exec.execute(assignmentForTest('http', { url: `${base}/slow` }), ctx);
    setTimeout(() => ctx.abort('cancelled'), 50);
    expect(await run).toMatchObject({ ok: false, error: { code: 'cancelled' } });
  });

  it('fails with http_error when the server cannot be reached', async () => {
    const out = await exec.execute(assignmentForTest('http', { url: `http://127.0.0.1:${closedPort}/` }), recordingContext());
    expect(out).toMatchObject({ ok: false, error: { code: 'http_error', message: expect.stringContaining('ECONNREFUSED') } });
  });
});

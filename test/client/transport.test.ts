/**
 * How the client reports failures that do not come from a Baton server: nothing listening, and
 * a proxy answering with HTML. Both servers here are real sockets on loopback.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BatonClient, BatonClientError, isBatonClientError } from '../../src/client/index.ts';

let proxy: Server;
let proxyUrl: string;
const seen: { url: string; headers: Record<string, unknown>; body: string }[] = [];

beforeAll(async () => {
  // Plays a misconfigured reverse proxy in front of Baton: HTML errors, no Baton error body.
  proxy = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      seen.push({ url: req.url ?? '', headers: req.headers, body });
      if (req.url?.startsWith('/v1/jobs/ok')) {
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"id":"ok"}');
        return;
      }
      res.writeHead(502, { 'content-type': 'text/html' }).end('<html>Bad Gateway</html>');
    });
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}/`;
});

afterAll(async () => {
  await new Promise((r) => proxy.close(r));
});

describe('BatonClient transport', () => {
  it('reports a server that is not listening as BATON_E_UNAVAILABLE', async () => {
    // Port 1 on loopback: nothing listens there and connecting needs no privilege.
    const client = new BatonClient({ url: 'http://127.0.0.1:1', token: 't' });
    const err = await client.health().catch((e: unknown) => e);
    expect(isBatonClientError(err)).toBe(true);
    expect(err).toBeInstanceOf(BatonClientError);
    expect(err).toMatchObject({ code: 'BATON_E_UNAVAILABLE', status: 0 });
    expect((err as Error).message).toContain('http://127.0.0.1:1');
  });

  it('describes a non-Baton error reply from its status line', async () => {
    const client = new BatonClient({ url: proxyUrl, token: 't' });
    const err = await client.getJob('x').catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'BATON_E_INTERNAL', status: 502 });
    expect((err as Error).message).toContain('Bad Gateway');
  });

  it('sends the token, the tenant and JSON bodies, and escapes path segments', async () => {
    const client = new BatonClient({ url: proxyUrl, token: 'secret', tenant: 'acme' });
    await client.getJob('ok/../x?y').catch(() => undefined);
    await client.getJob('ok');
    await client.cancel('ok', 'no longer needed').catch(() => undefined);
    const [escaped, plain, cancel] = seen.slice(-3);
    expect(escaped.url).toBe('/v1/jobs/ok%2F..%2Fx%3Fy');
    expect(plain.headers.authorization).toBe('Bearer secret');
    expect(plain.headers['x-baton-tenant']).toBe('acme');
    expect(cancel.headers['content-type']).toBe('application/json');
    expect(JSON.parse(cancel.body)).toEqual({ reason: 'no longer needed' });
  });
});

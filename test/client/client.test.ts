/**
 * BatonClient against a real server on loopback (embedded store in a temp dir) with a real
 * worker agent in this process: every route method, cursors, log following and errors.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BatonClient, type BatonClientError } from '../../src/client/index.ts';
import type { LogEntryView } from '../../src/core/api.ts';
import { startTestServer, type TestServer } from './harness.ts';

let t: TestServer;
const c = () => t.client;

beforeAll(async () => {
  t = await startTestServer('client');
  // The worker serves `work` only, so jobs in other queues stay pending for the tests that need that.
  await t.addWorker({ queues: ['work'] });
});

afterAll(async () => {
  await t?.stop();
});

async function failure(p: Promise<unknown>): Promise<BatonClientError> {
  try {
    await p;
  } catch (e) {
    return e as BatonClientError;
  }
  throw new Error('expected the call to fail');
}

describe('BatonClient', () => {
  it('answers health', async () => {
    expect(await c().health()).toEqual({ status: 'ok' });
    expect(await c().ready()).toEqual({ status: 'ready' });
  });

  it('submits, reads, modifies, clones and cancels a job', async () => {
    const job = await c().submit({ type: 'command', queue: 'idle', name: 'first', tags: ['client'], payload: { argv: ['echo', 'hi'] } });
    expect(job).toMatchObject({ status: 'pending', queue: 'idle', name: 'first', tags: ['client'], type: 'command' });
    const got = await c().getJob(job.id);
    expect(got.id).toBe(job.id);
    expect(got.attempts).toEqual([]);
    const modified = await c().modify(job.id, { priority: 9, name: 'renamed' });
    expect(modified).toMatchObject({ priority: 9, name: 'renamed' });
    const copy = await c().clone(job.id, { name: 'copy' });
    expect(copy.id).not.toBe(job.id);
    expect(copy).toMatchObject({ name: 'copy', priority: 9, queue: 'idle', payload: { argv: ['echo', 'hi'] } });
    const cancelled = await c().cancel(job.id, 'not needed');
    expect(cancelled).toMatchObject({ status: 'cancelled', reason: 'not needed' });
    const again = await c().retry(job.id, { queue: 'work' });
    expect(again.id).toBe(job.id);
    expect((await c().waitForJob(job.id, { timeoutMs: 10_000 })).status).toBe('completed');
    expect((await c().result(job.id)).result).toMatchObject({ exitCode: 0 });
  });

  it('submits a batch and honours idempotency keys', async () => {
    const key = `k-${Date.now()}`;
    const first = await c().submit({ type: 'command', queue: 'idle', idempotencyKey: key, payload: { argv: ['true'] } });
    const res = await c().submitBatch([
      { type: 'command', queue: 'idle', idempotencyKey: key, payload: { argv: ['true'] } },
      { type: 'command', queue: 'idle', payload: { argv: ['true'] } },
    ]);
    expect(res.existed).toEqual([true, false]);
    expect(res.jobs[0].id).toBe(first.id);
    const short = await c().submitBatch([{ type: 'command', queue: 'idle', idempotencyKey: key, payload: { argv: ['true'] } }, { type: 'command', queue: 'idle', payload: { argv: ['true'] } }], { minimal: true });
    expect(short.existed).toEqual([true, false]);
    expect(short.jobs[0]).toEqual({ id: first.id, status: first.status });
    expect(Object.keys(short.jobs[1]).sort()).toEqual(['id', 'status']);
    const one = await c().submit({ type: 'command', queue: 'idle', payload: { argv: ['true'] } }, { minimal: true });
    expect(Object.keys(one).sort()).toEqual(['id', 'status']);
    expect((await c().getJob(one.id)).queue).toBe('idle');
  });

  it('lists one page and iterates every page through cursors', async () => {
    const tag = `page-${Date.now()}`;
    const batch = await c().submitBatch(Array.from({ length: 7 }, () => ({ type: 'command' as const, queue: 'idle', tags: [tag], payload: { argv: ['true'] } })));
    const page = await c().listJobs({ tag, limit: 3 });
    expect(page.jobs).toHaveLength(3);
    expect(page.nextCursor).not.toBeNull();
    const all: string[] = [];
    for await (const j of c().iterateJobs({ tag, limit: 3 })) all.push(j.id);
    expect(all.sort()).toEqual(batch.jobs.map((j) => j.id).sort());
    const pending = await c().listJobs({ tag, status: 'pending', queue: 'idle', type: 'command' });
    expect(pending.jobs).toHaveLength(7);
    expect((await c().listJobs({ tag, status: 'failed' })).jobs).toHaveLength(0);
  });

  it('follows the logs of a running job until it ends', async () => {
    const job = await c().submit({ type: 'command', queue: 'work', payload: { script: 'echo one; sleep 0.3; echo two >&2; sleep 0.3; echo three' } });
    const seen: LogEntryView[] = [];
    const it = c().followLogs(job.id);
    let next = await it.next();
    while (!next.done) {
      seen.push(next.value);
      next = await it.next();
    }
    expect(next.value.status).toBe('completed');
    const text = (s: string) => seen.filter((l) => l.stream === s).map((l) => l.data).join('');
    expect(text('stdout')).toBe('one\nthree\n');
    expect(text('stderr')).toBe('two\n');
    // seq grows, so a follower can resume after the last line it saw.
    expect(seen.map((l) => l.seq)).toEqual([...seen.map((l) => l.seq)].sort((a, b) => a - b));
    const rest = await c().logs(job.id, { afterSeq: seen[0].seq, limit: 1000 });
    expect(rest.logs.map((l) => l.seq)).toEqual(seen.slice(1).map((l) => l.seq));
    // Following an ended job replays its lines, then ends.
    const replay: string[] = [];
    for await (const l of c().followLogs(job.id)) replay.push(l.data);
    expect(replay.join('')).toContain('three');
  });

  it('stops following when its signal aborts', async () => {
    const job = await c().submit({ type: 'command', queue: 'idle', payload: { argv: ['true'] } });
    const stop = new AbortController();
    const it = c().followLogs(job.id, { signal: stop.signal });
    const pending = it.next();
    stop.abort();
    const end = await pending;
    expect(end).toMatchObject({ done: true, value: { status: null } });
  });

  it('reports a failed job through waitForJob and the end of its log stream', async () => {
    const job = await c().submit({ type: 'command', queue: 'work', payload: { script: 'echo bad; exit 4' } });
    const done = await c().waitForJob(job.id, { timeoutMs: 10_000 });
    expect(done.status).toBe('failed');
    const it = c().followLogs(job.id);
    let next = await it.next();
    while (!next.done) next = await it.next();
    expect(next.value.status).toBe('failed');
    expect(next.value.error).not.toBeNull();
  });

  it('gives up waiting with BATON_E_WAIT_TIMEOUT', async () => {
    const job = await c().submit({ type: 'command', queue: 'idle', payload: { argv: ['true'] } });
    const err = await failure(c().waitForJob(job.id, { timeoutMs: 150 }));
    expect(err.code).toBe('BATON_E_WAIT_TIMEOUT');
    expect(err.message).toContain('pending');
    expect((await c().waitForJob(job.id, { statuses: ['pending'] })).status).toBe('pending');
  });

  it('pauses and resumes queues', async () => {
    await c().submit({ type: 'command', queue: 'pausable', payload: { argv: ['true'] } });
    const paused = await c().pauseQueue('pausable');
    expect(paused).toMatchObject({ name: 'pausable', paused: true });
    expect((await c().queues()).find((q) => q.name === 'pausable')).toMatchObject({ paused: true });
    expect(await c().resumeQueue('pausable')).toMatchObject({ paused: false });
  });

  it('lists workers and drains one', async () => {
    const w = await t.addWorker({ name: 'to-drain', queues: ['nothing'] });
    const listed = (await c().workers()).find((x) => x.name === 'to-drain');
    expect(listed).toMatchObject({ connected: true, queues: ['nothing'] });
    expect(await c().getWorker(listed!.id)).toMatchObject({ id: listed!.id, name: 'to-drain' });
    const closed = new Promise<void>((resolve) => w.on('closed', () => resolve()));
    const drained = await c().drainWorker(listed!.id);
    expect(drained).toMatchObject({ id: listed!.id, status: 'draining', notified: true });
    // An idle worker told to drain closes by itself.
    await closed;
  });

  it('creates, uses, lists and revokes tokens', async () => {
    const created = await c().createToken({ name: `viewer-${Date.now()}`, role: 'viewer' });
    expect(created.token.length).toBeGreaterThan(10);
    const viewer = new BatonClient({ url: t.url, token: created.token });
    expect(Array.isArray((await viewer.listJobs()).jobs)).toBe(true);
    const forbidden = await failure(viewer.submit({ type: 'command', payload: { argv: ['true'] } }));
    expect(forbidden).toMatchObject({ code: 'BATON_E_FORBIDDEN', status: 403 });
    expect((await c().listTokens()).map((x) => x.id)).toContain(created.id);
    await c().deleteToken(created.id);
    expect((await c().listTokens()).map((x) => x.id)).not.toContain(created.id);
    expect(await failure(viewer.listJobs())).toMatchObject({ code: 'BATON_E_UNAUTHENTICATED', status: 401 });
  });

  it('creates tenants and acts in one with X-Baton-Tenant', async () => {
    const id = `acme${Date.now()}`;
    expect(await c().createTenant({ id, name: 'Acme' })).toMatchObject({ id, name: 'Acme' });
    expect((await c().listTenants()).map((x) => x.id)).toContain(id);
    const acme = new BatonClient({ url: t.url, token: t.token, tenant: id });
    const job = await acme.submit({ type: 'command', queue: 'idle', payload: { argv: ['true'] } });
    expect(job.tenant).toBe(id);
    // Objects of another tenant are reported as not found.
    expect(await failure(c().getJob(job.id))).toMatchObject({ code: 'BATON_E_NOT_FOUND' });
  });

  it('reads the audit log page by page', async () => {
    const first = await c().audit({ limit: 2 });
    expect(first.entries).toHaveLength(2);
    expect(first.entries[0]).toHaveProperty('action');
    if (first.nextCursor) {
      const second = await c().audit({ limit: 2, cursor: first.nextCursor });
      expect(second.entries[0].id).not.toBe(first.entries[0].id);
    }
  });

  it('turns error bodies into BatonClientError with code, status and field', async () => {
    expect(await failure(c().getJob('00000000-0000-7000-8000-000000000000'))).toMatchObject({ code: 'BATON_E_NOT_FOUND', status: 404 });
    const bad = await failure(c().submit({ type: 'command', priority: 11, payload: { argv: ['true'] } }));
    expect(bad).toMatchObject({ code: 'BATON_E_VALIDATION', status: 400 });
    expect(bad.field).toContain('priority');
    const noResult = await failure(c().result((await c().submit({ type: 'command', queue: 'idle', payload: { argv: ['true'] } })).id));
    expect(noResult.code).toBe('BATON_E_NO_RESULT');
    const anonymous = new BatonClient({ url: t.url });
    expect(await failure(anonymous.listJobs())).toMatchObject({ code: 'BATON_E_UNAUTHENTICATED' });
  });
});

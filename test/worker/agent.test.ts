import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { Report, WorkerMessage } from '../../src/core/protocol.ts';
import { startWorker, type RunningWorker, type WorkerEvents, type WorkerOptions } from '../../src/worker/index.ts';
import { assignmentForTest, eventually, isAlive } from './helpers.ts';
import { protocolPeerForTest, type ProtocolPeerForTest } from './protocol-peer-for-test.ts';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(opts: Partial<WorkerOptions> = {}, peerOver: Parameters<typeof protocolPeerForTest>[0] = {}): Promise<{ peer: ProtocolPeerForTest; worker: RunningWorker }> {
  const peer = await protocolPeerForTest(peerOver);
  cleanups.push(() => peer.close());
  const worker = await startWorker({
    servers: [peer.url],
    token: peer.settings.token,
    logger: pino({ level: 'silent' }),
    reconnectMinMs: 20,
    reconnectMaxMs: 200,
    ...opts,
  });
  cleanups.push(() => worker.close());
  await worker.whenConnected();
  return { peer, worker };
}

function next<E extends keyof WorkerEvents>(worker: RunningWorker, event: E, pred: (v: WorkerEvents[E]) => boolean = () => true): Promise<WorkerEvents[E]> {
  return new Promise((resolve) => {
    const fn = (v: WorkerEvents[E]): void => {
      if (!pred(v)) return;
      worker.off(event, fn);
      resolve(v);
    };
    worker.on(event, fn);
  });
}

const reportsOf = (peer: ProtocolPeerForTest, jobId: string): Report[] => peer.reports().filter((r) => r.jobId === jobId);
const outcomeOf = (jobId: string) => (m: WorkerMessage) =>
  m.t === 'reports' ? m.reports.find((r) => r.jobId === jobId && (r.kind === 'completed' || r.kind === 'failed')) : undefined;

describe('worker agent against protocolPeerForTest', () => {
  it('connects with the bearer token and says hello with its capabilities', async () => {
    const { peer, worker } = await setup({ capacity: 3, queues: ['emails'], labels: { gpu: 'no' }, name: 'w-test', region: 'eu', handlers: { noop: () => null } });
    const [hello] = peer.hellos();
    expect(hello).toMatchObject({
      t: 'hello',
      protocol: 1,
      name: 'w-test',
      types: ['command', 'http', 'function'],
      handlers: ['noop'],
      queues: ['emails'],
      labels: { gpu: 'no' },
      capacity: 3,
      region: 'eu',
      running: [],
      draining: false,
    });
    expect(hello.workerId).toBeUndefined();
    expect(worker.id()).toBe('worker-1');
  });

  it('runs an assignment and reports started, logs and completed in acknowledged batches', async () => {
    const { peer, worker } = await setup();
    const a = assignmentForTest('command', { script: 'echo one; echo two >&2; echo three' });
    const acked = next(worker, 'finished');
    peer.send({ t: 'assign', jobs: [a] });
    await acked;
    const outcome = await peer.waitFor(outcomeOf(a.jobId));
    expect(outcome).toMatchObject({ kind: 'completed', result: { exitCode: 0, signal: null }, exitCode: 0, leaseToken: a.leaseToken });
    const rs = reportsOf(peer, a.jobId);
    expect(rs[0].kind).toBe('started');
    expect(rs.at(-1)!.kind).toBe('completed');
    const logs = rs.filter((r) => r.kind === 'log') as Array<Extract<Report, { kind: 'log' }>>;
    expect(logs.map((l) => l.seq)).toEqual(logs.map((_, i) => i + 1));
    expect(logs.filter((l) => l.stream === 'stdout').map((l) => l.data).join('')).toBe('one\nthree\n');
    expect(logs.filter((l) => l.stream === 'stderr').map((l) => l.data).join('')).toBe('two\n');
    // Batches are numbered upwards and every one was acknowledged: nothing is held for the lease.
    const nums = peer.batches().map((b) => b.batch);
    expect(nums).toEqual([...nums].sort((x, y) => x - y));
    const hb = await peer.waitFor((m) => (m.t === 'heartbeat' && m.running.length === 0 ? m : undefined));
    expect(hb.running).toEqual([]);
  });

  it('chunks large output at 64 KiB with increasing seq and reports progress', async () => {
    const big = 'é'.repeat(100_000); // 200,000 bytes of UTF-8: needs four chunks.
    const { peer, worker } = await setup({
      handlers: {
        async loud(_args, ctx) {
          ctx.log(big);
          ctx.progress(40);
          ctx.progress(140);
          return 'done';
        },
      },
    });
    const a = assignmentForTest('function', { handler: 'loud' });
    const done = next(worker, 'finished');
    peer.send({ t: 'assign', jobs: [a] });
    await done;
    await peer.waitFor(outcomeOf(a.jobId));
    const logs = reportsOf(peer, a.jobId).filter((r) => r.kind === 'log') as Array<Extract<Report, { kind: 'log' }>>;
    expect(logs.length).toBe(4);
    expect(logs.map((l) => l.seq)).toEqual([1, 2, 3, 4]);
    for (const l of logs) expect(Buffer.byteLength(l.data)).toBeLessThanOrEqual(64 * 1024);
    expect(logs.map((l) => l.data).join('')).toBe(`${big}\n`);
    const progress = reportsOf(peer, a.jobId).filter((r) => r.kind === 'progress');
    expect(progress.at(-1)).toMatchObject({ progress: 100 });
  });

  it('keeps unacknowledged batches and re-sends them in order after a dropped connection', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const { peer, worker } = await setup({ handlers: { gated: async (_a, ctx) => { ctx.log('before'); await gate; ctx.log('after'); return 42; } } }, { autoAck: false });
    const a = assignmentForTest('function', { handler: 'gated' });
    peer.send({ t: 'assign', jobs: [a] });
    await peer.waitFor((m) => (m.t === 'reports' && m.reports.some((r) => r.kind === 'log') ? true : undefined));
    const firstConnBatches = peer.batches().filter((b) => b.conn === 1);

    const reconnected = next(worker, 'connected');
    peer.dropConnection();
    await reconnected;
    // The job kept running; the new hello resumes the same worker and lists the attempt.
    const hello2 = peer.hellos()[1];
    expect(hello2.workerId).toBe('worker-1');
    expect(hello2.running).toEqual([{ jobId: a.jobId, attempt: 1, leaseToken: a.leaseToken }]);
    const resent = await peer.waitFor((_m, conn) => {
      const b = peer.batches().filter((x) => x.conn === 2);
      return conn === 2 && b.length >= firstConnBatches.length ? b : undefined;
    });
    expect(resent.slice(0, firstConnBatches.length)).toEqual(firstConnBatches.map((b) => ({ ...b, conn: 2 })));

    peer.settings.autoAck = true;
    for (const b of resent) peer.ack(b.batch);
    release();
    const outcome = await peer.waitFor(outcomeOf(a.jobId));
    expect(outcome).toMatchObject({ kind: 'completed', result: 42 });
    expect(await eventually(() => peer.received.some((r) => r.conn === 2 && r.m.t === 'heartbeat' && r.m.running.length === 0))).toBe(true);
    expect(worker.running()).toBe(0);
  });

  it('kills an attempt the heartbeat ack declares lost and reports nothing more for it', async () => {
    const { peer, worker } = await setup();
    const a = assignmentForTest('command', { script: 'echo $$; sleep 30' });
    peer.send({ t: 'assign', jobs: [a] });
    const pidLog = await peer.waitFor((m) => (m.t === 'reports' ? m.reports.find((r) => r.jobId === a.jobId && r.kind === 'log') : undefined));
    const pid = Number((pidLog as Extract<Report, { kind: 'log' }>).data.trim());
    expect(isAlive(pid)).toBe(true);
    const finished = next(worker, 'finished');
    const lost = next(worker, 'lost');
    peer.settings.lostOnHeartbeat = [{ jobId: a.jobId, attempt: 1, leaseToken: a.leaseToken }];
    expect(await lost).toMatchObject({ jobId: a.jobId });
    expect(await finished).toMatchObject({ jobId: a.jobId, reported: false });
    expect(await eventually(() => !isAlive(pid), 1000)).toBe(true);
    // A few more heartbeats go by; no outcome for the lost attempt ever arrives.
    await peer.waitFor((m) => (m.t === 'heartbeat' && m.running.length === 0 ? true : undefined));
    expect(reportsOf(peer, a.jobId).some((r) => r.kind === 'completed' || r.kind === 'failed')).toBe(false);
  });

  it('kills an attempt on cancel within 1 s and sends at most a failed report with code cancelled', async () => {
    const { peer, worker } = await setup();
    const a = assignmentForTest('command', { script: 'trap "" TERM; echo $$; sleep 30 & wait' });
    peer.send({ t: 'assign', jobs: [a] });
    const pidLog = await peer.waitFor((m) => (m.t === 'reports' ? m.reports.find((r) => r.jobId === a.jobId && r.kind === 'log') : undefined));
    const pid = Number((pidLog as Extract<Report, { kind: 'log' }>).data.trim());
    const before = reportsOf(peer, a.jobId).length;
    const finished = next(worker, 'finished');
    const t0 = Date.now();
    peer.send({ t: 'cancel', jobId: a.jobId, attempt: 1, reason: 'cancelled_by_user' });
    const f = await finished;
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(f.outcome).toMatchObject({ ok: false, error: { code: 'cancelled' } });
    expect(isAlive(pid)).toBe(false);
    const outcome = await peer.waitFor(outcomeOf(a.jobId));
    expect(outcome).toMatchObject({ kind: 'failed', error: { code: 'cancelled' } });
    expect(reportsOf(peer, a.jobId).slice(before).map((r) => r.kind)).toEqual(['failed']);
  });

  it('ends a function attempt at once on cancel or timeout even when its handler never reads its signal', async () => {
    let signalAfterCancel: AbortSignal | null = null;
    const { peer, worker } = await setup({
      handlers: {
        deaf: () => new Promise(() => {}),
        late: (_args, ctx) =>
          new Promise(() => {
            // Reads its signal only after the cancel: it must come already aborted.
            setTimeout(() => (signalAfterCancel = ctx.signal), 100);
          }),
      },
    });
    const a = assignmentForTest('function', { handler: 'deaf' });
    const b = assignmentForTest('function', { handler: 'late' });
    const c = assignmentForTest('function', { handler: 'deaf' }, { timeoutMs: 50 });
    peer.send({ t: 'assign', jobs: [a, b, c] });
    await peer.waitFor((m) => (m.t === 'reports' && m.reports.some((r) => r.jobId === b.jobId && r.kind === 'started') ? true : undefined));
    const doneA = next(worker, 'finished', (f) => f.jobId === a.jobId);
    const doneB = next(worker, 'finished', (f) => f.jobId === b.jobId);
    peer.send({ t: 'cancel', jobId: a.jobId, attempt: 1, reason: 'cancelled_by_user' });
    peer.send({ t: 'cancel', jobId: b.jobId, attempt: 1, reason: 'cancelled_by_user' });
    expect((await doneA).outcome).toMatchObject({ ok: false, error: { code: 'cancelled' } });
    expect((await doneB).outcome).toMatchObject({ ok: false, error: { code: 'cancelled' } });
    expect(await peer.waitFor(outcomeOf(c.jobId))).toMatchObject({ kind: 'failed', timedOut: true, error: { code: 'BATON_E_TIMEOUT' } });
    expect(await peer.waitFor(outcomeOf(a.jobId))).toMatchObject({ kind: 'failed', error: { code: 'cancelled' } });
    expect(await eventually(() => signalAfterCancel !== null, 1000)).toBe(true);
    expect(signalAfterCancel!.aborted).toBe(true);
    expect(worker.running()).toBe(0);
  });

  it('stops an attempt whose report is refused as stale and does not retry it', async () => {
    const { peer, worker } = await setup({ handlers: { forever: (_a, ctx) => new Promise((resolve) => ctx.signal.addEventListener('abort', () => resolve('stopped'))) } });
    const a = assignmentForTest('function', { handler: 'forever' });
    peer.settings.verdict = (r) => (r.jobId === a.jobId ? { ok: false, code: 'BATON_E_STALE_ATTEMPT', message: 'attempt 1 is not current' } : { ok: true });
    const refused = next(worker, 'refused');
    const finished = next(worker, 'finished');
    peer.send({ t: 'assign', jobs: [a] });
    expect(await refused).toMatchObject({ code: 'BATON_E_STALE_ATTEMPT', report: { kind: 'started' } });
    expect(await finished).toMatchObject({ reported: false });
    expect(worker.running()).toBe(0);
    expect(reportsOf(peer, a.jobId).map((r) => r.kind)).toEqual(['started']);
  });

  it('respects capacity: a second assignment waits for a free slot', async () => {
    const { peer, worker } = await setup({ capacity: 1 });
    const a = assignmentForTest('command', { script: 'sleep 0.2' });
    const b = assignmentForTest('command', { argv: ['true'] });
    peer.send({ t: 'assign', jobs: [a, b] });
    await peer.waitFor(outcomeOf(b.jobId));
    const order = peer.reports().filter((r) => r.kind !== 'log').map((r) => `${r.jobId === a.jobId ? 'a' : 'b'}:${r.kind}`);
    expect(order).toEqual(['a:started', 'a:completed', 'b:started', 'b:completed']);
    expect(worker.running()).toBe(0);
  });

  it('respects capacity when handlers end synchronously, mixed with ones that wait', async () => {
    let inFlight = 0;
    let most = 0;
    const enter = (): void => {
      inFlight++;
      most = Math.max(most, inFlight);
    };
    const { peer, worker } = await setup({
      capacity: 2,
      handlers: {
        quick: (args: { i: number }) => {
          enter();
          inFlight--;
          return args.i;
        },
        slow: (args: { i: number }) => {
          enter();
          return new Promise((resolve) => setTimeout(() => (inFlight--, resolve(args.i)), 20));
        },
      },
    });
    const jobs = Array.from({ length: 12 }, (_, i) => assignmentForTest('function', { handler: i % 3 === 0 ? 'slow' : 'quick', args: { i } }));
    peer.send({ t: 'assign', jobs });
    for (const [i, j] of jobs.entries()) expect(await peer.waitFor(outcomeOf(j.jobId))).toMatchObject({ kind: 'completed', result: i });
    expect(most).toBeLessThanOrEqual(2);
    expect(worker.running()).toBe(0);
  });

  it('fails a result over maxResultBytes with BATON_E_RESULT_TOO_LARGE, and a container job as unsupported', async () => {
    const { peer } = await setup({ handlers: { huge: () => 'x'.repeat(500) } }, { maxResultBytes: 100 });
    const a = assignmentForTest('function', { handler: 'huge' });
    const c = assignmentForTest('container', { image: 'busybox' });
    peer.send({ t: 'assign', jobs: [a, c] });
    expect(await peer.waitFor(outcomeOf(a.jobId))).toMatchObject({
      kind: 'failed',
      error: { code: 'BATON_E_RESULT_TOO_LARGE', message: expect.stringMatching(/502 bytes.*limit of 100 bytes/) },
    });
    expect(await peer.waitFor(outcomeOf(c.jobId))).toMatchObject({
      kind: 'failed',
      error: { code: 'BATON_E_EXECUTION_FAILED', message: 'container jobs are not supported by this worker yet' },
    });
  });

  it('drains on the server\'s request: says draining, finishes running work, waits for acks, then closes', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const { peer, worker } = await setup({ handlers: { slow: async () => { await gate; return 'ok'; } } });
    const a = assignmentForTest('function', { handler: 'slow' });
    peer.send({ t: 'assign', jobs: [a] });
    await peer.waitFor((m) => (m.t === 'reports' && m.reports.some((r) => r.jobId === a.jobId) ? true : undefined));
    const closed = next(worker, 'closed');
    peer.send({ t: 'drain' });
    await peer.waitFor((m) => (m.t === 'draining' ? true : undefined));
    expect(worker.running()).toBe(1);
    release();
    await closed;
    expect(await peer.waitFor(outcomeOf(a.jobId))).toMatchObject({ kind: 'completed', result: 'ok' });
    await peer.whenClosed();
    expect(peer.connections()).toBe(1);
  });

  it('fails over to the next server URL when one is unreachable', async () => {
    const probe = http.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const deadUrl = `http://127.0.0.1:${(probe.address() as AddressInfo).port}`;
    await new Promise<void>((r) => probe.close(() => r()));
    const peer = await protocolPeerForTest();
    cleanups.push(() => peer.close());
    const worker = await startWorker({ servers: [deadUrl, peer.url], token: peer.settings.token, logger: pino({ level: 'silent' }), reconnectMinMs: 20 });
    cleanups.push(() => worker.close());
    const disconnected = next(worker, 'disconnected');
    const connected = next(worker, 'connected');
    expect((await disconnected).url).toContain(deadUrl.replace('http', 'ws'));
    expect((await connected).url).toContain(peer.url.replace('http', 'ws'));
  });

  it('keeps retrying with backoff when the token is refused, and close() stops it', async () => {
    const peer = await protocolPeerForTest();
    cleanups.push(() => peer.close());
    const worker = await startWorker({ servers: [peer.url], token: 'wrong', logger: pino({ level: 'silent' }), reconnectMinMs: 20, reconnectMaxMs: 50 });
    expect(await eventually(() => peer.refused() >= 3, 3000)).toBe(true);
    await worker.close();
    const after = peer.refused();
    expect(worker.id()).toBeNull();
    expect(peer.connections()).toBe(0);
    await new Promise((r) => setTimeout(r, 150)); // a window in which a stray reconnect would show
    expect(peer.refused()).toBe(after);
  });

  it('delivers every report of 2,000 attempts exactly once, in batches of at most 500', async () => {
    const { peer, worker } = await setup({ capacity: 100, handlers: { echo: (args: { i: number }, ctx) => (ctx.log('job', args.i), args.i) } });
    const jobs = Array.from({ length: 2000 }, (_, i) => assignmentForTest('function', { handler: 'echo', args: { i } }));
    for (let i = 0; i < jobs.length; i += 250) peer.send({ t: 'assign', jobs: jobs.slice(i, i + 250) });
    const byJob = (): Map<string, string[]> => {
      const m = new Map<string, string[]>();
      for (const r of peer.reports()) m.set(r.jobId, [...(m.get(r.jobId) ?? []), r.kind]);
      return m;
    };
    expect(await eventually(() => [...byJob().values()].filter((k) => k.includes('completed')).length === jobs.length, 8000)).toBe(true);
    const m = byJob();
    // A `started` still unsent when the attempt completed is coalesced away (it may have gone
    // before, when a batch filled up); everything else arrives exactly once.
    for (const j of jobs) expect([['started', 'log', 'completed'], ['log', 'completed']]).toContainEqual(m.get(j.jobId));
    expect(Math.max(...peer.batches().map((b) => b.reports.length))).toBeLessThanOrEqual(500);
    expect(worker.running()).toBe(0);
  });
});

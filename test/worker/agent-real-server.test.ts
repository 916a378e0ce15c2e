/**
 * The worker agent against the real server (gateway, dispatcher, store) in this process: the
 * protocol peer in agent.test.ts pins the worker's own behaviour; this checks that the two
 * sides agree.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BatonClient } from '../../src/client/index.ts';
import { startServer, type RunningServer } from '../../src/server/app.ts';
import { startWorker, type RunningWorker } from '../../src/worker/index.ts';
import { eventually, isAlive } from './helpers.ts';

const logger = pino({ level: 'silent' });
const serverSettings = { heartbeatMs: 100, leaseMs: 3000, logger };
let dataDir = '';
let srv: RunningServer;
let token = '';
let client: BatonClient;
let worker: RunningWorker;

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'baton-worker-real-'));
  srv = await startServer({ port: 0, dataDir, ...serverSettings });
  token = srv.adminToken!;
  client = new BatonClient({ url: srv.url, token });
  worker = await startWorker({
    servers: [srv.url],
    token,
    name: 'real-server-worker',
    capacity: 4,
    logger,
    reconnectMinMs: 20,
    reconnectMaxMs: 200,
    handlers: { greet: (args: { who: string }, ctx) => (ctx.log('greeting', args.who), `hello ${args.who}`) },
  });
  await worker.whenConnected();
});

afterAll(async () => {
  await worker?.close();
  await srv?.close();
  await rm(dataDir, { recursive: true, force: true });
});

/**
 * A worker with one slot and two prefetched jobs that serves only queue `pool` and jobs that
 * require the label pool=`pool` (so the suite's main worker never takes them).
 */
function prefetchingWorker(pool: string, hold: () => Promise<string>): Promise<RunningWorker> {
  return startWorker({ servers: [srv.url], token, name: `${pool}-worker`, capacity: 1, prefetch: 2, queues: [pool], labels: { pool }, logger, handlers: { hold } });
}

describe('worker agent with the real server', () => {
  it('runs command and function jobs; logs and results reach the API', async () => {
    const cmd = await client.submit({ type: 'command', payload: { script: 'echo out; echo err >&2' } });
    const fn = await client.submit({ type: 'function', payload: { handler: 'greet', args: { who: 'baton' } } });
    const [c, f] = await Promise.all([client.waitForJob(cmd.id, { timeoutMs: 10_000 }), client.waitForJob(fn.id, { timeoutMs: 10_000 })]);
    expect(c.status).toBe('completed');
    expect(f.status).toBe('completed');
    expect((await client.result(fn.id)).result).toBe('hello baton');
    const logs = (await client.logs(cmd.id)).logs;
    expect(logs.filter((l) => l.stream === 'stdout').map((l) => l.data).join('')).toBe('out\n');
    expect(logs.filter((l) => l.stream === 'stderr').map((l) => l.data).join('')).toBe('err\n');
  });

  it('kills the process tree of a cancelled job within a second', async () => {
    const job = await client.submit({ type: 'command', payload: { script: 'sleep 60 & echo $!; wait' } });
    let pid = 0;
    const deadline = Date.now() + 10_000;
    while (pid === 0 && Date.now() < deadline) {
      const m = /(\d+)/.exec((await client.logs(job.id)).logs.map((l) => l.data).join(''));
      if (m) pid = Number(m[1]);
      else await new Promise((r) => setTimeout(r, 25));
    }
    expect(isAlive(pid)).toBe(true);
    const finished = new Promise<void>((resolve) => worker.on('finished', (f) => f.jobId === job.id && resolve()));
    const t0 = Date.now();
    expect((await client.cancel(job.id)).status).toBe('cancelled');
    await finished;
    expect(await eventually(() => !isAlive(pid), 1000 - (Date.now() - t0))).toBe(true);
  });

  it('keeps a job running through a server restart and reports it to the new server', async () => {
    const job = await client.submit({ type: 'command', payload: { script: 'echo before; sleep 1; echo after' } });
    await client.waitForJob(job.id, { statuses: ['running'], timeoutMs: 10_000 });
    const port = Number(new URL(srv.url).port);
    const disconnected = new Promise<void>((resolve) => worker.on('disconnected', () => resolve()));
    await srv.close();
    await disconnected;
    srv = await startServer({ port, dataDir, ...serverSettings });
    client = new BatonClient({ url: srv.url, token });
    const done = await client.waitForJob(job.id, { timeoutMs: 15_000 });
    expect(done.status).toBe('completed');
    expect(done.attempts).toHaveLength(1);
    const text = (await client.logs(job.id)).logs.map((l) => l.data).join('');
    expect(text).toBe('before\nafter\n');
  });

  it('prefetch: takes jobs beyond its capacity, queues them, and runs them one slot at a time', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let concurrent = 0;
    let most = 0;
    const pf = await prefetchingWorker('prefetch', async () => {
      most = Math.max(most, ++concurrent);
      await gate;
      concurrent--;
      return 'done';
    });
    try {
      await pf.whenConnected();
      const assigned: string[] = [];
      pf.on('assigned', (a) => assigned.push(a.jobId));
      const jobs = await Promise.all([1, 2, 3, 4].map(() => client.submit({ type: 'function', queue: 'prefetch', requirements: { labels: { pool: 'prefetch' } }, payload: { handler: 'hold' } })));
      // One slot plus two prefetched: three assignments reach the worker, the fourth waits.
      expect(await eventually(() => assigned.length === 3, 5000)).toBe(true);
      const statuses = await Promise.all(jobs.map(async (j) => (await client.getJob(j.id)).status));
      expect(statuses.filter((x) => x === 'running')).toHaveLength(1);
      expect(statuses.filter((x) => x === 'assigned')).toHaveLength(2);
      expect(statuses.filter((x) => x === 'pending')).toHaveLength(1);
      release();
      for (const j of jobs) expect((await client.waitForJob(j.id, { timeoutMs: 10_000 })).status).toBe('completed');
      expect(most).toBe(1);
    } finally {
      await pf.close();
    }
  });

  it('prefetch: a draining worker gives back the jobs it has not started, at once', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const pf = await prefetchingWorker('returning', async () => (await gate, 'done'));
    const assigned: string[] = [];
    pf.on('assigned', (a) => assigned.push(a.jobId));
    await pf.whenConnected();
    const jobs = await Promise.all([1, 2, 3].map(() => client.submit({ type: 'function', queue: 'returning', requirements: { labels: { pool: 'returning' } }, payload: { handler: 'hold' } })));
    expect(await eventually(() => assigned.length === 3, 5000)).toBe(true);
    const drained = pf.drain();
    const queued = jobs.filter((j) => j.id !== assigned[0]);
    for (const j of queued) {
      // Back to pending long before a lease (3 s here) could expire.
      const got = await client.waitForJob(j.id, { statuses: ['pending'], timeoutMs: 2000 });
      expect(got.attempts?.[0]).toMatchObject({ status: 'returned' });
    }
    release();
    await drained;
    expect((await client.getJob(assigned[0])).status).toBe('completed');
    for (const j of queued) expect((await client.getJob(j.id)).status).toBe('pending');
  });

  it('drains when the server asks: finishes its job, then closes', async () => {
    const job = await client.submit({ type: 'command', payload: { script: 'sleep 0.3; echo drained' } });
    await client.waitForJob(job.id, { statuses: ['running'], timeoutMs: 10_000 });
    const closed = new Promise<void>((resolve) => worker.on('closed', () => resolve()));
    await client.drainWorker(worker.id()!);
    await closed;
    expect((await client.getJob(job.id)).status).toBe('completed');
  });
});

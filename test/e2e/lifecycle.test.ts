/**
 * End to end on the embedded store: one real server process, two real worker processes, jobs
 * that are real child processes. Covers the foundation's lifecycle promises.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { JobView } from '../../src/core/api.ts';
import type { ServerMessage } from '../../src/core/protocol.ts';
import { freePort, killAll, processExists, startServerProcess, startWorkerProcess, tempDir, until, type Proc, type ServerProc } from './harness.ts';

// Short leases so lost workers are noticed in about 2 s instead of 10.
const env = { BATON_LEASE_MS: '2000', BATON_HEARTBEAT_MS: '400', BATON_REAP_INTERVAL_MS: '200' };

let server: ServerProc;
let workerA: Proc;
let workerB: Proc;
let cleanup: () => Promise<void>;

beforeAll(async () => {
  const tmp = await tempDir('e2e-lifecycle');
  cleanup = tmp.cleanup;
  server = await startServerProcess({ dataDir: tmp.dir, port: await freePort(), env });
  [workerA, workerB] = await Promise.all([
    startWorkerProcess(server, { name: 'worker-a', capacity: 4, queues: ['default'] }),
    // B alone serves `ordered`, with one slot: the priority test needs a single free slot.
    startWorkerProcess(server, { name: 'worker-b', capacity: 1, queues: ['default', 'ordered'] }),
  ]);
}, 90_000);

afterAll(async () => {
  await killAll();
  await cleanup?.();
});

const c = () => server.client;

function startedAt(job: JobView): number {
  return Date.parse(job.startedAt!);
}

describe('a real server with two real workers', () => {
  it('runs a command job and keeps its result and logs', async () => {
    const job = await c().submit({ type: 'command', payload: { script: 'echo hello from baton; echo oops >&2; exit 0' } });
    expect(job.status).toBe('pending');
    const done = await c().waitForJob(job.id, { timeoutMs: 15_000 });
    expect(done.status).toBe('completed');
    expect(done.attempts).toHaveLength(1);
    const result = await c().result(job.id);
    expect(result.result).toMatchObject({ exitCode: 0 });
    const { logs } = await c().logs(job.id);
    const text = (s: string) => logs.filter((l) => l.stream === s).map((l) => l.data).join('');
    expect(text('stdout')).toContain('hello from baton');
    expect(text('stderr')).toContain('oops');
  });

  it('hands the one free slot out in priority order', async () => {
    const blocker = await c().submit({ type: 'command', queue: 'ordered', payload: { argv: ['sleep', '1'] } });
    await c().waitForJob(blocker.id, { statuses: ['running'], timeoutMs: 10_000 });
    const low = await c().submit({ type: 'command', queue: 'ordered', priority: 1, payload: { argv: ['true'] } });
    const mid = await c().submit({ type: 'command', queue: 'ordered', priority: 5, payload: { argv: ['true'] } });
    const high = await c().submit({ type: 'command', queue: 'ordered', priority: 10, payload: { argv: ['true'] } });
    const [l, m, h] = await Promise.all([low, mid, high].map((j) => c().waitForJob(j.id, { timeoutMs: 20_000 })));
    for (const j of [l, m, h]) expect(j.status).toBe('completed');
    expect(startedAt(h)).toBeLessThan(startedAt(m));
    expect(startedAt(m)).toBeLessThan(startedAt(l));
  });

  it('holds a delayed job until its time', async () => {
    const job = await c().submit({ type: 'command', delayMs: 1500, payload: { argv: ['true'] } });
    expect(job.status).toBe('scheduled');
    const done = await c().waitForJob(job.id, { timeoutMs: 15_000 });
    expect(done.status).toBe('completed');
    expect(startedAt(done)).toBeGreaterThanOrEqual(Date.parse(job.createdAt) + 1500);
    // The promoter is timer-driven: the job should not wait a whole polling period after its time.
    expect(startedAt(done)).toBeLessThan(Date.parse(job.runAt) + 1000);
  });

  it('cancels a running job and kills its process tree within a second', async () => {
    const job = await c().submit({ type: 'command', payload: { script: 'sleep 60 & echo $!; wait' } });
    const pid = await until('the job to print its child pid', async () => {
      const { logs } = await c().logs(job.id);
      const m = /(\d+)/.exec(logs.map((l) => l.data).join(''));
      return m ? Number(m[1]) : null;
    });
    expect(processExists(pid)).toBe(true);
    const cancelled = await c().cancel(job.id);
    expect(cancelled.status).toBe('cancelled');
    const t0 = Date.now();
    await until('the sleep process to be gone', () => !processExists(pid), 1500, 20);
    expect(Date.now() - t0).toBeLessThan(1000);
    // The slot came back: a new job still runs.
    const next = await c().submit({ type: 'command', payload: { argv: ['true'] } });
    expect((await c().waitForJob(next.id, { timeoutMs: 10_000 })).status).toBe('completed');
  });

  it('retries a failing job with backoff, then moves it to the dead-letter set', async () => {
    const job = await c().submit({
      type: 'command',
      payload: { script: 'echo failing; exit 3' },
      maxRetries: 2,
      backoff: { initialMs: 300, factor: 2, jitter: 0, maxMs: 10_000 },
    });
    const done = await c().waitForJob(job.id, { timeoutMs: 20_000 });
    expect(done.status).toBe('failed');
    expect(done.attempts).toHaveLength(3);
    const a = done.attempts!;
    for (const at of a) {
      expect(at.status).toBe('failed');
      expect(at.exitCode).toBe(3);
    }
    // Each retry waited at least its backoff: 300 ms, then 600 ms.
    expect(Date.parse(a[1].assignedAt) - Date.parse(a[0].endedAt!)).toBeGreaterThanOrEqual(300);
    expect(Date.parse(a[2].assignedAt) - Date.parse(a[1].endedAt!)).toBeGreaterThanOrEqual(600);
    const dead = await c().listJobs({ status: 'failed' });
    expect(dead.jobs.map((j) => j.id)).toContain(job.id);
    // Requeue from the dead-letter set.
    const again = await c().retry(job.id);
    expect(['pending', 'assigned', 'running']).toContain(again.status);
  });

  it('refuses a report from an attempt whose lease was lost (fencing)', async () => {
    // A hand-driven protocol client plays a worker that stalls: it takes a job, then stops heartbeating.
    const ws = new WebSocket(`${server.url.replace('http', 'ws')}/v1/worker/connect`, { headers: { authorization: `Bearer ${server.token}` } });
    const inbox: ServerMessage[] = [];
    ws.on('message', (d) => inbox.push(JSON.parse(d.toString()) as ServerMessage));
    await new Promise((resolve, reject) => (ws.once('open', resolve), ws.once('error', reject)));
    ws.send(JSON.stringify({ t: 'hello', protocol: 1, name: 'stalling', host: 'test', types: ['command'], handlers: [], queues: ['fenced'], labels: {}, capacity: 1, running: [] }));
    await until('welcome', () => inbox.find((m) => m.t === 'welcome'));
    const job = await c().submit({ type: 'command', queue: 'fenced', payload: { script: 'echo second worker' } });
    const assign = await until('assignment', () => inbox.find((m) => m.t === 'assign'));
    const first = assign.t === 'assign' ? assign.jobs[0] : undefined;
    expect(first?.jobId).toBe(job.id);
    ws.send(JSON.stringify({ t: 'draining' }));
    ws.send(JSON.stringify({ t: 'reports', batch: 1, reports: [{ kind: 'started', jobId: job.id, attempt: first!.attempt, leaseToken: first!.leaseToken, at: Date.now() }] }));
    // No heartbeats: the lease expires and the job goes back to pending; a real worker takes it.
    await until('the lease to expire', async () => (await c().getJob(job.id)).status === 'pending', 10_000);
    const rescuer = await startWorkerProcess(server, { name: 'rescuer', capacity: 1, queues: ['fenced'] });
    const done = await c().waitForJob(job.id, { timeoutMs: 15_000 });
    expect(done.status).toBe('completed');
    expect(done.attempts!.map((a) => a.status)).toEqual(['lost', 'completed']);
    // The stalled worker wakes up and reports its old attempt as completed: refused.
    ws.send(JSON.stringify({ t: 'reports', batch: 2, reports: [{ kind: 'completed', jobId: job.id, attempt: first!.attempt, leaseToken: first!.leaseToken, at: Date.now(), result: { forged: true } }] }));
    const ack = await until('ack of the late report', () => inbox.find((m) => m.t === 'ack' && m.batch === 2));
    expect(ack.t === 'ack' && ack.verdicts[0]).toMatchObject({ ok: false, code: 'BATON_E_STALE_ATTEMPT' });
    const after = await c().getJob(job.id);
    expect(after.status).toBe('completed');
    expect((await c().result(job.id)).result).not.toMatchObject({ forged: true });
    ws.close();
    rescuer.kill('SIGTERM');
    await rescuer.exited;
  });

  it('moves the job of a worker killed with SIGKILL to the other worker', async () => {
    const job = await c().submit({ type: 'command', payload: { script: 'sleep 2; echo finished' } });
    const running = await c().waitForJob(job.id, { statuses: ['running'], timeoutMs: 10_000 });
    const workers = await c().workers();
    const holder = workers.find((w) => w.id === running.workerId)!;
    const [victim, survivor] = holder.name === 'worker-a' ? [workerA, workerB] : [workerB, workerA];
    victim.kill('SIGKILL');
    await victim.exited;
    const done = await c().waitForJob(job.id, { timeoutMs: 20_000 });
    expect(done.status).toBe('completed');
    expect(done.attempts!.map((a) => a.status)).toEqual(['lost', 'completed']);
    const finalWorker = (await c().workers()).find((w) => w.id === done.attempts![1].workerId)!;
    expect(finalWorker.name).toBe(holder.name === 'worker-a' ? 'worker-b' : 'worker-a');
    expect(survivor.child.exitCode).toBeNull();
  });
});

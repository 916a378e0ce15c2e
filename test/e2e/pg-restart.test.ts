/**
 * Degraded mode: PostgreSQL restarts (immediate stop, then start) while clients submit and a
 * worker runs jobs. The API answers 503 with Retry-After while the database is away — never a
 * success for a job it did not store — and everything resumes by itself. Uses a throwaway
 * PostgreSQL cluster of its own, never the shared one.
 */
import { execFileSync } from 'node:child_process';
import { chownSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { freePort, killAll, startServerProcess, startWorkerProcess, tempDir, until } from './harness.ts';

const PG_BIN = '/usr/lib/postgresql/15/bin';
const env = { BATON_LEASE_MS: '4000', BATON_HEARTBEAT_MS: '500', BATON_REAP_INTERVAL_MS: '200', BATON_LEADER_TTL_MS: '1500', BATON_LOG_LEVEL: 'warn' };
const HANDLERS = path.resolve('test/e2e/fixtures/record-handlers.ts');

let dir: string;
let cleanup: () => Promise<void>;
let pgData: string;
let pgPort: number;

function asPostgres(cmd: string[]): void {
  execFileSync('su', ['postgres', '-c', cmd.map((a) => `'${a}'`).join(' ')], { stdio: 'pipe' });
}

function pgCtl(...args: string[]): void {
  asPostgres([`${PG_BIN}/pg_ctl`, '-D', pgData, ...args]);
}

beforeAll(async () => {
  const tmp = await tempDir('e2e-pgrestart');
  dir = tmp.dir;
  cleanup = tmp.cleanup;
  const pgDir = path.join(dir, 'pg');
  mkdirSync(pgDir);
  // The throwaway cluster runs as the postgres user, which must own its directory.
  chownSync(dir, 0, 0);
  execFileSync('chmod', ['755', dir]);
  execFileSync('chown', ['postgres', pgDir]);
  pgData = path.join(pgDir, 'data');
  pgPort = await freePort();
  asPostgres([`${PG_BIN}/initdb`, '-D', pgData, '-A', 'trust', '-U', 'postgres']);
  pgCtl('-o', `-p ${pgPort} -k ${pgDir} -c listen_addresses=127.0.0.1`, '-l', path.join(pgDir, 'log'), '-w', 'start');
}, 60_000);

afterAll(async () => {
  await killAll();
  try {
    pgCtl('-m', 'immediate', '-w', 'stop');
  } catch {
    // Already stopped.
  }
  await cleanup?.();
}, 60_000);

it('answers 503 while PostgreSQL restarts, loses no accepted job, and resumes by itself', async () => {
  const store = `postgres://postgres@127.0.0.1:${pgPort}/postgres?schema=baton`;
  const server = await startServerProcess({ dataDir: path.join(dir, 'server'), port: await freePort(), env, store });
  const worker = await startWorkerProcess(server, { name: 'steady', capacity: 16, queues: ['default'], handlers: HANDLERS });
  const c = server.client;

  // A job that is running across the restart: the worker must hold its result and deliver it later.
  const long = await c.submit({ type: 'function', payload: { handler: 'record', args: { sleepMs: 2500 } } });
  await c.waitForJob(long.id, { statuses: ['running'], timeoutMs: 10_000 });

  const accepted = new Set<string>();
  const statuses = new Map<number, number>();
  let first503: number | null = null;
  let last503: number | null = null;
  let stop = false;
  const submitters = Array.from({ length: 4 }, async () => {
    while (!stop) {
      const res = await fetch(`${server.url}/v1/jobs`, {
        method: 'POST',
        headers: { authorization: `Bearer ${server.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ type: 'function', payload: { handler: 'record', args: {} } }),
      }).catch(() => null);
      if (!res) continue;
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      if (res.status === 201) accepted.add(((await res.json()) as { id: string }).id);
      else {
        if (res.status === 503) {
          expect(res.headers.get('retry-after')).toMatch(/^\d+$/);
          first503 ??= Date.now();
          last503 = Date.now();
        }
        await res.arrayBuffer();
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  });

  await until('some accepted jobs', () => accepted.size >= 100, 20_000, 20);
  const down = Date.now();
  pgCtl('-m', 'immediate', '-w', 'stop');
  await until('the API to report the outage', () => first503 !== null, 20_000, 20);
  await new Promise((r) => setTimeout(r, 1000)); // stay down a while, as a real restart would
  pgCtl('-o', `-p ${pgPort} -k ${path.dirname(pgData)} -c listen_addresses=127.0.0.1`, '-l', path.join(path.dirname(pgData), 'log'), '-w', 'start');
  const up = Date.now();
  await until('submits to succeed again', async () => {
    const before = accepted.size;
    await new Promise((r) => setTimeout(r, 200));
    return accepted.size > before && last503 !== null && Date.now() - last503 > 500;
  }, 60_000, 50);
  stop = true;
  await Promise.all(submitters);

  const outageMs = (last503 ?? up) - (first503 ?? down);
  console.log(`PostgreSQL down for ${up - down} ms; the API answered 503 for ${outageMs} ms; responses: ${JSON.stringify(Object.fromEntries(statuses))}`);
  expect([...statuses.keys()].every((s) => s === 201 || s === 503)).toBe(true);

  // Every job the API accepted exists and completes; the long job's held result arrives.
  const ids = [...accepted, long.id];
  let stuck: unknown = null;
  await until('every accepted job to complete', async () => {
    for (let i = 0; i < ids.length; i += 50) {
      const page = await Promise.all(ids.slice(i, i + 50).map((id) => c.getJob(id)));
      const open = page.find((j) => j.status !== 'completed');
      if (open) {
        stuck = open;
        return false;
      }
    }
    return true;
  }, 60_000, 500).catch((e: Error) => {
    throw new Error(`${e.message}; still open: ${JSON.stringify(stuck)}\nserver: ${server.output().slice(-3000)}\nworker: ${worker.output().slice(-3000)}`);
  });
  expect(worker.child.exitCode).toBeNull();
}, 180_000);

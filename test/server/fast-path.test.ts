/**
 * The submit fast path on a store that commits several submit groups at once (PostgreSQL): groups
 * planned while others are still in their transaction share the free slots, never book one twice.
 * A real server on loopback, a real PostgreSQL schema, a hand-driven worker.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { BatonClient } from '../../src/client/index.ts';
import type { JobView } from '../../src/core/api.ts';
import type { ServerMessage } from '../../src/core/protocol.ts';
import { startServer, type RunningServer } from '../../src/server/app.ts';

const URL = process.env.BATON_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const schema = `baton_test_fast_${randomBytes(6).toString('hex')}`;
const CAPACITY = 4;

let server: RunningServer;
let dir: string;
let admin: BatonClient;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'baton-fast-path-'));
  // No safety tick: every assignment comes from a submit's fast path or a wake-up.
  server = await startServer({ port: 0, dataDir: dir, store: `${URL}?schema=${schema}`, logLevel: 'silent', dispatchTickMs: 600_000 });
  admin = new BatonClient({ url: server.url, token: server.adminToken! });
});

afterAll(async () => {
  await server?.close();
  await rm(dir, { recursive: true, force: true });
  const sql = postgres(URL, { max: 1, onnotice: () => {} });
  await sql.unsafe(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await sql.end({ timeout: 5 });
});

/** Opens a protocol connection as a worker of CAPACITY slots; collects what the server sends. */
async function connectWorker(): Promise<{ inbox: ServerMessage[]; ws: WebSocket }> {
  const inbox: ServerMessage[] = [];
  const ws = new WebSocket(`${server.url.replace('http', 'ws')}/v1/worker/connect`, { headers: { authorization: `Bearer ${server.adminToken!}` } });
  ws.on('message', (d) => inbox.push(JSON.parse(d.toString()) as ServerMessage));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  ws.send(JSON.stringify({ t: 'hello', protocol: 1, name: 'raw', host: 'test', types: ['command'], handlers: [], queues: ['fast'], labels: {}, capacity: CAPACITY, running: [] }));
  for (let i = 0; i < 500 && !inbox.some((m) => m.t === 'welcome'); i++) await new Promise((r) => setTimeout(r, 10));
  expect(inbox.some((m) => m.t === 'welcome')).toBe(true);
  return { inbox, ws };
}

/** The first message of type `t` in `inbox`, waiting up to 10 s for it. */
async function waitFor<T extends ServerMessage['t']>(inbox: ServerMessage[], t: T): Promise<Extract<ServerMessage, { t: T }>> {
  for (let i = 0; i < 1000; i++) {
    const m = inbox.find((x): x is Extract<ServerMessage, { t: T }> => x.t === t);
    if (m !== undefined) return m;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`no ${t} message; got ${JSON.stringify(inbox)}`);
}

describe('submit fast path with groups in flight at once', () => {
  it('assigns no more jobs than the worker has slots, however the submits fall into groups', async () => {
    const w = await connectWorker();
    // One job run through first: the round that assigns it reads the fairness settings, which
    // the fast path needs, and its end leaves nothing ready, so that the next submits take it.
    const first = await admin.submit({ type: 'command', queue: 'fast', payload: { argv: ['true'] } });
    const a = await waitFor(w.inbox, 'assign');
    const lease = a.jobs[0];
    expect(lease.jobId).toBe(first.id);
    w.ws.send(JSON.stringify({ t: 'reports', batch: 1, reports: [{ kind: 'completed', jobId: first.id, attempt: lease.attempt, leaseToken: lease.leaseToken, at: Date.now(), result: null }] }));
    await waitFor(w.inbox, 'ack');
    await new Promise((r) => setTimeout(r, 100));
    w.inbox.length = 0;
    // Single submits a few hundred microseconds apart: they fall into many groups, the later
    // ones planned while earlier ones are still in their transaction.
    const answers: Promise<JobView>[] = [];
    for (let i = 0; i < 40; i++) {
      answers.push(admin.submit({ type: 'command', queue: 'fast', payload: { argv: ['true'] } }));
      await new Promise((r) => setImmediate(r));
    }
    const jobs = await Promise.all(answers);
    await new Promise((r) => setTimeout(r, 300));
    const pushed = w.inbox.flatMap((m) => (m.t === 'assign' ? m.jobs.map((j) => j.jobId) : []));
    expect(pushed.length).toBe(CAPACITY);
    expect(new Set(pushed).size).toBe(CAPACITY);
    // What the answers said matches what the worker got and what the store holds.
    const assigned = jobs.filter((j) => j.status === 'assigned').map((j) => j.id);
    expect(assigned.sort()).toEqual([...pushed].sort());
    const page = await admin.listJobs({ queue: 'fast', status: 'assigned', limit: 100 });
    expect(page.jobs.map((j) => j.id).sort()).toEqual([...pushed].sort());
    expect(jobs.filter((j) => j.status === 'pending').length).toBe(40 - CAPACITY);
    w.ws.close();
  });
});

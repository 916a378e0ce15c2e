/**
 * The worker report path (reportApplyMany, leaseExtend, leaseReapExpired) on both stores, through
 * the store API only: a fresh PostgreSQL schema per test (dropped after) and a fresh SQLite file
 * per test.
 *
 * The first group: values a worker legitimately sends that SQLite stores and PostgreSQL refuses
 * in text and jsonb — a NUL in a log chunk or in a failure's stderr tail, a lone UTF-16 surrogate
 * in a result. PostgreSQL failed the whole batch (every other report in it rolled back); the
 * gateway took that for an outage and closed the socket, the worker resent the same batch on
 * reconnect, and it failed again, forever. The PostgreSQL store now stores U+FFFD in their place.
 * The second group pins sequences the contract suite does not cover (found in review).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { assign, insert, mustGet, newJob, rep, report, T0, TENANT } from '../../src/store/contract/fixtures.ts';
import { openPostgresStore } from '../../src/store/postgres/index.ts';
import { openSqliteStore } from '../../src/store/sqlite/index.ts';
import type { Report } from '../../src/core/protocol.ts';
import type { Store } from '../../src/store/types.ts';

const URL = process.env.BATON_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const admin = postgres(URL, { max: 1, onnotice: () => {} });
const dir = mkdtempSync(join(tmpdir(), 'baton-review-reports-'));
let n = 0;

afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await admin.end({ timeout: 5 });
});

const engines: [string, () => Promise<{ store: Store; cleanup: () => Promise<void> }>][] = [
  ['sqlite', async () => {
    const path = join(dir, `db-${n++}`, 'baton.db');
    const store = await openSqliteStore({ path, synchronous: 'NORMAL' });
    return { store, cleanup: async () => { await store.close(); rmSync(join(path, '..'), { recursive: true, force: true }); } };
  }],
  ['postgres', async () => {
    const schema = `baton_review_${randomBytes(6).toString('hex')}`;
    const store = await openPostgresStore({ url: URL, schema, max: 4 });
    return { store, cleanup: async () => { await store.close(); await admin.unsafe(`DROP SCHEMA IF EXISTS ${schema} CASCADE`); } };
  }],
];

describe.each(engines)('report batches (%s)', (_name, open) => {
  let current: { store: Store; cleanup: () => Promise<void> } | null = null;
  const store = async () => (current ??= await open()).store;
  afterEach(async () => {
    await current?.cleanup();
    current = null;
  });

  /** Two pending jobs of a fresh store, both assigned to worker w1. */
  const twoAssigned = async () => {
    const s = await store();
    const [x, y] = await insert(s, newJob(), newJob());
    return { s, x, y, ax: await assign(s, x.id), ay: await assign(s, y.id) };
  };

  describe('values PostgreSQL cannot hold in text or jsonb', () => {
    it('a log chunk holding a NUL character (binary output) leaves the rest of its batch committed', async () => {
      const { s, x, y, ax, ay } = await twoAssigned();
      // Command output is not guaranteed to be text: `find -print0`, a binary dumped to stdout.
      const out = await report(s, [rep.completed(ax, 'x done'), rep.log(ay, 1, 'before\u0000after'), rep.completed(ay, 'y done')], { now: T0 + 5 });
      expect(out.map((o) => o.ok)[0]).toBe(true);
      expect(out[2]).toMatchObject({ ok: true });
      expect((await mustGet(s, x.id)).status).toBe('completed');
      expect((await mustGet(s, y.id)).status).toBe('completed');
    });

    it("a failure whose error carries a NUL (the command executor's stderrTail) is recorded", async () => {
      const { s, x, y, ax, ay } = await twoAssigned();
      // What src/worker/executors/command.ts sends for a command that wrote binary to stderr.
      const failed: Report = {
        kind: 'failed',
        error: { code: 'exit_code', message: 'the command exited with code 1', details: { exitCode: 1, signal: null, stderrTail: 'ELF\u0000\u0001' } },
        exitCode: 1,
        jobId: ay.id,
        attempt: ay.attempt,
        leaseToken: ay.leaseToken!,
        at: T0,
      } as Report;
      const out = await report(s, [rep.completed(ax), failed], { now: T0 + 5 });
      expect(out.map((o) => o.ok)).toEqual([true, true]);
      expect((await mustGet(s, x.id)).status).toBe('completed');
      expect((await mustGet(s, y.id)).status).toBe('failed');
    });

    it('a result string cut in the middle of a surrogate pair is recorded', async () => {
      const { s, x, y, ax, ay } = await twoAssigned();
      // `'…😀'.slice(0, -1)` in a handler: valid for JSON.stringify / JSON.parse, not for jsonb.
      const cut = 'summary: \u{1F600}'.slice(0, -1);
      const out = await report(s, [rep.completed(ax), rep.completed(ay, { summary: cut })], { now: T0 + 5 });
      expect(out.map((o) => o.ok)).toEqual([true, true]);
      expect((await mustGet(s, x.id)).status).toBe('completed');
      expect((await mustGet(s, y.id)).status).toBe('completed');
    });
    it('keeps the letters of an escaped backslash before u0000, and replaces only real NULs on PostgreSQL', async () => {
      const s = await store();
      const [x] = await insert(s, newJob());
      const ax = await assign(s, x.id);
      const result = { literal: '\\u0000 and \\\\ud800', nul: 'a\u0000b', mixed: '\\\\\u0000', pair: '\u{1F600}' };
      expect((await report(s, [rep.completed(ax, result)], { now: T0 + 5 }))[0].ok).toBe(true);
      const got = (await mustGet(s, x.id)).result as typeof result;
      expect(got.literal).toBe(result.literal);
      expect(got.pair).toBe(result.pair);
      expect([result.nul, 'a\ufffdb']).toContain(got.nul);
      expect([result.mixed, '\\\\\ufffd']).toContain(got.mixed);
    });
  });

  describe('sequences the contract suite does not cover', () => {
    it('fences a worker whose lease was reaped and whose job came back to the same worker', async () => {
      const s = await store();
      const [j] = await insert(s, newJob({ maxRetries: 0 }));
      const first = await assign(s, j.id, { workerId: 'w1', leaseMs: 10 });
      await report(s, [rep.started(first)], { now: T0 + 1 });
      expect((await s.leaseReapExpired({ now: T0 + 50, limit: 10, random: () => 0 }))[0]).toMatchObject({ id: j.id, status: 'pending' });
      const second = await assign(s, j.id, { workerId: 'w1', now: T0 + 60 });
      const out = await report(s, [rep.progress(first, 70), rep.completed(first, 'old'), rep.log(first, 9, 'old line'), rep.started(second), rep.log(second, 1, 'new line')], { now: T0 + 70 });
      expect(out.map((o) => (o.ok ? 'ok' : o.code))).toEqual(['BATON_E_STALE_ATTEMPT', 'BATON_E_STALE_ATTEMPT', 'BATON_E_STALE_ATTEMPT', 'ok', 'ok']);
      const got = await mustGet(s, j.id);
      expect(got).toMatchObject({ status: 'running', attempt: 2, leaseToken: second.leaseToken, progress: null, result: null });
      expect(got.attempts.map((a) => [a.attempt, a.status])).toEqual([[1, 'lost'], [2, 'running']]);
      expect((await s.logList({ tenant: TENANT, jobId: j.id, afterSeq: 0, limit: 10 })).map((l) => [l.attempt, l.data])).toEqual([[2, 'new line']]);
      // The lost attempt's lease cannot be extended either; the new one can.
      const leases = [first, second].map((a) => ({ jobId: a.id, attempt: a.attempt, leaseToken: a.leaseToken! }));
      expect((await s.leaseExtend({ workerId: 'w1', leases, leaseExpiresAt: T0 + 99_000, now: T0 + 80 })).lost).toEqual([leases[0]]);
    });

    it('writes each job of a mixed batch with its own values where only some jobs change a column (to null or back)', async () => {
      const s = await store();
      const [x, y, z] = await insert(s, newJob({ maxRetries: 1 }), newJob(), newJob());
      const ax = await assign(s, x.id);
      const ay = await assign(s, y.id);
      const az = await assign(s, z.id);
      await report(s, [rep.started(ax), rep.started(ay), rep.progress(ay, 40), rep.started(az), rep.progress(az, 40)], { now: T0 + 1 });
      // x: a retry (lease, worker and expiry cleared; error set); y: progress moves and comes
      // back to where it was; z: progress changes. Only some rows change each column.
      const out = await report(s, [rep.failed(ax), rep.progress(ay, 90), rep.progress(ay, 40), rep.progress(az, 55), rep.returned(ay)], { now: T0 + 2 });
      expect(out.map((o) => (o.ok ? 'ok' : o.code))).toEqual(['ok', 'ok', 'ok', 'ok', 'BATON_E_STALE_ATTEMPT']);
      expect(await mustGet(s, x.id)).toMatchObject({ status: 'scheduled', leaseToken: null, workerId: null, leaseExpiresAt: null, error: { code: 'exit_code' }, progress: null });
      expect(await mustGet(s, y.id)).toMatchObject({ status: 'running', leaseToken: ay.leaseToken, workerId: 'w1', leaseExpiresAt: ay.leaseExpiresAt, progress: 40, error: null });
      expect(await mustGet(s, z.id)).toMatchObject({ status: 'running', leaseToken: az.leaseToken, workerId: 'w1', progress: 55, error: null });
    });

    it('refuses a lease extension for an attempt that ended or was returned in an earlier batch', async () => {
      const { s, x, y, ax, ay } = await twoAssigned();
      await report(s, [rep.completed(ax), rep.returned(ay)], { now: T0 + 1 });
      const leases = [ax, ay].map((a) => ({ jobId: a.id, attempt: a.attempt, leaseToken: a.leaseToken! }));
      expect((await s.leaseExtend({ workerId: 'w1', leases, leaseExpiresAt: T0 + 99_000, now: T0 + 2 })).lost).toEqual(leases);
      expect(await mustGet(s, y.id)).toMatchObject({ status: 'pending', leaseExpiresAt: null });
    });

    it('does not reap a lease a completion ended first, and refuses a completion after the reap', async () => {
      const s = await store();
      const [x, y] = await insert(s, newJob({ maxRetries: 1 }), newJob({ maxRetries: 1 }));
      const ax = await assign(s, x.id, { leaseMs: 10 });
      const ay = await assign(s, y.id, { leaseMs: 10 });
      await report(s, [rep.completed(ax, 'x')], { now: T0 + 20 });
      const reaped = await s.leaseReapExpired({ now: T0 + 30, limit: 10, random: () => 0 });
      expect(reaped.map((j) => j.id)).toEqual([y.id]);
      expect((await report(s, [rep.completed(ay, 'late')], { now: T0 + 40 }))[0]).toMatchObject({ ok: false, code: 'BATON_E_STALE_ATTEMPT' });
      expect(await mustGet(s, x.id)).toMatchObject({ status: 'completed', result: 'x' });
      expect(await mustGet(s, y.id)).toMatchObject({ status: 'pending', result: null });
    });

    it('keeps each job, its attempt row and the verdict in agreement when reaping races late completions', async () => {
      const s = await store();
      const jobs = await insert(s, ...Array.from({ length: 40 }, () => newJob({ maxRetries: 1 })));
      const leased = [];
      for (const j of jobs) leased.push(await assign(s, j.id, { leaseMs: 10 }));
      // Several batches (both orders) against two reapers, all at once.
      const half = leased.length / 2;
      const [a, b] = await Promise.all([
        report(s, leased.slice(0, half).map((x) => rep.completed(x, x.id)), { now: T0 + 20 }),
        report(s, leased.slice(half).reverse().map((x) => rep.completed(x, x.id)), { now: T0 + 20 }),
        s.leaseReapExpired({ now: T0 + 30, limit: 15, random: () => 0 }),
        s.leaseReapExpired({ now: T0 + 30, limit: 15, random: () => 0 }),
      ]);
      const verdict = new Map<string, boolean>();
      leased.slice(0, half).forEach((x, i) => verdict.set(x.id, a[i].ok));
      leased.slice(half).reverse().forEach((x, i) => verdict.set(x.id, b[i].ok));
      for (const x of leased) {
        const got = await mustGet(s, x.id);
        if (verdict.get(x.id)) {
          expect(got).toMatchObject({ status: 'completed', result: x.id, leaseToken: null });
          expect(got.attempts.map((t) => t.status)).toEqual(['completed']);
        } else {
          expect(got).toMatchObject({ status: 'pending', result: null, error: { code: 'BATON_E_LEASE_EXPIRED' } });
          expect(got.attempts.map((t) => t.status)).toEqual(['lost']);
        }
      }
    });
  });
});

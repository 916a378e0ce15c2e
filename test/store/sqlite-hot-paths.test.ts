/**
 * What the SQLite store does on its hot paths beyond the contract: index-only ready walks, one
 * lease index, heads that carry only what ranking and placement read, and job updates that set
 * only the columns a transition changed.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { assign, newJob, rep, report, T0, TENANT } from '../../src/store/contract/fixtures.ts';
import { applyMigrations, loadMigrations, openDatabase } from '../../src/store/sqlite/db.ts';
import { openSqliteStore } from '../../src/store/sqlite/index.ts';
import { jobInsertMany } from '../../src/store/sqlite/jobs.ts';
import { READY_WALKS } from '../../src/store/sqlite/ready.ts';
import { selectJobs } from '../../src/store/sqlite/rows.ts';

const dir = mkdtempSync(join(tmpdir(), 'baton-sqlite-hot-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const freshPath = () => join(dir, `db-${n++}`, 'baton.db');

describe('sqlite hot paths', () => {
  it('walks the ready indexes without reading the table, and reaps from the one lease index', () => {
    const sql = openDatabase(freshPath(), 'NORMAL');
    applyMigrations(sql);
    const plan = (q: string, ...args: unknown[]) => (sql.db.prepare(`EXPLAIN QUERY PLAN ${q}`).all(...args) as { detail: string }[]).map((r) => r.detail).join('; ');
    const [byPriority, byAge] = READY_WALKS.slice(0, 2).map((q) => plan(q, TENANT, 'default', '["function"]', 10));
    const lowestRank = plan(READY_WALKS[2], TENANT, 'default');
    expect(byPriority).toContain('COVERING INDEX jobs_ready ');
    expect(byAge).toContain('COVERING INDEX jobs_ready_age ');
    expect(lowestRank).toContain('COVERING INDEX jobs_ready ');
    for (const p of [byPriority, byAge, lowestRank]) expect(p).not.toContain('TEMP B-TREE');
    const indexes = (sql.db.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'jobs'").all() as { name: string }[]).map((r) => r.name);
    expect(indexes).toContain('jobs_leased_queue');
    expect(indexes).not.toContain('jobs_leased');
    expect(plan("SELECT id FROM jobs INDEXED BY jobs_leased_queue WHERE status IN ('assigned', 'running') AND lease_expires_at < 1 ORDER BY lease_expires_at LIMIT 10")).toContain('jobs_leased_queue');
    sql.db.close();
  });

  it('reads the age walk only when it can add a job: a queue of one rank gives its priority walk', async () => {
    const store = await openSqliteStore({ path: freshPath(), synchronous: 'NORMAL' });
    const heads = async () => (await store.jobListReadyHeads({ tenants: [TENANT], types: ['command'], perQueue: 3 })).map((h) => h.job.id).sort();
    // One rank: the three oldest, which both walks would give.
    const old = [0, 1, 2, 3, 4].map((i) => newJob({ runAt: T0 + i, createdAt: T0 + i }));
    await store.jobInsertMany({ jobs: old });
    expect(await heads()).toEqual(old.slice(0, 3).map((j) => j.id).sort());
    // A newer job of a higher rank: the three first by priority and the three oldest.
    const urgent = newJob({ priority: 9, runAt: T0 + 10, createdAt: T0 + 10 });
    await store.jobInsertMany({ jobs: [urgent] });
    expect(await heads()).toEqual([urgent.id, ...old.slice(0, 3).map((j) => j.id)].sort());
    // Ranks differ only among jobs of another type: this read lists the oldest of its type.
    await store.jobInsertMany({ jobs: [newJob({ type: 'function', payload: { handler: 'h' }, priority: 0 })] });
    await store.jobApply({ tenant: TENANT, id: urgent.id, now: T0 + 20, event: { type: 'cancel', reason: 'test' } });
    expect(await heads()).toEqual(old.slice(0, 3).map((j) => j.id).sort());
    await store.close();
  });

  it('caches the rows of a small insert as a read returns them, pending jobs only', () => {
    const sql = openDatabase(freshPath(), 'NORMAL');
    applyMigrations(sql);
    const jobs = [
      newJob(),
      newJob({ type: 'function', payload: { handler: 'h', args: { n: 1.5 } }, name: 'n', priority: 9, timeoutMs: 1234, idempotencyKey: 'k1', tags: ['a', 'b'], metadata: { m: [1] } }),
      newJob({ deadline: T0 + 60_000, concurrencyKey: 'ck', concurrencyLimit: 3, maxRetries: 4 }),
      newJob({ deadline: T0 + 1, concurrencyKey: 'ck2' }),
      newJob({ status: 'scheduled', runAt: T0 + 60_000 }),
    ];
    jobInsertMany(sql, { jobs });
    const read = (id: string) => sql.db.prepare(`${selectJobs()} WHERE id = ?`).raw(true).get(id);
    for (const j of jobs.slice(0, 4)) expect(sql.rowCache.get(j.id)).toEqual(read(j.id));
    expect(sql.rowCache.get(jobs[4].id)).toBeUndefined();
    // A batch's rows are not cached, nor those of an insert with graph extras.
    const batch = Array.from({ length: 17 }, () => newJob());
    jobInsertMany(sql, { jobs: batch });
    expect(batch.filter((j) => sql.rowCache.get(j.id) !== undefined)).toEqual([]);
    const child = newJob({ status: 'blocked' });
    jobInsertMany(sql, { jobs: [child], extras: [{ dependsOn: [{ job: jobs[0].id, on: 'success', ref: null }] }] });
    expect(sql.rowCache.get(child.id)).toBeUndefined();
    sql.db.close();
  });

  it('heads carry of a function job only its handler, of others the whole payload', async () => {
    const store = await openSqliteStore({ path: freshPath(), synchronous: 'NORMAL' });
    const fn = newJob({ type: 'function', payload: { handler: 'resize', args: { big: 'x'.repeat(1000) } }, deadline: T0 + 60_000, concurrencyKey: 'k' });
    const cmd = newJob({ payload: { argv: ['echo', 'hi'] } });
    await store.jobInsertMany({ jobs: [fn, cmd] });
    const heads = await store.jobListReadyHeads({ tenants: [TENANT], types: ['function', 'command'], perQueue: 10 });
    const byId = new Map(heads.map((h) => [h.job.id, h]));
    expect(byId.get(fn.id)).toEqual({
      rank: 5,
      job: { id: fn.id, tenant: TENANT, queue: 'default', type: 'function', payload: { handler: 'resize' }, requirements: fn.requirements, runAt: T0, createdAt: T0, deadline: T0 + 60_000, concurrencyKey: 'k' },
    });
    expect(byId.get(cmd.id)).toEqual({
      rank: 5,
      job: { id: cmd.id, tenant: TENANT, queue: 'default', type: 'command', payload: { argv: ['echo', 'hi'] }, requirements: cmd.requirements, runAt: T0, createdAt: T0 },
    });
    // The assignment returns the whole job.
    expect(await assign(store, fn.id)).toMatchObject({ payload: fn.payload, concurrencyKey: 'k', concurrencyLimit: 1 });
    await store.close();
  });

  it('updates only the columns a transition changed: a lease extension sets no status', async () => {
    const path = freshPath();
    const store = await openSqliteStore({ path, synchronous: 'NORMAL' });
    // A trigger on another connection counts the UPDATEs that name `status` in their SET.
    const side = new Database(path);
    side.exec(`CREATE TABLE status_sets (id TEXT NOT NULL);
      CREATE TRIGGER count_status_sets AFTER UPDATE OF status ON jobs BEGIN INSERT INTO status_sets (id) VALUES (new.id); END;`);
    const sets = () => (side.prepare('SELECT COUNT(*) AS n FROM status_sets').get() as { n: number }).n;
    const [job] = (await store.jobInsertMany({ jobs: [newJob()] })).jobs;
    // Read as a head first, so its row is cached as on the dispatcher's path.
    await store.jobListReadyHeads({ tenants: [TENANT], types: ['command'], perQueue: 10 });
    const lease = await assign(store, job.id);
    expect(sets()).toBe(1);
    await report(store, [rep.started(lease)], { now: T0 + 1 });
    expect(sets()).toBe(2);
    const { lost } = await store.leaseExtend({ workerId: 'w1', leases: [{ jobId: job.id, attempt: 1, leaseToken: lease.leaseToken! }], leaseExpiresAt: T0 + 99_000, now: T0 + 2 });
    expect(lost).toEqual([]);
    expect(sets()).toBe(2);
    expect(await store.jobGet({ tenant: TENANT, id: job.id })).toMatchObject({ status: 'running', leaseExpiresAt: T0 + 99_000, updatedAt: T0 + 2, startedAt: T0 + 1 });
    await report(store, [rep.completed(lease)], { now: T0 + 3 });
    expect(sets()).toBe(3);
    expect(await store.jobGet({ tenant: TENANT, id: job.id })).toMatchObject({ status: 'completed', leaseToken: null, leaseExpiresAt: null, result: { ok: true }, completedAt: T0 + 3 });
    side.close();
    await store.close();
  });

  it('migrates a database holding pending and leased jobs to the hot indexes (005)', async () => {
    const path = freshPath();
    const sql = openDatabase(path, 'NORMAL');
    applyMigrations(sql, loadMigrations().filter((m) => m.version <= 4));
    const insert = sql.db.prepare(`INSERT INTO jobs (id, tenant, type, queue, priority, status, run_at, max_retries, payload, backoff, requirements, tags, metadata,
      attempt, lease_token, lease_expires_at, worker_id, created_at, updated_at) VALUES (?, ?, 'command', 'default', ?, ?, ?, 0, '{"argv":["true"]}', '{}', ?, '[]', '{}', ?, ?, ?, ?, ?, ?)`);
    const requirements = JSON.stringify({ labels: {}, cpu: 0, memoryMb: 0 });
    insert.run('00000000-0000-7000-8000-000000000001', TENANT, 1, 'pending', T0, requirements, 0, null, null, null, T0, T0);
    insert.run('00000000-0000-7000-8000-000000000002', TENANT, 9, 'pending', T0 + 5, requirements, 0, null, null, null, T0, T0);
    insert.run('00000000-0000-7000-8000-000000000003', TENANT, 5, 'running', T0, requirements, 1, 'tok', T0 + 10, 'w1', T0, T0);
    sql.db.prepare("INSERT INTO queues (tenant, name, paused, created_at) VALUES (?, 'default', 0, ?)").run(TENANT, T0);
    sql.db.prepare("INSERT INTO job_attempts (job_id, attempt, tenant, worker_id, lease_token, status, assigned_at) VALUES ('00000000-0000-7000-8000-000000000003', 1, ?, 'w1', 'tok', 'running', ?)").run(TENANT, T0);
    expect(applyMigrations(sql)).toContain(5);
    sql.db.close();
    const store = await openSqliteStore({ path, synchronous: 'NORMAL' });
    const heads = await store.jobListReadyHeads({ tenants: [TENANT], types: ['command'], perQueue: 10 });
    expect(heads.map((h) => [h.job.id.slice(-1), h.rank])).toEqual([['2', 9], ['1', 1]]);
    const reaped = await store.leaseReapExpired({ now: T0 + 11, limit: 10, random: () => 0.5 });
    expect(reaped.map((j) => [j.id.slice(-1), j.status])).toEqual([['3', 'pending']]);
    await store.close();
  });
});

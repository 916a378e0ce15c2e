/**
 * The PostgreSQL store: the shared contract suite on a fresh schema per test, plus what only the
 * shared engine has — migrations racing from several servers, claims racing from two pools,
 * LISTEN/NOTIFY wake-ups across store instances, the partial indexes in the query plans, and
 * connection failures reported as BATON_E_UNAVAILABLE. Needs the PostgreSQL of the machine
 * (BATON_TEST_PG_URL, default postgres://postgres@127.0.0.1:5432/test).
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import postgres from 'postgres';
import { v7 } from 'uuid';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { describeStoreContract } from '../../src/store/contract.ts';
import { assign, newJob, rep, T0, TENANT } from '../../src/store/contract/fixtures.ts';
import { openStore } from '../../src/store/index.ts';
import { bindRows, Params } from '../../src/store/postgres/batch.ts';
import { applyMigrations, loadMigrations, parseTarget } from '../../src/store/postgres/db.ts';
import { openPostgresStore } from '../../src/store/postgres/index.ts';
import { applyMigrations as applySqliteMigrations, openDatabase } from '../../src/store/sqlite/db.ts';
import type { Store } from '../../src/store/types.ts';

const URL = process.env.BATON_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** Admin pool of the test file: creates nothing itself, drops the schemas the tests made. */
const admin = postgres(URL, { max: 2, onnotice: () => {} });
const schemas = new Set<string>();

function freshSchema(): string {
  const s = `baton_test_${randomBytes(6).toString('hex')}`;
  schemas.add(s);
  return s;
}

async function dropSchema(s: string): Promise<void> {
  await admin.unsafe(`DROP SCHEMA IF EXISTS ${s} CASCADE`);
  schemas.delete(s);
}

afterAll(async () => {
  // Schemas a failed test left behind (cleanup runs even on failure; this is the safety net).
  for (const s of [...schemas]) await dropSchema(s);
  await admin.end({ timeout: 5 });
});

describeStoreContract('postgres', async () => {
  const schema = freshSchema();
  const store = await openPostgresStore({ url: URL, schema, max: 4 });
  return {
    store,
    cleanup: async () => {
      await store.close();
      await dropSchema(schema);
    },
  };
});

describe('postgres store', () => {
  const open: Store[] = [];
  const openOne = async (schema: string, opts: { migrate?: boolean; max?: number } = {}) => {
    const s = await openPostgresStore({ url: URL, schema, max: opts.max ?? 3, migrate: opts.migrate });
    open.push(s);
    return s;
  };
  afterEach(async () => {
    for (const s of open.splice(0)) await s.close();
    for (const s of [...schemas]) await dropSchema(s);
  });

  it('applies migrations once when three servers start together on a fresh schema', async () => {
    const schema = freshSchema();
    const stores = await Promise.all([1, 2, 3].map(() => openOne(schema, { migrate: false })));
    await Promise.all(stores.map((s) => s.migrate()));
    const rows = await admin.unsafe(`SELECT version FROM ${schema}.schema_migrations ORDER BY version`);
    expect(rows.map((r) => r.version)).toEqual(loadMigrations().map((m) => m.version));
    // Up to date now: a direct call applies nothing.
    const pool = postgres(URL, { max: 1, onnotice: () => {}, connection: { search_path: schema } });
    expect(await applyMigrations(pool, schema)).toEqual([]);
    await pool.end();
    await stores[0].ping();
  });

  it('assigns each job exactly once when two servers claim the same jobs at once', async () => {
    const schema = freshSchema();
    const a = await openOne(schema);
    const b = await openOne(schema, { migrate: false });
    const jobs = Array.from({ length: 200 }, () => newJob());
    await a.jobInsertMany({ jobs });
    const lease = (jobId: string, workerId: string) => ({ jobId, workerId, leaseToken: v7(), leaseExpiresAt: T0 + 60_000 });
    // Both servers try every job, in batches, in opposite orders.
    const claim = async (s: Store, worker: string, ids: string[]) => {
      const got: string[] = [];
      for (let i = 0; i < ids.length; i += 20) {
        const done = await s.jobAssignMany({ now: T0, assignments: ids.slice(i, i + 20).map((id) => lease(id, worker)) });
        got.push(...done.map((j) => j.id));
      }
      return got;
    };
    const ids = jobs.map((j) => j.id);
    const [byA, byB] = await Promise.all([claim(a, 'wa', ids), claim(b, 'wb', [...ids].reverse())]);
    expect(byA.length + byB.length).toBe(ids.length);
    expect(new Set([...byA, ...byB]).size).toBe(ids.length);
    const attempts = await admin.unsafe(`SELECT job_id, count(*)::int AS n FROM ${schema}.job_attempts GROUP BY job_id HAVING count(*) > 1`);
    expect(attempts).toHaveLength(0);
  });

  /** A wake listener that counts calls and lets a test await the next one. */
  function wakeCounter() {
    const c = { n: 0, waiters: [] as (() => void)[], next: () => new Promise<void>((resolve) => c.waiters.push(resolve)), hit: () => {
      c.n++;
      for (const w of c.waiters.splice(0)) w();
    } };
    return c;
  }

  it('wakes a listening store when another store inserts work, and stops on unlisten', async () => {
    const schema = freshSchema();
    const listener = await openOne(schema);
    const writer = await openOne(schema, { migrate: false });
    const first = wakeCounter();
    const unlistenFirst = await listener.listen!('wake', first.hit);
    let woke = first.next();
    await writer.jobInsertMany({ jobs: [newJob()] });
    await woke;
    expect(first.n).toBe(1);
    // A resumed queue wakes too.
    woke = first.next();
    await writer.queueSetPaused({ tenant: TENANT, name: 'default', paused: false, now: T0 });
    await woke;
    // After unlisten the first callback hears nothing: a second one on the same listening
    // connection gets the next wake, and the first would have got it at the same moment.
    const second = wakeCounter();
    const unlistenSecond = await listener.listen!('wake', second.hit);
    await unlistenFirst();
    woke = second.next();
    await writer.jobInsertMany({ jobs: [newJob()] });
    await woke;
    expect(first.n).toBe(2);
    await unlistenSecond();
  });

  it('keeps stores in different schemas from waking each other, and does not echo a store its own commits', async () => {
    const mineSchema = freshSchema();
    const otherSchema = freshSchema();
    const mine = await openOne(mineSchema);
    const other = await openOne(otherSchema);
    const mineWriter = await openOne(mineSchema, { migrate: false });
    const otherWriter = await openOne(otherSchema, { migrate: false });
    const heardByMine = wakeCounter();
    const heardByOther = wakeCounter();
    const unlistenMine = await mine.listen!('wake', heardByMine.hit);
    const unlistenOther = await other.listen!('wake', heardByOther.hit);
    // The listening store's own insert is not echoed back to it; notifications reach a listener
    // in commit order, so such an echo would arrive before the wake of the writer's insert.
    await mine.jobInsertMany({ jobs: [newJob()] });
    let woke = heardByMine.next();
    await mineWriter.jobInsertMany({ jobs: [newJob()] });
    await woke;
    // Likewise a stray wake from the inserts above would reach `other` before this one.
    woke = heardByOther.next();
    await otherWriter.jobInsertMany({ jobs: [newJob()] });
    await woke;
    expect(heardByOther.n).toBe(1);
    expect(heardByMine.n).toBe(1);
    await unlistenMine();
    await unlistenOther();
  });

  it('wakes other servers when a lease under a queue cap or a concurrency key ends, not when an uncapped one does', async () => {
    const schema = freshSchema();
    const listener = await openOne(schema);
    const writer = await openOne(schema, { migrate: false });
    const heard = wakeCounter();
    const unlisten = await listener.listen!('wake', heard.hit);
    await writer.queueSetLimits({ tenant: TENANT, name: 'capped', concurrencyLimit: 1, now: T0 });
    const plain = newJob();
    const capped = newJob({ queue: 'capped' });
    const keyed = newJob({ concurrencyKey: 'k' });
    const jobs = [plain, capped, keyed];
    await writer.jobInsertMany({ jobs });
    const held = await Promise.all(jobs.map((j) => assign(writer, j.id)));
    // Notifications reach a listener in commit order: once the fence's wake is heard, a wake of
    // the commit before it would have been heard too.
    const endThenFence = async (job: (typeof held)[number]) => {
      await writer.reportApplyMany({ workerId: 'w1', reports: [rep.completed(job)], now: T0 + 1, random: () => 0 });
      const woke = heard.next();
      await writer.jobInsertMany({ jobs: [newJob({ queue: 'fence' })] });
      await woke;
      await new Promise((r) => setTimeout(r, 50));
    };
    let before = heard.n;
    await endThenFence(held[0]);
    expect(heard.n - before).toBe(1);
    before = heard.n;
    await endThenFence(held[1]);
    expect(heard.n - before).toBe(2);
    before = heard.n;
    await endThenFence(held[2]);
    expect(heard.n - before).toBe(2);
    await unlisten();
  });

  it('wakes other servers when a blocked job raises the inherited priority of a pending parent, not when it raises nothing', async () => {
    const schema = freshSchema();
    const listener = await openOne(schema);
    const writer = await openOne(schema, { migrate: false });
    const heard = wakeCounter();
    const unlisten = await listener.listen!('wake', heard.hit);
    const parent = newJob({ priority: 5 });
    let woke = heard.next();
    await writer.jobInsertMany({ jobs: [parent] });
    await woke;
    // A blocked child wakes nobody by itself; a raise of a pending job does (other servers' kept
    // heads rank it by its old priority). Commit order: the fence's wake comes after the child's.
    const childThenFence = async (priority: number) => {
      const before = heard.n;
      const res = await writer.jobInsertMany({ jobs: [newJob({ priority })], extras: [{ dependsOn: [{ job: parent.id, on: 'completion', ref: null }] }] });
      expect(res.jobs[0].status).toBe('blocked');
      const fenced = heard.next();
      await writer.jobInsertMany({ jobs: [newJob({ queue: 'fence' })] });
      await fenced;
      await new Promise((r) => setTimeout(r, 50));
      return heard.n - before;
    };
    expect(await childThenFence(3)).toBe(1);
    expect(await childThenFence(9)).toBe(2);
    const [row] = await admin.unsafe(`SELECT inherited_priority FROM ${schema}.jobs WHERE id = $1`, [parent.id]);
    expect(row.inherited_priority).toBe(9);
    await unlisten();
  });

  it('creates new queues of concurrent inserts in one order, so that two never deadlock', async () => {
    const schema = freshSchema();
    const a = await openOne(schema, { max: 2 });
    const b = await openOne(schema, { max: 2, migrate: false });
    // Each pair of inserts creates the same 100 new queues, in opposite orders. Before the queue
    // rows were sorted, about one pair in four deadlocked (one of them failed after 1 s).
    for (let i = 0; i < 200; i++) {
      const queues = Array.from({ length: 100 }, (_, k) => `dl-${i}-${k}`);
      await Promise.all([
        a.jobInsertMany({ jobs: queues.map((queue) => newJob({ queue })) }),
        b.jobInsertMany({ jobs: [...queues].reverse().map((queue) => newJob({ queue })) }),
      ]);
    }
  });

  it('stores a NUL and a lone surrogate as U+FFFD in text and jsonb instead of failing the statement', async () => {
    const s = await openOne(freshSchema());
    const cut = 'x \u{1F600}'.slice(0, -1);
    const job = newJob({ name: 'a\u0000b', payload: { argv: ['echo', 'c\u0000d', cut] }, metadata: { note: 'e\u0000f' } });
    await s.jobInsertMany({ jobs: [job] });
    const got = (await s.jobGet({ tenant: TENANT, id: job.id }))!;
    expect(got.name).toBe('a\ufffdb');
    expect(got.payload).toEqual({ argv: ['echo', 'c\ufffdd', 'x \ufffd'] });
    expect(got.metadata).toEqual({ note: 'e\ufffdf' });
  });

  it('deletes the attempts of the jobs a bulk delete removes (attempts have no foreign key since migration 005)', async () => {
    const schema = freshSchema();
    const s = await openOne(schema);
    const [gone, kept] = [newJob(), newJob()];
    await s.jobInsertMany({ jobs: [gone, kept] });
    for (const j of [gone, kept]) {
      const held = await assign(s, j.id);
      await s.reportApplyMany({ workerId: 'w1', reports: [rep.completed(held)], now: T0 + 1, random: () => 0 });
    }
    const res = await s.jobBulk({ tenant: TENANT, action: 'delete', ids: [gone.id], now: T0 + 2 });
    expect(res).toMatchObject({ affected: 1 });
    const rows = await admin.unsafe(`SELECT job_id FROM ${schema}.job_attempts ORDER BY job_id`);
    expect(rows.map((r) => r.job_id)).toEqual([kept.id]);
  });

  it('ends attempts in place: the update of an attempt row stays on its page (migration 006, fill factor 70)', async () => {
    const schema = freshSchema();
    const s = await openOne(schema);
    const jobs = Array.from({ length: 200 }, () => newJob());
    await s.jobInsertMany({ jobs });
    const held = await s.jobAssignMany({ now: T0, assignments: jobs.map((j) => ({ jobId: j.id, workerId: 'w1', leaseToken: v7(), leaseExpiresAt: T0 + 5000 })) });
    const pages = async () =>
      new Map((await admin.unsafe(`SELECT job_id, (ctid::text::point)[0]::int AS page FROM ${schema}.job_attempts`)).map((r) => [r.job_id as string, r.page as number]));
    const before = await pages();
    expect(before.size).toBe(200);
    // Ended in batches of 8, as reports come: each batch finds the room the earlier ones freed
    // (their old versions are pruned once no transaction can see them).
    for (let i = 0; i < held.length; i += 8) {
      await s.reportApplyMany({ workerId: 'w1', reports: held.slice(i, i + 8).map((j) => rep.completed(j)), now: T0 + 1, random: () => 0 });
    }
    const after = await pages();
    // With full pages (the default fill factor of 100) 58 of the 200 new versions went to another page.
    const moved = [...before].filter(([id, page]) => after.get(id) !== page).length;
    expect(moved).toBe(0);
  });

  it('keeps batch writes on the key index after the tables grow (no generic plan made while they were small)', async () => {
    // The session first works while jobs and job_attempts hold a few rows: a prepared statement
    // got a generic plan then (a sequential scan, right for a few rows), and kept it as the
    // tables grew — the report batch's attempt UPDATE and the lock of jobs by id among them. After
    // both tables hold 200,000 more rows, batches of 64 must not read either sequentially. (The
    // session flushes its counters when it ends.)
    const schema = freshSchema();
    const s = await openPostgresStore({ url: URL, schema, max: 1 });
    try {
      const cycle = async (n: number) => {
        const jobs = Array.from({ length: n }, () => newJob());
        await s.jobInsertMany({ jobs });
        const held = await Promise.all(jobs.map((j) => assign(s, j.id)));
        await s.reportApplyMany({ workerId: 'w1', reports: held.map((h) => rep.completed(h)), now: T0 + 1, random: () => 0 });
      };
      for (let i = 0; i < 8; i++) await cycle(2);
      await admin.unsafe(`INSERT INTO ${schema}.jobs (id, tenant, type, queue, priority, status, run_at, max_retries, payload, backoff, requirements, tags, metadata, created_at, updated_at)
        SELECT 'grown-' || i, '${TENANT}', 'command', 'done', 5, 'completed', 0, 0, '{}', '{}', '{}', '[]', '{}', 0, 0 FROM generate_series(1, 200000) i`);
      await admin.unsafe(`INSERT INTO ${schema}.job_attempts (job_id, attempt, tenant, worker_id, lease_token, status, assigned_at)
        SELECT 'grown-' || i, 1, '${TENANT}', 'w0', 'l-' || i, 'completed', 0 FROM generate_series(1, 200000) i`);
      for (let i = 0; i < 3; i++) await cycle(64);
    } finally {
      await s.close();
    }
    // The store's session flushes its statistics as it exits, a moment after close returns: its
    // attempt updates (8 × 2 + 3 × 64) show when they are in.
    const read = async () => {
      const rows = await admin`SELECT relname, seq_tup_read, n_tup_upd FROM pg_stat_user_tables WHERE schemaname = ${schema} AND relname IN ('jobs', 'job_attempts')`;
      return Object.fromEntries(rows.map((r) => [r.relname as string, { seq: Number(r.seq_tup_read), upd: Number(r.n_tup_upd) }]));
    };
    let seen = await read();
    for (let i = 0; i < 100 && (seen.job_attempts?.upd ?? 0) < 208; i++) {
      await new Promise((r) => setTimeout(r, 100));
      seen = await read();
    }
    expect(seen.job_attempts.upd).toBe(208);
    expect(seen.jobs.seq).toBeLessThan(200_000);
    expect(seen.job_attempts.seq).toBeLessThan(200_000);
  });

  it('uses the partial indexes for the ready, scheduled and reap queries', async () => {
    const schema = freshSchema();
    await openOne(schema);
    const plan = async (q: string) => {
      const rows = await admin.begin(async (tx) => {
        await tx.unsafe(`SET LOCAL search_path TO ${schema}`);
        // The tables are empty: without this the planner would pick a sequential scan.
        await tx.unsafe('SET LOCAL enable_seqscan = off');
        return tx.unsafe(`EXPLAIN ${q}`);
      });
      return rows.map((r) => r['QUERY PLAN'] as string).join('\n');
    };
    // The ready query of jobs.ts: the head of each unpaused queue through a LATERAL subquery.
    const ready = await plan(`SELECT j.* FROM queues q CROSS JOIN LATERAL (
        SELECT * FROM jobs j WHERE j.status = 'pending' AND j.tenant = q.tenant AND j.queue = q.name AND j.type = ANY('{command}')
        ORDER BY GREATEST(j.priority, j.inherited_priority) DESC, j.run_at, j.created_at, j.id LIMIT 10) j
      WHERE q.tenant = ANY('{a}') AND NOT q.paused ORDER BY GREATEST(j.priority, j.inherited_priority) DESC, j.run_at, j.created_at, j.id LIMIT 10`);
    expect(ready).toContain('jobs_ready');
    // Inside each queue the index order is the dispatch order: a LIMIT straight over the index scan.
    expect(ready).toMatch(/Limit[^\n]*\n\s*->\s+Index Scan using jobs_ready/);
    expect(await plan("SELECT * FROM jobs WHERE status IN ('assigned', 'running') AND lease_expires_at < 1 ORDER BY lease_expires_at LIMIT 10 FOR UPDATE SKIP LOCKED")).toContain('jobs_leased');
    expect(await plan("SELECT * FROM jobs WHERE status = 'scheduled' AND run_at <= 1 ORDER BY run_at LIMIT 10 FOR UPDATE SKIP LOCKED")).toContain('jobs_scheduled');
  });

  it('reads a function job as a ready head with its handler only, and assigns it whole', async () => {
    const s = await openOne(freshSchema());
    const fn = newJob({ type: 'function', payload: { handler: 'resize', args: { big: 'x'.repeat(1000) } }, deadline: T0 + 60_000, concurrencyKey: 'k' });
    const cmd = newJob({ payload: { argv: ['echo', 'hi'] } });
    await s.jobInsertMany({ jobs: [fn, cmd] });
    const heads = new Map((await s.jobListReadyHeads({ tenants: [TENANT], types: ['function', 'command'], perQueue: 10 })).map((h) => [h.job.id, h.job]));
    expect(heads.get(fn.id)).toEqual({ id: fn.id, tenant: TENANT, queue: 'default', type: 'function', payload: { handler: 'resize' }, requirements: fn.requirements, runAt: T0, createdAt: T0, deadline: T0 + 60_000, concurrencyKey: 'k' });
    expect(heads.get(cmd.id)).toMatchObject({ payload: { argv: ['echo', 'hi'] } });
    expect(heads.get(cmd.id)).not.toHaveProperty('deadline');
    const [assigned] = await s.jobAssignMany({ now: T0, assignments: [{ jobId: fn.id, workerId: 'w1', leaseToken: v7(), leaseExpiresAt: T0 + 5000 }] });
    expect(assigned.payload).toEqual(fn.payload);
  });

  it('has the same tables and columns as the SQLite schema (no drift between the engines)', async () => {
    const schema = freshSchema();
    await openOne(schema);
    const rows = await admin`SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = ${schema}`;
    const pg = new Map<string, string[]>();
    for (const r of rows) pg.set(r.table_name, [...(pg.get(r.table_name) ?? []), r.column_name].sort());
    const lite = openDatabase(':memory:', 'NORMAL');
    applySqliteMigrations(lite);
    const tables = (lite.db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'").all() as { name: string }[]).map((t) => t.name);
    const sqlite = new Map(tables.map((t) => [t, (lite.db.prepare(`PRAGMA table_info(${t})`).all() as { name: string }[]).map((c) => c.name).sort()]));
    lite.db.close();
    expect(Object.fromEntries([...pg].sort())).toEqual(Object.fromEntries([...sqlite].sort()));
  });

  it('declares the capabilities of a multi-server engine and opens through openStore', async () => {
    const schema = freshSchema();
    const store = await openStore(`${URL}?schema=${schema}`);
    open.push(store);
    expect(store.capabilities).toEqual({ supportsListen: true, supportsSkipLocked: true, multiServer: true, inlineWrites: false });
    expect(typeof store.listen).toBe('function');
    await store.jobInsertMany({ jobs: [newJob()] });
    const [row] = await admin.unsafe(`SELECT count(*)::int AS n FROM ${schema}.jobs`);
    expect(row.n).toBe(1);
  });

  it('reports an unreachable database as BATON_E_UNAVAILABLE without leaking the password', async () => {
    // Port 1 on loopback: nothing listens there, so the connection is refused at once.
    const p = openStore('postgres://u:secret@127.0.0.1:1/db');
    await expect(p).rejects.toMatchObject({ code: 'BATON_E_UNAVAILABLE' });
    await expect(p).rejects.not.toThrow(/secret/);
  });

  it('reports a connection killed mid-query as BATON_E_UNAVAILABLE, and then reconnects', async () => {
    const schema = freshSchema();
    const store = await openOne(schema, { max: 1 });
    const locker = postgres(URL, { max: 1, onnotice: () => {}, connection: { search_path: schema } });
    let locked!: () => void;
    const isLocked = new Promise<void>((resolve) => (locked = resolve));
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const holding = locker.begin(async (tx) => {
      await tx`LOCK TABLE jobs IN ACCESS EXCLUSIVE MODE`;
      locked();
      await released;
    });
    await isLocked;
    const insert = store.jobInsertMany({ jobs: [newJob()] });
    const outcome = insert.then(() => null, (e: unknown) => e);
    // Poll (with a deadline) until the insert waits on the lock, then kill its backend.
    const app = `baton:${schema}`;
    const deadline = Date.now() + 10_000;
    let killed = false;
    while (!killed && Date.now() < deadline) {
      const rows = await admin`SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE application_name = ${app} AND wait_event_type = 'Lock'`;
      killed = rows.length > 0;
    }
    expect(killed).toBe(true);
    expect(await outcome).toMatchObject({ code: 'BATON_E_UNAVAILABLE' });
    release();
    await holding;
    await locker.end();
    // The pool notices the dead socket a moment after the error: poll until it has reconnected.
    const until = Date.now() + 5000;
    let up = false;
    while (!up && Date.now() < until) up = await store.ping().then(() => true, (e: unknown) => ((e as { code?: string }).code === 'BATON_E_UNAVAILABLE' ? false : Promise.reject(e)));
    expect(up).toBe(true);
    expect((await store.jobInsertMany({ jobs: [newJob()] })).existed).toEqual([false]);
  });

  it('binds a batch column once when every row has the same value, and the key always as an array', () => {
    const rows = [{ id: 'a', n: 1, s: 'x' }, { id: 'b', n: 2, s: 'x' }];
    const cols = [
      { name: 'id', type: 'text', key: true, value: (r: (typeof rows)[number]) => r.id },
      { name: 'n', type: 'int4', value: (r: (typeof rows)[number]) => r.n },
      { name: 's', type: 'text', cast: '::jsonb', value: (r: (typeof rows)[number]) => r.s },
    ];
    const p = new Params();
    expect(bindRows(p, rows, cols)).toEqual({ from: 'unnest($1::text[], $2::int4[]) AS v(id, n)', expr: { id: 'v.id', n: 'v.n', s: '$3::text::jsonb' } });
    expect(p.values).toEqual([['a', 'b'], [1, 2], 'x']);
  });

  it('refuses a schema name it would have to quote', async () => {
    expect(() => parseTarget(`${URL}?schema=Bad-Name`)).toThrow(/schema/);
    await expect(openPostgresStore({ url: URL, schema: 'x; drop' })).rejects.toMatchObject({ code: 'BATON_E_CONFIG' });
    expect(parseTarget(`${URL}?schema=abc&sslmode=disable`)).toEqual({ url: `${URL}?sslmode=disable`, schema: 'abc', socketPath: null });
    expect(parseTarget(URL).schema).toBe('baton');
  });

  it('reads a Unix socket directory from the URL as libpq does, and refuses a host parameter that is not one', () => {
    expect(parseTarget('postgres:///test?host=/var/run/postgresql&schema=s1')).toMatchObject({ schema: 's1', socketPath: '/var/run/postgresql/.s.PGSQL.5432' });
    expect(parseTarget('postgres:///test?host=/var/run/postgresql').url).not.toContain('host=');
    expect(parseTarget('postgres://baton@%2Ftmp%2Fpg%2F:5433/test').socketPath).toBe('/tmp/pg/.s.PGSQL.5433');
    // A user and no host, libpq's usual form: only with the socket directory.
    expect(parseTarget('postgres://baton:pw@/test?host=/run/pg')).toMatchObject({ socketPath: '/run/pg/.s.PGSQL.5432', url: 'postgres://baton:pw@localhost/test' });
    expect(() => parseTarget('postgres://baton@/test')).toThrow(expect.objectContaining({ code: 'BATON_E_CONFIG' }));
    expect(parseTarget('postgres://localhost/test')).toMatchObject({ url: 'postgres://localhost/test', socketPath: null });
    // A broken percent-encoding is a configuration error, not a crash.
    expect(() => parseTarget('postgres://u@%2F%ZZ/test')).toThrow(expect.objectContaining({ code: 'BATON_E_CONFIG', field: 'store' }));
    expect(parseTarget('postgres://u@%ZZ/test').socketPath).toBeNull();
    expect(() => parseTarget('postgres:///test?host=db.internal')).toThrow(expect.objectContaining({ code: 'BATON_E_CONFIG', field: 'store' }));
  });

  // The machine's PostgreSQL listens on its default socket directory too (Debian's packaging).
  it.skipIf(!existsSync('/var/run/postgresql/.s.PGSQL.5432'))('works through the Unix socket', async () => {
    const u = new globalThis.URL(URL);
    const schema = freshSchema();
    const store = await openPostgresStore({ url: `postgres://${u.username}@${u.pathname}?host=/var/run/postgresql`, schema, max: 2 });
    try {
      const { jobs } = await store.jobInsertMany({ jobs: [newJob()] });
      expect((await store.jobGet({ tenant: TENANT, id: jobs[0]!.id }))?.status).toBe('pending');
      const [row] = await admin`SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = ${`baton:${schema}`} AND client_port = -1`;
      expect(row!.n).toBeGreaterThan(0);
    } finally {
      await store.close();
      await dropSchema(schema);
    }
  });
});

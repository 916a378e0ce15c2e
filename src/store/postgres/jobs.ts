/**
 * Job methods of the PostgreSQL store: batch insert, read, list, client events, promotion of due
 * jobs, ready listing and assignment. Every status change goes through the core `transition`;
 * rows that several servers may race for are taken with FOR UPDATE SKIP LOCKED.
 */
import { BatonError, isBatonError } from '../../core/errors.ts';
import type { NewJob } from '../../core/spec.ts';
import { isTerminal, transition, type JobEvent, type TransitionResult } from '../../core/transition.ts';
import type { AuditInput, Job, JobType } from '../../core/types.ts';
import type { AssignmentInput, Fence, InsertResult, JobInsertOptions, JobListFilter, Page } from '../types.ts';
import { applyInsertExtras, checkUniqueKeys, onJobsEnded } from './graph.ts';
import { allInOrder, inTx, isUniqueViolation, type Db } from './db.ts';
import { checkFence } from './leaders.ts';
import { admitWithinCaps, type QueueCaps } from './limits.ts';
import { sendBatch, type Column } from './batch.ts';
import { attemptFromRow, jobFromNew, jobFromRow, jsonbText, type JobRow } from './rows.ts';
import { checkLimit, decodeCursor, encodeCursor, ensureQueues, notifyWake, wakes, writeAudit, writeAudits, writeNewAssignments, writeResults, type Ctx } from './write.ts';

/** Rows per INSERT statement: big enough to amortise the round trip, small enough to stay light. */
const INSERT_CHUNK = 5000;

/** The columns of a new job row, as bound for its INSERT (batch.ts: most are the same for the whole batch). */
const JOB_INSERT: Column<Job>[] = [
  { name: 'id', type: 'text', key: true, value: (j) => j.id },
  { name: 'tenant', type: 'text', value: (j) => j.tenant },
  { name: 'type', type: 'text', value: (j) => j.type },
  { name: 'name', type: 'text', value: (j) => j.name },
  { name: 'queue', type: 'text', value: (j) => j.queue },
  { name: 'priority', type: 'int4', value: (j) => j.priority },
  { name: 'status', type: 'text', value: (j) => j.status },
  { name: 'run_at', type: 'int8', value: (j) => j.runAt },
  { name: 'max_retries', type: 'int4', value: (j) => j.maxRetries },
  { name: 'timeout_ms', type: 'int8', value: (j) => j.timeoutMs },
  { name: 'idempotency_key', type: 'text', value: (j) => j.idempotencyKey },
  { name: 'payload', type: 'text', cast: '::jsonb', value: (j) => jsonbText(j.payload) },
  { name: 'backoff', type: 'text', cast: '::jsonb', value: (j) => jsonbText(j.backoff) },
  { name: 'requirements', type: 'text', cast: '::jsonb', value: (j) => jsonbText(j.requirements) },
  { name: 'tags', type: 'text', cast: '::jsonb', value: (j) => jsonbText(j.tags) },
  { name: 'metadata', type: 'text', cast: '::jsonb', value: (j) => jsonbText(j.metadata) },
  { name: 'created_at', type: 'int8', value: (j) => j.createdAt },
  { name: 'deadline', type: 'int8', value: (j) => j.deadline ?? null },
  { name: 'concurrency_key', type: 'text', value: (j) => j.concurrencyKey ?? null },
  { name: 'concurrency_limit', type: 'int4', value: (j) => (j.concurrencyKey != null ? (j.concurrencyLimit ?? 1) : null) },
];

/**
 * Sends the INSERTs of `jobs` at once, in chunks; resolves to the ids inserted (a repeated
 * idempotency key is skipped). Only a chunk with idempotency keys asks for the ids back: any
 * other either inserts every row or fails.
 */
export function insertJobRows(tx: Db, jobs: Job[]): Promise<Set<string>> {
  const chunks: Promise<string[]>[] = [];
  for (let i = 0; i < jobs.length; i += INSERT_CHUNK) {
    const c = jobs.slice(i, i + INSERT_CHUNK);
    const keyed = c.some((j) => j.idempotencyKey !== null);
    // The conflict target names the partial unique index, so only a repeated idempotency key is
    // skipped; a repeated id still raises (and fails the whole batch).
    const sent = sendBatch(tx, c, JOB_INSERT, (b) => `INSERT INTO jobs (${JOB_INSERT.map((col) => col.name).join(', ')}, updated_at)
      SELECT ${JOB_INSERT.map((col) => b.expr[col.name]).join(', ')}, ${b.expr.created_at} FROM ${b.from}
      ON CONFLICT (tenant, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING${keyed ? ' RETURNING id' : ''}`);
    chunks.push(keyed ? sent.then((rows) => rows.map((r) => (r as { id: string }).id)) : sent.then(() => c.map((j) => j.id)));
  }
  return Promise.all(chunks).then((all) => new Set(all.flat()));
}

/** Inserts the tag rows of `jobs` (sent at once; nothing is sent for untagged jobs). */
export function insertTags(tx: Db, jobs: Job[]): Promise<unknown> {
  const ids: string[] = [];
  const tags: string[] = [];
  const tenants: string[] = [];
  for (const j of jobs) for (const t of j.tags) (ids.push(j.id), tags.push(t), tenants.push(j.tenant));
  const sent: Promise<unknown>[] = [];
  for (let i = 0; i < ids.length; i += INSERT_CHUNK) {
    sent.push(tx`INSERT INTO job_tags (job_id, tag, tenant)
      SELECT * FROM unnest(${ids.slice(i, i + INSERT_CHUNK)}::text[], ${tags.slice(i, i + INSERT_CHUNK)}::text[], ${tenants.slice(i, i + INSERT_CHUNK)}::text[])
      ON CONFLICT DO NOTHING`.execute());
  }
  return Promise.all(sent);
}

const keyOf = (tenant: string, key: string) => `${tenant}\u0000${key}`;

/** Keyed jobs first, by (tenant, key); unkeyed ones keep their order (the sort is stable). */
function byKey(a: Job, b: Job): number {
  if (a.idempotencyKey === null || b.idempotencyKey === null) return (a.idempotencyKey === null ? 1 : 0) - (b.idempotencyKey === null ? 1 : 0);
  const ka = keyOf(a.tenant, a.idempotencyKey);
  const kb = keyOf(b.tenant, b.idempotencyKey);
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

/** The BATON_E_CONFLICT of a batch whose INSERT hit an existing job id; other errors pass. */
function conflictOnTakenId(e: unknown): never {
  if (isUniqueViolation(e)) throw new BatonError('BATON_E_CONFLICT', 'a job id of this batch exists already; nothing of this batch was inserted');
  throw e;
}

/**
 * Inserts a batch in one transaction; see Store.jobInsertMany. A repeated idempotency key inside
 * the batch resolves to its first job in memory; one that exists already is skipped by
 * ON CONFLICT DO NOTHING and read back, so the result keeps the input order.
 *
 * Round trips: a batch without idempotency keys takes one — every row is then either inserted or
 * the whole batch fails, so nothing waits for the INSERT's answer: BEGIN, the INSERT, its tags,
 * queues, audit rows and NOTIFY and the COMMIT all travel together. Idempotency keys add one (the
 * rows inserted decide what follows), uniqueKeys one before the INSERT, dependencies their reads.
 */
export async function jobInsertMany(c: Ctx, p: { jobs: NewJob[]; audit?: AuditInput } & JobInsertOptions): Promise<InsertResult> {
  if (p.jobs.length === 0) return { jobs: [], existed: [] };
  const res = await insertMany(c, p);
  if (res.assigning === null) return p.assign === undefined ? { jobs: res.jobs, existed: res.existed } : { jobs: res.jobs, existed: res.existed, assigned: [] };
  // Settled before the COMMIT was answered.
  const took = await res.assigning.took;
  const assigned = res.assigning.results.filter((r) => took.has(r.job.id)).map((r) => r.job);
  const byId = new Map(assigned.map((j) => [j.id, j]));
  // Every entry of an assigned job, a repeat of its idempotency key in this batch included.
  const jobs = res.jobs.map((j) => byId.get(j.id) ?? j);
  return { jobs, existed: res.existed, assigned };
}

function insertMany(
  c: Ctx,
  p: { jobs: NewJob[]; audit?: AuditInput } & JobInsertOptions,
): Promise<InsertResult & { assigning: { results: TransitionResult[]; took: Promise<Set<string>> } | null }> {
  return inTx(c.sql, async (tx, defer) => {
    const duplicates = await checkUniqueKeys(tx, p.jobs, p.extras);
    if (p.idempotencyRetentionMs !== undefined) {
      // Past its retention window a key is free again: the old job keeps no key.
      const keyed = p.jobs.filter((n) => n.idempotencyKey !== null);
      if (keyed.length > 0) {
        defer(tx`UPDATE jobs SET idempotency_key = NULL WHERE (tenant, idempotency_key) IN
          (SELECT * FROM unnest(${keyed.map((j) => j.tenant)}::text[], ${keyed.map((j) => j.idempotencyKey)}::text[]))
          AND created_at < ${p.jobs[0].createdAt - p.idempotencyRetentionMs}::int8`);
      }
    }
    const firstByKey = new Map<string, number>();
    const candidates: Job[] = [];
    for (let i = 0; i < p.jobs.length; i++) {
      const n = p.jobs[i];
      if (duplicates.has(i)) continue;
      if (n.idempotencyKey !== null) {
        const k = keyOf(n.tenant, n.idempotencyKey);
        if (firstByKey.has(k)) continue;
        firstByKey.set(k, i);
      }
      candidates.push(jobFromNew(n));
    }
    // Keyed rows go in key order: two batches racing on the same keys then wait on each other in
    // one order, instead of deadlocking.
    const ordered = [...candidates].sort(byKey);
    const inserting = insertJobRows(tx, ordered).catch(conflictOnTakenId);
    const keyed = candidates.filter((j) => j.idempotencyKey !== null);
    let newJobs = candidates;
    // Keys that lost to a job stored before (by an earlier call or a concurrent one that committed).
    const existing = new Map<string, Job>();
    if (keyed.length === 0) {
      defer(inserting);
    } else {
      // Sent behind the INSERT, so it sees the rows it skipped; our own new rows are left out.
      const [inserted, rows] = await allInOrder([
        inserting,
        tx`SELECT * FROM jobs WHERE (tenant, idempotency_key) IN
            (SELECT * FROM unnest(${keyed.map((j) => j.tenant)}::text[], ${keyed.map((j) => j.idempotencyKey)}::text[]))
          AND id <> ALL(${keyed.map((j) => j.id)}::text[])`.execute(),
      ]);
      newJobs = candidates.filter((j) => inserted.has(j.id));
      for (const r of rows) {
        const j = jobFromRow(r as JobRow);
        existing.set(keyOf(j.tenant, j.idempotencyKey!), j);
      }
    }
    defer(insertTags(tx, newJobs));
    // A new queue is stamped with the creation time of its first job, as in the SQLite store.
    const queues = new Map<string, { tenant: string; name: string; at: number }>();
    for (const j of newJobs) {
      const k = keyOf(j.tenant, j.queue);
      if (!queues.has(k)) queues.set(k, { tenant: j.tenant, name: j.queue, at: j.createdAt });
    }
    defer(ensureQueues(tx, [...queues.values()]));
    if (p.audit) defer(writeAudit(tx, p.jobs[0].tenant, p.audit, p.jobs[0].createdAt));
    if (p.audits) defer(writeAudits(tx, p.jobs.flatMap((n, i) => (p.audits![i] ? [{ tenant: n.tenant, entry: p.audits![i]!, at: n.createdAt }] : []))));

    const byId = new Map(newJobs.map((j) => [j.id, j]));
    const jobs: Job[] = [];
    const existed: boolean[] = [];
    for (let i = 0; i < p.jobs.length; i++) {
      const n = p.jobs[i];
      const dup = duplicates.get(i);
      if (dup !== undefined) {
        jobs.push(dup);
        existed.push(true);
        continue;
      }
      const mine = byId.get(n.id);
      if (mine !== undefined && (n.idempotencyKey === null || firstByKey.get(keyOf(n.tenant, n.idempotencyKey)) === i)) {
        jobs.push(mine);
        existed.push(false);
        continue;
      }
      const k = keyOf(n.tenant, n.idempotencyKey!);
      const first = p.jobs[firstByKey.get(k)!];
      const j = byId.get(first.id) ?? existing.get(k);
      if (j === undefined) throw new Error(`job with idempotency key ${n.idempotencyKey} vanished during its insert`);
      jobs.push(j);
      existed.push(true);
    }
    const { changed, raised } = await applyInsertExtras(tx, p, { jobs, existed });
    // New work wakes other servers, as do jobs released at insert (their parents had ended);
    // scheduled ones too: the maintenance loop re-reads the next run time. Statuses as the graph
    // step left them (a job it blocked wakes nobody).
    // JobInsertOptions.assign: the new rows' assignments go out behind them, unread (nothing else
    // can see rows this transaction has not committed); which took is known once they have run.
    let assigning: { results: TransitionResult[]; took: Promise<Set<string>> } | null = null;
    if (p.assign !== undefined) {
      const results: TransitionResult[] = [];
      const seen = new Set<string>();
      for (const a of p.assign.assignments) {
        const job = byId.get(a.jobId);
        // A concurrency key is counted under a lock by a dispatch round, which takes the job.
        if (job === undefined || job.status !== 'pending' || job.concurrencyKey != null || seen.has(job.id)) continue;
        seen.add(job.id);
        results.push(transition(job, { type: 'assign', workerId: a.workerId, leaseToken: a.leaseToken, leaseExpiresAt: a.leaseExpiresAt }, p.assign.now));
      }
      if (results.length > 0) {
        const took = writeNewAssignments(tx, results, byId);
        defer(took);
        assigning = { results, took };
      }
    }
    // Pending jobs wake other servers, except those planned for a worker here: if a queue's pause
    // or cap keeps one pending, this server's own round takes it (the route announces it), and
    // other servers see it on their next wake-up.
    const planned = assigning === null ? null : new Set(assigning.results.map((r) => r.job.id));
    const woken = [...newJobs.filter((j) => (j.status === 'pending' && !planned?.has(j.id)) || j.status === 'scheduled'), ...changed.filter((j) => j.status === 'pending')];
    // Pending jobs whose inherited priority rose: other servers' kept heads rank them too low.
    defer(notifyWake(tx, c, [...woken.map((j) => j.tenant), ...raised]));
    return { jobs, existed, assigning };
  });
}

/** A job of `tenant` with its attempts; see Store.jobGet. */
export async function jobGet(sql: Db, p: { tenant: string; id: string }): Promise<Job | null> {
  const [row] = await sql`SELECT * FROM jobs WHERE id = ${p.id} AND tenant = ${p.tenant}`;
  if (row === undefined) return null;
  const attempts = await sql`SELECT * FROM job_attempts WHERE job_id = ${p.id} ORDER BY attempt`;
  return jobFromRow(row as JobRow, attempts.map(attemptFromRow));
}

/** Newest first, one page; see Store.jobList. Jobs in a list carry no attempts (use jobGet). */
export async function jobList(sql: Db, p: JobListFilter): Promise<Page<Job>> {
  checkLimit(p.limit);
  const cursor = p.cursor ? decodeCursor(p.cursor) : null;
  const filters = sql`
    ${p.status !== undefined ? sql`AND j.status = ${p.status}` : sql``}
    ${p.queue !== undefined ? sql`AND j.queue = ${p.queue}` : sql``}
    ${p.type !== undefined ? sql`AND j.type = ${p.type}` : sql``}`;
  const rows =
    p.tag !== undefined
      ? await sql`SELECT j.* FROM job_tags t JOIN jobs j ON j.id = t.job_id
          WHERE t.tenant = ${p.tenant} AND t.tag = ${p.tag} AND j.tenant = ${p.tenant} ${filters}
          ${cursor !== null ? sql`AND t.job_id < ${cursor}` : sql``}
          ORDER BY t.job_id DESC LIMIT ${p.limit + 1}`
      : await sql`SELECT j.* FROM jobs j WHERE j.tenant = ${p.tenant} ${filters}
          ${cursor !== null ? sql`AND j.id < ${cursor}` : sql``}
          ORDER BY j.id DESC LIMIT ${p.limit + 1}`;
  const more = rows.length > p.limit;
  const items = (more ? rows.slice(0, p.limit) : rows).map((r) => jobFromRow(r as JobRow));
  return { items, nextCursor: more ? encodeCursor(items[items.length - 1].id) : null };
}

/** A client event on one job; see Store.jobApply. */
export async function jobApply(c: Ctx, p: { tenant: string; id: string; event: JobEvent; now: number; audit?: AuditInput }): Promise<{ before: Job; after: Job }> {
  return inTx(c.sql, async (tx) => {
    const [row] = await tx`SELECT * FROM jobs WHERE id = ${p.id} AND tenant = ${p.tenant} FOR UPDATE`;
    if (row === undefined) throw new BatonError('BATON_E_NOT_FOUND', `job ${p.id} not found`);
    const attempts = (await tx`SELECT * FROM job_attempts WHERE job_id = ${p.id} ORDER BY attempt`).map(attemptFromRow);
    const before = jobFromRow(row as JobRow, attempts);
    const r = transition(before, p.event, p.now);
    await writeResults(tx, [r]);
    const after = r.job;
    if (isTerminal(after.status) && !isTerminal(before.status)) {
      const released = await onJobsEnded(tx, [after], p.now);
      await notifyWake(tx, c, released.filter((j) => j.status === 'pending').map((j) => j.tenant));
    }
    const specChanged = p.event.type === 'modify' || (p.event.type === 'retry' && p.event.patch !== undefined);
    if (specChanged) {
      await tx`UPDATE jobs SET type = ${after.type}, name = ${after.name}, queue = ${after.queue}, priority = ${after.priority},
          max_retries = ${after.maxRetries}, timeout_ms = ${after.timeoutMs}::int8, idempotency_key = ${after.idempotencyKey},
          payload = ${jsonbText(after.payload)}::text::jsonb, backoff = ${jsonbText(after.backoff)}::text::jsonb,
          requirements = ${jsonbText(after.requirements)}::text::jsonb, tags = ${jsonbText(after.tags)}::text::jsonb,
          metadata = ${jsonbText(after.metadata)}::text::jsonb
        WHERE id = ${after.id}`;
      if (after.queue !== before.queue) await ensureQueues(tx, [{ tenant: after.tenant, name: after.queue, at: p.now }]);
      if (JSON.stringify(after.tags) !== JSON.stringify(before.tags)) {
        await tx`DELETE FROM job_tags WHERE job_id = ${after.id}`;
        await tx`INSERT INTO job_tags (job_id, tag, tenant) SELECT ${after.id}, t, ${after.tenant} FROM unnest(${after.tags}::text[]) AS t ON CONFLICT DO NOTHING`;
      }
    }
    if (p.audit) await writeAudit(tx, p.tenant, p.audit, p.now);
    if (wakes(before.status, after.status)) await notifyWake(tx, c, [after.tenant]);
    // Attempts as they are now: a cancel may have ended the current one.
    const now = r.attemptChange ? (await tx`SELECT * FROM job_attempts WHERE job_id = ${p.id} ORDER BY attempt`).map(attemptFromRow) : attempts;
    return { before, after: { ...after, attempts: now } };
  });
}

/** Scheduled jobs whose time has come become pending; see Store.jobPromoteDue. */
export async function jobPromoteDue(c: Ctx, p: { now: number; limit: number; fence?: Fence }): Promise<number> {
  return inTx(c.sql, async (tx) => {
    await checkFence(tx, p.fence, p.now);
    // SKIP LOCKED: another server promoting at the same moment takes other rows, never waits.
    const rows = await tx`SELECT * FROM jobs WHERE status = 'scheduled' AND run_at <= ${p.now}::int8
      ORDER BY run_at LIMIT ${p.limit} FOR UPDATE SKIP LOCKED`;
    const results = rows.map((r) => transition(jobFromRow(r as JobRow), { type: 'promote' }, p.now));
    await writeResults(tx, results);
    await notifyWake(tx, c, results.map((r) => r.job.tenant));
    return results.length;
  });
}

/** The earliest runAt of a scheduled job; see Store.jobNextRunAt. */
export async function jobNextRunAt(sql: Db): Promise<number | null> {
  const [row] = await sql`SELECT min(run_at) AS t FROM jobs WHERE status = 'scheduled'`;
  return (row.t as number | null) ?? null;
}

/**
 * Pending jobs in dispatch order; see Store.jobListReady. A LATERAL subquery takes the head of
 * each eligible queue from jobs_ready (index order, no sort) and the outer query merges them, so
 * the cost is (queues x limit) index rows however many jobs wait; paused queues are never read.
 */
export async function jobListReady(sql: Db, p: { tenants: string[]; queues?: string[]; types: JobType[]; limit: number }): Promise<Job[]> {
  if (p.tenants.length === 0 || p.types.length === 0 || p.limit <= 0) return [];
  const allQueues = p.queues === undefined || p.queues.includes('*');
  if (!allQueues && p.queues!.length === 0) return [];
  const rows = await sql`SELECT j.* FROM queues q CROSS JOIN LATERAL (
      SELECT * FROM jobs j WHERE j.status = 'pending' AND j.tenant = q.tenant AND j.queue = q.name AND j.type = ANY(${p.types}::text[])
      ORDER BY GREATEST(j.priority, j.inherited_priority) DESC, j.run_at, j.created_at, j.id LIMIT ${p.limit}) j
    WHERE q.tenant = ANY(${p.tenants}::text[]) AND NOT q.paused ${allQueues ? sql`` : sql`AND q.name = ANY(${p.queues!}::text[])`}
    ORDER BY GREATEST(j.priority, j.inherited_priority) DESC, j.run_at, j.created_at, j.id LIMIT ${p.limit}`;
  return rows.map((r) => jobFromRow(r as JobRow));
}

/**
 * Assigns each job that is still pending (compare-and-set) and inserts its attempt row; jobs that
 * moved on, or that another server holds locked right now, are skipped. See Store.jobAssignMany.
 * Returned jobs carry no attempts. Two round trips: BEGIN with the lock (each row with its queue's
 * cap), then the writes with the COMMIT (one more, for the cap locks and counts, when a job has a capped
 * queue or a concurrency key). The whole row is read: the assigned job is what the worker gets.
 */
export async function jobAssignMany(c: Ctx, p: { assignments: AssignmentInput[]; now: number }): Promise<Job[]> {
  if (p.assignments.length === 0) return [];
  return inTx(c.sql, async (tx, defer) => {
    const ids = [...new Set(p.assignments.map((a) => a.jobId))];
    // No `status = 'pending'` in the WHERE: with it, a planner without statistics on jobs (a
    // fresh or bulk-loaded table autovacuum has not analyzed yet) reads the pending partial
    // indexes, i.e. the whole backlog (5 ms at 20,000 pending, growing with it), instead of the
    // primary key. Jobs that moved on are skipped below; their row locks last until the commit.
    // The queue's cap is read with each row: a subquery of the select list is evaluated on the
    // row version that was locked, so it is the cap of the queue the job is in now. A job of a
    // paused queue is not taken (the dispatcher may plan from heads read before the pause).
    const rows = await tx`SELECT j.*, (SELECT q.concurrency_limit FROM queues q WHERE q.tenant = j.tenant AND q.name = j.queue) AS queue_cap
      FROM jobs j WHERE j.id = ANY(${ids}::text[])
        AND NOT EXISTS (SELECT 1 FROM queues q WHERE q.tenant = j.tenant AND q.name = j.queue AND q.paused)
      FOR UPDATE OF j SKIP LOCKED`;
    const caps: QueueCaps = new Map();
    const jobs = new Map<string, Job>();
    for (const r of rows) {
      const job = jobFromRow(r as JobRow);
      jobs.set(job.id, job);
      if (r.queue_cap !== null) caps.set(`${job.tenant}\u0000${job.queue}`, r.queue_cap as number);
    }
    const before = new Map(jobs);
    // Queue and concurrency-key caps, counted under their locks in this transaction (004_schedules.sql).
    const pending = p.assignments.map((a) => jobs.get(a.jobId)).filter((j): j is Job => j !== undefined && j.status === 'pending');
    const admitted = await admitWithinCaps(tx, pending, caps);
    const results: TransitionResult[] = [];
    for (const a of p.assignments) {
      if (!admitted.has(a.jobId)) continue;
      const job = jobs.get(a.jobId);
      if (job === undefined || job.status !== 'pending') continue;
      let r: TransitionResult;
      try {
        r = transition(job, { type: 'assign', workerId: a.workerId, leaseToken: a.leaseToken, leaseExpiresAt: a.leaseExpiresAt }, p.now);
      } catch (e) {
        if (isBatonError(e)) continue;
        throw e;
      }
      // The evolving job: a second assignment of it in this batch sees it assigned and is skipped.
      jobs.set(job.id, r.job);
      results.push(r);
    }
    defer(writeResults(tx, results, before));
    return results.map((r) => r.job);
  });
}

/**
 * Job methods of the SQLite store: insert, read, list, client events, promotion of due jobs,
 * ready listing and assignment. Every status change goes through the core `transition`.
 */
import { BatonError, isBatonError } from '../../core/errors.ts';
import type { NewJob } from '../../core/spec.ts';
import { isTerminal, transition, type JobEvent } from '../../core/transition.ts';
import type { AuditInput, Job, JobType } from '../../core/types.ts';
import type { AssignmentInput, Fence, InsertResult, JobInsertOptions, JobListFilter, Page } from '../types.ts';
import { applyInsertExtras, checkUniqueKeys, onJobsEnded } from './graph.ts';
import type { Sql } from './db.ts';
import { attemptFromRow, jobColumns, jobFromNew, jobFromValues, rowOfInserted, selectJobs, SPEC_COLUMNS, specValues, STATE_COLUMNS, stateValues, type AttemptRow } from './rows.ts';
import { checkFence } from './leaders.ts';
import { admitWithinCaps } from './limits.ts';
import { backoffText, objectText, requirementsText, tagsText } from './json.ts';
import { checkLimit, decodeCursor, encodeCursor, ensureQueue, flushAttempts, loadJob, loadJobsCached, writeAudit, writeAudits, writeTransition, type AttemptInserts } from './write.ts';

// The deadline and concurrency columns (004_schedules.sql) are written with the row, not after it.
const INSERT_COLUMNS = ['id', 'tenant', 'created_at', ...SPEC_COLUMNS, ...STATE_COLUMNS, 'deadline', 'concurrency_key', 'concurrency_limit'];
const INSERT_ROW = `(${INSERT_COLUMNS.map(() => '?').join(', ')})`;
/**
 * Rows per INSERT statement: one statement per row spent more in binding and stepping than in
 * the rows themselves; 50 rows keep a statement's parameters (50 x 32) well under SQLite's limit.
 */
const ROWS_PER_INSERT = 50;
/** Jobs an insert may have at most for their rows to be cached (see jobInsertMany). */
const CACHED_INSERT_ROWS = 16;
const INSERT_TAG = 'INSERT OR IGNORE INTO job_tags (job_id, tag, tenant) VALUES (?, ?, ?)';
const DELETE_TAGS = 'DELETE FROM job_tags WHERE job_id = ?';
const SELECT_BY_KEY = `${selectJobs()} WHERE tenant = ? AND idempotency_key = ?`;
const SELECT_ATTEMPTS = 'SELECT * FROM job_attempts WHERE job_id = ? ORDER BY attempt';

/**
 * The state columns of a job that has not run yet (jobFromNew) and their values, written as SQL
 * literals instead of bound values: a third fewer values to bind per row of a batch insert.
 */
const FRESH_LITERALS: readonly (readonly [column: string, literal: string, holds: (j: Job) => boolean])[] = [
  ['attempt', '0', (j) => j.attempt === 0],
  ['attempt_base', '0', (j) => j.attemptBase === 0],
  ['lease_token', 'NULL', (j) => j.leaseToken === null],
  ['lease_expires_at', 'NULL', (j) => j.leaseExpiresAt === null],
  ['worker_id', 'NULL', (j) => j.workerId === null],
  ['progress', 'NULL', (j) => j.progress === null],
  ['result', 'NULL', (j) => j.result === null],
  ['error', 'NULL', (j) => j.error === null],
  ['reason', 'NULL', (j) => j.reason === null],
  ['started_at', 'NULL', (j) => j.startedAt === null],
  ['completed_at', 'NULL', (j) => j.completedAt === null],
];
const FRESH_BOUND = ['id', 'tenant', 'created_at', ...SPEC_COLUMNS, 'status', 'run_at', 'updated_at', 'deadline', 'concurrency_key', 'concurrency_limit'];
const FRESH_ROW = `(${[...FRESH_BOUND.map(() => '?'), ...FRESH_LITERALS.map(([, v]) => v)].join(', ')})`;
const FRESH_INTO = `INSERT INTO jobs (${[...FRESH_BOUND, ...FRESH_LITERALS.map(([c]) => c)].join(', ')})`;

/** INSERT statements' text by row count (1..ROWS_PER_INSERT), built once each: any rows, and rows of fresh jobs. */
const insertSql: string[] = [];
const insertFreshSql: string[] = [];

/** The INSERT statement for `rows` job rows (`fresh`: all of them jobs that have not run yet). */
function insertStatement(sql: Sql, rows: number, fresh: boolean) {
  if (fresh) return sql.stmt((insertFreshSql[rows] ??= `${FRESH_INTO} VALUES ${Array(rows).fill(FRESH_ROW).join(', ')}`));
  insertSql[rows] ??= `INSERT INTO jobs (${INSERT_COLUMNS.join(', ')}) VALUES ${Array(rows).fill(INSERT_ROW).join(', ')}`;
  return sql.stmt(insertSql[rows]);
}

/** True when `job` has not run yet: its state columns are FRESH_LITERALS' values. */
function isFresh(job: Job): boolean {
  return job.updatedAt === job.createdAt && FRESH_LITERALS.every(([, , holds]) => holds(job));
}

/** Appends `job`'s INSERT_COLUMNS values to `out`. */
function pushRowValues(out: unknown[], job: Job): void {
  out.push(job.id, job.tenant, job.createdAt, ...specValues(job), ...stateValues(job));
  out.push(job.deadline ?? null, job.concurrencyKey ?? null, job.concurrencyKey != null ? (job.concurrencyLimit ?? 1) : null);
}

/** Appends a fresh `job`'s FRESH_BOUND values to `out` (listed, not spread: this runs per row of a batch). */
function pushFreshValues(out: unknown[], j: Job): void {
  out.push(
    j.id, j.tenant, j.createdAt,
    // SPEC_COLUMNS, as specValues has them.
    j.type, j.name, j.queue, j.priority, j.maxRetries, j.timeoutMs, j.idempotencyKey,
    JSON.stringify(j.payload), backoffText(j.backoff), requirementsText(j.requirements), tagsText(j.tags), objectText(j.metadata),
    j.status, j.runAt, j.updatedAt,
    j.deadline ?? null, j.concurrencyKey ?? null, j.concurrencyKey != null ? (j.concurrencyLimit ?? 1) : null,
  );
}

/**
 * BATON_E_CONFLICT naming the first job of `chunk` (a failed INSERT's rows, in order) whose id
 * a row or an earlier job of the chunk has already.
 */
function conflict(sql: Sql, chunk: readonly Job[]): BatonError {
  const seen = new Set<string>();
  let id: string | undefined;
  for (const j of chunk) {
    if (seen.has(j.id) || sql.stmt('SELECT 1 FROM jobs WHERE id = ?').get(j.id) !== undefined) {
      id = j.id;
      break;
    }
    seen.add(j.id);
  }
  return new BatonError('BATON_E_CONFLICT', `job id ${id ?? 'of this batch'} exists already; nothing of this batch was inserted`);
}

/**
 * Inserts job rows and their tags (inside the caller's transaction), ROWS_PER_INSERT rows per
 * statement. Throws BATON_E_CONFLICT when an id exists already; the caller's transaction then
 * rolls back, so nothing of the batch stays.
 */
export function insertJobRows(sql: Sql, jobs: readonly Job[]): void {
  for (let i = 0; i < jobs.length; i += ROWS_PER_INSERT) {
    const n = Math.min(ROWS_PER_INSERT, jobs.length - i);
    const values: unknown[] = [];
    let fresh = true;
    for (let k = i; k < i + n && fresh; k++) fresh = isFresh(jobs[k]);
    for (let k = i; k < i + n; k++) (fresh ? pushFreshValues : pushRowValues)(values, jobs[k]);
    try {
      insertStatement(sql, n, fresh).run(values);
    } catch (e) {
      if ((e as { code?: string }).code === 'SQLITE_CONSTRAINT_PRIMARYKEY') throw conflict(sql, jobs.slice(i, i + n));
      throw e;
    }
  }
  for (const job of jobs) for (const tag of job.tags) sql.stmt(INSERT_TAG).run(job.id, tag, job.tenant);
}

/** Inserts a batch in one transaction; see Store.jobInsertMany. */
export function jobInsertMany(sql: Sql, p: { jobs: NewJob[]; audit?: AuditInput } & JobInsertOptions): InsertResult {
  const run = () => sql.write((): InsertResult => {
    const jobs: Job[] = [];
    const existed: boolean[] = [];
    // Idempotency keys seen in this batch: a repeat returns the first job, as a repeat request would.
    const byKey = new Map<string, Job>();
    const queuesSeen = new Set<string>();
    let lastTenant: string | null = null;
    let lastQueue: string | null = null;
    // New rows are written together after the loop; nothing in the loop reads them back (a
    // repeated idempotency key within the batch is found in byKey).
    const fresh: Job[] = [];
    const duplicates = checkUniqueKeys(sql, p.jobs, p.extras);
    for (const [i, n] of p.jobs.entries()) {
      const dup = duplicates.get(i);
      if (dup !== undefined) {
        jobs.push(dup);
        existed.push(true);
        continue;
      }
      if (n.idempotencyKey !== null) {
        const mapKey = `${n.tenant}\u0000${n.idempotencyKey}`;
        let prior = byKey.get(mapKey);
        if (prior === undefined) {
          const row = sql.rawStmt(SELECT_BY_KEY).get(n.tenant, n.idempotencyKey) as unknown[] | undefined;
          const held = row === undefined ? undefined : jobFromValues(row);
          if (held !== undefined && p.idempotencyRetentionMs !== undefined && held.createdAt < n.createdAt - p.idempotencyRetentionMs) {
            // Past its retention window the key is free again: the old job keeps no key.
            sql.rowCache.drop(held.id);
            sql.stmt('UPDATE jobs SET idempotency_key = NULL WHERE id = ?').run(held.id);
          } else if (held !== undefined) {
            prior = held;
            byKey.set(mapKey, prior);
          }
        }
        if (prior !== undefined) {
          jobs.push(prior);
          existed.push(true);
          continue;
        }
      }
      const job = jobFromNew(n);
      fresh.push(job);
      // Batches mostly fill one queue: its key is built and looked up again only on a change.
      if (n.tenant !== lastTenant || n.queue !== lastQueue) {
        lastTenant = n.tenant;
        lastQueue = n.queue;
        const qKey = `${n.tenant}\u0000${n.queue}`;
        if (!queuesSeen.has(qKey)) {
          queuesSeen.add(qKey);
          ensureQueue(sql, n.tenant, n.queue, n.createdAt);
        }
      }
      if (n.idempotencyKey !== null) byKey.set(`${n.tenant}\u0000${n.idempotencyKey}`, job);
      jobs.push(job);
      existed.push(false);
    }
    insertJobRows(sql, fresh);
    // A small insert (one job per request: the pickup-latency path) leaves its pending rows in
    // the row cache, so the dispatcher's next ready read does not fetch a row just written.
    // Batches do not: a thousand rows would push out the rows of jobs being dispatched.
    if (fresh.length <= CACHED_INSERT_ROWS && !p.extras && !p.graphOnFailure) {
      sql.rowCache.sync();
      for (const job of fresh) if (job.status === 'pending') sql.rowCache.set(job.id, rowOfInserted(job));
    }
    applyInsertExtras(sql, p, { jobs, existed });
    if (p.audit && p.jobs.length > 0) writeAudit(sql, p.jobs[0].tenant, p.audit, p.jobs[0].createdAt);
    if (p.audits) {
      const rows: { tenant: string; audit: AuditInput; at: number }[] = [];
      p.jobs.forEach((n, i) => {
        const audit = p.audits![i];
        if (audit) rows.push({ tenant: n.tenant, audit, at: n.createdAt });
      });
      writeAudits(sql, rows);
    }
    if (p.assign === undefined) return { jobs, existed };
    const assigned = assignNew(sql, p.assign, fresh);
    if (assigned.length > 0) {
      const byId = new Map(assigned.map((j) => [j.id, j]));
      // Every entry of an assigned job, a repeat of its idempotency key in this batch included.
      for (let i = 0; i < jobs.length; i++) jobs[i] = byId.get(jobs[i].id) ?? jobs[i];
    }
    return { jobs, existed, assigned };
  });
  return run();
}

/** JobInsertOptions.assign: assigns jobs of `fresh` (this insert's new rows) whose queue is not paused. */
function assignNew(sql: Sql, a: { assignments: AssignmentInput[]; now: number }, fresh: Job[]): Job[] {
  const mine = new Map<string, Job>();
  for (const j of fresh) mine.set(j.id, j);
  const paused = new Map<string, boolean>();
  const assignments = a.assignments.filter((x) => {
    const j = mine.get(x.jobId);
    if (j === undefined) return false;
    const k = `${j.tenant}\u0000${j.queue}`;
    let q = paused.get(k);
    if (q === undefined) {
      q = (sql.stmt('SELECT paused FROM queues WHERE tenant = ? AND name = ?').get(j.tenant, j.queue) as { paused: number } | undefined)?.paused === 1;
      paused.set(k, q);
    }
    return !q;
  });
  return assignments.length === 0 ? [] : assignWithin(sql, { assignments, now: a.now }, mine);
}

/** A job of `tenant` with its attempts; see Store.jobGet. */
export function jobGet(sql: Sql, p: { tenant: string; id: string }): Job | null {
  const row = sql.rawStmt(`${selectJobs()} WHERE id = ? AND tenant = ?`).get(p.id, p.tenant) as unknown[] | undefined;
  if (row === undefined) return null;
  const attempts = (sql.stmt(SELECT_ATTEMPTS).all(p.id) as AttemptRow[]).map(attemptFromRow);
  return jobFromValues(row, attempts);
}

/** Newest first, one page; see Store.jobList. Jobs in a list carry no attempts (use jobGet). */
export function jobList(sql: Sql, p: JobListFilter): Page<Job> {
  checkLimit(p.limit);
  const where: string[] = ['j.tenant = @tenant'];
  const params: Record<string, unknown> = { tenant: p.tenant, limit: p.limit + 1 };
  let from = 'jobs j';
  let key = 'j.id';
  if (p.tag !== undefined) {
    // CROSS JOIN fixes the loop order: walk the tag index newest first, so a rare tag does not
    // scan every job of the tenant.
    from = 'job_tags t CROSS JOIN jobs j ON j.id = t.job_id';
    key = 't.job_id';
    where.push('t.tenant = @tenant', 't.tag = @tag');
    params.tag = p.tag;
  }
  if (p.status !== undefined) (where.push('j.status = @status'), (params.status = p.status));
  if (p.queue !== undefined) (where.push('j.queue = @queue'), (params.queue = p.queue));
  if (p.type !== undefined) (where.push('j.type = @type'), (params.type = p.type));
  if (p.cursor) (where.push(`${key} < @cursor`), (params.cursor = decodeCursor(p.cursor)));
  const rows = sql.rawStmt(`SELECT ${jobColumns('j')} FROM ${from} WHERE ${where.join(' AND ')} ORDER BY ${key} DESC LIMIT @limit`).all(params) as unknown[][];
  const more = rows.length > p.limit;
  const items = (more ? rows.slice(0, p.limit) : rows).map((r) => jobFromValues(r));
  return { items, nextCursor: more ? encodeCursor(items[items.length - 1].id) : null };
}

/** A client event on one job; see Store.jobApply. */
export function jobApply(sql: Sql, p: { tenant: string; id: string; event: JobEvent; now: number; audit?: AuditInput }): { before: Job; after: Job } {
  const run = () => sql.write(() => {
    const before = jobGet(sql, { tenant: p.tenant, id: p.id });
    if (before === null) throw new BatonError('BATON_E_NOT_FOUND', `job ${p.id} not found`);
    const r = transition(before, p.event, p.now);
    const specChanged = p.event.type === 'modify' || (p.event.type === 'retry' && p.event.patch !== undefined);
    writeTransition(sql, r, { spec: specChanged });
    const after = r.job;
    if (isTerminal(after.status) && !isTerminal(before.status)) onJobsEnded(sql, [after], p.now);
    if (specChanged) {
      if (after.queue !== before.queue) ensureQueue(sql, after.tenant, after.queue, p.now);
      if (JSON.stringify(after.tags) !== JSON.stringify(before.tags)) {
        sql.stmt(DELETE_TAGS).run(after.id);
        for (const tag of after.tags) sql.stmt(INSERT_TAG).run(after.id, tag, after.tenant);
      }
    }
    if (p.audit) writeAudit(sql, p.tenant, p.audit, p.now);
    // Attempts as they are now: a cancel may have ended the current one.
    const attempts = r.attemptChange ? (sql.stmt(SELECT_ATTEMPTS).all(p.id) as AttemptRow[]).map(attemptFromRow) : before.attempts;
    return { before, after: { ...after, attempts } };
  });
  return run();
}

/** Scheduled jobs whose time has come become pending; see Store.jobPromoteDue. */
export function jobPromoteDue(sql: Sql, p: { now: number; limit: number; fence?: Fence }): number {
  const run = () => sql.write(() => {
    checkFence(sql, p.fence, p.now);
    const rows = sql.rawStmt(`${selectJobs()} WHERE status = 'scheduled' AND run_at <= ? ORDER BY run_at LIMIT ?`).all(p.now, p.limit) as unknown[][];
    for (const row of rows) writeTransition(sql, transition(jobFromValues(row), { type: 'promote' }, p.now));
    return rows.length;
  });
  return run();
}

/** The earliest runAt of a scheduled job; see Store.jobNextRunAt. */
export function jobNextRunAt(sql: Sql): number | null {
  const row = sql.stmt("SELECT MIN(run_at) AS t FROM jobs WHERE status = 'scheduled'").get() as { t: number | null };
  return row.t;
}

const READY_QUEUES_ALL = `SELECT tenant, name FROM queues
  WHERE tenant IN (SELECT value FROM json_each(?)) AND paused = 0`;
const READY_QUEUES_SOME = `SELECT tenant, name FROM queues
  WHERE tenant IN (SELECT value FROM json_each(?)) AND name IN (SELECT value FROM json_each(?)) AND paused = 0`;
// Walks jobs_ready of one (tenant, queue) in index order: no sort, and stops after LIMIT rows.
// The rank is the larger of a job's own and its inherited priority (003_workflows.sql).
const READY_IN_QUEUE = `SELECT id, max(priority, inherited_priority) AS priority, run_at, created_at FROM jobs INDEXED BY jobs_ready
  WHERE status = 'pending' AND tenant = ? AND queue = ? AND type IN (SELECT value FROM json_each(?))
  ORDER BY max(priority, inherited_priority) DESC, run_at, created_at, id LIMIT ?`;

interface ReadyKeyRow {
  id: string;
  priority: number;
  run_at: number;
  created_at: number;
}

function compareReadyRows(a: ReadyKeyRow, b: ReadyKeyRow): number {
  if (a.priority !== b.priority) return b.priority - a.priority;
  if (a.run_at !== b.run_at) return a.run_at - b.run_at;
  if (a.created_at !== b.created_at) return a.created_at - b.created_at;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/**
 * Pending jobs in dispatch order; see Store.jobListReady. Jobs carry no attempts.
 * Takes the head of each eligible queue from the ready index and merges them (compareReady's
 * order), so the cost is (queues x limit) index rows however many jobs wait, and paused queues
 * are never read at all.
 */
export function jobListReady(sql: Sql, p: { tenants: string[]; queues?: string[]; types: JobType[]; limit: number }): Job[] {
  if (p.tenants.length === 0 || p.types.length === 0 || p.limit <= 0) return [];
  const allQueues = p.queues === undefined || p.queues.includes('*');
  if (!allQueues && p.queues!.length === 0) return [];
  const tenants = JSON.stringify(p.tenants);
  const queues = (
    allQueues ? sql.stmt(READY_QUEUES_ALL).all(tenants) : sql.stmt(READY_QUEUES_SOME).all(tenants, JSON.stringify(p.queues))
  ) as { tenant: string; name: string }[];
  const types = JSON.stringify(p.types);
  const keys: ReadyKeyRow[] = [];
  for (const q of queues) keys.push(...(sql.stmt(READY_IN_QUEUE).all(q.tenant, q.name, types, p.limit) as ReadyKeyRow[]));
  keys.sort(compareReadyRows);
  // Only the winners' full rows are read; a read without a transaction sees one snapshot per
  // statement, so a job may have moved on meanwhile: skip it then.
  const out: Job[] = [];
  for (const k of keys.slice(0, p.limit)) {
    const job = loadJob(sql, k.id);
    if (job !== null && job.status === 'pending') out.push(job);
  }
  return out;
}

/**
 * Assigns each job that is still pending (compare-and-set) and inserts its attempt row; jobs
 * that moved on meanwhile are skipped. See Store.jobAssignMany. Returned jobs carry no attempts.
 */
export function jobAssignMany(sql: Sql, p: { assignments: AssignmentInput[]; now: number }): Job[] {
  const run = () => sql.write(() => assignWithin(sql, p, loadJobsCached(sql, p.assignments.map((a) => a.jobId))));
  return run();
}

/**
 * The body of jobAssignMany, inside the caller's write transaction: `jobs` holds (at least) the
 * assigned jobs as they are now, and then follows each assignment written.
 */
function assignWithin(sql: Sql, p: { assignments: AssignmentInput[]; now: number }, jobs: Map<string, Job>): Job[] {
  const out: Job[] = [];
  // Queue and concurrency-key caps, counted in this transaction (004_schedules.sql).
  const candidates = p.assignments.map((a) => jobs.get(a.jobId)).filter((j): j is Job => j !== undefined && j.status === 'pending');
  const admitted = admitWithinCaps(sql, candidates);
  // The new attempt rows, one INSERT for the batch: nothing here reads them before it ends.
  const attempts: AttemptInserts = { values: [] };
  for (const a of p.assignments) {
    if (!admitted.has(a.jobId)) continue;
    admitted.delete(a.jobId);
    const job = jobs.get(a.jobId);
    if (job === undefined || job.status !== 'pending') continue;
    let r;
    try {
      r = transition(job, { type: 'assign', workerId: a.workerId, leaseToken: a.leaseToken, leaseExpiresAt: a.leaseExpiresAt }, p.now);
    } catch (e) {
      if (isBatonError(e)) continue;
      throw e;
    }
    writeTransition(sql, r, { attempts });
    jobs.set(r.job.id, r.job);
    out.push(r.job);
  }
  flushAttempts(sql, attempts);
  return out;
}

/**
 * The few statements every mutation shares: load a job, write a transition's result (job row and
 * attempt row), make sure a queue row exists, write an audit row, and page cursors.
 * All run inside the caller's transaction.
 */
import { BatonError } from '../../core/errors.ts';
import type { TransitionResult } from '../../core/transition.ts';
import type { AuditInput, Job } from '../../core/types.ts';
import type { Sql } from './db.ts';
import { attemptUpdate, jobFromValues, rowAfterWrite, selectJobs, SPEC_COLUMNS, specValues, STATE_COLUMNS, STATE_INDEXES, stateValues, toJson } from './rows.ts';

const SELECT_JOB = `${selectJobs()} WHERE id = ?`;

/** UPDATE statements' text by the set of STATE_COLUMNS they write (a bit per column). */
const updateStateSql: string[] = [];
const ALL_STATE = (1 << STATE_COLUMNS.length) - 1;

/** The UPDATE of the STATE_COLUMNS in `mask`, built once per set. */
function updateState(mask: number): string {
  return (updateStateSql[mask] ??= `UPDATE jobs SET ${STATE_COLUMNS.filter((_, i) => mask & (1 << i)).map((c) => `${c} = ?`).join(', ')} WHERE id = ?`);
}
const UPDATE_SPEC = `UPDATE jobs SET ${SPEC_COLUMNS.map((c) => `${c} = ?`).join(', ')} WHERE id = ?`;

/** A multi-row INSERT: `into` (… VALUES), one `row` of `perRow` values, up to `perStatement` rows to a statement. */
interface RowsInsert {
  into: string;
  row: string;
  perRow: number;
  perStatement: number;
  /** Statement text by row count, built once each. */
  texts: string[];
}

/**
 * Inserts the rows whose values lie one after another in `values`, `perStatement` to a
 * statement: one statement run per row cost more in binding and stepping than the rows.
 */
function insertRows(sql: Sql, shape: RowsInsert, values: unknown[]): void {
  const rows = values.length / shape.perRow;
  for (let i = 0; i < rows; i += shape.perStatement) {
    const n = Math.min(shape.perStatement, rows - i);
    shape.texts[n] ??= shape.into + Array(n).fill(shape.row).join(', ');
    sql.stmt(shape.texts[n]).run(n === rows ? values : values.slice(i * shape.perRow, (i + n) * shape.perRow));
  }
}

const ATTEMPT_INSERT: RowsInsert = {
  into: `INSERT INTO job_attempts (job_id, attempt, tenant, worker_id, lease_token, status,
  assigned_at, started_at, ended_at, exit_code, error) VALUES `,
  row: '(?, ?, ?, ?, ?, ?, ?, NULL, NULL, NULL, NULL)',
  perRow: 7,
  perStatement: 64,
  texts: [],
};

/**
 * New attempt rows gathered by writeTransition for one multi-row INSERT (flushAttempts), where a
 * caller writes many assignments and reads no attempt row before flushing.
 */
export interface AttemptInserts {
  values: unknown[];
}

/** Inserts the attempt rows gathered in `a` and empties it. */
export function flushAttempts(sql: Sql, a: AttemptInserts): void {
  const all = a.values;
  a.values = [];
  insertRows(sql, ATTEMPT_INSERT, all);
}

const ENSURE_QUEUE = 'INSERT OR IGNORE INTO queues (tenant, name, paused, created_at) VALUES (?, ?, 0, ?)';

/**
 * Audit rows, 50 to a statement: a group of single submits writes one row per job, and a
 * statement run per row (with AUTOINCREMENT's sequence update each time) cost about as much as
 * the job rows themselves.
 */
const AUDIT_INSERT: RowsInsert = {
  into: 'INSERT INTO audit (tenant, actor, actor_role, action, target_type, target_id, at, detail) VALUES ',
  row: '(?, ?, ?, ?, ?, ?, ?, ?)',
  perRow: 8,
  perStatement: 50,
  texts: [],
};

/** The job `id` without its attempts (what `transition` needs), or null. */
export function loadJob(sql: Sql, id: string): Job | null {
  const row = sql.rawStmt(SELECT_JOB).get(id) as unknown[] | undefined;
  return row === undefined ? null : jobFromValues(row);
}

const SELECT_JOBS = `${selectJobs()} WHERE id IN (SELECT value FROM json_each(?))`;

/** Statuses of the jobs the hot paths read again: their rows are worth caching. */
const CACHED_STATUSES: ReadonlySet<string> = new Set(['pending', 'assigned', 'running']);

/**
 * The raw rows (JOB_COLUMNS) of the jobs of `ids` that exist, by id, for the hot paths (ready
 * heads, assignment, reports, lease extension): rows in the row cache are not fetched again, the
 * others are fetched with one statement, and cached while their job may come back to a hot path
 * (pending or leased). The rows are the cache's own: read them, never change them.
 */
export function loadRowsCached(sql: Sql, ids: readonly string[]): Map<string, readonly unknown[]> {
  const cache = sql.rowCache;
  cache.sync();
  const out = new Map<string, readonly unknown[]>();
  const missing: string[] = [];
  for (const id of ids) {
    const row = cache.get(id);
    if (row === undefined) missing.push(id);
    else out.set(id, row);
  }
  if (missing.length === 0) return out;
  for (const row of sql.rawStmt(SELECT_JOBS).all(JSON.stringify(missing)) as unknown[][]) {
    const id = row[0] as string;
    if (CACHED_STATUSES.has(row[6] as string)) cache.set(id, row);
    out.set(id, row);
  }
  return out;
}

/** Like loadRowsCached, as Jobs (without their attempts). */
export function loadJobsCached(sql: Sql, ids: readonly string[]): Map<string, Job> {
  const out = new Map<string, Job>();
  for (const [id, row] of loadRowsCached(sql, ids)) out.set(id, jobFromValues(row));
  return out;
}

/**
 * Writes the outcome of `transition`: the job's state columns, its spec columns when `spec` is
 * set (client edits), and the attempt row — a new one gathered in `opts.attempts` when given, for
 * the caller's flushAttempts. `leaseToken` is required when a new attempt is
 * inserted (it is kept on the attempt for fencing late logs). A cached row of the job becomes
 * the row as written — the values bound here are the values a read returns — while the job may
 * come back to a hot path; an ended job's row leaves the cache.
 */
export function writeTransition(sql: Sql, r: TransitionResult, opts: { spec?: boolean; attempts?: AttemptInserts } = {}): void {
  const job = r.job;
  const cached = sql.rowCache.get(job.id);
  sql.rowCache.drop(job.id);
  const state = stateValues(job);
  if (cached === undefined) sql.stmt(updateState(ALL_STATE)).run(...state, job.id);
  else {
    // Only the columns this transition changed: SQLite rewrites an index only when a column it
    // holds (or its WHERE reads) is set, so e.g. a lease extension touches none.
    const values: unknown[] = [];
    let mask = 0;
    for (let i = 0; i < state.length; i++) {
      if (cached[STATE_INDEXES[i]] === state[i]) continue;
      mask |= 1 << i;
      values.push(state[i]);
    }
    if (mask !== 0) sql.stmt(updateState(mask)).run(...values, job.id);
  }
  const spec = opts.spec ? specValues(job) : null;
  if (spec !== null) sql.stmt(UPDATE_SPEC).run(...spec, job.id);
  if (cached !== undefined && CACHED_STATUSES.has(job.status)) sql.rowCache.set(job.id, rowAfterWrite(cached, state, spec));
  const change = r.attemptChange;
  if (change === null) return;
  if (change.insert) {
    if (job.leaseToken === null || job.workerId === null) throw new Error(`attempt ${change.attempt} of job ${job.id} inserted without a lease`);
    const values = [job.id, change.attempt, job.tenant, job.workerId, job.leaseToken, change.fields.status ?? 'assigned', change.fields.assignedAt ?? job.updatedAt];
    if (opts.attempts !== undefined) opts.attempts.values.push(...values);
    else flushAttempts(sql, { values });
  } else {
    const u = attemptUpdate(job.id, change);
    if (u !== null) sql.stmt(u.sql).run(u.values);
  }
}

/** Creates the queue row of (tenant, name) if it does not exist yet. */
export function ensureQueue(sql: Sql, tenant: string, name: string, now: number): void {
  sql.stmt(ENSURE_QUEUE).run(tenant, name, now);
}

/** Writes one audit row in `tenant`, stamped `at`. */
export function writeAudit(sql: Sql, tenant: string, a: AuditInput, at: number): void {
  writeAudits(sql, [{ tenant, audit: a, at }]);
}

/** Writes audit rows, in order. */
export function writeAudits(sql: Sql, rows: readonly { tenant: string; audit: AuditInput; at: number }[]): void {
  const values: unknown[] = [];
  for (const { tenant, audit: a, at } of rows) values.push(tenant, a.actor.tokenId, a.actor.role, a.action, a.targetType, a.targetId, at, toJson(a.detail));
  insertRows(sql, AUDIT_INSERT, values);
}

/** Throws BATON_E_VALIDATION unless `limit` is an integer in 1..1000. */
export function checkLimit(limit: number): void {
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
    throw new BatonError('BATON_E_VALIDATION', 'limit: must be an integer from 1 to 1000', { field: 'limit' });
  }
}

/** An opaque page cursor for the last key of a page. */
export function encodeCursor(key: string | number): string {
  return Buffer.from(String(key), 'utf8').toString('base64url');
}

/** The key inside a cursor; throws BATON_E_VALIDATION for one this store did not make. */
export function decodeCursor(cursor: string): string {
  const key = Buffer.from(cursor, 'base64url').toString('utf8');
  if (key.length === 0 || encodeCursor(key) !== cursor) {
    throw new BatonError('BATON_E_VALIDATION', 'cursor: is not a cursor from a previous page', { field: 'cursor' });
  }
  return key;
}

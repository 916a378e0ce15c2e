/**
 * The statements every mutation of the PostgreSQL store shares, batched: write the results of
 * many `transition` calls with one UPDATE of jobs and at most one INSERT and one UPDATE of
 * job_attempts; make sure queue rows exist; write audit rows; wake other servers. All run inside
 * the caller's transaction. Arrays are bound whole and spread with `unnest`, so a batch of any
 * size is a fixed number of statements.
 *
 * Each helper sends its statements when it is called, not when its promise is awaited (the client
 * otherwise sends a query on its first `then`): statements go out in the order the helpers are
 * called, so a caller may pipeline them — hand the promise to inTx's `defer`, or await several
 * together — and still rely on PostgreSQL running them in that order.
 */
import { BatonError } from '../../core/errors.ts';
import type { TransitionResult } from '../../core/transition.ts';
import type { Attempt, AuditInput, Job } from '../../core/types.ts';
import type { Db, Pool } from './db.ts';
import { jobFromRow, jsonText, type JobRow } from './rows.ts';

/** What every store function needs: the pool (or transaction) and the wake channel. */
export interface Ctx {
  sql: Pool;
  /** NOTIFY channel of this store's schema (`<schema>_wake`). */
  channel: string;
}

/** Jobs by id, locked FOR UPDATE in id order (one order everywhere, so two batches cannot deadlock). */
export function lockJobs(tx: Db, ids: string[]): Promise<Map<string, Job>> {
  if (ids.length === 0) return Promise.resolve(new Map());
  return tx`SELECT * FROM jobs WHERE id = ANY(${ids}::text[]) ORDER BY id FOR UPDATE`.then(
    (rows) => new Map(rows.map((r) => [r.id as string, jobFromRow(r as JobRow)])),
  );
}

interface PendingAttempt {
  jobId: string;
  attempt: number;
  insert: boolean;
  tenant: string;
  workerId: string | null;
  leaseToken: string | null;
  fields: Partial<Attempt>;
}

/**
 * Writes the outcome of several `transition` calls, in order: the last state of each job, and
 * each attempt row once, its changes merged in order (a batch may move one job several times).
 */
export function writeResults(tx: Db, results: TransitionResult[]): Promise<unknown> {
  if (results.length === 0) return Promise.resolve();
  const jobs = new Map<string, Job>();
  const attempts = new Map<string, PendingAttempt>();
  for (const r of results) {
    const job = r.job;
    jobs.set(job.id, job);
    const c = r.attemptChange;
    if (c === null) continue;
    const key = `${job.id}\u0000${c.attempt}`;
    const prior = attempts.get(key);
    if (c.insert) {
      if (job.leaseToken === null || job.workerId === null) throw new Error(`attempt ${c.attempt} of job ${job.id} inserted without a lease`);
      attempts.set(key, { jobId: job.id, attempt: c.attempt, insert: true, tenant: job.tenant, workerId: job.workerId, leaseToken: job.leaseToken, fields: { ...c.fields } });
    } else if (prior !== undefined) {
      Object.assign(prior.fields, c.fields);
    } else {
      attempts.set(key, { jobId: job.id, attempt: c.attempt, insert: false, tenant: job.tenant, workerId: null, leaseToken: null, fields: { ...c.fields } });
    }
  }
  const all = [...attempts.values()];
  // Independent statements (other rows, other tables): sent together, the client pipelines them
  // on the transaction's connection and the server runs them in this order — one round trip
  // of waiting instead of three.
  return Promise.all([updateJobStates(tx, [...jobs.values()]), insertAttempts(tx, all.filter((a) => a.insert)), updateAttempts(tx, all.filter((a) => !a.insert))]);
}

function updateJobStates(tx: Db, jobs: Job[]): Promise<unknown> {
  return tx`UPDATE jobs AS j SET status = v.status, run_at = v.run_at, attempt = v.attempt, attempt_base = v.attempt_base,
      lease_token = v.lease_token, lease_expires_at = v.lease_expires_at, worker_id = v.worker_id, progress = v.progress,
      result = v.result::jsonb, error = v.error::jsonb, reason = v.reason, updated_at = v.updated_at,
      started_at = v.started_at, completed_at = v.completed_at
    FROM unnest(${jobs.map((j) => j.id)}::text[], ${jobs.map((j) => j.status)}::text[], ${jobs.map((j) => j.runAt)}::int8[],
      ${jobs.map((j) => j.attempt)}::int4[], ${jobs.map((j) => j.attemptBase)}::int4[], ${jobs.map((j) => j.leaseToken)}::text[],
      ${jobs.map((j) => j.leaseExpiresAt)}::int8[], ${jobs.map((j) => j.workerId)}::text[], ${jobs.map((j) => j.progress)}::float8[],
      ${jobs.map((j) => jsonText(j.result))}::text[], ${jobs.map((j) => jsonText(j.error))}::text[], ${jobs.map((j) => j.reason)}::text[],
      ${jobs.map((j) => j.updatedAt)}::int8[], ${jobs.map((j) => j.startedAt)}::int8[], ${jobs.map((j) => j.completedAt)}::int8[])
      AS v(id, status, run_at, attempt, attempt_base, lease_token, lease_expires_at, worker_id, progress, result, error, reason,
        updated_at, started_at, completed_at)
    WHERE j.id = v.id`.execute();
}

function insertAttempts(tx: Db, rows: PendingAttempt[]): Promise<unknown> {
  if (rows.length === 0) return Promise.resolve();
  const f = (a: PendingAttempt) => a.fields;
  return tx`INSERT INTO job_attempts (job_id, attempt, tenant, worker_id, lease_token, status, assigned_at, started_at, ended_at, exit_code, error)
    SELECT job_id, attempt, tenant, worker_id, lease_token, status, assigned_at, started_at, ended_at, exit_code, error::jsonb
    FROM unnest(${rows.map((a) => a.jobId)}::text[], ${rows.map((a) => a.attempt)}::int4[], ${rows.map((a) => a.tenant)}::text[],
      ${rows.map((a) => a.workerId)}::text[], ${rows.map((a) => a.leaseToken)}::text[], ${rows.map((a) => f(a).status ?? 'assigned')}::text[],
      ${rows.map((a) => f(a).assignedAt ?? 0)}::int8[], ${rows.map((a) => f(a).startedAt ?? null)}::int8[],
      ${rows.map((a) => f(a).endedAt ?? null)}::int8[], ${rows.map((a) => f(a).exitCode ?? null)}::int4[],
      ${rows.map((a) => jsonText(f(a).error))}::text[])
      AS v(job_id, attempt, tenant, worker_id, lease_token, status, assigned_at, started_at, ended_at, exit_code, error)`.execute();
}

function updateAttempts(tx: Db, rows: PendingAttempt[]): Promise<unknown> {
  if (rows.length === 0) return Promise.resolve();
  // A `has_` flag per field: a field the change leaves out keeps its value, one set to null is
  // cleared. Flags are 0/1 ints because the client binds a JS boolean array as a scalar.
  const has = (k: keyof Attempt) => rows.map((a) => (k in a.fields ? 1 : 0));
  const val = <K extends keyof Attempt>(k: K) => rows.map((a) => (a.fields[k] ?? null) as Attempt[K] | null);
  return tx`UPDATE job_attempts AS a SET
      status = CASE WHEN v.has_status = 1 THEN v.status ELSE a.status END,
      started_at = CASE WHEN v.has_started_at = 1 THEN v.started_at ELSE a.started_at END,
      ended_at = CASE WHEN v.has_ended_at = 1 THEN v.ended_at ELSE a.ended_at END,
      exit_code = CASE WHEN v.has_exit_code = 1 THEN v.exit_code ELSE a.exit_code END,
      error = CASE WHEN v.has_error = 1 THEN v.error::jsonb ELSE a.error END
    FROM unnest(${rows.map((a) => a.jobId)}::text[], ${rows.map((a) => a.attempt)}::int4[],
      ${has('status')}::int4[], ${val('status')}::text[], ${has('startedAt')}::int4[], ${val('startedAt')}::int8[],
      ${has('endedAt')}::int4[], ${val('endedAt')}::int8[], ${has('exitCode')}::int4[], ${val('exitCode')}::int4[],
      ${has('error')}::int4[], ${rows.map((a) => jsonText(a.fields.error))}::text[])
      AS v(job_id, attempt, has_status, status, has_started_at, started_at, has_ended_at, ended_at, has_exit_code, exit_code, has_error, error)
    WHERE a.job_id = v.job_id AND a.attempt = v.attempt`.execute();
}

/** Creates the queue rows of (tenant, name) pairs that do not exist yet, each stamped `at`. */
export function ensureQueues(tx: Db, pairs: { tenant: string; name: string; at: number }[]): Promise<unknown> {
  if (pairs.length === 0) return Promise.resolve();
  return tx`INSERT INTO queues (tenant, name, paused, created_at)
    SELECT t, n, false, at FROM unnest(${pairs.map((p) => p.tenant)}::text[], ${pairs.map((p) => p.name)}::text[],
      ${pairs.map((p) => p.at)}::int8[]) AS v(t, n, at)
    ON CONFLICT DO NOTHING`.execute();
}

/** Writes one audit row in `tenant`, stamped `at`. */
export function writeAudit(tx: Db, tenant: string, a: AuditInput, at: number): Promise<unknown> {
  return tx`INSERT INTO audit (tenant, actor, actor_role, action, target_type, target_id, at, detail)
    VALUES (${tenant}, ${a.actor.tokenId}, ${a.actor.role}, ${a.action}, ${a.targetType}, ${a.targetId}, ${at}::int8, ${jsonText(a.detail)}::text::jsonb)`.execute();
}

/** Writes several audit rows with one INSERT (group-committed submits: one row per request). */
export function writeAudits(tx: Db, rows: { tenant: string; entry: AuditInput; at: number }[]): Promise<unknown> {
  if (rows.length === 0) return Promise.resolve();
  const e = rows.map((r) => r.entry);
  return tx`INSERT INTO audit (tenant, actor, actor_role, action, target_type, target_id, at, detail)
    SELECT tenant, actor, actor_role, action, target_type, target_id, at, detail::jsonb
    FROM unnest(${rows.map((r) => r.tenant)}::text[], ${e.map((a) => a.actor.tokenId)}::text[], ${e.map((a) => a.actor.role)}::text[],
      ${e.map((a) => a.action)}::text[], ${e.map((a) => a.targetType)}::text[], ${e.map((a) => a.targetId)}::text[],
      ${rows.map((r) => r.at)}::int8[], ${e.map((a) => jsonText(a.detail))}::text[])
      AS v(tenant, actor, actor_role, action, target_type, target_id, at, detail)`.execute();
}

/**
 * Wakes the servers listening on this store (NOTIFY, payload: tenant). Sent inside the caller's
 * transaction, so PostgreSQL delivers it only on commit, and once per tenant.
 */
export function notifyWake(tx: Db, channel: string, tenants: Iterable<string>): Promise<unknown> {
  const list = [...new Set(tenants)];
  if (list.length === 0) return Promise.resolve();
  return tx`SELECT pg_notify(${channel}, t) FROM unnest(${list}::text[]) AS t`.execute();
}

/**
 * True when a change from `before` to `after` creates work (pending), changes the next run time
 * (scheduled), or frees a worker slot: what other servers' dispatchers and maintenance loops
 * want to hear about.
 */
export function wakes(before: Job['status'], after: Job['status']): boolean {
  const leased = (s: Job['status']) => s === 'assigned' || s === 'running';
  return after === 'pending' || after === 'scheduled' || (leased(before) && !leased(after));
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

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
import { bindRows, sendBatch, sendStatement, type Column } from './batch.ts';
import type { Db, Pool } from './db.ts';
import { jobFromRow, jsonText, type JobRow } from './rows.ts';

/** What every store function needs: the pool (or transaction) and the wake channel. */
export interface Ctx {
  sql: Pool;
  /** NOTIFY channel of this store's schema (`<schema>_wake`). */
  channel: string;
  /**
   * This store instance's mark on its notifications (`<origin>:<tenant>`), so that its own
   * listener skips them: the server that made a change wakes its own services directly.
   */
  origin: string;
}

/**
 * Jobs by id, locked FOR UPDATE in id order (one order everywhere, so two batches cannot
 * deadlock). With `caps`, also `tenant\0queue` of those whose queue has a concurrency limit, read
 * with each locked row (a subquery of the select list) rather than by a statement of its own:
 * every statement is planned for each run here (db.ts), and a small transaction's cost is mostly
 * planning.
 */
export async function lockJobs(tx: Db, ids: string[], opts: { caps?: boolean } = {}): Promise<{ jobs: Map<string, Job>; capped: Set<string> }> {
  const jobs = new Map<string, Job>();
  const capped = new Set<string>();
  if (ids.length === 0) return { jobs, capped };
  const cap = opts.caps
    ? tx`, EXISTS (SELECT 1 FROM queues q WHERE q.tenant = j.tenant AND q.name = j.queue AND q.concurrency_limit IS NOT NULL) AS queue_capped`
    : tx``;
  const rows = await tx`SELECT j.*${cap} FROM jobs j WHERE j.id = ANY(${ids}::text[]) ORDER BY j.id FOR UPDATE OF j`;
  for (const r of rows) {
    const job = jobFromRow(r as JobRow);
    jobs.set(job.id, job);
    if (r.queue_capped === true) capped.add(`${job.tenant}\u0000${job.queue}`);
  }
  return { jobs, capped };
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
 * With `before` (the jobs as read, by id) the UPDATE of jobs sets only the columns that some job
 * of the batch changed; columns with one value for the whole batch are bound once (batch.ts).
 */
export function writeResults(tx: Db, results: TransitionResult[], before?: ReadonlyMap<string, Job>): Promise<unknown> {
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
      attempts.set(key, newAttempt(r));
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
  return Promise.all([updateJobStates(tx, [...jobs.values()], before), insertAttempts(tx, all.filter((a) => a.insert)), updateAttempts(tx, all.filter((a) => !a.insert))]);
}

/** The attempt row a transition that starts an attempt inserts (`attemptChange.insert`). */
function newAttempt(r: TransitionResult): PendingAttempt {
  const { job } = r;
  const c = r.attemptChange!;
  if (job.leaseToken === null || job.workerId === null) throw new Error(`attempt ${c.attempt} of job ${job.id} inserted without a lease`);
  return { jobId: job.id, attempt: c.attempt, insert: true, tenant: job.tenant, workerId: job.workerId, leaseToken: job.leaseToken, fields: { ...c.fields } };
}

/** The columns of jobs that a transition may change, with the Job field each holds. */
const JOB_STATE: (Column<Job> & { field: keyof Job })[] = [
  { name: 'status', type: 'text', field: 'status', value: (j) => j.status },
  { name: 'run_at', type: 'int8', field: 'runAt', value: (j) => j.runAt },
  { name: 'attempt', type: 'int4', field: 'attempt', value: (j) => j.attempt },
  { name: 'attempt_base', type: 'int4', field: 'attemptBase', value: (j) => j.attemptBase },
  { name: 'lease_token', type: 'text', field: 'leaseToken', value: (j) => j.leaseToken },
  { name: 'lease_expires_at', type: 'int8', field: 'leaseExpiresAt', value: (j) => j.leaseExpiresAt },
  { name: 'worker_id', type: 'text', field: 'workerId', value: (j) => j.workerId },
  { name: 'progress', type: 'float8', field: 'progress', value: (j) => j.progress },
  { name: 'result', type: 'text', cast: '::jsonb', field: 'result', value: (j) => jsonText(j.result) },
  { name: 'error', type: 'text', cast: '::jsonb', field: 'error', value: (j) => jsonText(j.error) },
  { name: 'reason', type: 'text', field: 'reason', value: (j) => j.reason },
  { name: 'updated_at', type: 'int8', field: 'updatedAt', value: (j) => j.updatedAt },
  { name: 'started_at', type: 'int8', field: 'startedAt', value: (j) => j.startedAt },
  { name: 'completed_at', type: 'int8', field: 'completedAt', value: (j) => j.completedAt },
];
const JOB_ID: Column<Job> = { name: 'id', type: 'text', key: true, value: (j) => j.id };

/**
 * Writes assignments of jobs this transaction has just inserted, without reading them first (see
 * JobInsertOptions.assign): `results` are their `assign` transitions, computed from the inserted
 * rows. Each row is written only if its queue is neither paused nor capped (a capped queue's
 * jobs stay pending for a dispatch round, which counts the cap under its lock), and its attempt
 * row only with it. One statement (the UPDATE in a WITH, the attempts' INSERT reading its
 * RETURNING) instead of an UPDATE and an INSERT that looked the rows up again: in-process, a
 * single-job fast-path insert took 475–550 µs of PostgreSQL CPU against 560–610, and 0.66–0.76 ms
 * against 0.75–0.83 (p50). Resolves, once it has run, to the ids that were assigned.
 */
export function writeNewAssignments(tx: Db, results: TransitionResult[], inserted: ReadonlyMap<string, Job>): Promise<Set<string>> {
  const jobs = results.map((r) => r.job);
  const changed = JOB_STATE.filter((c) => jobs.some((j) => inserted.get(j.id)![c.field] !== j[c.field]));
  const rows = results.map(newAttempt);
  return sendStatement(tx, (params) => {
    const u = bindRows(params, jobs, [JOB_ID, ...changed]);
    const a = bindRows(params, rows, ATTEMPT_INSERT);
    return `WITH took AS (UPDATE jobs AS j SET ${changed.map((c) => `${c.name} = ${u.expr[c.name]}`).join(', ')} FROM ${u.from}
        WHERE j.id = ${u.expr.id} AND j.status = 'pending'
          AND NOT EXISTS (SELECT 1 FROM queues q WHERE q.tenant = j.tenant AND q.name = j.queue AND (q.paused OR q.concurrency_limit IS NOT NULL))
        RETURNING j.id, j.lease_token)
      INSERT INTO job_attempts (${ATTEMPT_INSERT.map((c) => c.name).join(', ')}) SELECT ${ATTEMPT_INSERT.map((c) => a.expr[c.name]).join(', ')} FROM ${a.from}
        WHERE EXISTS (SELECT 1 FROM took WHERE took.id = ${a.expr.job_id} AND took.lease_token = ${a.expr.lease_token})
      RETURNING job_id`;
  }).then((ids) => new Set((ids as { job_id: string }[]).map((r) => r.job_id)));
}

function updateJobStates(tx: Db, jobs: Job[], before: ReadonlyMap<string, Job> | undefined): Promise<unknown> {
  // A column no job changed is left out (an object field counts as changed unless it is the
  // same object: transition copies the job, so an untouched field keeps its value).
  let cols = JOB_STATE;
  if (before !== undefined) {
    const changed = new Array<boolean>(JOB_STATE.length).fill(false);
    for (const j of jobs) {
      const b = before.get(j.id);
      for (let i = 0; i < JOB_STATE.length; i++) if (!changed[i]) changed[i] = b === undefined || b[JOB_STATE[i].field] !== j[JOB_STATE[i].field];
    }
    cols = JOB_STATE.filter((_, i) => changed[i]);
  }
  if (cols.length === 0) return Promise.resolve();
  return sendBatch(tx, jobs, [JOB_ID, ...cols], (b) =>
    `UPDATE jobs AS j SET ${cols.map((c) => `${c.name} = ${b.expr[c.name]}`).join(', ')} FROM ${b.from} WHERE j.id = ${b.expr.id}`);
}

const ATTEMPT_INSERT: Column<PendingAttempt>[] = [
  { name: 'job_id', type: 'text', key: true, value: (a) => a.jobId },
  { name: 'attempt', type: 'int4', value: (a) => a.attempt },
  { name: 'tenant', type: 'text', value: (a) => a.tenant },
  { name: 'worker_id', type: 'text', value: (a) => a.workerId },
  { name: 'lease_token', type: 'text', value: (a) => a.leaseToken },
  { name: 'status', type: 'text', value: (a) => a.fields.status ?? 'assigned' },
  { name: 'assigned_at', type: 'int8', value: (a) => a.fields.assignedAt ?? 0 },
  { name: 'started_at', type: 'int8', value: (a) => a.fields.startedAt ?? null },
  { name: 'ended_at', type: 'int8', value: (a) => a.fields.endedAt ?? null },
  { name: 'exit_code', type: 'int4', value: (a) => a.fields.exitCode ?? null },
  { name: 'error', type: 'text', cast: '::jsonb', value: (a) => jsonText(a.fields.error) },
];

function insertAttempts(tx: Db, rows: PendingAttempt[]): Promise<unknown> {
  if (rows.length === 0) return Promise.resolve();
  return sendBatch(tx, rows, ATTEMPT_INSERT, (b) =>
    `INSERT INTO job_attempts (${ATTEMPT_INSERT.map((c) => c.name).join(', ')}) SELECT ${ATTEMPT_INSERT.map((c) => b.expr[c.name]).join(', ')} FROM ${b.from}`);
}

/** Columns of job_attempts an attempt change may set, by Attempt field. */
const ATTEMPT_FIELDS: Partial<Record<keyof Attempt, { name: string; type: string; cast?: string }>> = {
  status: { name: 'status', type: 'text' },
  startedAt: { name: 'started_at', type: 'int8' },
  endedAt: { name: 'ended_at', type: 'int8' },
  exitCode: { name: 'exit_code', type: 'int4' },
  error: { name: 'error', type: 'text', cast: '::jsonb' },
};

const ATTEMPT_FIELD_NAMES = Object.keys(ATTEMPT_FIELDS) as (keyof Attempt)[];

function updateAttempts(tx: Db, rows: PendingAttempt[]): Promise<unknown> {
  if (rows.length === 0) return Promise.resolve();
  // One UPDATE per set of fields changed (a batch of one kind of report has one): a field the
  // change leaves out keeps its value, one set to null is cleared.
  const groups = new Map<string, PendingAttempt[]>();
  for (const a of rows) {
    let k = '';
    for (const f of ATTEMPT_FIELD_NAMES) if (f in a.fields) k = k === '' ? f : `${k},${f}`;
    const g = groups.get(k);
    if (g === undefined) groups.set(k, [a]);
    else g.push(a);
  }
  const sent: Promise<unknown>[] = [];
  for (const [k, group] of groups) {
    if (k === '') continue;
    const fields = k.split(',') as (keyof Attempt)[];
    const cols: Column<PendingAttempt>[] = [
      { name: 'job_id', type: 'text', key: true, value: (a) => a.jobId },
      { name: 'attempt', type: 'int4', value: (a) => a.attempt },
      ...fields.map((f) => {
        const d = ATTEMPT_FIELDS[f]!;
        return { name: d.name, type: d.type, cast: d.cast, value: (a: PendingAttempt) => (f === 'error' ? jsonText(a.fields.error) : (a.fields[f] ?? null)) };
      }),
    ];
    sent.push(
      sendBatch(tx, group, cols, (b) =>
        `UPDATE job_attempts AS a SET ${cols.slice(2).map((c) => `${c.name} = ${b.expr[c.name]}`).join(', ')}
          FROM ${b.from} WHERE a.job_id = ${b.expr.job_id} AND a.attempt = ${b.expr.attempt}`),
    );
  }
  return Promise.all(sent);
}

/** Creates the queue rows of (tenant, name) pairs that do not exist yet, each stamped `at`. */
export function ensureQueues(tx: Db, pairs: { tenant: string; name: string; at: number }[]): Promise<unknown> {
  if (pairs.length === 0) return Promise.resolve();
  // ORDER BY: rows go in in key order, one order for every transaction; two that create the same
  // new queues in opposite orders would each wait for the other's row (a deadlock, broken after 1 s).
  return tx`INSERT INTO queues (tenant, name, paused, created_at)
    SELECT t, n, false, at FROM unnest(${pairs.map((p) => p.tenant)}::text[], ${pairs.map((p) => p.name)}::text[],
      ${pairs.map((p) => p.at)}::int8[]) AS v(t, n, at)
    ORDER BY t, n
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
 * Wakes the servers listening on this store (NOTIFY, payload: `<origin>:<tenant>`). Sent inside the caller's
 * transaction, so PostgreSQL delivers it only on commit, and once per tenant.
 */
export function notifyWake(tx: Db, c: Ctx, tenants: Iterable<string>): Promise<unknown> {
  const list = [...new Set(tenants)];
  if (list.length === 0) return Promise.resolve();
  return tx`SELECT pg_notify(${c.channel}, ${c.origin + ':'} || t) FROM unnest(${list}::text[]) AS t`.execute();
}

/**
 * True when a change from `before` to `after` creates work (pending), changes the next run time
 * (scheduled), or ends a lease that counts against a cap (`capped`: the job's queue has a
 * concurrency limit or the job a concurrency key): what other servers' dispatchers and
 * maintenance loops want to hear about. A lease without a cap frees only a slot of the worker,
 * which its own server knows of; NOTIFY is not free (PostgreSQL serialises the commits of
 * notifying transactions on one lock, held through their WAL flush).
 */
export function wakes(before: Job['status'], after: Job['status'], capped = true): boolean {
  const leased = (s: Job['status']) => s === 'assigned' || s === 'running';
  return after === 'pending' || after === 'scheduled' || (capped && leased(before) && !leased(after));
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

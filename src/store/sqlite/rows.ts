/**
 * Conversions between SQLite rows and domain objects. JSON columns are TEXT; a SQL NULL in a
 * JSON column means the value null.
 */
import type { AttemptChange } from '../../core/transition.ts';
import type { Attempt, AuditEntry, Job, JobStatus, JobType, Role, Tenant, TokenRecord, WorkerInfo } from '../../core/types.ts';
import type { ReadyJob } from '../types.ts';
import { timeFields } from '../job-shape.ts';
import { backoffText, objectText, parseColumn, requirementsText, tagsText } from './json.ts';

/**
 * Columns of `jobs` a Job is read from, in the order `jobFromValues` takes them. Job reads name
 * them (never `SELECT *`) and fetch raw rows: one array per row instead of an object with a key
 * per column, which cost more than the read itself on the dispatch and report paths.
 */
export const JOB_COLUMNS = [
  'id', 'tenant', 'type', 'name', 'queue', 'priority', 'status', 'run_at', 'max_retries', 'timeout_ms',
  'idempotency_key', 'payload', 'backoff', 'requirements', 'tags', 'metadata', 'attempt', 'attempt_base',
  'lease_token', 'lease_expires_at', 'worker_id', 'progress', 'result', 'error', 'reason', 'created_at',
  'updated_at', 'started_at', 'completed_at', 'graph_id', 'unique_key', 'template', 'deadline',
  'concurrency_key', 'concurrency_limit',
] as const;

/** JOB_COLUMNS as a select list, each prefixed by `alias.` when given. */
export function jobColumns(alias?: string): string {
  return (alias === undefined ? JOB_COLUMNS : JOB_COLUMNS.map((c) => `${alias}.${c}`)).join(', ');
}

/** `SELECT <JOB_COLUMNS> FROM jobs`. */
export function selectJobs(): string {
  return `SELECT ${jobColumns()} FROM jobs`;
}

function json(v: unknown): string | null {
  return v === null || v === undefined ? null : JSON.stringify(v);
}

function parse<T>(v: string | null): T {
  return (v === null ? null : JSON.parse(v)) as T;
}

/** A raw row of `selectJobs` (JOB_COLUMNS order) to a Job; `attempts` is filled by the caller when it loaded them. */
export function jobFromValues(v: readonly unknown[], attempts: Attempt[] = []): Job {
  return {
    id: v[0] as string,
    tenant: v[1] as string,
    type: v[2] as Job['type'],
    name: v[3] as string | null,
    queue: v[4] as string,
    priority: v[5] as number,
    status: v[6] as JobStatus,
    runAt: v[7] as number,
    maxRetries: v[8] as number,
    timeoutMs: v[9] as number | null,
    idempotencyKey: v[10] as string | null,
    payload: JSON.parse(v[11] as string),
    backoff: parseColumn(v[12] as string) as Job['backoff'],
    requirements: parseColumn(v[13] as string) as Job['requirements'],
    tags: parseColumn(v[14] as string) as string[],
    metadata: parseColumn(v[15] as string) as Job['metadata'],
    attempt: v[16] as number,
    attemptBase: v[17] as number,
    leaseToken: v[18] as string | null,
    leaseExpiresAt: v[19] as number | null,
    workerId: v[20] as string | null,
    progress: v[21] as number | null,
    result: parse(v[22] as string | null),
    error: parse(v[23] as string | null),
    reason: v[24] as string | null,
    createdAt: v[25] as number,
    updatedAt: v[26] as number,
    startedAt: v[27] as number | null,
    completedAt: v[28] as number | null,
    attempts,
    graphId: v[29] as string | null,
    uniqueKey: v[30] as string | null,
    template: v[31] as string | null,
    ...timeFields(v[32], v[33], v[34]),
  };
}

/**
 * A raw row of `selectJobs` to the fields a ready head carries (ReadyJob): of a function job's
 * payload only its handler, as the assignment reads the whole job anyway.
 */
export function readyJobFromValues(v: readonly unknown[]): ReadyJob {
  const type = v[2] as JobType;
  const payload = JSON.parse(v[11] as string);
  const job: ReadyJob = {
    id: v[0] as string,
    tenant: v[1] as string,
    queue: v[4] as string,
    type,
    payload: type === 'function' ? { handler: payload?.handler } : payload,
    requirements: parseColumn(v[13] as string) as ReadyJob['requirements'],
    runAt: v[7] as number,
    createdAt: v[25] as number,
  };
  // Set only when present, as on a whole job (timeFields).
  if (v[32] !== null) job.deadline = Number(v[32]);
  if (v[33] !== null) job.concurrencyKey = v[33] as string;
  return job;
}

export { jobFromNew, timeFields } from '../job-shape.ts';

/**
 * Spec columns in SPEC_COLUMNS order. Positional values, not named ones: building a 29-key object
 * per row cost more than the insert itself.
 */
export function specValues(j: Job): unknown[] {
  return [
    j.type,
    j.name,
    j.queue,
    j.priority,
    j.maxRetries,
    j.timeoutMs,
    j.idempotencyKey,
    JSON.stringify(j.payload),
    backoffText(j.backoff),
    requirementsText(j.requirements),
    tagsText(j.tags),
    objectText(j.metadata),
  ];
}

/** Columns that describe what a job is (its spec), in specValues order. */
export const SPEC_COLUMNS = [
  'type', 'name', 'queue', 'priority', 'max_retries', 'timeout_ms', 'idempotency_key',
  'payload', 'backoff', 'requirements', 'tags', 'metadata',
] as const;

/** Where each column of `columns` is in JOB_COLUMNS (a raw job row); throws on a column it lacks. */
function rowIndexes(columns: readonly string[]): number[] {
  return columns.map((c) => {
    const i = (JOB_COLUMNS as readonly string[]).indexOf(c);
    if (i < 0) throw new Error(`jobs column ${c} is not in JOB_COLUMNS`);
    return i;
  });
}

/**
 * A raw job row after an UPDATE of its STATE_COLUMNS to `state` (stateValues) and, when given,
 * of its SPEC_COLUMNS to `spec` (specValues): the values bound are the values a read returns.
 */
export function rowAfterWrite(row: readonly unknown[], state: readonly unknown[], spec: readonly unknown[] | null): unknown[] {
  const out = row.slice();
  STATE_INDEXES.forEach((at, i) => (out[at] = state[i]));
  if (spec !== null) SPEC_INDEXES.forEach((at, i) => (out[at] = spec[i]));
  return out;
}

const NEW_ROW_INDEXES = rowIndexes(['id', 'tenant', 'created_at', 'graph_id', 'unique_key', 'template', 'deadline', 'concurrency_key', 'concurrency_limit']);

/**
 * The raw row (JOB_COLUMNS order) of a job as inserted (jobs.ts: insertJobRows), built from the
 * values bound — which are the values a read returns — for the row cache.
 */
export function rowOfInserted(j: Job): unknown[] {
  const out = rowAfterWrite(new Array(JOB_COLUMNS.length).fill(null), stateValues(j), specValues(j));
  const key = j.concurrencyKey ?? null;
  const rest = [j.id, j.tenant, j.createdAt, j.graphId ?? null, j.uniqueKey ?? null, j.template ?? null, j.deadline ?? null, key, key !== null ? (j.concurrencyLimit ?? 1) : null];
  NEW_ROW_INDEXES.forEach((at, i) => (out[at] = rest[i]));
  return out;
}

/** Lifecycle columns in STATE_COLUMNS order. */
export function stateValues(j: Job): unknown[] {
  return [
    j.status,
    j.runAt,
    j.attempt,
    j.attemptBase,
    j.leaseToken,
    j.leaseExpiresAt,
    j.workerId,
    j.progress,
    json(j.result),
    json(j.error),
    j.reason,
    j.updatedAt,
    j.startedAt,
    j.completedAt,
  ];
}

/** Columns that change as a job moves through its lifecycle, in stateValues order. */
export const STATE_COLUMNS = [
  'status', 'run_at', 'attempt', 'attempt_base', 'lease_token', 'lease_expires_at', 'worker_id',
  'progress', 'result', 'error', 'reason', 'updated_at', 'started_at', 'completed_at',
] as const;

export const STATE_INDEXES = rowIndexes(STATE_COLUMNS);
const SPEC_INDEXES = rowIndexes(SPEC_COLUMNS);

export interface AttemptRow {
  job_id: string;
  attempt: number;
  tenant: string;
  worker_id: string;
  lease_token: string;
  status: string;
  assigned_at: number;
  started_at: number | null;
  ended_at: number | null;
  exit_code: number | null;
  error: string | null;
}

export function attemptFromRow(r: AttemptRow): Attempt {
  return {
    attempt: r.attempt,
    workerId: r.worker_id,
    status: r.status as Attempt['status'],
    assignedAt: r.assigned_at,
    startedAt: r.started_at,
    endedAt: r.ended_at,
    exitCode: r.exit_code,
    error: parse(r.error),
  };
}

/** Attempt fields an update may change, with their columns, in statement order. */
const ATTEMPT_UPDATE_FIELDS = [
  ['status', 'status'],
  ['startedAt', 'started_at'],
  ['endedAt', 'ended_at'],
  ['exitCode', 'exit_code'],
  ['error', 'error'],
] as const satisfies readonly (readonly [keyof Attempt, string])[];

/** UPDATE statements' text by the set of fields they change (a bit per ATTEMPT_UPDATE_FIELDS entry). */
const attemptUpdateSql: string[] = [];

/**
 * The statement and values that write `change` to its attempt row: only the fields the change
 * has are set, so one it leaves out keeps its value while one set to null is cleared. Null when
 * the change sets none of them.
 */
export function attemptUpdate(jobId: string, change: AttemptChange): { sql: string; values: unknown[] } | null {
  const f = change.fields;
  const values: unknown[] = [];
  let mask = 0;
  ATTEMPT_UPDATE_FIELDS.forEach(([key], i) => {
    if (!(key in f)) return;
    mask |= 1 << i;
    values.push(key === 'error' ? json(f.error) : (f[key] ?? null));
  });
  if (mask === 0) return null;
  attemptUpdateSql[mask] ??= `UPDATE job_attempts SET ${ATTEMPT_UPDATE_FIELDS.filter((_, i) => mask & (1 << i)).map(([, c]) => `${c} = ?`).join(', ')} WHERE job_id = ? AND attempt = ?`;
  values.push(jobId, change.attempt);
  return { sql: attemptUpdateSql[mask], values };
}

export interface WorkerRow {
  id: string;
  tenant: string;
  name: string;
  host: string;
  types: string;
  handlers: string;
  queues: string;
  labels: string;
  capacity: number;
  cpu: number;
  memory_mb: number;
  region: string | null;
  zone: string | null;
  status: string;
  registered_at: number;
  last_seen_at: number;
}

export function workerFromRow(r: WorkerRow): WorkerInfo {
  return {
    id: r.id,
    tenant: r.tenant,
    name: r.name,
    host: r.host,
    types: JSON.parse(r.types),
    handlers: JSON.parse(r.handlers),
    queues: JSON.parse(r.queues),
    labels: JSON.parse(r.labels),
    capacity: r.capacity,
    cpu: r.cpu,
    memoryMb: r.memory_mb,
    region: r.region,
    zone: r.zone,
    status: r.status as WorkerInfo['status'],
    registeredAt: r.registered_at,
    lastSeenAt: r.last_seen_at,
  };
}

export function workerParams(w: WorkerInfo): Record<string, unknown> {
  return {
    id: w.id,
    tenant: w.tenant,
    name: w.name,
    host: w.host,
    types: JSON.stringify(w.types),
    handlers: JSON.stringify(w.handlers),
    queues: JSON.stringify(w.queues),
    labels: JSON.stringify(w.labels),
    capacity: w.capacity,
    cpu: w.cpu,
    memory_mb: w.memoryMb,
    region: w.region,
    zone: w.zone,
    status: w.status,
    registered_at: w.registeredAt,
    last_seen_at: w.lastSeenAt,
  };
}

export function tenantFromRow(r: { id: string; name: string; created_at: number }): Tenant {
  return { id: r.id, name: r.name, createdAt: r.created_at };
}

export interface TokenRow {
  id: string;
  tenant: string;
  name: string;
  role: string;
  system: number;
  secret_hash: string;
  created_at: number;
  last_used_at: number | null;
}

export function tokenFromRow(r: TokenRow): TokenRecord {
  return {
    id: r.id,
    tenant: r.tenant,
    name: r.name,
    role: r.role as Role,
    system: r.system === 1,
    secretHash: r.secret_hash,
    createdAt: r.created_at,
    lastUsedAt: r.last_used_at,
  };
}

export interface AuditRow {
  id: number;
  tenant: string;
  actor: string;
  action: string;
  target_type: string;
  target_id: string | null;
  at: number;
  detail: string | null;
}

export function auditFromRow(r: AuditRow): AuditEntry {
  return {
    id: r.id,
    tenant: r.tenant,
    actor: r.actor,
    action: r.action,
    targetType: r.target_type,
    targetId: r.target_id,
    at: r.at,
    detail: parse(r.detail),
  };
}

/** `json` for callers outside this module (audit detail, log-free JSON columns). */
export const toJson = json;

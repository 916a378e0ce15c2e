/**
 * Conversions between SQLite rows and domain objects. JSON columns are TEXT; a SQL NULL in a
 * JSON column means the value null.
 */
import type { AttemptChange } from '../../core/transition.ts';
import type { Attempt, AuditEntry, Job, JobStatus, Role, Tenant, TokenRecord, WorkerInfo } from '../../core/types.ts';
import { timeFields } from '../job-shape.ts';

/** Columns of `jobs`, in the order the insert statement takes them. */
export interface JobRow {
  id: string;
  tenant: string;
  type: string;
  name: string | null;
  queue: string;
  priority: number;
  status: string;
  run_at: number;
  max_retries: number;
  timeout_ms: number | null;
  idempotency_key: string | null;
  payload: string;
  backoff: string;
  requirements: string;
  tags: string;
  metadata: string;
  attempt: number;
  attempt_base: number;
  lease_token: string | null;
  lease_expires_at: number | null;
  worker_id: string | null;
  progress: number | null;
  result: string | null;
  error: string | null;
  reason: string | null;
  created_at: number;
  updated_at: number;
  started_at: number | null;
  completed_at: number | null;
  graph_id?: string | null;
  unique_key?: string | null;
  template?: string | null;
  deadline?: number | null;
  concurrency_key?: string | null;
  concurrency_limit?: number | null;
}

function json(v: unknown): string | null {
  return v === null || v === undefined ? null : JSON.stringify(v);
}

function parse<T>(v: string | null): T {
  return (v === null ? null : JSON.parse(v)) as T;
}

/** A job row to a Job; `attempts` is filled by the caller when it loaded them. */
export function jobFromRow(r: JobRow, attempts: Attempt[] = []): Job {
  return {
    id: r.id,
    tenant: r.tenant,
    type: r.type as Job['type'],
    name: r.name,
    queue: r.queue,
    priority: r.priority,
    status: r.status as JobStatus,
    runAt: r.run_at,
    maxRetries: r.max_retries,
    timeoutMs: r.timeout_ms,
    idempotencyKey: r.idempotency_key,
    payload: JSON.parse(r.payload),
    backoff: JSON.parse(r.backoff),
    requirements: JSON.parse(r.requirements),
    tags: JSON.parse(r.tags),
    metadata: JSON.parse(r.metadata),
    attempt: r.attempt,
    attemptBase: r.attempt_base,
    leaseToken: r.lease_token,
    leaseExpiresAt: r.lease_expires_at,
    workerId: r.worker_id,
    progress: r.progress,
    result: parse(r.result),
    error: parse(r.error),
    reason: r.reason,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    startedAt: r.started_at,
    completedAt: r.completed_at,
    attempts,
    graphId: r.graph_id ?? null,
    uniqueKey: r.unique_key ?? null,
    template: r.template ?? null,
    ...timeFields(r.deadline, r.concurrency_key, r.concurrency_limit),
  };
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
    JSON.stringify(j.backoff),
    JSON.stringify(j.requirements),
    JSON.stringify(j.tags),
    JSON.stringify(j.metadata),
  ];
}

/** Columns that describe what a job is (its spec), in specValues order. */
export const SPEC_COLUMNS = [
  'type', 'name', 'queue', 'priority', 'max_retries', 'timeout_ms', 'idempotency_key',
  'payload', 'backoff', 'requirements', 'tags', 'metadata',
] as const;

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

/**
 * Parameters of the attempt update statement: each field gets a `has_` flag so that a field the
 * change leaves out keeps its value while one set to null is cleared.
 */
export function attemptUpdateParams(jobId: string, change: AttemptChange): Record<string, unknown> {
  const f = change.fields;
  const has = (k: keyof Attempt) => (k in f ? 1 : 0);
  return {
    job_id: jobId,
    attempt: change.attempt,
    has_status: has('status'),
    status: f.status ?? null,
    has_started_at: has('startedAt'),
    started_at: f.startedAt ?? null,
    has_ended_at: has('endedAt'),
    ended_at: f.endedAt ?? null,
    has_exit_code: has('exitCode'),
    exit_code: f.exitCode ?? null,
    has_error: has('error'),
    error: json(f.error),
  };
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

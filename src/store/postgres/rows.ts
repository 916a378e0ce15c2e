/**
 * Conversions between PostgreSQL rows and domain objects. The client parses jsonb columns and (as
 * configured in db.ts) bigint columns itself; a SQL NULL in a JSON column means the value null.
 * Values bound for jsonb are sent as JSON text and cast in SQL (`::text::jsonb`), because the
 * client would JSON-encode a string parameter a second time.
 */
import type { Attempt, AuditEntry, Job, JobStatus, Role, Tenant, TokenRecord, WorkerInfo } from '../../core/types.ts';
import { timeFields } from '../job-shape.ts';

/** A row of `jobs` as the client returns it. */
export type JobRow = Record<string, unknown> & { id: string };

/**
 * The escapes of jsonb's two refusals in JSON text as JSON.stringify writes it: `\u0000` (NUL)
 * and a lone UTF-16 surrogate (`\ud800`–`\udfff`; a whole pair is written as characters, never
 * as escapes). Only after an even run of backslashes, so an escaped backslash followed by the
 * letters `u0000` stays as it is.
 */
const JSONB_REFUSED = /(?<!\\)((?:\\\\)*)\\u(?:0000|d[89a-f][0-9a-f]{2})/gi;

/**
 * JSON text of `v` that jsonb accepts: PostgreSQL refuses a NUL and an unpaired surrogate in
 * jsonb (and fails the statement, and with it a whole batch), which JSON and SQLite allow; both
 * become U+FFFD, as an unpaired surrogate does in any UTF-8 text. NUL characters in text
 * parameters are replaced the same way (textWithoutNul, the pool's text serializer in db.ts).
 */
export function jsonbText(v: unknown): string {
  const s = JSON.stringify(v);
  return s.includes('\\u') ? s.replace(JSONB_REFUSED, '$1\\ufffd') : s;
}

/** A text parameter as PostgreSQL accepts it: NUL characters replaced by U+FFFD (the pool's text serializer). */
export function textWithoutNul(x: unknown): string {
  const s = '' + (x as string);
  return s.includes('\u0000') ? s.replaceAll('\u0000', '\ufffd') : s;
}

/** JSON text for a jsonb parameter (jsonbText); null and undefined become SQL NULL. */
export function jsonText(v: unknown): string | null {
  return v === null || v === undefined ? null : jsonbText(v);
}

/** A job row to a Job; `attempts` is filled by the caller when it loaded them. */
export function jobFromRow(r: JobRow, attempts: Attempt[] = []): Job {
  return {
    id: r.id,
    tenant: r.tenant as string,
    type: r.type as Job['type'],
    name: r.name as string | null,
    queue: r.queue as string,
    priority: r.priority as number,
    status: r.status as JobStatus,
    runAt: r.run_at as number,
    maxRetries: r.max_retries as number,
    timeoutMs: r.timeout_ms as number | null,
    idempotencyKey: r.idempotency_key as string | null,
    payload: r.payload as Job['payload'],
    backoff: r.backoff as Job['backoff'],
    requirements: r.requirements as Job['requirements'],
    tags: r.tags as string[],
    metadata: r.metadata as Job['metadata'],
    attempt: r.attempt as number,
    attemptBase: r.attempt_base as number,
    leaseToken: r.lease_token as string | null,
    leaseExpiresAt: r.lease_expires_at as number | null,
    workerId: r.worker_id as string | null,
    progress: r.progress as number | null,
    result: r.result ?? null,
    error: (r.error ?? null) as Job['error'],
    reason: r.reason as string | null,
    createdAt: r.created_at as number,
    updatedAt: r.updated_at as number,
    startedAt: r.started_at as number | null,
    completedAt: r.completed_at as number | null,
    attempts,
    graphId: (r.graph_id as string | null | undefined) ?? null,
    uniqueKey: (r.unique_key as string | null | undefined) ?? null,
    template: (r.template as string | null | undefined) ?? null,
    ...timeFields(r.deadline, r.concurrency_key, r.concurrency_limit),
  };
}

export { jobFromNew, timeFields } from '../job-shape.ts';

/** A job_attempts row to an Attempt. */
export function attemptFromRow(r: Record<string, unknown>): Attempt {
  return {
    attempt: r.attempt as number,
    workerId: r.worker_id as string,
    status: r.status as Attempt['status'],
    assignedAt: r.assigned_at as number,
    startedAt: r.started_at as number | null,
    endedAt: r.ended_at as number | null,
    exitCode: r.exit_code as number | null,
    error: (r.error ?? null) as Attempt['error'],
  };
}

/** A workers row to a WorkerInfo. */
export function workerFromRow(r: Record<string, unknown>): WorkerInfo {
  return {
    id: r.id as string,
    tenant: r.tenant as string,
    name: r.name as string,
    host: r.host as string,
    types: r.types as WorkerInfo['types'],
    handlers: r.handlers as string[],
    queues: r.queues as string[],
    labels: r.labels as Record<string, string>,
    capacity: r.capacity as number,
    cpu: r.cpu as number,
    memoryMb: r.memory_mb as number,
    region: r.region as string | null,
    zone: r.zone as string | null,
    status: r.status as WorkerInfo['status'],
    registeredAt: r.registered_at as number,
    lastSeenAt: r.last_seen_at as number,
  };
}

/** A tenants row to a Tenant. */
export function tenantFromRow(r: Record<string, unknown>): Tenant {
  return { id: r.id as string, name: r.name as string, createdAt: r.created_at as number };
}

/** A tokens row to a TokenRecord. */
export function tokenFromRow(r: Record<string, unknown>): TokenRecord {
  return {
    id: r.id as string,
    tenant: r.tenant as string,
    name: r.name as string,
    role: r.role as Role,
    system: r.system as boolean,
    secretHash: r.secret_hash as string,
    createdAt: r.created_at as number,
    lastUsedAt: r.last_used_at as number | null,
  };
}

/** An audit row to an AuditEntry. */
export function auditFromRow(r: Record<string, unknown>): AuditEntry {
  return {
    id: r.id as number,
    tenant: r.tenant as string,
    actor: r.actor as string,
    action: r.action as string,
    targetType: r.target_type as string,
    targetId: r.target_id as string | null,
    at: r.at as number,
    detail: r.detail ?? null,
  };
}

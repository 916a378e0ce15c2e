/**
 * Job shapes shared by both engines: the Job a NewJob becomes on insert, and the optional
 * deadline/concurrency fields as a Job carries them (present only when set).
 */
import type { NewJob } from '../core/spec.ts';
import type { Job } from '../core/types.ts';

/** deadline and concurrency fields (004_schedules.sql), present on a Job only when set. */
export function timeFields(deadline: unknown, key: unknown, limit: unknown): Pick<Job, 'deadline' | 'concurrencyKey' | 'concurrencyLimit'> {
  const out: Pick<Job, 'deadline' | 'concurrencyKey' | 'concurrencyLimit'> = {};
  if (deadline !== null && deadline !== undefined) out.deadline = Number(deadline);
  if (key !== null && key !== undefined) {
    out.concurrencyKey = key as string;
    out.concurrencyLimit = limit === null || limit === undefined ? 1 : Number(limit);
  }
  return out;
}

/** The Job a NewJob becomes when inserted. Fields are listed, not spread: this runs per row of a batch. */
export function jobFromNew(n: NewJob): Job {
  return {
    id: n.id,
    tenant: n.tenant,
    type: n.type,
    name: n.name,
    queue: n.queue,
    priority: n.priority,
    status: n.status,
    runAt: n.runAt,
    maxRetries: n.maxRetries,
    timeoutMs: n.timeoutMs,
    idempotencyKey: n.idempotencyKey,
    payload: n.payload,
    backoff: n.backoff,
    requirements: n.requirements,
    tags: n.tags,
    metadata: n.metadata,
    attempt: 0,
    attemptBase: 0,
    leaseToken: null,
    leaseExpiresAt: null,
    workerId: null,
    progress: null,
    result: null,
    error: null,
    reason: null,
    createdAt: n.createdAt,
    updatedAt: n.createdAt,
    startedAt: null,
    completedAt: null,
    attempts: [],
    ...timeFields(n.deadline, n.concurrencyKey, n.concurrencyLimit),
  };
}

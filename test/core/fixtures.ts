/**
 * Builders for core tests: whole, consistent jobs in any status and valid events for them, so a
 * test states only what it is about. Pure data; nothing here touches a store.
 */
import { isBatonError, type BatonError } from '../../src/core/errors.ts';
import type { JobEvent, JobEventType } from '../../src/core/transition.ts';
import type { Job, JobStatus } from '../../src/core/types.ts';
import { DEFAULT_BACKOFF } from '../../src/core/retry.ts';

/** The clock every builder uses unless told otherwise: 2025-01-01T00:00:00Z. */
export const T0 = Date.UTC(2025, 0, 1);

/** A fresh pending job that has never run; `over` replaces any field. */
export function makeJob(over: Partial<Job> = {}): Job {
  return {
    id: 'job-1',
    tenant: 'acme',
    type: 'command',
    payload: { argv: ['true'] },
    name: null,
    queue: 'default',
    priority: 5,
    maxRetries: 0,
    backoff: { ...DEFAULT_BACKOFF },
    timeoutMs: null,
    requirements: { labels: {}, cpu: 0, memoryMb: 0 },
    idempotencyKey: null,
    tags: [],
    metadata: {},
    status: 'pending',
    runAt: T0,
    attempt: 0,
    attemptBase: 0,
    leaseToken: null,
    leaseExpiresAt: null,
    workerId: null,
    progress: null,
    result: null,
    error: null,
    reason: null,
    createdAt: T0,
    updatedAt: T0,
    startedAt: null,
    completedAt: null,
    attempts: [],
    ...over,
  };
}

/**
 * A job in `status` with the fields that status implies (a lease when leased, completedAt when
 * terminal, runAt in the future when scheduled). Leased jobs are on attempt 1 with token `tok-1`.
 */
export function jobIn(status: JobStatus, over: Partial<Job> = {}): Job {
  const base: Partial<Job> = { status };
  switch (status) {
    case 'scheduled':
      base.runAt = T0 + 60_000;
      break;
    case 'assigned':
    case 'running':
      Object.assign(base, { attempt: 1, leaseToken: 'tok-1', workerId: 'w1', leaseExpiresAt: T0 + 30_000 });
      if (status === 'running') base.startedAt = T0;
      break;
    case 'completed':
      Object.assign(base, { attempt: 1, startedAt: T0, completedAt: T0, result: { ok: true }, progress: 100 });
      break;
    case 'failed':
      Object.assign(base, { attempt: 1, startedAt: T0, completedAt: T0, error: { code: 'exit_code', message: 'exit 1' } });
      break;
    case 'cancelled':
      Object.assign(base, { completedAt: T0, reason: 'cancelled_by_user' });
      break;
    default:
      break;
  }
  return makeJob({ ...base, ...over });
}

/** A well-formed event of `type` for `job`, carrying the job's own attempt and lease token. */
export function eventFor(type: JobEventType, job: Job): JobEvent {
  const lease = { attempt: job.attempt, leaseToken: job.leaseToken ?? 'none' };
  switch (type) {
    case 'promote':
    case 'release':
    case 'expire':
      return { type };
    case 'assign':
      return { type, workerId: 'w2', leaseToken: `tok-${job.attempt + 1}`, leaseExpiresAt: T0 + 30_000 };
    case 'start':
    case 'return':
      return { type, ...lease };
    case 'progress':
      return { type, progress: 50, ...lease };
    case 'extend':
      return { type, leaseExpiresAt: T0 + 90_000, ...lease };
    case 'complete':
      return { type, result: { ok: true }, exitCode: 0, ...lease };
    case 'fail':
      return { type, error: { code: 'exit_code', message: 'exit 1' }, exitCode: 1, random: 0.5, ...lease };
    case 'lease_expired':
      return { type, random: 0.5 };
    case 'cancel':
      return { type, reason: 'cancelled_by_user' };
    case 'modify':
      return { type, patch: { priority: 9 } };
    case 'retry':
      return { type };
  }
}

/** Freezes `v` and everything reachable from it, so a mutation throws (ESM code is strict). */
export function deepFreeze<T>(v: T): T {
  if (typeof v === 'object' && v !== null && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const x of Object.values(v)) deepFreeze(x);
  }
  return v;
}

/** The BatonError `fn` throws; fails the test when it throws something else or nothing. */
export function thrown(fn: () => unknown): BatonError {
  try {
    fn();
  } catch (e) {
    if (isBatonError(e)) return e;
    throw e;
  }
  throw new Error('expected a BatonError');
}

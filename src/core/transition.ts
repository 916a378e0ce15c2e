/**
 * The job state machine. Every change of a job's status anywhere in Baton goes through
 * `transition`, inside one store transaction; an event that is not allowed from the current
 * status throws, so an illegal move cannot be written.
 */
import { BatonError } from './errors.ts';
import { retryDelayMs } from './retry.ts';
import type { Attempt, Job, JobError, JobSpec, JobStatus } from './types.ts';
import { TERMINAL_STATUSES } from './types.ts';

/** Identifies one attempt's lease; workers send it with every report (fencing). */
export interface LeaseRef {
  attempt: number;
  leaseToken: string;
}

/** Everything that can happen to a job. */
export type JobEvent =
  | { type: 'promote' }
  | { type: 'release' }
  | { type: 'assign'; workerId: string; leaseToken: string; leaseExpiresAt: number }
  | ({ type: 'start' } & LeaseRef)
  | ({ type: 'progress'; progress: number } & LeaseRef)
  | ({ type: 'extend'; leaseExpiresAt: number } & LeaseRef)
  | ({ type: 'complete'; result: unknown; exitCode?: number | null } & LeaseRef)
  | ({ type: 'fail'; error: JobError; exitCode?: number | null; timedOut?: boolean; random: number } & LeaseRef)
  | { type: 'lease_expired'; random: number }
  | ({ type: 'return' } & LeaseRef)
  | { type: 'cancel'; reason: string }
  | { type: 'expire' }
  | { type: 'modify'; patch: Partial<JobSpec> & { runAt?: number } }
  | { type: 'retry'; patch?: Partial<JobSpec>; runAt?: number };

export type JobEventType = JobEvent['type'];

/** A change to the attempts of a job that the store must write with the job. */
export interface AttemptChange {
  attempt: number;
  /** true: a new attempt row (fields hold all of it); false: update of an existing row. */
  insert: boolean;
  fields: Partial<Attempt>;
}

export interface TransitionResult {
  job: Job;
  attemptChange: AttemptChange | null;
}

/** From which statuses each event is allowed. The table is the documentation. */
export const ALLOWED: Readonly<Record<JobEventType, ReadonlySet<JobStatus>>> = {
  promote: new Set(['scheduled']),
  release: new Set(['blocked']),
  assign: new Set(['pending']),
  start: new Set(['assigned']),
  progress: new Set(['assigned', 'running']),
  extend: new Set(['assigned', 'running']),
  complete: new Set(['assigned', 'running']),
  fail: new Set(['assigned', 'running']),
  lease_expired: new Set(['assigned', 'running']),
  // A worker gives back an assignment it never started (a prefetched job, when it stops).
  return: new Set(['assigned']),
  cancel: new Set(['blocked', 'scheduled', 'pending', 'assigned', 'running']),
  // A job not started by its deadline fails; once assigned it has started in time.
  expire: new Set(['blocked', 'scheduled', 'pending']),
  modify: new Set(['blocked', 'scheduled', 'pending']),
  retry: new Set(['failed', 'cancelled']),
};

const LEASED_EVENTS: ReadonlySet<JobEventType> = new Set(['start', 'progress', 'extend', 'complete', 'fail', 'return']);

/** How many attempts have been used out of the current retry budget. */
export function attemptsUsed(job: Pick<Job, 'attempt' | 'attemptBase'>): number {
  return job.attempt - job.attemptBase;
}

/**
 * Attempts lost to a dead worker (lease expired) that do not use up the retry budget: a worker
 * crash should not fail a job that has `maxRetries: 0`, yet a job that kills every worker it runs
 * on must still end. Such a job fails once it has used `maxRetries + 1 + LOST_LEASE_ALLOWANCE`
 * attempts.
 */
export const LOST_LEASE_ALLOWANCE = 3;

/**
 * True when a job whose current attempt just ended without success may try again: after a
 * failure while `attemptsUsed <= maxRetries`, after a lost lease while
 * `attemptsUsed <= maxRetries + LOST_LEASE_ALLOWANCE`.
 */
export function canRetry(job: Pick<Job, 'attempt' | 'attemptBase' | 'maxRetries'>, lost = false): boolean {
  return attemptsUsed(job) <= job.maxRetries + (lost ? LOST_LEASE_ALLOWANCE : 0);
}

function refuse(job: Job, event: JobEvent): never {
  if (LEASED_EVENTS.has(event.type)) {
    throw new BatonError('BATON_E_STALE_ATTEMPT', `job ${job.id} is ${job.status}; the report for it was refused`);
  }
  if (event.type === 'modify') {
    throw new BatonError('BATON_E_JOB_NOT_MODIFIABLE', `job ${job.id} is ${job.status}; only a job that has not started can be modified`);
  }
  if (event.type === 'cancel') {
    throw new BatonError('BATON_E_JOB_NOT_CANCELLABLE', `job ${job.id} is already ${job.status}`);
  }
  if (event.type === 'retry') {
    throw new BatonError('BATON_E_JOB_NOT_RETRYABLE', `job ${job.id} is ${job.status}; only failed or cancelled jobs can be retried`);
  }
  throw new BatonError('BATON_E_INVALID_TRANSITION', `event ${event.type} is not allowed for job ${job.id} in status ${job.status}`);
}

/** Status for a job that may run at `runAt`: pending when due, else scheduled. */
export function readyStatus(runAt: number, now: number): 'pending' | 'scheduled' {
  return runAt <= now ? 'pending' : 'scheduled';
}

/**
 * Applies `event` to `job` at time `now` and returns the new job (a fresh object; the input is
 * not touched) plus the attempt row to write. Throws a BatonError when the event is not allowed.
 */
export function transition(job: Job, event: JobEvent, now: number): TransitionResult {
  if (!ALLOWED[event.type].has(job.status)) refuse(job, event);
  if (LEASED_EVENTS.has(event.type)) {
    const ref = event as LeaseRef;
    if (ref.attempt !== job.attempt || ref.leaseToken !== job.leaseToken) {
      throw new BatonError(
        'BATON_E_STALE_ATTEMPT',
        `report for attempt ${ref.attempt} of job ${job.id} refused: the current attempt is ${job.attempt}`,
      );
    }
  }
  const next: Job = { ...job, updatedAt: now };
  const clearLease = () => {
    next.leaseToken = null;
    next.leaseExpiresAt = null;
    next.workerId = null;
  };

  switch (event.type) {
    case 'promote':
      next.status = 'pending';
      return { job: next, attemptChange: null };

    case 'release':
      // The last dependency was met: ready now, or scheduled when its runAt is still ahead.
      next.status = readyStatus(job.runAt, now);
      return { job: next, attemptChange: null };

    case 'assign': {
      next.status = 'assigned';
      next.attempt = job.attempt + 1;
      next.leaseToken = event.leaseToken;
      next.leaseExpiresAt = event.leaseExpiresAt;
      next.workerId = event.workerId;
      next.progress = null;
      const row: Attempt = {
        attempt: next.attempt,
        workerId: event.workerId,
        status: 'assigned',
        assignedAt: now,
        startedAt: null,
        endedAt: null,
        exitCode: null,
        error: null,
      };
      return { job: next, attemptChange: { attempt: next.attempt, insert: true, fields: row } };
    }

    case 'return':
      // Never started: ready again at once, and the attempt does not spend the retry budget.
      next.status = 'pending';
      next.runAt = now;
      next.attemptBase = job.attemptBase + 1;
      clearLease();
      return { job: next, attemptChange: { attempt: job.attempt, insert: false, fields: { status: 'returned', endedAt: now } } };

    case 'start':
      next.status = 'running';
      if (next.startedAt === null) next.startedAt = now;
      return { job: next, attemptChange: { attempt: job.attempt, insert: false, fields: { status: 'running', startedAt: now } } };

    case 'progress':
      // A NaN from a confused worker must not reach the store; keep the last good value instead.
      if (Number.isFinite(event.progress)) next.progress = Math.min(100, Math.max(0, event.progress));
      return { job: next, attemptChange: null };

    case 'extend':
      next.leaseExpiresAt = Math.max(job.leaseExpiresAt ?? 0, event.leaseExpiresAt);
      return { job: next, attemptChange: null };

    case 'complete':
      next.status = 'completed';
      next.result = event.result === undefined ? null : event.result;
      next.error = null;
      next.completedAt = now;
      next.progress = 100;
      if (next.startedAt === null) next.startedAt = now;
      clearLease();
      return {
        job: next,
        attemptChange: {
          attempt: job.attempt,
          insert: false,
          fields: { status: 'completed', endedAt: now, exitCode: event.exitCode ?? null, ...(job.status === 'assigned' ? { startedAt: now } : {}) },
        },
      };

    case 'fail':
    case 'lease_expired': {
      const error: JobError =
        event.type === 'fail'
          ? event.error
          : { code: 'BATON_E_LEASE_EXPIRED', message: `worker ${job.workerId ?? '?'} stopped heartbeating; attempt ${job.attempt} lost` };
      const attemptStatus: Attempt['status'] =
        event.type === 'lease_expired' ? 'lost' : event.type === 'fail' && event.timedOut ? 'timed_out' : 'failed';
      // A failure reported for an attempt still `assigned` ran without its `started` having
      // arrived — e.g. a completion whose `started` the worker left out, turned into a failure
      // by the server (its result was too large): it started when it ended, as a completion
      // would. A lost lease of an assigned attempt never started.
      const startedNow = event.type === 'fail' && job.status === 'assigned';
      if (startedNow && next.startedAt === null) next.startedAt = now;
      next.error = error;
      clearLease();
      if (canRetry(job, event.type === 'lease_expired')) {
        // A lost lease goes straight back to pending (the worker died, not the job); a failure waits its backoff.
        const delay = event.type === 'lease_expired' ? 0 : retryDelayMs(job.backoff, attemptsUsed(job), event.random);
        next.runAt = now + delay;
        next.status = readyStatus(next.runAt, now);
      } else {
        next.status = 'failed';
        next.completedAt = now;
      }
      return {
        job: next,
        attemptChange: {
          attempt: job.attempt,
          insert: false,
          fields: { status: attemptStatus, endedAt: now, exitCode: event.type === 'fail' ? (event.exitCode ?? null) : null, error, ...(startedNow ? { startedAt: now } : {}) },
        },
      };
    }

    case 'cancel': {
      const wasLeased = job.status === 'assigned' || job.status === 'running';
      next.status = 'cancelled';
      next.reason = event.reason;
      next.completedAt = now;
      clearLease();
      return {
        job: next,
        attemptChange: wasLeased
          ? { attempt: job.attempt, insert: false, fields: { status: 'cancelled', endedAt: now, error: { code: 'cancelled', message: event.reason } } }
          : null,
      };
    }

    case 'expire':
      next.status = 'failed';
      next.reason = 'deadline_exceeded';
      next.error = { code: 'BATON_E_DEADLINE_EXCEEDED', message: `job ${job.id} did not start by its deadline` };
      next.completedAt = now;
      return { job: next, attemptChange: null };

    case 'modify': {
      const { runAt, ...spec } = event.patch;
      Object.assign(next, spec);
      if (runAt !== undefined) next.runAt = runAt;
      // A blocked job stays blocked; otherwise a new runAt may move it between scheduled and pending.
      if (job.status !== 'blocked') next.status = readyStatus(next.runAt, now);
      return { job: next, attemptChange: null };
    }

    case 'retry': {
      if (event.patch) Object.assign(next, event.patch);
      next.attemptBase = job.attempt;
      next.runAt = event.runAt ?? now;
      next.status = readyStatus(next.runAt, now);
      next.result = null;
      next.error = null;
      next.reason = null;
      next.completedAt = null;
      next.progress = null;
      clearLease();
      return { job: next, attemptChange: null };
    }
  }
}

/** True when `status` never changes again without a manual retry. */
export function isTerminal(status: JobStatus): boolean {
  return TERMINAL_STATUSES.has(status);
}

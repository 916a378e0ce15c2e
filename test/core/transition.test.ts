/**
 * The job state machine, example by example: the whole (status × event) table, each lifecycle
 * path, fencing, and that the input job is never touched. The random-sequence laws are in
 * transition-properties.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { BatonError, type ErrorCode } from '../../src/core/errors.ts';
import { retryDelayMs } from '../../src/core/retry.ts';
import {
  ALLOWED,
  LOST_LEASE_ALLOWANCE,
  attemptsUsed,
  canRetry,
  isTerminal,
  readyStatus,
  transition,
  type JobEvent,
  type JobEventType,
} from '../../src/core/transition.ts';
import { JOB_STATUSES, type Job, type JobStatus } from '../../src/core/types.ts';
import { T0, deepFreeze, eventFor, jobIn, makeJob } from './fixtures.ts';

const EVENT_TYPES: JobEventType[] = [
  'promote', 'release', 'assign', 'start', 'progress', 'extend', 'complete', 'fail', 'lease_expired', 'return', 'cancel', 'expire', 'modify', 'retry',
];

/** The table as the design states it; a change to ALLOWED must change this on purpose. */
const EXPECTED: Record<JobEventType, JobStatus[]> = {
  promote: ['scheduled'],
  release: ['blocked'],
  assign: ['pending'],
  start: ['assigned'],
  progress: ['assigned', 'running'],
  extend: ['assigned', 'running'],
  complete: ['assigned', 'running'],
  fail: ['assigned', 'running'],
  lease_expired: ['assigned', 'running'],
  return: ['assigned'],
  cancel: ['blocked', 'scheduled', 'pending', 'assigned', 'running'],
  expire: ['blocked', 'scheduled', 'pending'],
  modify: ['blocked', 'scheduled', 'pending'],
  retry: ['failed', 'cancelled'],
};

/** The code a refused event must carry: workers' reports are stale, user actions say why. */
function refusalCode(type: JobEventType): ErrorCode {
  if (['start', 'progress', 'extend', 'complete', 'fail', 'return'].includes(type)) return 'BATON_E_STALE_ATTEMPT';
  if (type === 'modify') return 'BATON_E_JOB_NOT_MODIFIABLE';
  if (type === 'cancel') return 'BATON_E_JOB_NOT_CANCELLABLE';
  if (type === 'retry') return 'BATON_E_JOB_NOT_RETRYABLE';
  return 'BATON_E_INVALID_TRANSITION';
}

/** Runs `fn` and returns the BatonError it throws; fails the test if it throws anything else. */
function refusal(fn: () => unknown): BatonError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(BatonError);
    return e as BatonError;
  }
  throw new Error('expected a BatonError, but nothing was thrown');
}

describe('the transition table', () => {
  it('ALLOWED is exactly the documented table', () => {
    expect(Object.keys(ALLOWED).sort()).toEqual([...EVENT_TYPES].sort());
    for (const t of EVENT_TYPES) expect([...ALLOWED[t]].sort(), t).toEqual([...EXPECTED[t]].sort());
  });

  for (const status of JOB_STATUSES) {
    for (const type of EVENT_TYPES) {
      const allowed = ALLOWED[type].has(status);
      it(`${type} from ${status} is ${allowed ? 'allowed' : `refused with ${refusalCode(type)}`}`, () => {
        const job = deepFreeze(jobIn(status));
        const event = eventFor(type, job);
        if (allowed) {
          const { job: next } = transition(job, event, T0 + 1000);
          expect(JOB_STATUSES).toContain(next.status);
          expect(next.updatedAt).toBe(T0 + 1000);
        } else {
          const e = refusal(() => transition(job, event, T0 + 1000));
          expect(e.code).toBe(refusalCode(type));
          expect(e.status).toBe(409);
          expect(e.message).toContain(job.id);
        }
      });
    }
  }
});

describe('lifecycle paths', () => {
  it('pending → assigned → running → completed', () => {
    let job = makeJob();
    const a = transition(job, eventFor('assign', job), T0 + 10);
    job = a.job;
    expect(job).toMatchObject({ status: 'assigned', attempt: 1, leaseToken: 'tok-1', workerId: 'w2', leaseExpiresAt: T0 + 30_000, progress: null });
    expect(a.attemptChange).toEqual({
      attempt: 1,
      insert: true,
      fields: { attempt: 1, workerId: 'w2', status: 'assigned', assignedAt: T0 + 10, startedAt: null, endedAt: null, exitCode: null, error: null },
    });

    const s = transition(job, eventFor('start', job), T0 + 20);
    job = s.job;
    expect(job).toMatchObject({ status: 'running', startedAt: T0 + 20, leaseToken: 'tok-1' });
    expect(s.attemptChange).toEqual({ attempt: 1, insert: false, fields: { status: 'running', startedAt: T0 + 20 } });

    job = transition(job, { type: 'progress', progress: 140, attempt: 1, leaseToken: 'tok-1' }, T0 + 25).job;
    expect(job.progress).toBe(100);
    job = transition(job, { type: 'progress', progress: -3, attempt: 1, leaseToken: 'tok-1' }, T0 + 26).job;
    expect(job.progress).toBe(0);
    job = transition(job, { type: 'progress', progress: Number.NaN, attempt: 1, leaseToken: 'tok-1' }, T0 + 27).job;
    expect(job.progress).toBe(0);

    job = transition(job, { type: 'extend', leaseExpiresAt: T0 + 60_000, attempt: 1, leaseToken: 'tok-1' }, T0 + 28).job;
    expect(job.leaseExpiresAt).toBe(T0 + 60_000);
    // A late, older extension never shortens the lease.
    job = transition(job, { type: 'extend', leaseExpiresAt: T0 + 40_000, attempt: 1, leaseToken: 'tok-1' }, T0 + 29).job;
    expect(job.leaseExpiresAt).toBe(T0 + 60_000);

    const c = transition(job, { type: 'complete', result: { n: 42 }, exitCode: 0, attempt: 1, leaseToken: 'tok-1' }, T0 + 30);
    expect(c.job).toMatchObject({
      status: 'completed', result: { n: 42 }, error: null, completedAt: T0 + 30, progress: 100,
      leaseToken: null, leaseExpiresAt: null, workerId: null, startedAt: T0 + 20, attempt: 1,
    });
    expect(c.attemptChange).toEqual({ attempt: 1, insert: false, fields: { status: 'completed', endedAt: T0 + 30, exitCode: 0 } });
  });

  it('return: an assignment never started goes back to pending at once without spending the retry budget', () => {
    const job = transition(makeJob({ maxRetries: 0 }), eventFor('assign', makeJob()), T0 + 10).job;
    const r = transition(job, { type: 'return', attempt: 1, leaseToken: 'tok-1' }, T0 + 50);
    expect(r.job).toMatchObject({ status: 'pending', runAt: T0 + 50, attempt: 1, attemptBase: 1, leaseToken: null, leaseExpiresAt: null, workerId: null });
    expect(attemptsUsed(r.job)).toBe(0);
    expect(r.attemptChange).toEqual({ attempt: 1, insert: false, fields: { status: 'returned', endedAt: T0 + 50 } });
    // The next assignment is attempt 2, and a failure of it still gets no retry (maxRetries 0).
    const again = transition(r.job, eventFor('assign', r.job), T0 + 60).job;
    expect(again.attempt).toBe(2);
    const failed = transition(again, eventFor('fail', again), T0 + 70).job;
    expect(failed.status).toBe('failed');
    // A started attempt cannot be returned, and a stale token is fenced off.
    const running = transition(again, eventFor('start', again), T0 + 65).job;
    expect(() => transition(running, { type: 'return', attempt: 2, leaseToken: again.leaseToken! }, T0 + 66)).toThrow(expect.objectContaining({ code: 'BATON_E_STALE_ATTEMPT' }));
    expect(() => transition(again, { type: 'return', attempt: 2, leaseToken: 'other' }, T0 + 66)).toThrow(expect.objectContaining({ code: 'BATON_E_STALE_ATTEMPT' }));
  });

  it('complete straight from assigned stamps the start on job and attempt; undefined result is null', () => {
    const job = jobIn('assigned');
    const c = transition(job, { type: 'complete', result: undefined, attempt: 1, leaseToken: 'tok-1' }, T0 + 5);
    expect(c.job).toMatchObject({ status: 'completed', result: null, startedAt: T0 + 5 });
    expect(c.attemptChange?.fields).toEqual({ status: 'completed', endedAt: T0 + 5, exitCode: null, startedAt: T0 + 5 });
  });

  it('fail straight from assigned stamps the start on job and attempt; a lost lease of an assigned attempt does not', () => {
    const job = jobIn('assigned');
    const error = { code: 'BATON_E_RESULT_TOO_LARGE', message: 'too big' };
    const f = transition(job, { type: 'fail', error, random: 0, attempt: 1, leaseToken: 'tok-1' }, T0 + 6);
    expect(f.job).toMatchObject({ status: 'failed', startedAt: T0 + 6, completedAt: T0 + 6 });
    expect(f.attemptChange?.fields).toEqual({ status: 'failed', endedAt: T0 + 6, exitCode: null, error, startedAt: T0 + 6 });
    const lost = transition(job, { type: 'lease_expired', random: 0 }, T0 + 7);
    expect(lost.job.startedAt).toBeNull();
    expect(lost.attemptChange?.fields.startedAt).toBeUndefined();
  });

  it('fail with retries left → scheduled at now + backoff, keeping the error', () => {
    const job = jobIn('running', { maxRetries: 2 });
    const now = T0 + 1000;
    const error = { code: 'exit_code', message: 'exit 3' };
    const r = transition(job, { type: 'fail', error, exitCode: 3, random: 0.25, attempt: 1, leaseToken: 'tok-1' }, now);
    const delay = retryDelayMs(job.backoff, 1, 0.25);
    expect(delay).toBeGreaterThan(0);
    expect(r.job).toMatchObject({ status: 'scheduled', runAt: now + delay, error, completedAt: null, leaseToken: null, workerId: null, leaseExpiresAt: null, attempt: 1 });
    expect(r.attemptChange).toEqual({ attempt: 1, insert: false, fields: { status: 'failed', endedAt: now, exitCode: 3, error } });
  });

  it('the second failure waits the second backoff step', () => {
    const job = jobIn('running', { maxRetries: 5, attempt: 2, backoff: { initialMs: 1000, maxMs: 60_000, factor: 3, jitter: 0 } });
    const r = transition(job, { type: 'fail', error: { code: 'x', message: 'x' }, random: 0, attempt: 2, leaseToken: 'tok-1' }, T0);
    expect(r.job.runAt).toBe(T0 + 3000);
  });

  it('fail with a zero backoff goes straight back to pending; a timeout is recorded as timed_out', () => {
    const job = jobIn('running', { maxRetries: 1, backoff: { initialMs: 0, maxMs: 0, factor: 2, jitter: 0.2 } });
    const r = transition(job, { type: 'fail', error: { code: 'BATON_E_TIMEOUT', message: 't' }, timedOut: true, random: 0.9, attempt: 1, leaseToken: 'tok-1' }, T0 + 7);
    expect(r.job).toMatchObject({ status: 'pending', runAt: T0 + 7 });
    expect(r.attemptChange?.fields.status).toBe('timed_out');
    expect(r.attemptChange?.fields.exitCode).toBeNull();
  });

  it('fail with the retries spent → failed with completedAt', () => {
    const job = jobIn('running', { maxRetries: 2, attempt: 3 });
    const r = transition(job, { ...(eventFor('fail', job) as Extract<JobEvent, { type: 'fail' }>), attempt: 3 }, T0 + 50);
    expect(r.job).toMatchObject({ status: 'failed', completedAt: T0 + 50, leaseToken: null, workerId: null, attempt: 3 });
    expect(isTerminal(r.job.status)).toBe(true);
  });

  it('lease_expired → pending now, the attempt counted and recorded as lost', () => {
    const job = jobIn('running', { maxRetries: 1 });
    const r = transition(job, { type: 'lease_expired', random: 0.5 }, T0 + 99);
    expect(r.job).toMatchObject({ status: 'pending', runAt: T0 + 99, attempt: 1, leaseToken: null, workerId: null, leaseExpiresAt: null });
    expect(r.job.error?.code).toBe('BATON_E_LEASE_EXPIRED');
    expect(r.job.error?.message).toContain('w1');
    expect(r.attemptChange).toMatchObject({ attempt: 1, insert: false, fields: { status: 'lost', endedAt: T0 + 99, exitCode: null } });
    expect(attemptsUsed(r.job)).toBe(1);
  });

  it('lease_expired with maxRetries 0 → pending: a dead worker does not spend the retry budget', () => {
    const r = transition(jobIn('assigned'), { type: 'lease_expired', random: 0 }, T0 + 5);
    expect(r.job.status).toBe('pending');
  });

  it('lease_expired after maxRetries + 1 + LOST_LEASE_ALLOWANCE attempts → failed', () => {
    const job = jobIn('assigned', { attempt: 1 + LOST_LEASE_ALLOWANCE, leaseToken: 'tok' });
    const r = transition(job, { type: 'lease_expired', random: 0 }, T0 + 5);
    expect(r.job).toMatchObject({ status: 'failed', completedAt: T0 + 5 });
  });

  for (const status of ['blocked', 'scheduled', 'pending', 'assigned', 'running'] as const) {
    it(`cancel from ${status}`, () => {
      const job = jobIn(status);
      const r = transition(job, { type: 'cancel', reason: 'cancelled_by_user' }, T0 + 3);
      expect(r.job).toMatchObject({ status: 'cancelled', reason: 'cancelled_by_user', completedAt: T0 + 3, leaseToken: null, workerId: null, leaseExpiresAt: null });
      if (status === 'assigned' || status === 'running') {
        expect(r.attemptChange).toEqual({
          attempt: 1, insert: false,
          fields: { status: 'cancelled', endedAt: T0 + 3, error: { code: 'cancelled', message: 'cancelled_by_user' } },
        });
      } else {
        expect(r.attemptChange).toBeNull();
      }
    });
  }

  it('modify: a scheduled job given a past runAt becomes pending, and back', () => {
    const job = jobIn('scheduled');
    const now = T0 + 10;
    const a = transition(job, { type: 'modify', patch: { runAt: T0, priority: 8, tags: ['x'] } }, now);
    expect(a.job).toMatchObject({ status: 'pending', runAt: T0, priority: 8, tags: ['x'] });
    expect(a.attemptChange).toBeNull();
    const b = transition(a.job, { type: 'modify', patch: { runAt: now + 5000 } }, now);
    expect(b.job).toMatchObject({ status: 'scheduled', runAt: now + 5000, priority: 8 });
  });

  it('modify keeps a blocked job blocked whatever the runAt', () => {
    const job = jobIn('blocked');
    expect(transition(job, { type: 'modify', patch: { runAt: T0 + 99_999 } }, T0).job.status).toBe('blocked');
    expect(transition(job, { type: 'modify', patch: { runAt: T0 - 1 } }, T0).job.status).toBe('blocked');
  });

  it('retry resets the budget, clears the outcome and applies the patch', () => {
    const failed = jobIn('failed', { attempt: 3, attemptBase: 0, maxRetries: 2, reason: 'x', progress: 40 });
    const r = transition(failed, { type: 'retry', patch: { maxRetries: 1 } }, T0 + 100);
    expect(r.job).toMatchObject({
      status: 'pending', runAt: T0 + 100, attempt: 3, attemptBase: 3, maxRetries: 1,
      result: null, error: null, reason: null, completedAt: null, progress: null, leaseToken: null,
    });
    expect(r.attemptChange).toBeNull();
    expect(attemptsUsed(r.job)).toBe(0);
    expect(canRetry({ ...r.job, attempt: 4 })).toBe(true);
    expect(canRetry({ ...r.job, attempt: 5 })).toBe(false);
  });

  it('retry at a later runAt schedules the job', () => {
    const r = transition(jobIn('cancelled'), { type: 'retry', runAt: T0 + 5000 }, T0);
    expect(r.job).toMatchObject({ status: 'scheduled', runAt: T0 + 5000 });
  });

  it('promote moves scheduled to pending and keeps runAt', () => {
    const job = jobIn('scheduled');
    expect(transition(job, { type: 'promote' }, job.runAt).job).toMatchObject({ status: 'pending', runAt: job.runAt });
  });
});

describe('fencing', () => {
  const reports: JobEventType[] = ['start', 'progress', 'extend', 'complete', 'fail'];
  for (const type of reports) {
    it(`${type} from an older attempt or with another lease token is STALE_ATTEMPT`, () => {
      const status: JobStatus = type === 'start' ? 'assigned' : 'running';
      const job = deepFreeze(jobIn(status, { attempt: 2, leaseToken: 'tok-2' }));
      const good = eventFor(type, job) as JobEvent & { attempt: number; leaseToken: string };
      for (const bad of [{ ...good, attempt: 1 }, { ...good, attempt: 3 }, { ...good, leaseToken: 'tok-1' }]) {
        const e = refusal(() => transition(job, bad, T0));
        expect(e.code).toBe('BATON_E_STALE_ATTEMPT');
      }
      expect(() => transition(job, good, T0)).not.toThrow();
    });
  }

  it('a report after the lease was lost and the job reassigned is refused', () => {
    let job = jobIn('running', { maxRetries: 3 });
    job = transition(job, { type: 'lease_expired', random: 0 }, T0 + 1).job;
    job = transition(job, eventFor('assign', job), T0 + 2).job;
    expect(job.attempt).toBe(2);
    const late = refusal(() =>
      transition(job, { type: 'complete', result: 'old', attempt: 1, leaseToken: 'tok-1' }, T0 + 3),
    );
    expect(late.code).toBe('BATON_E_STALE_ATTEMPT');
  });
});

describe('purity', () => {
  it('never mutates the input job, for every allowed pair', () => {
    for (const status of JOB_STATUSES) {
      for (const type of EVENT_TYPES) {
        if (!ALLOWED[type].has(status)) continue;
        const job = jobIn(status, { tags: ['a'], metadata: { k: 1 }, attempts: [] });
        const copy = structuredClone(job);
        deepFreeze(job);
        const { job: next } = transition(job, eventFor(type, job), T0 + 1);
        expect(job).toEqual(copy);
        expect(next).not.toBe(job);
      }
    }
  });

  it('readyStatus: due now or earlier is pending, later is scheduled', () => {
    expect(readyStatus(T0, T0)).toBe('pending');
    expect(readyStatus(T0 - 1, T0)).toBe('pending');
    expect(readyStatus(T0 + 1, T0)).toBe('scheduled');
  });

  it('isTerminal names exactly completed, failed and cancelled', () => {
    const terminal = JOB_STATUSES.filter(isTerminal);
    expect(terminal.sort()).toEqual(['cancelled', 'completed', 'failed']);
  });

  it('attemptsUsed counts from the last manual retry', () => {
    const j: Pick<Job, 'attempt' | 'attemptBase'> = { attempt: 7, attemptBase: 4 };
    expect(attemptsUsed(j)).toBe(3);
  });
});

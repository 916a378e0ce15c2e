/**
 * Laws of the job state machine over random event sequences (fast-check): whatever a worker, the
 * reaper or a user throws at a job, it stays a well-formed job and the retry budget holds.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isBatonError } from '../../src/core/errors.ts';
import { LOST_LEASE_ALLOWANCE, attemptsUsed, isTerminal, readyStatus, transition, type JobEvent, type JobEventType } from '../../src/core/transition.ts';
import { JOB_STATUSES, LEASED_STATUSES, type Job } from '../../src/core/types.ts';
import { T0, deepFreeze, makeJob } from './fixtures.ts';

/** What to do next, independent of the job's state; `apply` turns it into a concrete event. */
interface Step {
  type: JobEventType;
  /** Whether a lease-bearing report carries the current attempt and token, or a stale one. */
  fence: 'ok' | 'old_attempt' | 'new_attempt' | 'other_token';
  random: number;
  progress: number;
  /** Offset of a runAt (for modify/retry) from now, ms; negative means already due. */
  runAtOffset: number | null;
  /** Clock advance before the step, ms. */
  advance: number;
  /** A new retry budget given with a manual retry, if any. */
  retryMaxRetries: number | null;
}

const stepArb: fc.Arbitrary<Step> = fc.record({
  type: fc.constantFrom<JobEventType>(
    'promote', 'release', 'assign', 'start', 'progress', 'extend', 'complete', 'fail', 'fail', 'fail', 'lease_expired', 'return', 'cancel', 'expire', 'modify', 'retry',
  ),
  fence: fc.constantFrom<Step['fence']>('ok', 'ok', 'ok', 'ok', 'old_attempt', 'new_attempt', 'other_token'),
  random: fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
  progress: fc.oneof(fc.integer({ min: -50, max: 150 }), fc.constant(Number.NaN)),
  runAtOffset: fc.option(fc.integer({ min: -10_000, max: 10_000 })),
  advance: fc.integer({ min: 0, max: 5_000 }),
  retryMaxRetries: fc.option(fc.integer({ min: 0, max: 3 })),
});

const startArb: fc.Arbitrary<Job> = fc
  .record({
    status: fc.constantFrom('pending' as const, 'scheduled' as const, 'blocked' as const),
    maxRetries: fc.integer({ min: 0, max: 4 }),
    initialMs: fc.integer({ min: 0, max: 3_000 }),
    jitter: fc.double({ min: 0, max: 1, noNaN: true }),
  })
  .map(({ status, maxRetries, initialMs, jitter }) =>
    makeJob({
      status,
      maxRetries,
      runAt: status === 'scheduled' ? T0 + 1_000 : T0,
      backoff: { initialMs, maxMs: Math.max(initialMs, 10_000), factor: 2, jitter },
    }),
  );

let tokenSeq = 0;

/** The concrete event a step means for `job` right now. */
function eventOf(step: Step, job: Job, now: number): JobEvent {
  const attempt = step.fence === 'old_attempt' ? job.attempt - 1 : step.fence === 'new_attempt' ? job.attempt + 1 : job.attempt;
  const lease = { attempt, leaseToken: step.fence === 'other_token' ? 'not-the-token' : (job.leaseToken ?? 'none') };
  const runAt = step.runAtOffset === null ? undefined : now + step.runAtOffset;
  switch (step.type) {
    case 'promote':
      return { type: 'promote' };
    case 'release':
      return { type: 'release' };
    case 'expire':
      return { type: 'expire' };
    case 'assign':
      return { type: 'assign', workerId: `w${tokenSeq % 3}`, leaseToken: `tok-${++tokenSeq}`, leaseExpiresAt: now + 30_000 };
    case 'start':
      return { type: 'start', ...lease };
    case 'return':
      return { type: 'return', ...lease };
    case 'progress':
      return { type: 'progress', progress: step.progress, ...lease };
    case 'extend':
      return { type: 'extend', leaseExpiresAt: now + 30_000, ...lease };
    case 'complete':
      return { type: 'complete', result: { at: now }, exitCode: 0, ...lease };
    case 'fail':
      return { type: 'fail', error: { code: 'exit_code', message: 'exit 1' }, exitCode: 1, random: step.random, ...lease };
    case 'lease_expired':
      return { type: 'lease_expired', random: step.random };
    case 'cancel':
      return { type: 'cancel', reason: 'cancelled_by_user' };
    case 'modify':
      // maxRetries stays out of modify here: lowering it below the attempts already used is a
      // separate, deliberate case (see the last test), not part of the budget law.
      return { type: 'modify', patch: { priority: 1 + Math.floor(step.random * 10), ...(runAt === undefined ? {} : { runAt }) } };
    case 'retry':
      return { type: 'retry', ...(runAt === undefined ? {} : { runAt }), ...(step.retryMaxRetries === null ? {} : { patch: { maxRetries: step.retryMaxRetries } }) };
  }
}

/** Checks every law that must hold after `prev` became `next` through `event` at `now`. */
function checkStep(prev: Job, next: Job, event: JobEvent, now: number): void {
  expect(JOB_STATUSES).toContain(next.status);
  expect(next.attempt).toBeGreaterThanOrEqual(prev.attempt);
  expect(next.attempt - prev.attempt).toBe(event.type === 'assign' ? 1 : 0);
  if (isTerminal(prev.status) && next.status !== prev.status) expect(event.type).toBe('retry');
  const leased = LEASED_STATUSES.has(next.status);
  expect(next.leaseToken !== null, `leaseToken in ${next.status}`).toBe(leased);
  expect(next.workerId !== null, `workerId in ${next.status}`).toBe(leased);
  expect(next.leaseExpiresAt !== null, `leaseExpiresAt in ${next.status}`).toBe(leased);
  expect(next.completedAt !== null, `completedAt in ${next.status}`).toBe(isTerminal(next.status));
  if (next.progress !== null) {
    expect(next.progress).toBeGreaterThanOrEqual(0);
    expect(next.progress).toBeLessThanOrEqual(100);
  }
  expect(Number.isFinite(next.runAt)).toBe(true);
  expect(attemptsUsed(next)).toBeGreaterThanOrEqual(0);
  // Lost leases may take up to LOST_LEASE_ALLOWANCE attempts beyond the retry budget (canRetry).
  expect(attemptsUsed(next)).toBeLessThanOrEqual(next.maxRetries + 1 + LOST_LEASE_ALLOWANCE);
  if (['fail', 'lease_expired', 'return', 'modify', 'retry'].includes(event.type) && (next.status === 'pending' || next.status === 'scheduled')) {
    expect(next.status).toBe(readyStatus(next.runAt, now));
  }
  expect(next.updatedAt).toBe(now);
}

describe('transition over random event sequences', () => {
  it('keeps every job well-formed, refuses only with BatonErrors, and never touches its input', () => {
    fc.assert(
      fc.property(startArb, fc.array(stepArb, { minLength: 1, maxLength: 40 }), (start, steps) => {
        let job = deepFreeze(start);
        let now = T0;
        for (const step of steps) {
          now += step.advance;
          const event = eventOf(step, job, now);
          let next: Job;
          try {
            next = transition(job, event, now).job;
          } catch (e) {
            expect(isBatonError(e), String(e)).toBe(true);
            continue;
          }
          checkStep(job, next, event, now);
          job = deepFreeze(next);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('a job is failed exactly when its attempts exceed the budget (maxRetries + 1, plus the allowance for lost leases)', () => {
    fc.assert(
      fc.property(startArb, fc.array(stepArb, { minLength: 1, maxLength: 60 }), (start, steps) => {
        let job = start;
        let now = T0;
        let losses = 0;
        let started = 0;
        for (const step of steps) {
          now += step.advance;
          const event = eventOf(step, job, now);
          let next: Job;
          try {
            next = transition(job, event, now).job;
          } catch {
            continue;
          }
          if (event.type === 'assign') started += 1;
          // A returned assignment was never started: it gives its attempt back to the budget.
          if (event.type === 'return') started -= 1;
          if (event.type === 'retry') {
            losses = 0;
            started = 0;
          }
          if (event.type === 'fail' || event.type === 'lease_expired') {
            losses += 1;
            // A failure spends the budget; a lost lease gets LOST_LEASE_ALLOWANCE extra attempts.
            const budget = next.maxRetries + 1 + (event.type === 'lease_expired' ? LOST_LEASE_ALLOWANCE : 0);
            expect(next.status === 'failed').toBe(started >= budget);
            if (next.status !== 'failed') expect(['pending', 'scheduled']).toContain(next.status);
          }
          expect(started).toBeLessThanOrEqual(next.maxRetries + 1 + LOST_LEASE_ALLOWANCE);
          expect(started).toBe(attemptsUsed(next));
          job = next;
        }
      }),
      { numRuns: 300 },
    );
  });

  it('a stale report is always refused and changes nothing', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('progress' as const, 'extend' as const, 'complete' as const, 'fail' as const),
        fc.constantFrom<Step['fence']>('old_attempt', 'new_attempt', 'other_token'),
        fc.integer({ min: 1, max: 20 }),
        (type, fence, attempt) => {
          const job = deepFreeze(makeJob({ status: 'running', attempt, leaseToken: `tok-${attempt}`, workerId: 'w1', leaseExpiresAt: T0 + 1, startedAt: T0 }));
          const step: Step = { type, fence, random: 0.5, progress: 10, runAtOffset: null, advance: 0, retryMaxRetries: null };
          let code: string | undefined;
          try {
            transition(job, eventOf(step, job, T0), T0);
          } catch (e) {
            code = isBatonError(e) ? e.code : 'not a BatonError';
          }
          expect(code).toBe('BATON_E_STALE_ATTEMPT');
        },
      ),
      { numRuns: 200 },
    );
  });

  it('lowering maxRetries below the attempts used makes the next failure final', () => {
    let job = makeJob({ maxRetries: 3, attempt: 2, attemptBase: 0 });
    job = transition(job, { type: 'modify', patch: { maxRetries: 0 } }, T0).job;
    job = transition(job, { type: 'assign', workerId: 'w1', leaseToken: 't', leaseExpiresAt: T0 + 1 }, T0).job;
    const r = transition(job, { type: 'fail', attempt: job.attempt, leaseToken: 't', error: { code: 'x', message: 'x' }, random: 0 }, T0 + 1);
    expect(r.job.status).toBe('failed');
  });
});

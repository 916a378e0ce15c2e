/**
 * Schedule input (schema, defaults, refusals, patches) and the pure policies the cron service
 * applies on each tick: catch-up after downtime, overlap, jitter and the job of a fire.
 */
import { Value } from '@sinclair/typebox/value';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { firesBetween, parseCron } from '../../src/core/cron.ts';
import {
  applyJitter,
  dueFires,
  jobForFire,
  normalizeScheduleInput,
  normalizeSchedulePatch,
  overlapDecision,
  ScheduleInput,
  SchedulePatchInput,
  type CatchUpPolicy,
  type ScheduleInput as ScheduleInputT,
  type ScheduleTiming,
} from '../../src/core/schedule.ts';
import { thrown } from './fixtures.ts';

const at = (iso: string) => Date.parse(iso);
const NOW = at('2026-06-01T12:00:00Z');
const base: ScheduleInputT = { name: 'nightly-report', cron: '0 3 * * *', job: { type: 'command', payload: { argv: ['true'] } } };

describe('schedule input', () => {
  it('the schema accepts a minimal schedule and refuses unknown fields and bad policies', () => {
    expect(Value.Check(ScheduleInput, base)).toBe(true);
    expect(Value.Check(ScheduleInput, { ...base, overlap: 'sometimes' })).toBe(false);
    expect(Value.Check(ScheduleInput, { ...base, catchUp: 'most' })).toBe(false);
    expect(Value.Check(ScheduleInput, { ...base, extra: 1 })).toBe(false);
    expect(Value.Check(ScheduleInput, { ...base, maxCatchUp: 0 })).toBe(false);
    expect(Value.Check(ScheduleInput, { ...base, jitterMs: -1 })).toBe(false);
    expect(Value.Check(SchedulePatchInput, {})).toBe(false);
    expect(Value.Check(SchedulePatchInput, { endAt: null })).toBe(true);
  });

  it('fills defaults and arms the first fire', () => {
    const n = normalizeScheduleInput(base, { tenant: 't1' }, NOW);
    expect(n.spec).toEqual({
      name: 'nightly-report',
      cron: '0 3 * * *',
      timezone: 'UTC',
      job: base.job,
      startAt: null,
      endAt: null,
      maxExecutions: null,
      jitterMs: 0,
      overlap: 'allow',
      catchUp: 'latest',
      maxCatchUp: 100,
      paused: false,
    });
    expect(n.nextFireAt).toBe(at('2026-06-02T03:00:00Z'));
    const london = normalizeScheduleInput({ ...base, timezone: 'europe/london', startAt: '2026-07-01T00:00:00Z' }, { tenant: 't1' }, NOW);
    expect(london.spec.timezone).toBe('Europe/London');
    expect(london.nextFireAt).toBe(at('2026-07-01T02:00:00Z')); // 03:00 BST
  });

  it('refuses with the field named', () => {
    const tenant = { tenant: 't1' };
    const cases: Array<[Partial<ScheduleInputT>, string]> = [
      [{ cron: '0 0 30 2 *' }, 'cron'],
      [{ cron: 'every day' }, 'cron'],
      [{ timezone: 'Mars/Olympus' }, 'timezone'],
      [{ job: { type: 'command', payload: { argv: ['x'] }, runAt: '2026-01-01T00:00:00Z' } }, 'job.runAt'],
      [{ job: { type: 'command', payload: { argv: ['x'] }, delayMs: 5 } }, 'job.delayMs'],
      [{ job: { type: 'command', payload: { argv: ['x'] }, idempotencyKey: 'k' } }, 'job.idempotencyKey'],
      [{ job: { type: 'command', payload: {} } }, 'job.payload.argv'],
      [{ job: { type: 'command', payload: { argv: ['x'] }, dependsOn: ['a'] } as unknown as ScheduleInputT['job'] }, 'job.dependsOn'],
      [{ startAt: '2026-07-01T00:00:00Z', endAt: '2026-07-01T00:00:00Z' }, 'endAt'],
      [{ endAt: '2026-05-01T00:00:00Z' }, 'endAt'],
      // A window with no 03:00 in it.
      [{ startAt: '2026-07-01T04:00:00Z', endAt: '2026-07-01T05:00:00Z' }, 'endAt'],
    ];
    for (const [patch, field] of cases) {
      expect(thrown(() => normalizeScheduleInput({ ...base, ...patch }, tenant, NOW)), field).toMatchObject({ code: 'BATON_E_VALIDATION', field });
    }
  });

  it('a patch is merged and checked as a whole; null clears a bound', () => {
    const tenant = { tenant: 't1' };
    const current = normalizeScheduleInput({ ...base, endAt: '2026-12-31T00:00:00Z', maxExecutions: 5 }, tenant, NOW).spec;
    const p = normalizeSchedulePatch({ cron: '*/10 * * * *', timezone: 'Asia/Kolkata', endAt: null, maxExecutions: null }, current, tenant, NOW);
    expect(p.spec).toMatchObject({ cron: '*/10 * * * *', timezone: 'Asia/Kolkata', endAt: null, maxExecutions: null, name: 'nightly-report' });
    expect(p.nextFireAt).toBe(NOW + 10 * 60_000);
    expect(normalizeSchedulePatch({ paused: true }, current, tenant, NOW).spec).toEqual({ ...current, paused: true });
    expect(thrown(() => normalizeSchedulePatch({ cron: '0 0 31 2 *' }, current, tenant, NOW)).field).toBe('cron');
  });
});

describe('dueFires', () => {
  const MIN = 60_000;
  const t0 = at('2026-06-01T12:00:00Z');
  const timing = (over: Partial<ScheduleTiming> = {}): ScheduleTiming => ({
    cron: parseCron('* * * * *', 'UTC'),
    startAt: null,
    endAt: null,
    maxExecutions: null,
    executions: 0,
    catchUp: 'latest',
    maxCatchUp: 100,
    since: t0 - 3_600_000,
    ...over,
  });
  const mins = (...ms: number[]) => ms.map((m) => t0 + m * MIN);

  it('on a timely tick makes the fire that just came due and arms the next', () => {
    expect(dueFires(timing(), t0, t0 + MIN + 300)).toEqual({ fires: mins(1), skippedMissed: false, nextFireAt: t0 + 2 * MIN });
    expect(dueFires(timing(), t0 + MIN, t0 + MIN + 300)).toEqual({ fires: [], skippedMissed: false, nextFireAt: t0 + 2 * MIN });
  });

  it('after 10 minutes down, each catch-up policy does what it says', () => {
    const now = t0 + 10 * MIN + 500; // the 12:10 fire is on time, 12:01–12:09 were missed
    const got = (catchUp: CatchUpPolicy, maxCatchUp = 100) => dueFires(timing({ catchUp, maxCatchUp }), t0, now);
    expect(got('none')).toEqual({ fires: mins(10), skippedMissed: true, nextFireAt: t0 + 11 * MIN });
    expect(got('latest')).toEqual({ fires: mins(9, 10), skippedMissed: true, nextFireAt: t0 + 11 * MIN });
    expect(got('all')).toEqual({ fires: mins(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), skippedMissed: false, nextFireAt: t0 + 11 * MIN });
    expect(got('all', 3)).toEqual({ fires: mins(7, 8, 9, 10), skippedMissed: true, nextFireAt: t0 + 11 * MIN });
    // Found 5 s after its time, even the newest fire counts as missed.
    const late = t0 + 10 * MIN + 5000;
    expect(dueFires(timing({ catchUp: 'none' }), t0, late).fires).toEqual([]);
    expect(dueFires(timing({ catchUp: 'latest' }), t0, late).fires).toEqual(mins(10));
    // With a 10 s grace window the 12:10 fire is on time again, and 12:09 is the newest missed.
    expect(dueFires(timing({ catchUp: 'latest' }), t0, late, 10_000).fires).toEqual(mins(9, 10));
  });

  it('after a month down, an every-second schedule catches up in bounded work', () => {
    const c = parseCron('* * * * * *', 'UTC');
    const now = t0 + 30 * 86_400_000;
    const started = performance.now();
    const r = dueFires(timing({ cron: c, catchUp: 'all', maxCatchUp: 100 }), t0, now);
    expect(performance.now() - started).toBeLessThan(1000);
    expect(r.fires).toHaveLength(102); // 100 missed + 2 on time (now - 1 s, now)
    expect(r.fires[0]).toBe(now - 101_000);
    expect(r.fires[101]).toBe(now);
    expect(r.skippedMissed).toBe(true);
  });

  it('respects since, startAt, endAt (inclusive) and maxExecutions', () => {
    expect(dueFires(timing({ since: t0 + 5 * MIN, catchUp: 'all' }), null, t0 + 8 * MIN).fires).toEqual(mins(6, 7, 8));
    expect(dueFires(timing({ startAt: t0 + 7 * MIN, catchUp: 'all' }), null, t0 + 8 * MIN).fires).toEqual(mins(7, 8));
    expect(dueFires(timing({ startAt: t0 + 20 * MIN }), null, t0 + 8 * MIN)).toEqual({ fires: [], skippedMissed: false, nextFireAt: t0 + 20 * MIN });
    expect(dueFires(timing({ endAt: t0 + 3 * MIN, catchUp: 'all' }), t0, t0 + 8 * MIN)).toEqual({ fires: mins(1, 2, 3), skippedMissed: false, nextFireAt: null });
    expect(dueFires(timing({ maxExecutions: 5, executions: 3, catchUp: 'all' }), t0, t0 + 8 * MIN)).toEqual({ fires: mins(1, 2), skippedMissed: false, nextFireAt: null });
    expect(dueFires(timing({ maxExecutions: 5, executions: 5 }), t0, t0 + 8 * MIN)).toEqual({ fires: [], skippedMissed: false, nextFireAt: null });
    expect(dueFires(timing({ maxExecutions: 5, executions: 3 }), t0, t0 + MIN)).toEqual({ fires: mins(1), skippedMissed: false, nextFireAt: t0 + 2 * MIN });
  });

  it('never goes back before lastFireAt, even with a clock behind it', () => {
    expect(dueFires(timing(), t0 + 5 * MIN, t0 + 2 * MIN)).toEqual({ fires: [], skippedMissed: false, nextFireAt: t0 + 6 * MIN });
  });

  it('ticking within the grace window makes every fire exactly once, whatever the policy', () => {
    const c = parseCron('*/1 * * * * *', 'America/New_York');
    const start = at('2026-11-01T05:59:40Z'); // across the fall-back change
    fc.assert(
      fc.property(fc.constantFrom<CatchUpPolicy>('none', 'latest', 'all'), fc.array(fc.integer({ min: 1, max: 1900 }), { minLength: 20, maxLength: 60 }), (catchUp, steps) => {
        let now = start;
        let last: number | null = null;
        const made: number[] = [];
        for (const step of steps) {
          now += step;
          const r = dueFires(timing({ cron: c, catchUp, since: start }), last, now);
          made.push(...r.fires);
          if (r.fires.length > 0) last = r.fires[r.fires.length - 1];
          expect(r.nextFireAt).toBeGreaterThan(now);
        }
        expect(made).toEqual(firesBetween(c, start, now, 10_000));
      }),
      { numRuns: 60 },
    );
  });

  it('fires are strictly increasing, due, unique across ticks, and bounded by maxCatchUp', () => {
    const c = parseCron('*/7 * * * * *', 'Australia/Lord_Howe');
    const start = at('2026-10-03T15:00:00Z');
    fc.assert(
      fc.property(
        fc.constantFrom<CatchUpPolicy>('none', 'latest', 'all'),
        fc.integer({ min: 1, max: 20 }),
        fc.array(fc.integer({ min: 1, max: 600_000 }), { minLength: 1, maxLength: 15 }),
        (catchUp, maxCatchUp, steps) => {
          let now = start;
          let last: number | null = null;
          const made: number[] = [];
          for (const step of steps) {
            now += step;
            const r = dueFires(timing({ cron: c, catchUp, maxCatchUp, since: start }), last, now);
            for (const f of r.fires) expect(f).toBeLessThanOrEqual(now);
            expect(r.fires.length).toBeLessThanOrEqual(maxCatchUp + 1); // + on-time fires (grace 2 s < 7 s)
            made.push(...r.fires);
            if (r.fires.length > 0) last = r.fires[r.fires.length - 1];
          }
          for (let i = 1; i < made.length; i++) expect(made[i]).toBeGreaterThan(made[i - 1]);
          const all = new Set(firesBetween(c, start, now, 100_000));
          for (const f of made) expect(all.has(f)).toBe(true);
        },
      ),
      { numRuns: 100 },
    );
  });
});

describe('overlapDecision', () => {
  it('starts when nothing is active, else follows the policy', () => {
    for (const p of ['allow', 'skip', 'queue', 'cancelPrevious'] as const) expect(overlapDecision(p, 0)).toBe('start');
    expect(overlapDecision('allow', 3)).toBe('start');
    expect(overlapDecision('skip', 1)).toBe('skip');
    expect(overlapDecision('queue', 2)).toBe('queue');
    expect(overlapDecision('cancelPrevious', 1)).toBe('cancelPrevious');
  });
});

describe('applyJitter and jobForFire', () => {
  it('spreads runAt over [fireAt, fireAt + jitterMs], deterministically in random', () => {
    expect(applyJitter(1000, 0, 0.9)).toBe(1000);
    expect(applyJitter(1000, 500, 0)).toBe(1000);
    expect(applyJitter(1000, 500, 0.5)).toBe(1250);
    expect(applyJitter(1000, 500, 0.999999)).toBe(1500);
    expect(applyJitter(1000, 500, Number.NaN)).toBe(1000);
    expect(applyJitter(1000, 500, 7)).toBe(1500);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 40 }), fc.integer({ min: 0, max: 3_600_000 }), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (f, j, r) => {
        const runAt = applyJitter(f, j, r);
        expect(Number.isInteger(runAt)).toBe(true);
        expect(runAt).toBeGreaterThanOrEqual(f);
        expect(runAt).toBeLessThanOrEqual(f + j);
      }),
    );
  });

  it('a fire makes the schedule job, pending when its time has come', () => {
    const spec = normalizeScheduleInput({ ...base, job: { ...base.job, priority: 8, queue: 'reports' } }, { tenant: 't1' }, NOW).spec;
    const due = jobForFire(spec, { id: 'j1', tenant: 't1' }, NOW - 5, NOW);
    expect(due).toMatchObject({ id: 'j1', tenant: 't1', type: 'command', priority: 8, queue: 'reports', runAt: NOW - 5, status: 'pending', createdAt: NOW });
    expect(jobForFire(spec, { id: 'j2', tenant: 't1' }, NOW + 900, NOW).status).toBe('scheduled');
  });
});

/**
 * Aging, deadlines, deficit round-robin and concurrency limits by example.
 */
import { describe, expect, it } from 'vitest';
import {
  admitWithinLimits,
  AGED_PRIORITY_CAP,
  compareReadyAged,
  deadlinePassed,
  effectivePriority,
  fairPick,
  INITIAL_FAIR_STATE,
  withinLimits,
  type AgedKey,
  type FairState,
} from '../../src/core/fairness.ts';

const T = 1_800_000_000_000;
const I = 60_000;
const job = (id: string, priority: number, runAt = T, extra: Partial<AgedKey> = {}): AgedKey => ({ id, priority, runAt, createdAt: runAt, ...extra });

describe('effectivePriority', () => {
  it('rises by one per interval waited, up to the cap', () => {
    expect(effectivePriority(job('a', 1), T, I)).toBe(1);
    expect(effectivePriority(job('a', 1), T + I - 1, I)).toBe(1);
    expect(effectivePriority(job('a', 1), T + I, I)).toBe(2);
    expect(effectivePriority(job('a', 1), T + 9 * I, I)).toBe(10);
    expect(effectivePriority(job('a', 1), T + 10 * I, I)).toBe(AGED_PRIORITY_CAP);
    expect(effectivePriority(job('a', 1), T + 1000 * I, I)).toBe(11);
    expect(effectivePriority(job('b', 10), T + I, I)).toBe(11);
  });

  it('does not age a job before its runAt, nor when aging is off', () => {
    expect(effectivePriority(job('a', 3, T + 5 * I), T, I)).toBe(3);
    expect(effectivePriority(job('a', 3), T + 100 * I, 0)).toBe(3);
    expect(effectivePriority(job('a', 3), T + 100 * I, Infinity)).toBe(3);
  });

  it('uses one step per minute by default', () => {
    expect(effectivePriority(job('a', 5), T + 2 * 60_000)).toBe(7);
  });
});

describe('compareReadyAged', () => {
  const sorted = (jobs: AgedKey[], now: number) => [...jobs].sort((a, b) => compareReadyAged(a, b, now, { agingIntervalMs: I })).map((j) => j.id);

  it('a long-waiting priority-1 job beats fresh priority-10 jobs within (10 - 1 + 1) intervals', () => {
    const old = job('old', 1);
    const fresh = (now: number, deadline?: number) => job(`fresh@${now}`, 10, now, { deadline });
    // After 9 intervals it ties with fresh priority-10 jobs and wins by age...
    expect(sorted([old, fresh(T + 9 * I - 1)], T + 9 * I - 1)[0]).toBe(`fresh@${T + 9 * I - 1}`);
    expect(sorted([old, fresh(T + 9 * I)], T + 9 * I)[0]).toBe('old');
    // ...unless they carry deadlines; after 10 intervals it is at the cap, above every fresh job.
    expect(sorted([old, fresh(T + 10 * I - 1, T + 10 * I)], T + 10 * I - 1)[0]).toBe(`fresh@${T + 10 * I - 1}`);
    expect(sorted([old, fresh(T + 10 * I, T + 10 * I)], T + 10 * I)[0]).toBe('old');
  });

  it('within one effective priority, earlier deadlines first and no deadline last', () => {
    const jobs = [job('none', 5), job('late', 5, T, { deadline: T + 50_000 }), job('soon', 5, T + 1, { deadline: T + 10_000 }), job('nullish', 5, T - 1, { deadline: null })];
    expect(sorted(jobs, T + 1)).toEqual(['soon', 'late', 'nullish', 'none']);
  });

  it('priority still beats a deadline', () => {
    expect(sorted([job('urgent-deadline', 4, T, { deadline: T + 1 }), job('high', 6)], T)).toEqual(['high', 'urgent-deadline']);
  });

  it('at the cap, the oldest goes first whatever the deadlines', () => {
    const now = T + 20 * I;
    expect(sorted([job('young-with-deadline', 10, T + 5 * I, { deadline: now + 1 }), job('old', 1)], now)).toEqual(['old', 'young-with-deadline']);
  });
});

describe('deadlinePassed', () => {
  it('is true only after the deadline', () => {
    expect(deadlinePassed({ deadline: T }, T)).toBe(false);
    expect(deadlinePassed({ deadline: T }, T + 1)).toBe(true);
    expect(deadlinePassed({ deadline: null }, T + 1)).toBe(false);
    expect(deadlinePassed({}, T + 1)).toBe(false);
  });
});

describe('fairPick', () => {
  const backlog = (prefix: string, k: number) => Array.from({ length: k }, (_, i) => `${prefix}${i}`);

  it('gives turns in proportion to weight, in name order', () => {
    const groups = new Map([
      ['a', backlog('a', 10)],
      ['b', backlog('b', 10)],
    ]);
    const { picks, state } = fairPick(groups, { a: 3, b: 1 }, INITIAL_FAIR_STATE, 8);
    expect(picks.map((p) => p.item)).toEqual(['a0', 'a1', 'a2', 'b0', 'a3', 'a4', 'a5', 'b1']);
    expect(state).toEqual({ deficits: { a: 0, b: 0 }, current: 'b', inTurn: false });
  });

  it('resumes a turn cut short by n without fresh credit', () => {
    const groups = new Map([
      ['a', backlog('a', 10)],
      ['b', backlog('b', 10)],
    ]);
    const first = fairPick(groups, { a: 3, b: 1 }, INITIAL_FAIR_STATE, 1);
    expect(first.picks.map((p) => p.item)).toEqual(['a0']);
    expect(first.state).toEqual({ deficits: { a: 2, b: 0 }, current: 'a', inTurn: true });
    // The caller removes what was picked before the next call.
    const rest = new Map([
      ['a', backlog('a', 10).slice(1)],
      ['b', backlog('b', 10)],
    ]);
    expect(fairPick(rest, { a: 3, b: 1 }, first.state, 4).picks.map((p) => p.item)).toEqual(['a1', 'a2', 'b0', 'a3']);
  });

  it('a group that runs out loses its credit, and an absent one is forgotten', () => {
    const groups = new Map([
      ['a', ['a0']],
      ['b', backlog('b', 5)],
    ]);
    const r = fairPick(groups, { a: 5, b: 1 }, INITIAL_FAIR_STATE, 3);
    expect(r.picks.map((p) => p.item)).toEqual(['a0', 'b0', 'b1']);
    expect(r.state.deficits).toEqual({ a: 0, b: 0 });
    const stale: FairState = { deficits: { gone: 50, b: 0.5 }, current: 'gone', inTurn: true };
    const s = fairPick(new Map([['b', backlog('b', 5)]]), {}, stale, 2);
    expect(s.picks.map((p) => p.item)).toEqual(['b0', 'b1']);
    expect(s.state.deficits).toEqual({ b: 0.5 });
  });

  it('fractional weights: the lightest group gets one pick per turn', () => {
    const groups = new Map([
      ['a', backlog('a', 100)],
      ['b', backlog('b', 100)],
    ]);
    let state = INITIAL_FAIR_STATE;
    const counts = { a: 0, b: 0 };
    const taken = { a: 0, b: 0 };
    for (let call = 0; call < 5; call++) {
      const g = new Map([...groups].map(([k, v]) => [k, v.slice(taken[k as 'a' | 'b'])]));
      const r = fairPick(g, { a: 0.5, b: 1.25 }, state, 7);
      for (const p of r.picks) {
        counts[p.group as 'a' | 'b']++;
        taken[p.group as 'a' | 'b']++;
      }
      state = r.state;
    }
    // 2.5 : 1 over 35 picks: 10 and 25.
    expect(counts).toEqual({ a: 10, b: 25 });
  });

  it('leaves out groups without candidates or with no weight, and handles nothing to do', () => {
    const groups = new Map([
      ['a', []],
      ['z', ['z0']],
      ['b', ['b0', 'b1']],
    ]);
    expect(fairPick(groups, { b: 0 }, INITIAL_FAIR_STATE, 5).picks.map((p) => p.item)).toEqual(['z0']);
    expect(fairPick(groups, {}, INITIAL_FAIR_STATE, 0).picks).toEqual([]);
    expect(fairPick(new Map(), {}, INITIAL_FAIR_STATE, 3)).toEqual({ picks: [], state: INITIAL_FAIR_STATE });
  });
});

describe('concurrency limits', () => {
  const running = { queues: { reports: 2, mail: 0 }, keys: { 'customer-1': 1 } };
  const limits = { queues: { reports: 2, mail: 5 }, keys: { 'customer-1': 1 }, defaultKeyLimit: 2 };

  it('withinLimits checks the queue cap and the key cap', () => {
    expect(withinLimits({ queue: 'reports' }, running, limits)).toBe(false);
    expect(withinLimits({ queue: 'mail' }, running, limits)).toBe(true);
    expect(withinLimits({ queue: 'mail', concurrencyKey: 'customer-1' }, running, limits)).toBe(false);
    expect(withinLimits({ queue: 'mail', concurrencyKey: 'customer-2' }, running, limits)).toBe(true);
    expect(withinLimits({ queue: 'other', concurrencyKey: null }, running, {})).toBe(true);
    expect(withinLimits({ queue: 'mail', concurrencyKey: 'x' }, { queues: {}, keys: { x: 9 } }, {})).toBe(true);
  });

  it('admitWithinLimits never overshoots a cap within one batch and keeps the order', () => {
    const jobs = [
      { id: 1, queue: 'mail', concurrencyKey: 'customer-2' },
      { id: 2, queue: 'mail', concurrencyKey: 'customer-2' },
      { id: 3, queue: 'mail', concurrencyKey: 'customer-2' },
      { id: 4, queue: 'reports' },
      { id: 5, queue: 'mail' },
      { id: 6, queue: 'mail' },
      { id: 7, queue: 'mail' },
    ];
    const r = admitWithinLimits(jobs, running, limits);
    expect(r.admitted.map((j) => j.id)).toEqual([1, 2, 5, 6, 7]);
    expect(r.held.map((j) => j.id)).toEqual([3, 4]);
    expect(r.running).toEqual({ queues: { reports: 2, mail: 5 }, keys: { 'customer-1': 1, 'customer-2': 2 } });
    expect(running.queues.mail).toBe(0); // the input is not touched
  });
});

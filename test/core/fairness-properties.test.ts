/**
 * Laws of fairness over random inputs: the aged order is a total order, the starvation bound of
 * src/core/fairness.ts holds under any flood of priority-10 jobs, deficit round-robin gives each
 * backlogged group its weighted share (±2 %), idle groups save no credit, and each group's order is kept.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AGED_PRIORITY_CAP, compareReadyAged, fairPick, INITIAL_FAIR_STATE, type AgedKey, type FairState } from '../../src/core/fairness.ts';

const T0 = 1_800_000_000_000;
const sign = (n: number) => (n < 0 ? -1 : n > 0 ? 1 : 0);

describe('compareReadyAged is a total order at any now', () => {
  const keyArb: fc.Arbitrary<AgedKey> = fc.record({
    priority: fc.integer({ min: 1, max: 10 }),
    runAt: fc.integer({ min: T0, max: T0 + 600 }),
    createdAt: fc.integer({ min: T0 - 5, max: T0 }),
    id: fc.constantFrom('a', 'b', 'c', 'd'),
    deadline: fc.option(fc.integer({ min: T0, max: T0 + 3 }), { nil: undefined }),
  });
  const now = fc.integer({ min: T0, max: T0 + 2000 });
  const opts = { agingIntervalMs: 100 };

  it('reflexive, antisymmetric, transitive', () => {
    fc.assert(
      fc.property(keyArb, keyArb, keyArb, now, (a, b, c, t) => {
        expect(compareReadyAged(a, a, t, opts)).toBe(0);
        expect(sign(compareReadyAged(a, b, t, opts)) + sign(compareReadyAged(b, a, t, opts))).toBe(0);
        if (compareReadyAged(a, b, t, opts) <= 0 && compareReadyAged(b, c, t, opts) <= 0) expect(compareReadyAged(a, c, t, opts)).toBeLessThanOrEqual(0);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('starvation bound', () => {
  it('a priority-p job starts within (10 - p + 1) intervals + the time to serve jobs ready before it, under any priority-10 flood', () => {
    const I = 1000;
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 10 }), // p
        fc.integer({ min: 1, max: 4 }), // capacity per tick
        fc.integer({ min: 100, max: 1000 }), // tick length
        fc.array(fc.record({ priority: fc.integer({ min: 1, max: 10 }), ageTicks: fc.integer({ min: 1, max: 30 }), deadline: fc.boolean() }), { maxLength: 40 }), // backlog ready before
        fc.array(fc.integer({ min: 0, max: 8 }), { minLength: 1, maxLength: 20 }), // flood per tick, cycled
        fc.boolean(), // flood jobs carry deadlines
        (p, capacity, tick, backlog, floodPattern, floodDeadlines) => {
          let seq = 0;
          const id = () => `j${String(seq++).padStart(6, '0')}`;
          const waiting: AgedKey[] = backlog.map((b) => ({ id: id(), priority: b.priority, runAt: T0 - b.ageTicks * tick, createdAt: T0 - b.ageTicks * tick, deadline: b.deadline ? T0 : null }));
          const target: AgedKey = { id: 'target', priority: p, runAt: T0, createdAt: T0 };
          waiting.push(target);
          // Ahead of the target in the total order at its start: the backlog, and the first tick's
          // flood, which arrives at the same instant with smaller ids.
          const before = backlog.length + floodPattern[0];
          const bound = T0 + (AGED_PRIORITY_CAP - p) * I + tick * (Math.ceil(before / capacity) + 1);
          for (let k = 0, now = T0; now <= bound + tick; k++, now += tick) {
            for (let f = 0; f < floodPattern[k % floodPattern.length]; f++) {
              waiting.push({ id: id(), priority: 10, runAt: now, createdAt: now, deadline: floodDeadlines ? now + tick : null });
            }
            waiting.sort((a, b) => compareReadyAged(a, b, now, { agingIntervalMs: I }));
            const started = waiting.splice(0, capacity);
            if (started.includes(target)) {
              expect(now).toBeLessThanOrEqual(bound);
              return;
            }
          }
          expect.unreachable(`target p${p} not started by the bound`);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('deficit round-robin', () => {
  /** Runs `calls` fairPick calls with every group backlogged; returns picks per group and the calls' picks. */
  function simulate(weights: Record<string, number>, ns: number[], totalPicks: number, present: (call: number, g: string) => boolean = () => true) {
    const names = Object.keys(weights);
    const next: Record<string, number> = Object.fromEntries(names.map((g) => [g, 0]));
    const counts: Record<string, number> = Object.fromEntries(names.map((g) => [g, 0]));
    let state: FairState = INITIAL_FAIR_STATE;
    let total = 0;
    for (let call = 0; total < totalPicks; call++) {
      const n = ns[call % ns.length];
      const groups = new Map<string, number[]>();
      for (const g of names) if (present(call, g)) groups.set(g, Array.from({ length: n }, (_, i) => next[g] + i));
      const r = fairPick(groups, weights, state, n);
      for (const pick of r.picks) {
        // Order within a group is kept: the next pick is the group's next item. (Plain checks in
        // this hot loop: expect() costs more than the code under test.)
        if (pick.item !== next[pick.group]) throw new Error(`${pick.group} picked ${pick.item}, expected ${next[pick.group]}`);
        next[pick.group]++;
        counts[pick.group]++;
      }
      // Invariants: credit only for present groups, never more than one turn's worth.
      const lightest = Math.min(...[...groups.keys()].map((g) => weights[g]));
      for (const [g, d] of Object.entries(r.state.deficits)) {
        if (!groups.has(g)) throw new Error(`absent group ${g} kept credit ${d}`);
        if (!(d >= 0 && d <= weights[g] / lightest + 1e-6)) throw new Error(`${g} has credit ${d}, more than one turn (${weights[g] / lightest})`);
      }
      state = r.state;
      total += r.picks.length;
      if (groups.size === 0) total++; // nobody present: count the call so the loop ends
    }
    return counts;
  }

  const weightsArb = fc
    .uniqueArray(fc.constantFrom('acme', 'globex', 'initech', 'umbrella', 'hooli'), { minLength: 2, maxLength: 5 })
    .chain((names) => fc.tuple(...names.map(() => fc.oneof(fc.integer({ min: 1, max: 10 }), fc.double({ min: 0.5, max: 8, noNaN: true })))).map((ws) => Object.fromEntries(names.map((g, i) => [g, ws[i]]))));

  it('with every group backlogged, each gets weight / Σweights of the picks, ±2 %', () => {
    fc.assert(
      fc.property(weightsArb, fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 1, maxLength: 10 }), (weights, ns) => {
        const sum = Object.values(weights).reduce((a, b) => a + b, 0);
        const lightest = Math.min(...Object.values(weights));
        // Long enough that one turn (at most weight/lightest picks) is under 1 % of the run.
        const totalPicks = Math.max(2000, Math.ceil((100 * sum) / lightest));
        const counts = simulate(weights, ns, totalPicks);
        const picked = Object.values(counts).reduce((a, b) => a + b, 0);
        for (const [g, w] of Object.entries(weights)) expect(Math.abs(counts[g] / picked - w / sum), g).toBeLessThanOrEqual(0.02 + 1e-9);
      }),
      { numRuns: 40 },
    );
  });

  it('3 : 1 weights give 75 % / 25 % of picks', () => {
    const counts = simulate({ a: 3, b: 1 }, [1, 2, 3, 5, 8], 10_000);
    expect(counts.a / (counts.a + counts.b)).toBeCloseTo(0.75, 2);
  });

  it('groups that come and go save no credit while away, and keep their order', () => {
    fc.assert(
      fc.property(weightsArb, fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 1, maxLength: 10 }), fc.integer({ min: 1, max: 2 ** 30 }), (weights, ns, seed) => {
        // Presence pattern from the seed: each group is away on some calls.
        const present = (call: number, g: string) => ((seed >>> ((call + g.length) % 24)) & 3) !== 0;
        simulate(weights, ns, 500, present);
      }),
      { numRuns: 100 },
    );
  });

  it('a group back from idle gets no more than one turn before the others get theirs', () => {
    const weights = { a: 1, b: 1 };
    let state: FairState = INITIAL_FAIR_STATE;
    // b alone for 50 calls: a saves nothing.
    for (let i = 0; i < 50; i++) state = fairPick(new Map([['b', [0, 1, 2]]]), weights, state, 3).state;
    const r = fairPick(new Map([['a', ['a0', 'a1', 'a2', 'a3']], ['b', ['b0', 'b1', 'b2', 'b3']]]), weights, state, 4);
    expect(r.picks.map((p) => p.item)).toEqual(['a0', 'b0', 'a1', 'b1']);
  });
});

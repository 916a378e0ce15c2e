/**
 * The ready order: a total order (so every server and both stores agree), priority first,
 * then FIFO by runAt, then age, then id.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compareReady, type ReadyKey } from '../../src/core/ordering.ts';
import { T0 } from './fixtures.ts';

// Small ranges so that ties on every field happen often and the tie-breaks get exercised.
const keyArb: fc.Arbitrary<ReadyKey> = fc.record({
  priority: fc.integer({ min: 1, max: 10 }),
  runAt: fc.integer({ min: T0, max: T0 + 5 }),
  createdAt: fc.integer({ min: T0 - 5, max: T0 }),
  id: fc.constantFrom('a', 'b', 'c', '0190aa', '0190ab'),
});

const sign = (n: number) => (n < 0 ? -1 : n > 0 ? 1 : 0);
const same = (a: ReadyKey, b: ReadyKey) =>
  a.priority === b.priority && a.runAt === b.runAt && a.createdAt === b.createdAt && a.id === b.id;

describe('compareReady', () => {
  it('is reflexive and antisymmetric', () => {
    fc.assert(
      fc.property(keyArb, keyArb, (a, b) => {
        expect(compareReady(a, a)).toBe(0);
        // A sum, not toBe(-x): Object.is tells 0 from -0, which made equal keys fail at random.
        expect(sign(compareReady(a, b)) + sign(compareReady(b, a))).toBe(0);
      }),
      { numRuns: 500 },
    );
  });

  it('is transitive', () => {
    fc.assert(
      fc.property(keyArb, keyArb, keyArb, (a, b, c) => {
        if (compareReady(a, b) <= 0 && compareReady(b, c) <= 0) expect(compareReady(a, c)).toBeLessThanOrEqual(0);
        if (compareReady(a, b) < 0 && compareReady(b, c) < 0) expect(compareReady(a, c)).toBeLessThan(0);
      }),
      { numRuns: 1000 },
    );
  });

  it('is consistent: equal only for identical keys, so the order is total', () => {
    fc.assert(
      fc.property(keyArb, keyArb, (a, b) => {
        expect(compareReady(a, b) === 0).toBe(same(a, b));
      }),
      { numRuns: 500 },
    );
  });

  it('priority dominates every other field', () => {
    fc.assert(
      fc.property(keyArb, keyArb, (a, b) => {
        if (a.priority > b.priority) expect(compareReady(a, b)).toBeLessThan(0);
        if (a.priority < b.priority) expect(compareReady(a, b)).toBeGreaterThan(0);
      }),
      { numRuns: 500 },
    );
  });

  it('is FIFO within a priority: earlier runAt first, then the older job', () => {
    fc.assert(
      fc.property(keyArb, keyArb, (a, b) => {
        if (a.priority !== b.priority) return;
        if (a.runAt !== b.runAt) expect(sign(compareReady(a, b))).toBe(sign(a.runAt - b.runAt));
        else if (a.createdAt !== b.createdAt) expect(sign(compareReady(a, b))).toBe(sign(a.createdAt - b.createdAt));
      }),
      { numRuns: 500 },
    );
  });

  it('sorts any permutation of the same jobs into the same sequence', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(keyArb, { selector: (k) => JSON.stringify(k), maxLength: 30 }),
        fc.infiniteStream(fc.nat()),
        (keys, noise) => {
          const shuffled = keys.map((k) => ({ k, r: noise.next().value })).sort((x, y) => x.r - y.r).map((x) => x.k);
          expect([...shuffled].sort(compareReady)).toEqual([...keys].sort(compareReady));
        },
      ),
      { numRuns: 200 },
    );
  });

  it('examples: urgent first, then the one due earliest, then the oldest, then the smaller id', () => {
    const k = (priority: number, runAt: number, createdAt: number, id: string): ReadyKey => ({ priority, runAt, createdAt, id });
    const jobs = [k(5, T0 + 2, T0, 'x'), k(9, T0 + 9, T0 + 9, 'z'), k(5, T0 + 1, T0 + 3, 'y'), k(5, T0 + 1, T0 + 1, 'w'), k(5, T0 + 1, T0 + 1, 'v')];
    expect(jobs.sort(compareReady).map((j) => j.id)).toEqual(['z', 'v', 'w', 'y', 'x']);
  });
});

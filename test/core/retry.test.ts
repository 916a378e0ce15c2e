/**
 * Retry backoff math: bounds, growth, and that no input can make the delay NaN or Infinity
 * (a NaN runAt would park a job in `scheduled` forever).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFAULT_BACKOFF, retryDelayMs } from '../../src/core/retry.ts';
import type { Backoff } from '../../src/core/types.ts';

/** Backoffs the API accepts (see BackoffInput in spec.ts): maxMs at least initialMs. */
const backoffArb: fc.Arbitrary<Backoff> = fc
  .record({
    initialMs: fc.integer({ min: 0, max: 86_400_000 }),
    extraMs: fc.integer({ min: 0, max: 7 * 86_400_000 }),
    factor: fc.double({ min: 1, max: 10, noNaN: true }),
    jitter: fc.double({ min: 0, max: 1, noNaN: true }),
  })
  .map(({ initialMs, extraMs, factor, jitter }) => ({
    initialMs,
    maxMs: Math.min(initialMs + extraMs, 7 * 86_400_000),
    factor,
    jitter,
  }));

const randomArb = fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true });
const retryArb = fc.oneof(fc.integer({ min: 1, max: 60 }), fc.integer({ min: 1, max: 2_000_000_000 }));

/** The undithered delay of retry `n`: min(initial · factor^(n-1), max), with 0 · ∞ read as 0. */
function exponential(b: Backoff, n: number): number {
  if (b.initialMs === 0) return 0;
  return Math.min(b.initialMs * Math.pow(b.factor, n - 1), b.maxMs);
}

describe('retryDelayMs', () => {
  it('the defaults: 1 s doubling to 5 min with 20 % equal jitter', () => {
    expect(retryDelayMs(DEFAULT_BACKOFF, 1, 0)).toBe(800);
    expect(retryDelayMs(DEFAULT_BACKOFF, 1, 0.5)).toBe(900);
    expect(retryDelayMs(DEFAULT_BACKOFF, 2, 0)).toBe(1600);
    expect(retryDelayMs(DEFAULT_BACKOFF, 3, 0.999999)).toBe(4000);
    expect(retryDelayMs(DEFAULT_BACKOFF, 30, 0)).toBe(240_000);
    expect(retryDelayMs(DEFAULT_BACKOFF, 30, 0.999999)).toBe(300_000);
  });

  it('retry numbers below 1 or fractional count as whole retries from 1', () => {
    const b: Backoff = { initialMs: 100, maxMs: 10_000, factor: 2, jitter: 0 };
    expect(retryDelayMs(b, 0, 0)).toBe(100);
    expect(retryDelayMs(b, -5, 0)).toBe(100);
    expect(retryDelayMs(b, 2.9, 0)).toBe(200);
  });

  it('stays within [(1 - jitter) · exponential, maxMs], to the nearest millisecond', () => {
    fc.assert(
      fc.property(backoffArb, retryArb, randomArb, (b, n, r) => {
        const d = retryDelayMs(b, n, r);
        expect(Number.isInteger(d)).toBe(true);
        expect(d).toBeLessThanOrEqual(b.maxMs);
        expect(d).toBeGreaterThanOrEqual((1 - b.jitter) * exponential(b, n) - 0.5);
        expect(d).toBeLessThanOrEqual(exponential(b, n) + 0.5);
      }),
      { numRuns: 500 },
    );
  });

  it('never decreases as the retry number grows, for a fixed random', () => {
    fc.assert(
      fc.property(backoffArb, retryArb, fc.integer({ min: 1, max: 1000 }), randomArb, (b, n, step, r) => {
        expect(retryDelayMs(b, n + step, r)).toBeGreaterThanOrEqual(retryDelayMs(b, n, r));
      }),
      { numRuns: 500 },
    );
  });

  it('reaches maxMs · (1 - jitter) or more once the exponential passes maxMs, even for a factor near 1', () => {
    const b: Backoff = { initialMs: 1000, maxMs: 60_000, factor: 1.0001, jitter: 0 };
    // 1.0001^n passes 60 after about 41,000 retries; a cap on the exponent would stop it early.
    expect(retryDelayMs(b, 100_000, 0)).toBe(60_000);
  });

  it('is a finite number for huge, infinite or NaN retry numbers and any random', () => {
    const odd = [1e6, 1e12, Number.MAX_SAFE_INTEGER, Number.MAX_VALUE, Number.POSITIVE_INFINITY, Number.NaN, Number.NEGATIVE_INFINITY];
    fc.assert(
      fc.property(
        backoffArb,
        fc.constantFrom(...odd),
        fc.oneof(randomArb, fc.constantFrom(Number.NaN, -1, 2, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY)),
        (b, n, r) => {
          const d = retryDelayMs(b, n, r);
          expect(Number.isFinite(d)).toBe(true);
          expect(d).toBeGreaterThanOrEqual(0);
          expect(d).toBeLessThanOrEqual(b.maxMs);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('clamps random into [0, 1] (NaN counts as 0)', () => {
    fc.assert(
      fc.property(backoffArb, retryArb, fc.double({ noNaN: true }), (b, n, r) => {
        const clamped = Math.min(Math.max(r, 0), 1);
        expect(retryDelayMs(b, n, r)).toBe(retryDelayMs(b, n, clamped));
      }),
      { numRuns: 300 },
    );
    expect(retryDelayMs(DEFAULT_BACKOFF, 1, Number.NaN)).toBe(retryDelayMs(DEFAULT_BACKOFF, 1, 0));
  });

  it('initialMs 0 means no delay at any retry', () => {
    const b: Backoff = { initialMs: 0, maxMs: 5000, factor: 10, jitter: 0.5 };
    for (const n of [1, 2, 400, 10_000, Number.POSITIVE_INFINITY]) expect(retryDelayMs(b, n, 0.7)).toBe(0);
  });

  it('jitter 0 is exact and jitter 1 spans [0, base]', () => {
    const b: Backoff = { initialMs: 1000, maxMs: 100_000, factor: 2, jitter: 0 };
    expect(retryDelayMs(b, 4, 0.123)).toBe(8000);
    const full: Backoff = { ...b, jitter: 1 };
    expect(retryDelayMs(full, 4, 0)).toBe(0);
    expect(retryDelayMs(full, 4, 0.5)).toBe(4000);
  });
});

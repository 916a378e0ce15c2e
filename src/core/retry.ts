import type { Backoff } from './types.ts';

/** The backoff a job gets when it does not say: 1 s, doubling, up to 5 min, 20 % jitter. */
export const DEFAULT_BACKOFF: Backoff = { initialMs: 1000, maxMs: 300_000, factor: 2, jitter: 0.2 };

/**
 * Delay before retry number `retry` (1 = the first retry), using "equal jitter": the delay is
 * `base * (1 - jitter) + base * jitter * random`, so it never drops below `(1 - jitter)` of the
 * exponential value (no thundering herd, no zero delays) and never exceeds `maxMs`. The result is
 * rounded to the nearest millisecond. Always a finite number, whatever `retry` and `random` are.
 *
 * @param random a number in [0, 1), injected so the function stays pure; values outside are
 *   clamped and NaN counts as 0.
 */
export function retryDelayMs(backoff: Backoff, retry: number, random: number): number {
  // NaN would poison every step below (Math.max(1, NaN) is NaN), so it counts as the first retry.
  const n = Number.isNaN(retry) ? 1 : Math.max(1, Math.floor(retry));
  // No cap on the exponent: pow overflows to Infinity, which min() turns into maxMs. (Capping the
  // exponent instead would keep a factor close to 1 far below maxMs however many retries.)
  const growth = backoff.factor === 1 ? 1 : Math.pow(backoff.factor, n - 1);
  // initialMs 0 means "no delay" at every retry; 0 * Infinity would otherwise be NaN.
  const exp = backoff.initialMs <= 0 ? 0 : Math.min(backoff.initialMs * growth, backoff.maxMs);
  const base = Number.isFinite(exp) ? exp : backoff.maxMs;
  const r = Number.isNaN(random) ? 0 : Math.min(Math.max(random, 0), 1);
  const jitter = Math.min(Math.max(backoff.jitter, 0), 1);
  const delay = base * (1 - jitter) + base * jitter * r;
  return Math.min(Math.round(delay), backoff.maxMs);
}

import type { Backoff } from './types.ts';

/** The backoff a job gets when it does not say: 1 s, doubling, up to 5 min, 20 % jitter. */
export const DEFAULT_BACKOFF: Backoff = { initialMs: 1000, maxMs: 300_000, factor: 2, jitter: 0.2 };

/**
 * Delay before retry number `retry` (1 = the first retry), using "equal jitter": the delay is
 * `base * (1 - jitter) + base * jitter * random`, so it never drops below `(1 - jitter)` of the
 * exponential value (no thundering herd, no zero delays) and never exceeds `maxMs`.
 *
 * @param random a number in [0, 1), injected so the function stays pure.
 */
export function retryDelayMs(backoff: Backoff, retry: number, random: number): number {
  const n = Math.max(1, Math.floor(retry));
  // Cap the exponent first so that huge retry counts cannot overflow to Infinity.
  const exp = Math.min(backoff.initialMs * Math.pow(backoff.factor, Math.min(n - 1, 1000)), backoff.maxMs);
  const base = Number.isFinite(exp) ? exp : backoff.maxMs;
  const r = Math.min(Math.max(random, 0), 1);
  const delay = base * (1 - backoff.jitter) + base * backoff.jitter * r;
  return Math.min(Math.round(delay), backoff.maxMs);
}

/** Small statistics helpers of the benchmark suite. */

/** The q-quantile (0–1) of `values` by nearest rank; NaN for an empty list. */
export function quantile(values: number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank]!;
}

/** p50/p95/p99/max of a list of latencies in ms. */
export interface Percentiles {
  n: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

/** Summarises `values` as {@link Percentiles}. */
export function percentiles(values: number[]): Percentiles {
  return {
    n: values.length,
    p50: quantile(values, 0.5),
    p95: quantile(values, 0.95),
    p99: quantile(values, 0.99),
    max: values.length === 0 ? Number.NaN : Math.max(...values),
  };
}

/** Rounds to `digits` decimals (for the JSON report). */
export function round(n: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

/** The median of `values` (the mean of the middle two for an even count); NaN for an empty list. */
export function median(values: number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Counts of things that went wrong: a combined run reports the worst run's, not the median. */
const WORST_OF = new Set(['errors', 'missing', 'submitErrors']);
/** Left as the first run's: a profile summary's figures belong to its own frames. */
const FIRST_OF = new Set(['profile']);

/**
 * Several runs of the same measurements as one: every number the median of the runs' numbers at
 * the same place (`errors`, `submitErrors` and `missing` the largest), arrays element by element
 * (as long as the shortest), objects key by key; anything else (names, flags, file paths,
 * profile summaries) is the first run's.
 * The runs must have the shape of the first; a place a run lacks is left out of its median.
 */
export function medianOfRuns<T>(runs: readonly T[]): T {
  return combine(runs as unknown[], '') as T;
}

function combine(values: unknown[], key: string): unknown {
  const first = values[0];
  if (FIRST_OF.has(key)) return first;
  if (typeof first === 'number') {
    const nums = values.filter((v): v is number => typeof v === 'number' && !Number.isNaN(v));
    if (nums.length === 0) return first;
    return WORST_OF.has(key) ? Math.max(...nums) : median(nums);
  }
  if (Array.isArray(first)) {
    const arrays = values.filter(Array.isArray);
    const n = Math.min(...arrays.map((a) => a.length));
    return Array.from({ length: n }, (_, i) => combine(arrays.map((a) => a[i]), key));
  }
  if (first !== null && typeof first === 'object') {
    const objects = values.filter((v): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v));
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(first)) {
      const at = objects.filter((o) => Object.hasOwn(o, k)).map((o) => o[k]);
      // defineProperty, not assignment: an own key `__proto__` (JSON may hold one) stays a key.
      Object.defineProperty(out, k, { value: combine(at, k), enumerable: true, writable: true, configurable: true });
    }
    return out;
  }
  return first;
}

/** Options of the benchmark suite, with the full and `--quick` defaults. */
import type { StoreKind } from './stores.ts';

/** Sizes and settings of one benchmark run. */
export interface BenchOptions {
  /** Stores to measure. Default: sqlite, plus postgres when reachable. */
  stores: StoreKind[];
  /** PostgreSQL server for the postgres store (a fresh schema per scenario). */
  pgUrl: string;
  /** Single-job submits (one per request). Default 20,000. */
  singleJobs: number;
  /** Concurrent clients of the single-job submit. Default 50. */
  connections: number;
  /**
   * Jobs submitted, unmeasured, before each measured submit run (single and batches), the same
   * way and to the same server, into their own queue that is then cancelled and deleted: the
   * figures are those of a server whose code is compiled and optimised, as the pickup runs'
   * warm-up does for latency. Default 5,000 (quick 500); 0 for none.
   */
  submitWarmup: number;
  /** Jobs per batch request. Default 1,000. */
  batchSize: number;
  /** Batch requests in flight. Default 4. */
  batchConcurrency: number;
  /** Jobs submitted in batches, then drained by the workers. Default 100,000. */
  drainJobs: number;
  /** Worker processes. Default 2. */
  workers: number;
  /** Slots per worker process. Default 64. */
  capacity: number;
  /** Assignments each worker process takes beyond its slots (`baton worker --prefetch`). Default 0. */
  prefetch: number;
  /** Submit rates of the pickup-latency runs, per second. Default 200 and 1,000. */
  pickupRates: number[];
  /** Seconds each pickup rate runs (the first second is warm-up, not counted). Default 10. */
  pickupSeconds: number;
  /**
   * Seconds of unmeasured submits at the highest pickup rate before the first measured rate, so
   * the server's code is compiled and optimised and its caches are warm: the figures are those of
   * a server that has been running, not of its first seconds. Default 5 (quick 2); 0 for none.
   */
  pickupWarmupSeconds: number;
  /** The large backlog of scenario 4 (0 skips the scenario). Default 1,000,000. */
  big: number;
  /** The small backlog it is compared with. Default 1,000. */
  bigBase: number;
  /** Jobs drained out of each backlog by the workers. Default 50,000 (at most the backlog). */
  bigDrain: number;
  /** Claim rounds timed per backlog. Default 500. */
  claimRounds: number;
  /**
   * Whole runs of the suite, one after another; the figures are the median of the runs' (the
   * reference figures of issue 6 are medians of 3). Default 1.
   */
  runs: number;
  /** Scenarios to run. Default all. */
  scenarios: ScenarioName[];
  /** Run each server under `node --cpu-prof` and summarise the profile. */
  profile: boolean;
  /** Directory of the JSON report (and profiles). Default bench-results. */
  outDir: string;
  /** Draw no progress bars and print no table (the smoke test). */
  quiet: boolean;
}

/** The scenarios, in the order they run. */
export const SCENARIOS = ['submit', 'minimal', 'drain', 'pickup', 'big'] as const;
/** One scenario of the suite. */
export type ScenarioName = (typeof SCENARIOS)[number];

/** Full-size defaults (the figures in BENCHMARKS.md). */
export const FULL: Omit<BenchOptions, 'stores' | 'pgUrl' | 'outDir' | 'quiet' | 'profile' | 'scenarios' | 'runs'> = {
  singleJobs: 20_000,
  connections: 50,
  submitWarmup: 5_000,
  batchSize: 1_000,
  batchConcurrency: 4,
  drainJobs: 100_000,
  workers: 2,
  capacity: 64,
  prefetch: 0,
  pickupRates: [200, 1_000],
  pickupSeconds: 10,
  pickupWarmupSeconds: 5,
  big: 1_000_000,
  bigBase: 1_000,
  bigDrain: 50_000,
  claimRounds: 500,
};

/** `--quick`: every scenario, small enough for about a minute per store. */
export const QUICK: typeof FULL = {
  ...FULL,
  singleJobs: 2_000,
  submitWarmup: 500,
  drainJobs: 10_000,
  pickupSeconds: 3,
  pickupWarmupSeconds: 2,
  big: 50_000,
  bigDrain: 5_000,
  claimRounds: 100,
};

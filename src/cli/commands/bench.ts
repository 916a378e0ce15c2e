/**
 * `baton bench` (also `npm run bench`): runs the benchmark suite in src/bench against real
 * server and worker processes on loopback. Never part of `npm test`.
 */
import type { Command } from 'commander';
import { parseIntFlag, parseList, usage } from '../context.ts';

/** Flags of `baton bench`. */
interface BenchFlags {
  quick?: boolean;
  stores?: string;
  pgUrl: string;
  scenarios?: string;
  singleJobs?: string;
  connections?: string;
  submitWarmup?: string;
  batchSize?: string;
  batchConcurrency?: string;
  drainJobs?: string;
  workers?: string;
  capacity?: string;
  prefetch?: string;
  pickupRates?: string;
  pickupSeconds?: string;
  pickupWarmupSeconds?: string;
  big?: string;
  bigBase?: string;
  bigDrain?: string;
  claimRounds?: string;
  profile?: boolean;
  runs?: string;
  out: string;
}

/** Registers `baton bench` on the program. */
export function registerBench(program: Command): void {
  program
    .command('bench')
    .description('run the benchmark suite: real server and worker processes on loopback (see BENCHMARKS.md)')
    .option('--quick', 'small sizes: every scenario in about a minute per store')
    .option('--stores <list>', 'stores to measure: sqlite,postgres (default: sqlite, and postgres when reachable)')
    .option('--pg-url <url>', 'PostgreSQL server for the postgres store; each scenario gets a fresh schema, dropped after', 'postgres://postgres@127.0.0.1:5432/test')
    .option('--scenarios <list>', 'submit,minimal,drain,pickup,big (default: all)')
    .option('--single-jobs <n>', 'jobs submitted one per request (default 20000; quick 2000)')
    .option('--connections <n>', 'concurrent clients of the one-per-request submit (default 50)')
    .option('--submit-warmup <n>', 'jobs submitted unmeasured (then cancelled and deleted) before each measured submit run (default 5000; quick 500; 0 for none)')
    .option('--batch-size <n>', 'jobs per batch request (default 1000)')
    .option('--batch-concurrency <n>', 'batch requests in flight (default 4)')
    .option('--drain-jobs <n>', 'jobs submitted in batches and then drained (default 100000; quick 10000)')
    .option('--workers <n>', 'worker processes (default 2)')
    .option('--capacity <n>', 'slots per worker process (default 64)')
    .option('--prefetch <n>', 'assignments each worker process takes beyond its slots (default 0)')
    .option('--pickup-rates <list>', 'submit rates of the pickup-latency runs, per second (default 200,1000)')
    .option('--pickup-seconds <n>', 'seconds per pickup rate, the first one is warm-up (default 10; quick 3)')
    .option('--pickup-warmup-seconds <n>', 'unmeasured seconds at the highest pickup rate before the first (default 5; quick 2; 0 for none)')
    .option('--big <n>', 'pending jobs of the large backlog, 0 to skip (default 1000000; quick 50000)')
    .option('--big-base <n>', 'pending jobs of the small backlog it is compared with (default 1000)')
    .option('--big-drain <n>', 'jobs drained out of each backlog (default 50000; quick 5000)')
    .option('--claim-rounds <n>', 'claim rounds timed per backlog (default 500; quick 100)')
    .option('--runs <n>', 'whole runs one after another; the table shows the median of each figure and every run\'s value (default 1)')
    .option('--profile', 'run each server under node --cpu-prof and summarise the top self-time frames')
    .option('--out <dir>', 'directory of the JSON report (and profiles)', 'bench-results')
    .action(async (flags: BenchFlags) => {
      const { FULL, QUICK, SCENARIOS, runBench } = await import('../../bench/index.ts');
      const { postgresReachable } = await import('../../bench/stores.ts');
      const base = flags.quick ? QUICK : FULL;
      const int = (name: string, raw: string | undefined, dflt: number, min = 1) => (raw === undefined ? dflt : parseIntFlag(name, raw, min));
      const stores = parseList(flags.stores) ?? ['sqlite', ...((await postgresReachable(flags.pgUrl)) ? ['postgres'] : [])];
      for (const s of stores) if (s !== 'sqlite' && s !== 'postgres') throw usage(`--stores: unknown store "${s}" (sqlite or postgres)`, '--stores');
      if (stores.includes('postgres') && flags.stores !== undefined && !(await postgresReachable(flags.pgUrl))) {
        throw usage(`--stores postgres: no PostgreSQL answers at ${flags.pgUrl.replace(/\/\/([^:/@]+):[^@]*@/, '//$1:***@')} (set --pg-url)`, '--pg-url');
      }
      const scenarios = parseList(flags.scenarios) ?? [...SCENARIOS];
      for (const s of scenarios) if (!(SCENARIOS as readonly string[]).includes(s)) throw usage(`--scenarios: unknown scenario "${s}" (one of ${SCENARIOS.join(', ')})`, '--scenarios');
      const rates = (parseList(flags.pickupRates) ?? base.pickupRates.map(String)).map((r) => parseIntFlag('--pickup-rates', r, 1));
      await runBench({
        stores: stores as ('sqlite' | 'postgres')[],
        pgUrl: flags.pgUrl,
        scenarios: scenarios as (typeof SCENARIOS)[number][],
        singleJobs: int('--single-jobs', flags.singleJobs, base.singleJobs),
        connections: int('--connections', flags.connections, base.connections),
        submitWarmup: int('--submit-warmup', flags.submitWarmup, base.submitWarmup, 0),
        batchSize: int('--batch-size', flags.batchSize, base.batchSize),
        batchConcurrency: int('--batch-concurrency', flags.batchConcurrency, base.batchConcurrency),
        drainJobs: int('--drain-jobs', flags.drainJobs, base.drainJobs),
        workers: int('--workers', flags.workers, base.workers),
        capacity: int('--capacity', flags.capacity, base.capacity),
        prefetch: int('--prefetch', flags.prefetch, base.prefetch, 0),
        pickupRates: rates,
        pickupSeconds: int('--pickup-seconds', flags.pickupSeconds, base.pickupSeconds, 2),
        pickupWarmupSeconds: int('--pickup-warmup-seconds', flags.pickupWarmupSeconds, base.pickupWarmupSeconds, 0),
        big: int('--big', flags.big, base.big, 0),
        bigBase: int('--big-base', flags.bigBase, base.bigBase),
        bigDrain: int('--big-drain', flags.bigDrain, base.bigDrain),
        claimRounds: int('--claim-rounds', flags.claimRounds, base.claimRounds),
        profile: flags.profile === true,
        runs: int('--runs', flags.runs, 1),
        outDir: flags.out,
        quiet: false,
      });
    });
}

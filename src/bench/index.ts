/**
 * Baton's benchmark suite (`npm run bench`, `baton bench`): real server and worker processes on
 * loopback, for each store: submit throughput (one job per request, and batches), drain
 * throughput, pickup latency at steady rates, and claim latency / drain with a large backlog,
 * each with the server's peak RSS. Prints a table and writes bench-results/<timestamp>.json.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { BenchOptions } from './options.ts';
import { killAllBaton } from './procs.ts';
import { formatTable, machineInfo, type MachineInfo, type StoreResults } from './report.ts';
import { medianOfRuns } from './stats.ts';
import { scenarioBacklog, scenarioDrain, scenarioPickup, scenarioSubmit, scenarioSubmitMinimal, type ScenarioEnv } from './scenarios.ts';
import { StampListener } from './stamps.ts';
import { cleanupAllStores } from './stores.ts';

export { FULL, QUICK, SCENARIOS, type BenchOptions, type ScenarioName } from './options.ts';
export type { StoreResults } from './report.ts';

/** A finished run. */
export interface BenchReport {
  startedAt: string;
  machine: MachineInfo;
  options: BenchOptions;
  /** The figures: with several runs (`runs`), each the median of the runs' (medianOfRuns). */
  results: StoreResults[];
  /** Each run's own figures, in order (one entry for a single run). */
  runs: StoreResults[][];
  /** Where the JSON report was written. */
  file: string;
  /** The table as printed. */
  table: string;
}

/** Runs the suite with `opts` and writes the JSON report; prints the table unless quiet. */
export async function runBench(opts: BenchOptions): Promise<BenchReport> {
  const startedAt = new Date().toISOString();
  const runDir = path.resolve(opts.outDir);
  await mkdir(runDir, { recursive: true });
  const udp = await StampListener.open();
  const runs: StoreResults[][] = [];
  // An interrupted run must not leave servers and workers behind.
  const onSignal = () => void killAllBaton().then(cleanupAllStores).finally(() => process.exit(130));
  process.once('SIGINT', onSignal);
  try {
    // Whole runs one after another, each every store and scenario in order, as `npm run bench`
    // run that many times would: the host's load drifts over minutes, and each run meets it.
    for (let i = 0; i < opts.runs; i++) {
      const results: StoreResults[] = [];
      runs.push(results);
      for (const kind of opts.stores) {
        const env: ScenarioEnv = { kind, opts, runDir, udp };
        const r: StoreResults = { store: kind };
        results.push(r);
        if (opts.scenarios.includes('submit')) r.submit = await scenarioSubmit(env);
        if (opts.scenarios.includes('minimal')) r.submitMinimal = await scenarioSubmitMinimal(env);
        if (opts.scenarios.includes('drain')) r.drain = await scenarioDrain(env);
        if (opts.scenarios.includes('pickup')) r.pickup = await scenarioPickup(env);
        if (opts.scenarios.includes('big') && opts.big > 0) {
          r.backlog = [];
          for (const pending of [opts.bigBase, opts.big]) r.backlog.push(await scenarioBacklog(env, pending));
        }
      }
    }
  } finally {
    process.removeListener('SIGINT', onSignal);
    udp.close();
    await killAllBaton();
  }
  const results = runs.length === 1 ? runs[0]! : medianOfRuns(runs);
  const table = formatTable(results, opts, runs);
  const file = path.join(runDir, `${startedAt.replace(/[:.]/g, '-')}.json`);
  const machine = machineInfo();
  await writeFile(file, JSON.stringify({ startedAt, machine, options: opts, results, ...(runs.length > 1 ? { runs } : {}) }, null, 2) + '\n');
  if (!opts.quiet) process.stdout.write(`\n${table}\n\nmachine: ${machine.cpus} cpus (${machine.cpuModel}), ${machine.memGiB} GiB, node ${machine.node}\nresults: ${file}\n`);
  return { startedAt, machine, options: opts, results, runs, file, table };
}

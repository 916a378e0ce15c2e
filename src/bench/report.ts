/**
 * The benchmark's outputs: a table on stdout, with the issue's target next to each figure, and
 * the full results as JSON.
 */
import os from 'node:os';
import type { BacklogResult, DrainResult, MinimalSubmitResult, PickupRate, ServerMemory, ServerRun } from './scenarios.ts';
import type { SubmitResult } from './load.ts';
import type { StoreKind } from './stores.ts';

/** Everything measured for one store. */
export interface StoreResults {
  store: StoreKind;
  submit?: ServerRun<SubmitResult>;
  /** The submits again with `Prefer: return=minimal`. */
  submitMinimal?: ServerRun<MinimalSubmitResult>;
  drain?: DrainResult;
  pickup?: ServerRun<PickupRate[]>;
  backlog?: BacklogResult[];
}

/** The machine a run happened on. */
export interface MachineInfo {
  cpus: number;
  cpuModel: string;
  memGiB: number;
  node: string;
  platform: string;
}

/** Facts about this machine for the report. */
export function machineInfo(): MachineInfo {
  const cpus = os.cpus();
  return { cpus: cpus.length, cpuModel: cpus[0]?.model ?? 'unknown', memGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version, platform: `${os.type()} ${os.release()}` };
}

type Row = [string, string, string, string];

/** A table row, and the one number of it that is compared across runs (throughput, p99, RSS). */
interface TableRow {
  cells: Row;
  key: number | undefined;
}

/** What the table's labels take from the options of the run. */
export interface TableOptions {
  connections: number;
  batchSize: number;
}

const f0 = (n: number | undefined) => (n === undefined || Number.isNaN(n) ? '-' : Math.round(n).toLocaleString('en-US'));
const f1 = (n: number | undefined) => (n === undefined || Number.isNaN(n) ? '-' : n.toFixed(1));
const mem = (m: ServerMemory | null | undefined) => (m ? `${f0(m.peakMiB)} MiB` : '-');

/** Table rows (measure, figure, target, server peak RSS) for one store. */
export function rowsOf(r: StoreResults, o: TableOptions): TableRow[] {
  const rows: TableRow[] = [];
  const add = (key: number | undefined, ...cells: Row) => rows.push({ cells, key });
  const s = r.store;
  const batches = `batches of ${f0(o.batchSize)}`;
  if (r.submit) add(r.submit.result.jobsPerSec, `${s}: submit, 1 job/request, ${o.connections} clients`, `${f0(r.submit.result.jobsPerSec)} jobs/s (${r.submit.result.errors} errors)`, '>= 8,000', mem(r.submit.memory));
  const batchTarget = s === 'sqlite' ? '>= 100,000' : '>= 60,000';
  const m = r.submitMinimal;
  if (m) add(m.result.single.jobsPerSec, `${s}: submit, 1 job/request, ${o.connections} clients, minimal answer`, `${f0(m.result.single.jobsPerSec)} jobs/s (${m.result.single.errors} errors)`, '>= 8,000', mem(m.memory));
  if (r.drain) add(r.drain.batch.result.jobsPerSec, `${s}: submit, ${batches}`, `${f0(r.drain.batch.result.jobsPerSec)} jobs/s`, batchTarget, mem(r.drain.batch.memory));
  if (m) add(m.result.batch.jobsPerSec, `${s}: submit, ${batches}, minimal answer`, `${f0(m.result.batch.jobsPerSec)} jobs/s (${m.result.batch.errors} errors)`, batchTarget, mem(m.memory));
  if (r.drain) {
    add(r.drain.drain.result.jobsPerSec, `${s}: drain ${f0(r.drain.drain.result.completed)} no-op jobs`, `${f0(r.drain.drain.result.jobsPerSec)} jobs/s`, '>= 25,000', mem(r.drain.drain.memory));
    const cpu = r.drain.cpu;
    if (cpu) add(cpu.serverUsPerJob, `${s}: drain CPU per job, server / workers`, `${f0(cpu.serverUsPerJob)} / ${f0(cpu.workersUsPerJob)} µs`, '', '');
  }
  for (const p of r.pickup?.result ?? []) {
    const target = p.rate >= 1000 ? '<= 10' : p.rate <= 200 ? '<= 5' : '-';
    add(
      p.fromSubmit.p99,
      `${s}: pickup at ${p.rate}/s p50/p95/p99 ms`,
      `${f1(p.fromSubmit.p50)} / ${f1(p.fromSubmit.p95)} / ${f1(p.fromSubmit.p99)}${p.missing ? ` (${p.missing} missing)` : ''}; ${f0((p.assignedAtSubmit ?? 0) * 100)} % assigned at submit`,
      `p99 ${target}`,
      mem(p.memory),
    );
  }
  const base = r.backlog?.[0];
  for (const b of r.backlog ?? []) {
    const ratio = base && b !== base ? ` (${(b.claims.claim.p99 / base.claims.claim.p99).toFixed(2)}x)` : '';
    add(b.claims.claim.p99, `${s}: claim of ${b.claims.slots}, ${f0(b.pending)} pending, p50/p99 ms`, `${f1(b.claims.claim.p50)} / ${f1(b.claims.claim.p99)}${ratio}`, b === base ? '(base)' : 'p99 <= 1.5x base', '-');
    add(b.drain.result.jobsPerSec, `${s}: drain ${f0(b.drain.result.completed)} of ${f0(b.pendingAtDrain)} pending`, `${f0(b.drain.result.jobsPerSec)} jobs/s`, b === base ? '(base)' : 'RSS flat', mem(b.drain.memory));
    add(b.drain.memoryAtStart?.peakMiB, `${s}: server RSS at start, ${f0(b.pending)} pending`, mem(b.drain.memoryAtStart), b === base ? '(base)' : 'RSS flat', mem(b.drain.memoryAtStart));
  }
  return rows;
}

/**
 * The table for all stores, as text. With several runs, `results` is their median
 * (medianOfRuns) and a last column lists each run's value of the row's main figure — the
 * throughput, the p99, the claim p99, the RSS — so the spread is in sight.
 */
export function formatTable(results: StoreResults[], o: TableOptions, runs: StoreResults[][] = []): string {
  const main = results.flatMap((r) => rowsOf(r, o));
  const perRun = runs.length > 1 ? runs.map((run) => run.flatMap((r) => rowsOf(r, o))) : [];
  const fmt = (n: number | undefined) => (n === undefined || Number.isNaN(n) ? '-' : n >= 100 ? f0(n) : f1(n));
  const header = ['measure', runs.length > 1 ? `figure (median of ${runs.length} runs)` : 'figure', 'target', 'server peak RSS'];
  const rows: string[][] = [perRun.length > 0 ? [...header, 'each run'] : header];
  main.forEach((row, i) => rows.push(perRun.length > 0 ? [...row.cells, perRun.map((run) => fmt(run[i]?.key)).join(' / ')] : row.cells));
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(rows[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)].join('\n');
}

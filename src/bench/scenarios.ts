/**
 * The four scenarios of the suite, each on fresh stores and fresh server processes (so each
 * server's peak RSS belongs to one run): submit, drain, pickup latency, and a large backlog.
 */
import { mkdir } from 'node:fs/promises';
import { BatonError } from '../core/errors.ts';
import path from 'node:path';
import { loadPending, measureClaims, withStore, type ClaimResult } from './claim.ts';
import { clearQueue, pacedSubmits, submitBatches, submitSingle, type SubmitResult } from './load.ts';
import { drainWindow, firstAttemptTimes, jobCounts, type DrainWindow } from './measure.ts';
import type { BenchOptions } from './options.ts';
import { cpuMsOf, memoryOf, startServerProcess, startWorkerProcesses, stopBaton, until, type BatonProcess, type ServerProcess } from './procs.ts';
import { newestProfile, summariseProfile, type ProfileSummary } from './profile.ts';
import { Progress } from './progress.ts';
import { StampListener } from './stamps.ts';
import { percentiles, type Percentiles } from './stats.ts';
import { makeStore, settleDisk, type StoreInstance, type StoreKind } from './stores.ts';

/** What every scenario shares. */
export interface ScenarioEnv {
  kind: StoreKind;
  opts: BenchOptions;
  /** Directory of this run's report and profiles. */
  runDir: string;
  udp: StampListener;
}

/** Peak RSS of a server process over one run, MiB. */
export interface ServerMemory {
  peakMiB: number;
  rssMiB: number;
}

/** A measured server run, with its memory and (with --profile) its profile summary. */
export interface ServerRun<T> {
  result: T;
  /** Memory once the server was ready, before the load: what the store's size costs at rest. */
  memoryAtStart: ServerMemory | null;
  /** Memory at the end of the run; peakMiB is the run's peak. */
  memory: ServerMemory | null;
  profile: ProfileSummary | null;
}

/**
 * Starts a server on `store`, runs `fn`, reads the server's memory, stops it and summarises its
 * profile. `label` names the profile directory.
 */
async function withServer<T>(env: ScenarioEnv, store: StoreInstance, label: string, fn: (srv: ServerProcess) => Promise<T>): Promise<ServerRun<T>> {
  const cpuProfDir = env.opts.profile ? path.join(env.runDir, 'profiles', `${env.kind}-${label}`) : undefined;
  if (cpuProfDir) await mkdir(cpuProfDir, { recursive: true });
  const srv = await startServerProcess({ dataDir: store.dataDir, store: store.store, cpuProfDir });
  const memoryAtStart = memoryOf(srv.pid);
  try {
    const result = await fn(srv);
    return { result, memoryAtStart, memory: memoryOf(srv.pid), profile: null };
  } finally {
    await stopBaton(srv);
  }
}

/** With --profile, the directory for the worker processes' profiles (written when they exit). */
async function workerProfileDir(env: ScenarioEnv): Promise<string | undefined> {
  if (!env.opts.profile) return undefined;
  const dir = path.join(env.runDir, 'profiles', `${env.kind}-workers`);
  await mkdir(dir, { recursive: true });
  return dir;
}

/** Adds the profile summary of the newest profile under the run's label (when profiling). */
async function withProfile<T>(env: ScenarioEnv, label: string, run: ServerRun<T>): Promise<ServerRun<T>> {
  if (!env.opts.profile) return run;
  const file = await newestProfile(path.join(env.runDir, 'profiles', `${env.kind}-${label}`));
  return { ...run, profile: file ? await summariseProfile(file) : null };
}

async function fresh<T>(env: ScenarioEnv, label: string, fn: (store: StoreInstance) => Promise<T>): Promise<T> {
  await settleDisk(env.kind, env.opts.pgUrl);
  const store = await makeStore(env.kind, label, env.opts.pgUrl);
  try {
    return await fn(store);
  } finally {
    await store.cleanup();
  }
}

const bar = (env: ScenarioEnv, what: string, total: number) => new Progress(`${env.kind} ${what}`, total, env.opts.quiet);

/** The queue of the warm-up submits; cancelled and deleted before the measured run. */
const WARMUP_QUEUE = 'bench-warmup';

/**
 * `opts.submitWarmup` jobs submitted to `srv` the way the measured run will submit (one per
 * request over the same connections, or in batches), unmeasured, then cancelled and deleted. A
 * fresh server spends its first seconds compiling and optimising: 20,000 single submits ran at
 * 10,960 and 12,118 jobs/s (SQLite) and 6,507 and 7,087 (PostgreSQL) from a cold start, 60,000
 * at 13,784 and 13,233, 8,440 and 8,280 (BENCHMARKS.md).
 */
async function warmUp(env: ScenarioEnv, srv: ServerProcess, how: 'single' | 'batches', minimal = false): Promise<void> {
  const n = env.opts.submitWarmup;
  if (n <= 0) return;
  const p = bar(env, `warm-up: ${how === 'single' ? `1/req x${env.opts.connections}` : `batches of ${env.opts.batchSize}`}`, n);
  const common = { total: n, progress: p, queue: WARMUP_QUEUE, minimal };
  const r = how === 'single' ? await submitSingle(srv, { ...common, connections: env.opts.connections }) : await submitBatches(srv, { ...common, batchSize: env.opts.batchSize, concurrency: env.opts.batchConcurrency });
  await clearQueue(srv, WARMUP_QUEUE);
  p.finish(`${Math.round(r.jobsPerSec)} jobs/s, not counted`);
}

/** What scenario 1b measured: the two submit figures again, with the short answer. */
export interface MinimalSubmitResult {
  single: SubmitResult;
  batch: SubmitResult;
}

/**
 * Scenario 1b: the same loads as the single submits and the batches of scenarios 1 and 2, asking
 * for the short answer (`Prefer: return=minimal`: `{id, status}` per job instead of the whole
 * job), one after the other on one fresh server.
 */
export async function scenarioSubmitMinimal(env: ScenarioEnv): Promise<ServerRun<MinimalSubmitResult>> {
  return fresh(env, 'submit-minimal', async (store) => {
    const run = await withServer(env, store, 'submit-minimal', async (srv) => {
      await warmUp(env, srv, 'single', true);
      const ps = bar(env, `submit 1/req x${env.opts.connections}, minimal answer`, env.opts.singleJobs);
      const single = await submitSingle(srv, { total: env.opts.singleJobs, connections: env.opts.connections, progress: ps, minimal: true });
      ps.finish(`${Math.round(single.jobsPerSec)} jobs/s`);
      await warmUp(env, srv, 'batches', true);
      const pb = bar(env, `submit batches of ${env.opts.batchSize}, minimal answer`, env.opts.drainJobs);
      const batch = await submitBatches(srv, { total: env.opts.drainJobs, batchSize: env.opts.batchSize, concurrency: env.opts.batchConcurrency, progress: pb, minimal: true });
      pb.finish(`${Math.round(batch.jobsPerSec)} jobs/s`);
      return { single, batch };
    });
    return withProfile(env, 'submit-minimal', run);
  });
}

/** Scenario 1: one job per request with N connections, on an empty server. */
export async function scenarioSubmit(env: ScenarioEnv): Promise<ServerRun<SubmitResult>> {
  return fresh(env, 'submit', async (store) => {
    const run = await withServer(env, store, 'submit', async (srv) => {
      await warmUp(env, srv, 'single');
      const p = bar(env, `submit 1/req x${env.opts.connections}`, env.opts.singleJobs);
      const r = await submitSingle(srv, { total: env.opts.singleJobs, connections: env.opts.connections, progress: p });
      p.finish(`${Math.round(r.jobsPerSec)} jobs/s`);
      return r;
    });
    return withProfile(env, 'submit', run);
  });
}

/** Result of scenario 2. */
export interface DrainResult {
  batch: ServerRun<SubmitResult>;
  drain: ServerRun<DrainWindow>;
  /** CPU time per job of the server and of all worker processes together; null if unreadable. */
  cpu: DrainCpu | null;
}

/** CPU time per drained job, µs (user + system, from /proc). */
export interface DrainCpu {
  serverUsPerJob: number;
  workersUsPerJob: number;
}

/**
 * Starts `workers` processes, waits until the handlers have started `target` jobs (heard over
 * UDP), and returns the workers (still running). `progress` follows the starts.
 */
async function runWorkersUntil(
  env: ScenarioEnv,
  srv: ServerProcess,
  target: number,
  progress: Progress,
  deadlineMs: number,
  onConnected: (workers: BatonProcess[]) => void = () => {},
): Promise<BatonProcess[]> {
  env.udp.reset();
  const workers = await startWorkerProcesses(srv, { count: env.opts.workers, capacity: env.opts.capacity, prefetch: env.opts.prefetch, udpPort: env.udp.port, cpuProfDir: await workerProfileDir(env) });
  onConnected(workers);
  const tick = setInterval(() => progress.set(env.udp.started), 200);
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      env.udp.waitFor(target),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new BatonError('BATON_E_WAIT_TIMEOUT', `benchmark: ${env.udp.started} of ${target} jobs started after ${deadlineMs} ms`)), deadlineMs);
      }),
    ]);
  } finally {
    clearInterval(tick);
    clearTimeout(timer);
  }
  return workers;
}

/**
 * Scenario 2: `drainJobs` submitted in batches of `batchSize` (the batch submit figure), then a
 * restarted server (fresh peak RSS) and the worker processes drain them all.
 */
export async function scenarioDrain(env: ScenarioEnv): Promise<DrainResult> {
  return fresh(env, 'drain', async (store) => {
    const n = env.opts.drainJobs;
    const batch = await withProfile(env, 'batch', await withServer(env, store, 'batch', async (srv) => {
      await warmUp(env, srv, 'batches');
      const pb = bar(env, `submit batches of ${env.opts.batchSize}`, n);
      const r = await submitBatches(srv, { total: n, batchSize: env.opts.batchSize, concurrency: env.opts.batchConcurrency, progress: pb });
      pb.finish(`${Math.round(r.jobsPerSec)} jobs/s`);
      return r;
    }));
    const pd = bar(env, `drain ${env.opts.workers}x${env.opts.capacity} slots`, n);
    let cpu: DrainCpu | null = null;
    const drain = await withServer(env, store, 'drain', async (srv) => {
      // CPU is counted from the moment every worker is connected (start-up excluded).
      let before: { server: number | null; workers: (number | null)[] } = { server: null, workers: [] };
      const workers = await runWorkersUntil(env, srv, n, pd, Math.max(120_000, n * 2), (ws) => {
        before = { server: cpuMsOf(srv.pid), workers: ws.map((w) => cpuMsOf(w.child.pid!)) };
      });
      await until('every job to be completed', async () => ((await jobCounts(srv)).completed ?? 0) >= n, 120_000, 100);
      cpu = cpuPerJob(before, { server: cpuMsOf(srv.pid), workers: workers.map((w) => cpuMsOf(w.child.pid!)) }, n);
      await Promise.all(workers.map((w) => stopBaton(w)));
      return drainWindow(srv);
    });
    pd.finish(`${Math.round(drain.result.jobsPerSec)} jobs/s`);
    return { batch, drain: await withProfile(env, 'drain', drain), cpu };
  });
}

/**
 * CPU time per drained job, µs, of the server and of the workers together, between two readings
 * (from every worker connected to the last completion seen; the progress polls are included).
 */
function cpuPerJob(a: { server: number | null; workers: (number | null)[] }, b: { server: number | null; workers: (number | null)[] }, jobs: number): DrainCpu | null {
  const all = [a.server, b.server, ...a.workers, ...b.workers];
  if (all.some((x) => x === null) || a.workers.length !== b.workers.length) return null;
  const sum = (xs: (number | null)[]) => xs.reduce<number>((t, x) => t + x!, 0);
  return { serverUsPerJob: ((b.server! - a.server!) * 1000) / jobs, workersUsPerJob: ((sum(b.workers) - sum(a.workers)) * 1000) / jobs };
}

/** Pickup latency at one submit rate. */
export interface PickupRate {
  rate: number;
  achievedRate: number;
  jobs: number;
  /** Stamps never heard (handler not started within the wait, or a datagram lost). */
  missing: number;
  submitErrors: number;
  /** Client send → handler start, ms (warm-up second excluded). */
  fromSubmit: Percentiles;
  /** Server createdAt → handler start, ms. */
  fromCreated: Percentiles;
  /** POST /v1/jobs response time, ms. */
  submitLatency: Percentiles;
  /** Share of the counted jobs assigned in their insert (the submit fast path), 0–1. */
  assignedAtSubmit: number;
  /**
   * Where the slowest 1 % of pickups (by fromSubmit, at most 100 jobs) spent their time, medians
   * in ms: client send → server createdAt (request and submit commit), createdAt → assignment
   * (dispatch round and its commit, server clock), assignment → handler start (push over the
   * WebSocket and the worker). Server timestamps have 1 ms resolution.
   */
  tail: { jobs: number; toCreated: number; toAssigned: number; toStart: number } | null;
  memory: ServerMemory | null;
}

/** Scenario 3: pickup latency under open-loop submits at each rate, workers idle and waiting. */
export async function scenarioPickup(env: ScenarioEnv): Promise<ServerRun<PickupRate[]>> {
  return fresh(env, 'pickup', async (store) => {
    const run = await withServer(env, store, 'pickup', async (srv) => {
      const workers = await startWorkerProcesses(srv, { count: env.opts.workers, capacity: env.opts.capacity, prefetch: env.opts.prefetch, udpPort: env.udp.port, cpuProfDir: await workerProfileDir(env) });
      const out: PickupRate[] = [];
      if (env.opts.pickupWarmupSeconds > 0) {
        // Warm-up, not measured: a fresh server compiles and optimises its hot code during its
        // first thousands of requests (stalls of up to ~150 ms were seen in the first seconds).
        const rate = Math.max(...env.opts.pickupRates);
        const p = bar(env, `pickup warm-up at ${rate}/s`, Math.round(rate * env.opts.pickupWarmupSeconds));
        const sub = await pacedSubmits(srv, { rate, durationMs: env.opts.pickupWarmupSeconds * 1000, progress: p });
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([env.udp.waitForStamps(sub.jobs.map((j) => j.id)), new Promise((r) => (timer = setTimeout(r, 10_000)))]);
        clearTimeout(timer);
        p.finish('warm');
      }
      for (const rate of env.opts.pickupRates) {
        env.udp.reset();
        const p = bar(env, `pickup at ${rate}/s`, Math.round(rate * env.opts.pickupSeconds));
        const sub = await pacedSubmits(srv, { rate, durationMs: env.opts.pickupSeconds * 1000, progress: p });
        // Bounded wait for the last stamps; a job never started shows up as `missing`.
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([env.udp.waitForStamps(sub.jobs.map((j) => j.id)), new Promise((r) => (timer = setTimeout(r, 10_000)))]);
        clearTimeout(timer);
        const warm = sub.jobs.length === 0 ? 0 : Math.min(...sub.jobs.map((j) => j.sentAt)) + 1000;
        const counted = sub.jobs.filter((j) => j.sentAt >= warm);
        const fromSubmit: number[] = [];
        const fromCreated: number[] = [];
        const heard: { job: (typeof counted)[number]; start: number }[] = [];
        let missing = 0;
        for (const j of counted) {
          const s = env.udp.stamps.get(j.id);
          if (!s) {
            missing++;
            continue;
          }
          fromSubmit.push(s.s - j.sentAt);
          fromCreated.push(s.s - j.createdAt);
          heard.push({ job: j, start: s.s });
        }
        const tail = await tailBreakdown(srv, heard);
        const r: PickupRate = {
          rate, achievedRate: sub.achievedRate, jobs: counted.length, missing, submitErrors: sub.errors,
          fromSubmit: percentiles(fromSubmit), fromCreated: percentiles(fromCreated), submitLatency: sub.submitLatency,
          assignedAtSubmit: counted.length === 0 ? 0 : counted.filter((j) => j.assigned).length / counted.length, tail, memory: memoryOf(srv.pid),
        };
        p.finish(`p99 ${r.fromSubmit.p99} ms`);
        out.push(r);
      }
      await Promise.all(workers.map((w) => stopBaton(w)));
      return out;
    });
    return withProfile(env, 'pickup', run);
  });
}

/** See PickupRate.tail: the slowest 1 % of `heard`, their time split by server timestamps. */
async function tailBreakdown(srv: ServerProcess, heard: { job: { id: string; sentAt: number; createdAt: number }; start: number }[]): Promise<PickupRate['tail']> {
  if (heard.length === 0) return null;
  const slow = heard.sort((a, b) => b.start - b.job.sentAt - (a.start - a.job.sentAt)).slice(0, Math.min(100, Math.max(1, Math.ceil(heard.length / 100))));
  const toCreated: number[] = [];
  const toAssigned: number[] = [];
  const toStart: number[] = [];
  for (const h of slow) {
    const t = await firstAttemptTimes(srv, h.job.id);
    if (t === null) continue;
    toCreated.push(h.job.createdAt - h.job.sentAt);
    toAssigned.push(t.assignedAt - h.job.createdAt);
    toStart.push(h.start - t.assignedAt);
  }
  return { jobs: toCreated.length, toCreated: percentiles(toCreated).p50, toAssigned: percentiles(toAssigned).p50, toStart: percentiles(toStart).p50 };
}

/** Scenario 4 at one backlog size. */
export interface BacklogResult {
  pending: number;
  /** Pending when the server started: the backlog plus the claim rounds' jobs, reaped back. */
  pendingAtDrain: number;
  load: { seconds: number; rowsPerSec: number };
  claims: ClaimResult;
  /** Drain of the first `bigDrain` jobs out of the backlog by the worker processes. */
  drain: ServerRun<DrainWindow>;
}

/**
 * Scenario 4: a backlog loaded with batch inserts through the Store interface, claim latency
 * timed in-process, then a server with the worker processes drains part of it.
 */
export async function scenarioBacklog(env: ScenarioEnv, pending: number): Promise<BacklogResult> {
  return fresh(env, `big${pending}`, async (store) => {
    // A first start bootstraps the tenant and the admin token the later server uses.
    await withServer(env, store, `bootstrap${pending}`, async () => null);
    const pl = bar(env, `load ${pending} pending`, pending);
    const load = await withStore(store.store, (s) => loadPending(s, { count: pending, batch: 5_000, progress: pl }));
    pl.finish(`${Math.round(load.rowsPerSec)} rows/s`);
    // The load's writes (a checkpoint of a million rows on PostgreSQL) must not land in the claims.
    await settleDisk(env.kind, env.opts.pgUrl);
    const pc = bar(env, `claims with ${pending} pending`, env.opts.claimRounds);
    const claims = await measureClaims(store.store, { rounds: env.opts.claimRounds, slots: env.opts.capacity, progress: pc });
    pc.finish(`p99 ${claims.claim.p99.toFixed(2)} ms`);
    const pendingAtDrain = pending + claims.claimed;
    const k = Math.min(env.opts.bigDrain, pendingAtDrain);
    const pd = bar(env, `drain ${k} of ${pendingAtDrain}`, k);
    const drain = await withServer(env, store, `big${pending}`, async (srv) => {
      const workers = await runWorkersUntil(env, srv, k, pd, Math.max(120_000, k * 4));
      await Promise.all(workers.map((w) => stopBaton(w)));
      return drainWindow(srv);
    });
    pd.finish(`${Math.round(drain.result.jobsPerSec)} jobs/s`);
    return { pending, pendingAtDrain, load, claims, drain: await withProfile(env, `big${pending}`, drain) };
  });
}

/**
 * Who runs next when there is not room for everyone: aging (so low priority cannot starve),
 * deadlines within a priority, fair shares between tenants or queues (deficit round-robin), and
 * concurrency limits per queue and per `concurrencyKey`. Pure: the dispatcher passes `now`, the
 * candidates and the carried-over state, and gets a decision and the new state back.
 *
 * ## Starvation bound
 * Effective priority is `priority + floor(waited / agingIntervalMs)`, capped at
 * {@link AGED_PRIORITY_CAP} (11, one above the highest priority a client may set), where
 * `waited` counts from the job's `runAt`. Jobs at the cap are served strictly oldest first
 * (deadlines no longer reorder them). So a priority-`p` job reaches the cap after
 * `(10 - p + 1) × agingIntervalMs`; from then on no job that became ready after it can go
 * first, however urgent. Under a steady flood of fresh priority-10 jobs it therefore starts
 * within `(10 - p + 1) × agingIntervalMs`, plus the time to serve the jobs that were ready
 * before it and are still waiting (none when the pool keeps up with the flood), plus dispatch
 * latency. (Without deadlines it is one interval sooner: at `10 - p` intervals the job ties with
 * fresh priority-10 jobs and wins by age.) test/core/fairness-properties.test.ts checks the bound
 * on simulated floods.
 */
import type { Job } from './types.ts';

/** Highest priority a client may set. */
export const MAX_PRIORITY = 10;
/** Highest effective priority aging can reach: above every fresh job, so waiting always wins in the end. */
export const AGED_PRIORITY_CAP = MAX_PRIORITY + 1;
/** Default aging: one priority step per minute waited. */
export const DEFAULT_AGING_INTERVAL_MS = 60_000;

/** What ordering needs of a ready job. `deadline` (epoch ms) is optional: no deadline sorts after any deadline. */
export type AgedKey = Pick<Job, 'priority' | 'runAt' | 'createdAt' | 'id'> & { deadline?: number | null };

/** Ordering settings. */
export interface AgingOptions {
  /** Wait that raises effective priority by one; 0 or Infinity turns aging off. Default {@link DEFAULT_AGING_INTERVAL_MS}. */
  agingIntervalMs?: number;
}

/**
 * The priority a job competes with at `now`: its own, plus one per `agingIntervalMs` it has
 * waited since `runAt`, capped at {@link AGED_PRIORITY_CAP}. A job not yet due does not age.
 */
export function effectivePriority(job: Pick<Job, 'priority' | 'runAt'>, now: number, agingIntervalMs = DEFAULT_AGING_INTERVAL_MS): number {
  if (!(agingIntervalMs > 0) || !Number.isFinite(agingIntervalMs)) return job.priority;
  const steps = Math.floor(Math.max(0, now - job.runAt) / agingIntervalMs);
  return Math.max(job.priority, Math.min(AGED_PRIORITY_CAP, job.priority + steps));
}

/**
 * Negative when `a` should run before `b` at `now`: higher effective priority first; within
 * one effective priority below the cap, the earlier deadline first and jobs without one last;
 * then as `compareReady` (earlier runAt, older, smaller id), so the order is total for a given
 * `now` and every server agrees. At the cap deadlines are ignored: that is what makes the
 * starvation bound in the module doc hold.
 */
export function compareReadyAged(a: AgedKey, b: AgedKey, now: number, opts: AgingOptions = {}): number {
  const ea = effectivePriority(a, now, opts.agingIntervalMs);
  const eb = effectivePriority(b, now, opts.agingIntervalMs);
  if (ea !== eb) return eb - ea;
  if (ea < AGED_PRIORITY_CAP) {
    const da = a.deadline ?? Infinity;
    const db = b.deadline ?? Infinity;
    if (da !== db) return da < db ? -1 : 1;
  }
  if (a.runAt !== b.runAt) return a.runAt - b.runAt;
  if (a.createdAt !== b.createdAt) return a.createdAt - b.createdAt;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** True when a job with a deadline has not started by it (started exactly at the deadline is in time). */
export function deadlinePassed(job: { deadline?: number | null }, now: number): boolean {
  return job.deadline !== undefined && job.deadline !== null && now > job.deadline;
}

/** Deficit round-robin state carried from one {@link fairPick} call to the next. */
export interface FairState {
  /** Unused credit per group, in picks. Only groups with candidates keep any. */
  readonly deficits: Readonly<Record<string, number>>;
  /** The group served last, or null before the first pick. */
  readonly current: string | null;
  /** True when `current`'s turn was cut short by `n` and resumes, without fresh credit, next call. */
  readonly inTurn: boolean;
}

/** The state before any pick. */
export const INITIAL_FAIR_STATE: FairState = { deficits: {}, current: null, inTurn: false };

/** One pick: the group (tenant or queue) and the candidate taken from it. */
export interface FairPick<T> {
  group: string;
  item: T;
}

/**
 * Picks up to `n` items from `groups` (each group's candidates already in its own order, e.g. by
 * {@link compareReadyAged}) by deficit round-robin, so that over time each group with work gets
 * picks in proportion to its weight. Groups take turns in name order; a turn adds
 * `weight / lightest weight among groups with candidates` to the group's credit (so every turn
 * picks at least one item) and picks while a whole pick of credit remains. A group that runs out
 * of candidates while picks are still to be made is idle and loses its credit, so a group never
 * saves up more than one turn's worth.
 * Within a group the order is kept.
 *
 * Pass each group at least `n` candidates, or all it has, so that running out means idle.
 *
 * @param weights per group; missing means `defaultWeight` (1). A weight of 0 or less, or not a
 *   number, leaves the group out.
 */
export function fairPick<T>(
  groups: ReadonlyMap<string, readonly T[]>,
  weights: Readonly<Record<string, number>>,
  state: FairState,
  n: number,
  defaultWeight = 1,
): { picks: FairPick<T>[]; state: FairState } {
  const weightOf = (g: string) => weights[g] ?? defaultWeight;
  const keys = [...groups.keys()].filter((g) => (groups.get(g)?.length ?? 0) > 0 && weightOf(g) > 0).sort();
  if (keys.length === 0 || !(n > 0)) {
    const deficits: Record<string, number> = {};
    for (const g of keys) deficits[g] = state.deficits[g] ?? 0;
    return { picks: [], state: { deficits, current: keys.length === 0 ? null : state.current, inTurn: keys.length > 0 && state.inTurn } };
  }
  const lightest = Math.min(...keys.map(weightOf));
  const deficits: Record<string, number> = {};
  // Clamped to one turn: credit earned while the lightest group was lighter does not pile up.
  for (const g of keys) deficits[g] = Math.min(state.deficits[g] ?? 0, weightOf(g) / lightest);
  const taken = new Map<string, number>(keys.map((g) => [g, 0]));
  const left = (g: string) => groups.get(g)!.length - taken.get(g)!;
  let active = keys.length;

  // Resume the cut-short turn, or start with the first group after the one served last.
  let i: number;
  let credited: boolean;
  if (state.current !== null && state.inTurn && keys.includes(state.current)) {
    i = keys.indexOf(state.current);
    credited = true;
  } else {
    const after = state.current === null ? -1 : keys.findIndex((g) => g > state.current!);
    i = after === -1 ? 0 : after;
    credited = false;
  }

  const picks: FairPick<T>[] = [];
  let current = keys[i];
  let inTurn = false;
  while (picks.length < n && active > 0) {
    const g = keys[i];
    current = g;
    if (left(g) > 0) {
      if (!credited) deficits[g] += weightOf(g) / lightest;
      while (deficits[g] >= 1 && left(g) > 0 && picks.length < n) {
        const k = taken.get(g)!;
        picks.push({ group: g, item: groups.get(g)![k] });
        taken.set(g, k + 1);
        deficits[g] -= 1;
      }
      if (picks.length === n) {
        // Running out exactly as the last pick is made says nothing about idleness: keep the credit.
        inTurn = deficits[g] >= 1;
        break;
      }
      if (left(g) === 0) {
        deficits[g] = 0;
        active--;
      }
    }
    i = (i + 1) % keys.length;
    credited = false;
  }
  return { picks, state: { deficits, current, inTurn } };
}

/** Concurrency caps. A missing entry means no cap. */
export interface ConcurrencyLimits {
  /** Most jobs running at once per queue name. */
  queues?: Readonly<Record<string, number>>;
  /** Most jobs running at once per `concurrencyKey`. */
  keys?: Readonly<Record<string, number>>;
  /** Cap for a `concurrencyKey` not in `keys`; null or missing means none. */
  defaultKeyLimit?: number | null;
}

/** Jobs holding a slot now (assigned or running), counted per queue and per `concurrencyKey`. */
export interface RunningCounts {
  queues: Readonly<Record<string, number>>;
  keys: Readonly<Record<string, number>>;
}

/** What the limits need of a job. */
export interface LimitedJob {
  queue: string;
  concurrencyKey?: string | null;
}

/** True when starting `job` keeps its queue and its concurrencyKey within their caps. */
export function withinLimits(job: LimitedJob, running: RunningCounts, limits: ConcurrencyLimits): boolean {
  const queueCap = limits.queues?.[job.queue];
  if (queueCap !== undefined && (running.queues[job.queue] ?? 0) >= queueCap) return false;
  const key = job.concurrencyKey;
  if (key !== undefined && key !== null) {
    const keyCap = limits.keys?.[key] ?? limits.defaultKeyLimit ?? undefined;
    if (keyCap !== undefined && (running.keys[key] ?? 0) >= keyCap) return false;
  }
  return true;
}

/**
 * Goes through `jobs` in order and admits each that fits the limits, counting it as running for
 * the jobs after it, so one batch can never overshoot a cap. Returns the admitted jobs, the held
 * ones (both in their input order) and the counts with the admitted jobs added.
 */
export function admitWithinLimits<T extends LimitedJob>(
  jobs: readonly T[],
  running: RunningCounts,
  limits: ConcurrencyLimits,
): { admitted: T[]; held: T[]; running: RunningCounts } {
  const queues: Record<string, number> = { ...running.queues };
  const keys: Record<string, number> = { ...running.keys };
  const admitted: T[] = [];
  const held: T[] = [];
  for (const job of jobs) {
    if (!withinLimits(job, { queues, keys }, limits)) {
      held.push(job);
      continue;
    }
    admitted.push(job);
    queues[job.queue] = (queues[job.queue] ?? 0) + 1;
    if (job.concurrencyKey !== undefined && job.concurrencyKey !== null) keys[job.concurrencyKey] = (keys[job.concurrencyKey] ?? 0) + 1;
  }
  return { admitted, held, running: { queues, keys } };
}

/**
 * Worker selection: which connected worker takes which ready job. Pure: the dispatcher gives it
 * a snapshot of free capacity and gets back a plan. Hard rules first (type, handler, queue,
 * labels, free slots and resources, status), then a soft score (least loaded first).
 */
import type { Job, JobType, WorkerStatus } from './types.ts';

/** What placement needs to know of a worker right now. */
export interface WorkerView {
  id: string;
  /** The tenant the worker registered in (its token's tenant). */
  tenant: string;
  /**
   * True for a worker connected with a system token: it serves jobs of every tenant, so tenants
   * compete for it by their weights. Otherwise it serves only jobs of `tenant`.
   */
  shared?: boolean;
  status: WorkerStatus;
  types: readonly JobType[];
  handlers: readonly string[];
  /** Queue names it serves; `*` serves every queue. */
  queues: readonly string[];
  labels: Readonly<Record<string, string>>;
  capacity: number;
  /** Attempts it is running or has been assigned. */
  running: number;
  /** Free CPU cores and MiB; Infinity when the worker does not declare them. */
  cpuFree: number;
  memoryFreeMb: number;
  region: string | null;
  zone: string | null;
}

export type PlaceableJob = Pick<Job, 'id' | 'tenant' | 'type' | 'payload' | 'queue' | 'requirements'>;

/**
 * Slack allowed when comparing resources: free CPU is found by subtracting fractions (1 - 0.1 - …),
 * and binary rounding would otherwise refuse the last 0.1 core of a worker that has exactly that.
 */
const RESOURCE_EPSILON = 1e-9;

/** True when `w` may take `job` now (every hard rule holds). */
export function canTake(w: WorkerView, job: PlaceableJob): boolean {
  if (w.status !== 'active') return false;
  if (w.shared !== true && w.tenant !== job.tenant) return false;
  if (w.running >= w.capacity) return false;
  if (!w.types.includes(job.type)) return false;
  if (job.type === 'function') {
    const handler = job.payload.handler;
    if (typeof handler !== 'string' || !w.handlers.includes(handler)) return false;
  }
  if (!w.queues.includes('*') && !w.queues.includes(job.queue)) return false;
  for (const [k, v] of Object.entries(job.requirements.labels)) if (w.labels[k] !== v) return false;
  if (job.requirements.cpu > w.cpuFree + RESOURCE_EPSILON) return false;
  if (job.requirements.memoryMb > w.memoryFreeMb + RESOURCE_EPSILON) return false;
  return true;
}

/** Soft score of giving `job` to `w`; higher is better. Today: the share of free slots. */
export function score(w: WorkerView, _job: PlaceableJob): number {
  return (w.capacity - w.running) / w.capacity;
}

export interface Placement {
  jobId: string;
  workerId: string;
}

/**
 * Plans assignments for `jobs`, taken in the given order (already ranked), onto `workers`.
 * Each job goes to the best-scoring worker that can take it; a job no worker can take is
 * skipped (it does not block the jobs behind it). The views are not mutated.
 */
export function planPlacements(jobs: readonly PlaceableJob[], workers: readonly WorkerView[]): Placement[] {
  const pool = workers.map((w) => ({ ...w }));
  const out: Placement[] = [];
  for (const job of jobs) {
    let best: (typeof pool)[number] | undefined;
    let bestScore = -Infinity;
    for (const w of pool) {
      if (!canTake(w, job)) continue;
      const s = score(w, job);
      // Ties go to the worker with the smaller id so that plans are deterministic.
      if (s > bestScore || (s === bestScore && best !== undefined && w.id < best.id)) {
        best = w;
        bestScore = s;
      }
    }
    if (!best) continue;
    best.running += 1;
    best.cpuFree -= job.requirements.cpu;
    best.memoryFreeMb -= job.requirements.memoryMb;
    out.push({ jobId: job.id, workerId: best.id });
  }
  return out;
}

/**
 * In-process measures through the Store interface, with no server running: loading many pending
 * jobs with batch inserts, and claim latency — one dispatcher round's store work
 * (`jobListReady` for `4 × slots` candidates, then `jobAssignMany` of `slots` of them), timed per
 * round. This is the store's share of the time from a slot freeing to its next assignment; the
 * rest (planning, the WebSocket push) does not depend on how many jobs wait.
 */
import { v7 as uuidv7 } from 'uuid';
import { normalizeJobInput, type NewJob } from '../core/spec.ts';
import type { JobInput } from '../core/spec.ts';
import { openStore, type Store } from '../store/index.ts';
import type { Progress } from './progress.ts';
import { percentiles, type Percentiles } from './stats.ts';

/** The tenant a fresh server bootstraps, which the benchmark's jobs belong to. */
const TENANT = 'default';

const NOOP: JobInput = { type: 'function', payload: { handler: 'noop', args: {} } };

/** `n` pending no-op function jobs of the default tenant, ready to insert. */
function newJobs(n: number): NewJob[] {
  const now = Date.now();
  return Array.from({ length: n }, () => normalizeJobInput(NOOP, { id: uuidv7(), tenant: TENANT }, now));
}

/** Inserts `count` pending no-op function jobs in transactions of `batch`. */
export async function loadPending(store: Store, o: { count: number; batch: number; progress: Progress }): Promise<{ seconds: number; rowsPerSec: number }> {
  const start = performance.now();
  for (let done = 0; done < o.count; ) {
    const n = Math.min(o.batch, o.count - done);
    await store.jobInsertMany({ jobs: newJobs(n) });
    done += n;
    o.progress.tick(n);
  }
  const seconds = (performance.now() - start) / 1000;
  return { seconds, rowsPerSec: o.count / seconds };
}

/** Claim latency of a store holding pending jobs. */
export interface ClaimResult {
  rounds: number;
  slots: number;
  /** jobListReady + jobAssignMany per round, ms. */
  claim: Percentiles;
  /** jobListReady alone, ms. */
  listReady: Percentiles;
  /** jobAssignMany alone, ms. */
  assign: Percentiles;
  /** Jobs claimed over all rounds; they are pending again afterwards, on top of the backlog. */
  claimed: number;
}

/**
 * Runs `rounds` claim rounds of `slots` jobs on the store at `url` (already holding pending jobs
 * and the `default` tenant). Each round's claimed jobs are replaced by as many new pending ones,
 * untimed, so the backlog stays the size being measured. The claimed leases are written already
 * expired and reaped back to pending at the end.
 */
export async function measureClaims(url: string, o: { rounds: number; slots: number; progress: Progress }): Promise<ClaimResult> {
  const store = await openStore(url);
  try {
    await store.migrate();
    const now = Date.now();
    const workerId = `bench-claim-${uuidv7()}`;
    await store.workerUpsert({
      worker: {
        id: workerId, tenant: TENANT, name: 'bench-claim', host: 'localhost', types: ['function'], handlers: ['noop'], queues: ['*'],
        labels: {}, capacity: o.slots, cpu: 0, memoryMb: 0, region: null, zone: null, status: 'active', registeredAt: now, lastSeenAt: now,
      },
    });
    const total: number[] = [];
    const list: number[] = [];
    const assign: number[] = [];
    let claimed = 0;
    for (let i = 0; i < o.rounds; i++) {
      const t0 = performance.now();
      const ready = await store.jobListReady({ tenants: [TENANT], types: ['function'], limit: o.slots * 4 });
      const t1 = performance.now();
      const at = Date.now();
      const got = await store.jobAssignMany({
        assignments: ready.slice(0, o.slots).map((j) => ({ jobId: j.id, workerId, leaseToken: uuidv7(), leaseExpiresAt: at })),
        now: at,
      });
      const t2 = performance.now();
      claimed += got.length;
      list.push(t1 - t0);
      assign.push(t2 - t1);
      total.push(t2 - t0);
      // Topped up outside the timing so the number of pending jobs stays what is being measured.
      await store.jobInsertMany({ jobs: newJobs(got.length) });
      o.progress.tick();
    }
    // Hand the claimed jobs back now, so a server started on this store does not begin by
    // reaping thousands of leases (that spike, not the backlog, would set its peak RSS).
    while ((await store.leaseReapExpired({ now: Date.now() + 1, limit: 1000, random: Math.random })).length > 0);
    return { rounds: o.rounds, slots: o.slots, claim: percentiles(total), listReady: percentiles(list), assign: percentiles(assign), claimed };
  } finally {
    await store.close();
  }
}

/** Opens the store at `url`, runs `fn`, closes it. */
export async function withStore<T>(url: string, fn: (store: Store) => Promise<T>): Promise<T> {
  const store = await openStore(url);
  try {
    await store.migrate();
    return await fn(store);
  } finally {
    await store.close();
  }
}

/**
 * Fixtures shared by the store contract suite: job factories, an actor, and helpers that drive a
 * job through the store the way the dispatcher and a worker would. Interface calls only.
 */
import { v7 } from 'uuid';
import type { Report } from '../../core/protocol.ts';
import type { NewJob } from '../../core/spec.ts';
import type { Actor, AuditInput, Job } from '../../core/types.ts';
import type { Store } from '../types.ts';

/** Gives each test the store made for it. */
export interface ContractContext {
  store(): Store;
}

/** A fixed "now" for the suite, so times in assertions are exact. */
export const T0 = 1_700_000_000_000;

/** The tenant most tests use, and another one for isolation tests. */
export const TENANT = 'acme';
export const OTHER = 'globex';

export const ACTOR: Actor = { tenant: TENANT, tokenId: 'tok-admin', role: 'admin' };

/** An audit input for `action` on `targetId`. */
export function audit(action: string, targetType: string, targetId: string | null, detail?: unknown): AuditInput {
  return { actor: ACTOR, action, targetType, targetId, ...(detail === undefined ? {} : { detail }) };
}

/** A pending command job of TENANT with sensible defaults; `over` replaces any field. */
export function newJob(over: Partial<NewJob> = {}): NewJob {
  return {
    id: v7(),
    tenant: TENANT,
    type: 'command',
    payload: { argv: ['true'] },
    name: null,
    queue: 'default',
    priority: 5,
    maxRetries: 0,
    // No jitter, so the retry delay is exact: 1000 ms, then 2000 ms, ...
    backoff: { initialMs: 1000, maxMs: 60_000, factor: 2, jitter: 0 },
    timeoutMs: null,
    requirements: { labels: {}, cpu: 0, memoryMb: 0 },
    idempotencyKey: null,
    tags: [],
    metadata: {},
    status: 'pending',
    runAt: T0,
    createdAt: T0,
    ...over,
  };
}

/** Inserts jobs and returns them (as stored). */
export async function insert(store: Store, ...jobs: NewJob[]): Promise<Job[]> {
  return (await store.jobInsertMany({ jobs })).jobs;
}

/** Assigns one pending job to `workerId`; fails the test if the store refuses. */
export async function assign(store: Store, jobId: string, opts: { workerId?: string; now?: number; leaseMs?: number } = {}): Promise<Job> {
  const now = opts.now ?? T0;
  const [job] = await store.jobAssignMany({
    now,
    assignments: [{ jobId, workerId: opts.workerId ?? 'w1', leaseToken: v7(), leaseExpiresAt: now + (opts.leaseMs ?? 10_000) }],
  });
  if (job === undefined) throw new Error(`job ${jobId} was not assigned`);
  return job;
}

type Lease = Pick<Job, 'id' | 'attempt' | 'leaseToken'>;

function ref(job: Lease) {
  return { jobId: job.id, attempt: job.attempt, leaseToken: job.leaseToken ?? 'none', at: T0 };
}

/** Builders of worker reports for the attempt `job` holds. */
export const rep = {
  started: (job: Lease): Report => ({ kind: 'started', ...ref(job) }),
  progress: (job: Lease, progress: number): Report => ({ kind: 'progress', progress, ...ref(job) }),
  log: (job: Lease, seq: number, data: string, stream: 'stdout' | 'stderr' | 'system' = 'stdout'): Report => ({ kind: 'log', seq, stream, data, ...ref(job) }),
  completed: (job: Lease, result: unknown = { ok: true }): Report => ({ kind: 'completed', result, exitCode: 0, ...ref(job) }),
  returned: (job: Lease): Report => ({ kind: 'returned', ...ref(job) }),
  failed: (job: Lease, opts: { timedOut?: boolean } = {}): Report => ({
    kind: 'failed',
    error: { code: 'exit_code', message: 'exited with 1' },
    exitCode: 1,
    timedOut: opts.timedOut ?? false,
    ...ref(job),
  }),
};

/** Applies reports as worker `workerId` at `now` with a fixed random (0.5). */
export async function report(store: Store, reports: Report[], opts: { workerId?: string; now?: number } = {}) {
  return store.reportApplyMany({ workerId: opts.workerId ?? 'w1', reports, now: opts.now ?? T0, random: () => 0.5 });
}

/** Reads a job of TENANT that must exist. */
export async function mustGet(store: Store, id: string, tenant = TENANT): Promise<Job> {
  const job = await store.jobGet({ tenant, id });
  if (job === null) throw new Error(`job ${id} missing`);
  return job;
}

/** Asserts that `p` rejects with a BatonError of `code`. */
export async function rejectsWith(p: Promise<unknown>, code: string): Promise<void> {
  let caught: unknown;
  try {
    await p;
  } catch (e) {
    caught = e;
  }
  if (caught === undefined) throw new Error(`expected ${code}, but the call succeeded`);
  const got = (caught as { code?: string }).code;
  if (got !== code) throw new Error(`expected ${code}, got ${got ?? String(caught)}`);
}

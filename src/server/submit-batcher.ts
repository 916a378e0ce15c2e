/**
 * Group commit of single submits: POST /v1/jobs requests that arrive close together share one
 * `jobInsertMany` transaction — one commit (one fsync) for all of them — and each request is
 * answered with its own job only after that commit, with its own audit row written in it.
 *
 * Why: a durable commit costs about as much as a whole request otherwise (BENCHMARKS.md, 1a:
 * 47 % of the server in the SQLite COMMIT), so one commit per request caps submits at the disk's
 * fsync rate. Batching keeps durability per 201 and shares the fsync.
 */
import { isBatonError } from '../core/errors.ts';
import type { NewJob } from '../core/spec.ts';
import type { AuditInput, Job } from '../core/types.ts';
import type { Store } from '../store/types.ts';
import type { PlanInsert } from './context.ts';

/** What one submit became: its job (or the one its idempotency key names) and whether it existed. */
export interface SubmitOutcome {
  job: Job;
  existed: boolean;
}

/** Settings of a SubmitBatcher. */
export interface SubmitBatcherOptions {
  /** Passed to jobInsertMany (the server's idempotency window). */
  idempotencyRetentionMs?: number;
  /** Most submits per transaction (default 1000). */
  maxBatch?: number;
  /**
   * The dispatcher's fast path (Services.planInsert): free worker slots planned for the group's
   * jobs, assigned in the insert's own transaction.
   */
  planInsert?: PlanInsert;
  /**
   * Transactions in flight at once (default 2). While they commit, new submits gather into the
   * next batch; for a synchronous store (SQLite) there is never more than one.
   */
  maxInFlight?: number;
}

interface Member {
  job: NewJob;
  audit: AuditInput | undefined;
  resolve: (o: SubmitOutcome) => void;
  reject: (e: unknown) => void;
}

/**
 * Collects submits of plain jobs (no dependencies, uniqueKey or other graph extras: those keep
 * their own transaction) until the event loop turns, then writes them with one `jobInsertMany`.
 * If that transaction fails, no member is failed for another member's data: each is retried in
 * a transaction of its own — except when the store is unavailable (BATON_E_UNAVAILABLE), which
 * every member would hit again, so all get that error at once.
 */
export class SubmitBatcher {
  readonly #store: Pick<Store, 'jobInsertMany'>;
  readonly #retention: number | undefined;
  readonly #maxBatch: number;
  readonly #maxInFlight: number;
  readonly #planInsert: PlanInsert | undefined;
  #queue: Member[] = [];
  #scheduled = false;
  #inFlight = 0;

  constructor(store: Pick<Store, 'jobInsertMany'>, opts: SubmitBatcherOptions = {}) {
    this.#store = store;
    this.#retention = opts.idempotencyRetentionMs;
    this.#maxBatch = opts.maxBatch ?? 1000;
    this.#maxInFlight = opts.maxInFlight ?? 2;
    this.#planInsert = opts.planInsert;
  }

  /** Inserts `job` (with its audit row) in the next group transaction; resolves after its commit. */
  submit(job: NewJob, audit?: AuditInput): Promise<SubmitOutcome> {
    return new Promise<SubmitOutcome>((resolve, reject) => {
      this.#queue.push({ job, audit, resolve, reject });
      this.#schedule();
    });
  }

  #schedule(): void {
    if (this.#scheduled || this.#queue.length === 0 || this.#inFlight >= this.#maxInFlight) return;
    this.#scheduled = true;
    // setImmediate runs after the poll phase: every request whose bytes arrived in this turn of
    // the loop has been parsed and queued by then, so they all share the transaction.
    setImmediate(() => {
      this.#scheduled = false;
      this.#flush();
    });
  }

  #flush(): void {
    const batch = this.#queue.splice(0, this.#maxBatch);
    if (batch.length === 0) return;
    this.#inFlight++;
    void this.#write(batch).finally(() => {
      this.#inFlight--;
      this.#schedule();
    });
    // More than one batch's worth queued: start the next one too (up to maxInFlight).
    this.#schedule();
  }

  async #insert(members: Member[]): Promise<SubmitOutcome[]> {
    const jobs = members.map((m) => m.job);
    const plan = (await this.#planInsert?.(jobs)) ?? null;
    let res;
    try {
      res = await this.#store.jobInsertMany({
        jobs,
        audits: members.map((m) => m.audit),
        ...(this.#retention !== undefined ? { idempotencyRetentionMs: this.#retention } : {}),
        ...(plan !== null ? { assign: plan.assign } : {}),
      });
    } catch (e) {
      plan?.settle(null);
      throw e;
    }
    // Before the answers: the workers get their jobs first.
    plan?.settle(res.assigned ?? []);
    return res.jobs.map((job, i) => ({ job, existed: res.existed[i] }));
  }

  async #write(batch: Member[]): Promise<void> {
    try {
      const out = await this.#insert(batch);
      batch.forEach((m, i) => m.resolve(out[i]));
      return;
    } catch (e) {
      if (batch.length === 1 || (isBatonError(e) && e.code === 'BATON_E_UNAVAILABLE')) {
        for (const m of batch) m.reject(e);
        return;
      }
    }
    // One member's data broke the shared transaction (or it hit a transient error): each on its own.
    for (const m of batch) {
      try {
        m.resolve((await this.#insert([m]))[0]);
      } catch (e) {
        m.reject(e);
      }
    }
  }
}

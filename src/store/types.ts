/**
 * The Store interface: everything Baton keeps durable goes through these methods. Two
 * implementations (sqlite/ and, later, postgres/) pass the same contract suite
 * (src/store/contract.ts). Methods are noun-verb, take one params object and return domain types.
 * Every method that changes a job runs the core `transition` inside one transaction.
 */
import type { ErrorCode } from '../core/errors.ts';
import type { DependencyCondition } from '../core/graph.ts';
import type { ParentRecord } from '../core/placeholders.ts';
import type { Report } from '../core/protocol.ts';
import type { ScheduleSpec } from '../core/schedule.ts';
import type { NewJob } from '../core/spec.ts';
import type { JobEvent } from '../core/transition.ts';
import type {
  AuditEntry,
  AuditInput,
  Job,
  JobSpec,
  JobStatus,
  JobType,
  LogEntry,
  QueueStats,
  Tenant,
  TokenRecord,
  WorkerInfo,
  WorkerStatus,
} from '../core/types.ts';

/** Engine features the services may use; never branch on the engine's name. */
export interface StoreCapabilities {
  /** The store can wake other servers (LISTEN/NOTIFY). */
  supportsListen: boolean;
  /** Claims may run concurrently from many servers (FOR UPDATE SKIP LOCKED). */
  supportsSkipLocked: boolean;
  /** More than one server process may use the store at once. */
  multiServer: boolean;
  /**
   * Writes run on the caller's event loop (an embedded engine): two transactions never overlap,
   * so a caller gains nothing by keeping several in flight — one in flight gathers the most work
   * into the next. False for a networked store, where a transaction mostly waits on the network.
   */
  inlineWrites: boolean;
}

/** A page of results and the cursor of the next page (null at the end). */
export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export interface JobListFilter {
  tenant: string;
  status?: JobStatus;
  queue?: string;
  type?: JobType;
  tag?: string;
  /** Page size, 1–1000. */
  limit: number;
  /** Opaque cursor from a previous page. */
  cursor?: string | null;
}

/** Who leads a cluster-wide duty, and in which term. */
export interface Leadership {
  /** The duty, e.g. `maintenance`. */
  name: string;
  /** Id of the server that holds it. */
  holder: string;
  /** Grows by one each time the duty changes hands. */
  term: number;
  expiresAt: number;
}

/**
 * Proof of leadership passed to a leader-only write: the store checks, inside the write's
 * transaction, that this is still the current unexpired leadership, and refuses the write with
 * BATON_E_NOT_LEADER otherwise — so a deposed leader that has not noticed yet writes nothing.
 */
export type Fence = Pick<Leadership, 'name' | 'holder' | 'term'>;

/** One assignment the dispatcher wants written. */
export interface AssignmentInput {
  jobId: string;
  workerId: string;
  leaseToken: string;
  leaseExpiresAt: number;
}

/** Result of applying one worker report. */
export type ReportOutcome =
  | { ok: true; job: Job | null }
  | { ok: false; code: ErrorCode; message: string };

export interface InsertResult {
  /** The jobs, in input order (as committed: a job assigned by JobInsertOptions.assign is assigned). */
  jobs: Job[];
  /** For each input, true when an existing job was returned for its idempotencyKey. */
  existed: boolean[];
  /** The jobs JobInsertOptions.assign assigned, with their new attempt; absent without `assign`. */
  assigned?: Job[];
}

/** What a job of an insert has besides its NewJob: graph and deduplication fields (see JobInsertExtra). */
export interface JobInsertExtra {
  /** The job's ref in its batch (how its children name it). */
  ref?: string | null;
  /**
   * Resolved dependencies (parent ids; `ref` is how the child names the parent in placeholders,
   * null when named by id). The store decides inside the insert's transaction whether the job
   * starts blocked, ready, or cancelled (`upstream_failed`).
   */
  dependsOn?: { job: string; on: DependencyCondition; ref: string | null }[];
  /** The compensation job created once when this job ends `failed`. */
  onFailure?: JobSpec | null;
  /** Refuses (or returns, with onDuplicate `return`) a second job with this key while the first has not ended. */
  uniqueKey?: string | null;
  onDuplicate?: 'refuse' | 'return';
  /** `name@version` of the template the job was rendered from. */
  template?: string | null;
}

/** Options of jobInsertMany beyond the jobs. */
export interface JobInsertOptions {
  /** Per job (same index as `jobs`), its graph and deduplication fields. */
  extras?: (JobInsertExtra | undefined)[];
  /** Compensation job created once when any job of this batch's graph ends failed. */
  graphOnFailure?: JobSpec | null;
  /** An idempotency key older than this (ms) no longer matches: a new job is created. Default: forever. */
  idempotencyRetentionMs?: number;
  /**
   * Per job (same index as `jobs`), an audit row of its own, written in the same transaction in
   * the job's tenant at its createdAt — for inserts that group several requests (group commit of
   * single submits), each request keeping its audit row. Written whether or not the job existed.
   */
  audits?: (AuditInput | undefined)[];
  /**
   * Assignments of some of the new jobs, written in the insert's own transaction after the rows
   * (a server's fast path: a submit that meets a free worker slot with nothing ready before it —
   * one commit instead of two, no dispatch round). Each is applied only to a job this insert
   * created (not to an older job an idempotency key matched), still pending, in a queue that is
   * not paused, and never past a queue's or key's cap — a store may leave jobs of capped queues or
   * with a concurrency key pending for a dispatch round. The jobs assigned are InsertResult.assigned.
   */
  assign?: { assignments: AssignmentInput[]; now: number };
}

/** A filter of bulk operations; every field given must match. */
export interface BulkFilter {
  status?: JobStatus;
  queue?: string;
  type?: JobType;
  tag?: string;
  createdAfter?: number;
  createdBefore?: number;
  /** `name` (any version) or `name@version`. */
  template?: string;
}

/** What a bulk operation did: jobs changed, and jobs that matched but could not be changed. */
export interface BulkResult {
  affected: number;
  skipped: number;
  /** Attempts that were running when cancelled: their workers should be told. */
  stopped: { jobId: string; workerId: string; attempt: number }[];
}

/** A template version as stored. */
export interface TemplateRecord {
  tenant: string;
  name: string;
  version: number;
  description: string | null;
  spec: Record<string, unknown>;
  paramsSchema: Record<string, unknown>;
  createdAt: number;
}

/** One node of a job graph view. */
export interface GraphNodeRecord {
  id: string;
  name: string | null;
  status: JobStatus;
  ref: string | null;
  dependsOn: { job: string; on: DependencyCondition }[];
}

/** A schedule as stored: its normalised settings plus its firing state. */
export interface ScheduleRecord extends ScheduleSpec {
  id: string;
  tenant: string;
  /** The next fire to make; null when paused-and-finished or finished (endAt passed, maxExecutions reached). */
  nextFireAt: number | null;
  /** The newest fire made (or judged, for skipped ones); null before the first. */
  lastFireAt: number | null;
  /** Fires at or before this instant are never made: creation or last resume. */
  since: number;
  /** Fires that created a job (counts toward maxExecutions). */
  executions: number;
  createdAt: number;
  updatedAt: number;
}

/** What the cron service decided for one fire. */
export type ScheduleRunDecision = 'started' | 'queued' | 'skipped' | 'cancelled_previous' | 'triggered';

/** One fire of a schedule and what became of it. */
export interface ScheduleRun {
  scheduleId: string;
  fireAt: number;
  jobId: string | null;
  decision: ScheduleRunDecision;
  /** The status of the job now (its outcome once ended); null when no job was made. */
  jobStatus: JobStatus | null;
  createdAt: number;
}

/** One fire to make in scheduleFire: its instant and the job it creates (with jitter applied to runAt). */
export interface FireInput {
  fireAt: number;
  job: NewJob;
}

/** What scheduleFire did. */
export interface FireResult {
  /** Runs written, in fire order (fires another server made already are absent). */
  runs: ScheduleRun[];
  /** Jobs created. */
  jobs: Job[];
  /** Attempts cancelled by `cancelPrevious` that were running: their workers should be told. */
  stopped: { jobId: string; workerId: string; attempt: number }[];
  /** False when the schedule was gone, paused, or already advanced past these fires: nothing written. */
  advanced: boolean;
}

/**
 * The fields of a ready job that ranking and placement read: a store may return just these for
 * a ready head (the dispatch round decodes every head, and assigns only some), the assignment
 * returns the full jobs. `payload` is needed only for a function job's `handler`.
 */
export type ReadyJob = Pick<Job, 'id' | 'tenant' | 'queue' | 'type' | 'payload' | 'requirements' | 'runAt' | 'createdAt' | 'deadline' | 'concurrencyKey'>;

/** A ready job and the priority it ranks with (the larger of its own and the one it inherits from blocked children). */
export interface ReadyHead {
  job: ReadyJob;
  rank: number;
}

/** Weights and limits the dispatcher orders by. */
export interface FairnessSettings {
  /** Weight per tenant id (only those not 1 need be present). */
  tenants: Record<string, number>;
  /** Weight and concurrency cap per queue, keyed `tenant\u0000queue`. */
  queues: Record<string, { weight: number; concurrencyLimit: number | null }>;
}

export interface Store {
  readonly capabilities: StoreCapabilities;

  /** Applies pending migrations (idempotent, safe to call on every start). */
  migrate(): Promise<void>;
  /** Releases connections and files. */
  close(): Promise<void>;
  /** Cheap liveness probe of the storage engine. */
  ping(): Promise<void>;
  /**
   * Present when `capabilities.supportsListen`: calls `onNotify` whenever another store instance
   * (another server's) commits something that may create work — new pending or scheduled jobs,
   * promoted jobs, freed capacity. Its own commits are not echoed: a server wakes its own
   * services directly. Resolves to a function that stops listening.
   */
  listen?(channel: 'wake', onNotify: () => void): Promise<() => Promise<void>>;

  // ---- tenants and tokens ----------------------------------------------------------------
  tenantCreate(p: { tenant: Tenant; audit?: AuditInput }): Promise<Tenant>;
  tenantGet(p: { id: string }): Promise<Tenant | null>;
  tenantList(): Promise<Tenant[]>;

  tokenCreate(p: { token: TokenRecord; audit?: AuditInput }): Promise<TokenRecord>;
  tokenGet(p: { id: string }): Promise<TokenRecord | null>;
  tokenList(p: { tenant: string }): Promise<TokenRecord[]>;
  /** Deletes a token of `tenant`; false when there was none. */
  tokenDelete(p: { tenant: string; id: string; audit?: AuditInput }): Promise<boolean>;
  /** Any system token at all (used once, at first start). */
  tokenCountSystem(): Promise<number>;

  // ---- jobs --------------------------------------------------------------------------------
  /**
   * Inserts jobs in one transaction, all or nothing. A job whose (tenant, idempotencyKey)
   * exists already is not inserted; the existing job is returned in its place.
   */
  jobInsertMany(p: { jobs: NewJob[]; audit?: AuditInput } & JobInsertOptions): Promise<InsertResult>;
  /** A job of `tenant` with its attempts, or null. */
  jobGet(p: { tenant: string; id: string }): Promise<Job | null>;
  /** Jobs of a tenant, newest first, filtered, one page at a time. */
  jobList(p: JobListFilter): Promise<Page<Job>>;
  /**
   * Applies a client event (`modify`, `cancel`, `retry`) to one job of `tenant` through the
   * transition function, in one transaction. Returns the job before and after.
   * Throws BATON_E_NOT_FOUND, or the transition's error.
   */
  jobApply(p: { tenant: string; id: string; event: JobEvent; now: number; audit?: AuditInput }): Promise<{ before: Job; after: Job }>;
  /** Moves scheduled jobs whose runAt has come to pending; returns how many moved. */
  jobPromoteDue(p: { now: number; limit: number; fence?: Fence }): Promise<number>;
  /** The earliest runAt among scheduled jobs, or null. */
  jobNextRunAt(): Promise<number | null>;
  /**
   * Pending jobs in queues that are not paused, in dispatch order (priority desc, runAt asc,
   * createdAt asc, id asc), restricted to `tenants`, `queues` (omit for all) and `types`.
   */
  jobListReady(p: { tenants: string[]; queues?: string[]; types: JobType[]; limit: number }): Promise<Job[]>;
  /**
   * Writes assignments in one transaction. Each is applied only if the job is still pending
   * (compare-and-set), its queue is not paused and its caps have room; returns the jobs that
   * were assigned, with their new attempt.
   */
  jobAssignMany(p: { assignments: AssignmentInput[]; now: number }): Promise<Job[]>;

  // ---- graphs, bulk operations ------------------------------------------------------------
  /**
   * Outcomes of the parents of each job in `jobIds` (status, result, error; `ref` as the child
   * names it), for filling `{{parents...}}` placeholders. Jobs without parents are absent.
   */
  jobParents(p: { jobIds: string[] }): Promise<Map<string, ParentRecord[]>>;
  /**
   * The graph a job of `tenant` belongs to: every job connected to it by dependencies (up to
   * `limit`, default 10,000), with its edges. Throws BATON_E_NOT_FOUND for an unknown job.
   */
  jobGraph(p: { tenant: string; id: string; limit?: number }): Promise<{ graphId: string | null; nodes: GraphNodeRecord[]; truncated: boolean }>;
  /**
   * Cancels, retries or deletes the jobs of `tenant` that match `filter` (or `ids`), in
   * transactions of `batchSize` jobs (default 1,000) so other work runs in between. Delete
   * only removes ended jobs. Jobs that match but cannot take the action count as skipped.
   */
  jobBulk(p: { tenant: string; action: 'cancel' | 'retry' | 'delete'; filter?: BulkFilter; ids?: string[]; reason?: string; now: number; batchSize?: number; audit?: AuditInput }): Promise<BulkResult>;

  // ---- templates ---------------------------------------------------------------------------
  /** Saves the next version of template `name` (1 for a new name). */
  templateCreate(p: { tenant: string; name: string; description: string | null; spec: Record<string, unknown>; paramsSchema: Record<string, unknown>; now: number; audit?: AuditInput }): Promise<TemplateRecord>;
  /** A version of a template, or its latest when `version` is null; null when there is none. */
  templateGet(p: { tenant: string; name: string; version: number | null }): Promise<TemplateRecord | null>;
  /** The latest version of every template of `tenant`, by name. */
  templateList(p: { tenant: string }): Promise<TemplateRecord[]>;
  /** Every version of `name` (oldest first); all versions of all templates when `name` is omitted. */
  templateVersions(p: { tenant: string; name?: string }): Promise<TemplateRecord[]>;
  /**
   * Imports template versions as given, all or nothing: a version that exists with the same
   * content is skipped, one that exists with other content is BATON_E_CONFLICT. Returns how
   * many were created and skipped.
   */
  templateImport(p: { tenant: string; templates: Omit<TemplateRecord, 'tenant' | 'createdAt'>[]; now: number; audit?: AuditInput }): Promise<{ created: number; skipped: number }>;

  // ---- attempts, leases, logs ------------------------------------------------------------------
  /**
   * Applies a batch of worker reports in one transaction (group commit). Each report is
   * fenced by (attempt, leaseToken); a stale one gets `{ok: false, code: 'BATON_E_STALE_ATTEMPT'}`
   * and changes nothing. `random` supplies jitter for retry backoff, one value per report.
   */
  reportApplyMany(p: { workerId: string; reports: Report[]; now: number; random: () => number }): Promise<ReportOutcome[]>;
  /**
   * Extends the leases a worker holds to `leaseExpiresAt`. Returns the leases that are no
   * longer valid (job cancelled, reassigned or ended): the worker must stop those attempts.
   */
  leaseExtend(p: { workerId: string; leases: { jobId: string; attempt: number; leaseToken: string }[]; leaseExpiresAt: number; now: number }): Promise<{ lost: { jobId: string; attempt: number; leaseToken: string }[] }>;
  /** Returns jobs whose lease expired before `now` to pending (or failed); returns them. */
  leaseReapExpired(p: { now: number; limit: number; random: () => number; fence?: Fence }): Promise<Job[]>;
  /** Log lines of a job of `tenant` with seq greater than `afterSeq`, in order. */
  logList(p: { tenant: string; jobId: string; afterSeq: number; limit: number }): Promise<LogEntry[]>;

  // ---- queues ------------------------------------------------------------------------------
  /** Queues of a tenant (every queue that has had a job, or was paused) with counts by status. */
  queueList(p: { tenant: string }): Promise<QueueStats[]>;
  queueSetPaused(p: { tenant: string; name: string; paused: boolean; now: number; audit?: AuditInput }): Promise<QueueStats>;

  // ---- workers -----------------------------------------------------------------------------
  /** Creates or refreshes a worker row (on connect and reconnect). */
  workerUpsert(p: { worker: WorkerInfo }): Promise<WorkerInfo>;
  workerGet(p: { tenant: string; id: string }): Promise<WorkerInfo | null>;
  workerList(p: { tenant: string }): Promise<WorkerInfo[]>;
  workerSetStatus(p: { id: string; status: WorkerStatus; now: number; audit?: AuditInput }): Promise<void>;
  /** Records that the worker was heard from at `now`. */
  workerTouch(p: { id: string; now: number }): Promise<void>;

  // ---- leadership of cluster-wide duties -------------------------------------------------------
  /**
   * Takes the leadership `name` for `holder` when it is free or expired (a new term), renews it
   * when `holder` has it, and otherwise leaves it alone. Returns the leadership as it now is:
   * `holder` leads iff the result's holder is `holder`.
   */
  leaderAcquire(p: { name: string; holder: string; ttlMs: number; now: number }): Promise<Leadership>;
  /** Ends `holder`'s leadership of `name` at once (on shutdown), so another server takes over. */
  leaderRelease(p: { name: string; holder: string; now: number }): Promise<void>;

  // ---- schedules (cron) ----------------------------------------------------------------------
  /** Creates a schedule; BATON_E_CONFLICT when its name is taken in the tenant. */
  scheduleCreate(p: { schedule: ScheduleRecord; audit?: AuditInput }): Promise<ScheduleRecord>;
  scheduleGet(p: { tenant: string; id: string }): Promise<ScheduleRecord | null>;
  /** Schedules of a tenant by name, one page at a time. */
  scheduleList(p: { tenant: string; limit: number; cursor?: string | null }): Promise<Page<ScheduleRecord>>;
  /**
   * Replaces a schedule's settings and next fire (a PATCH, checked by the caller);
   * BATON_E_NOT_FOUND when there is none, BATON_E_CONFLICT for a taken name.
   */
  scheduleUpdate(p: { tenant: string; id: string; spec: ScheduleSpec; nextFireAt: number | null; now: number; audit?: AuditInput }): Promise<ScheduleRecord>;
  /** Pauses a schedule: it makes no fire until resumed. */
  schedulePause(p: { tenant: string; id: string; now: number; audit?: AuditInput }): Promise<ScheduleRecord>;
  /** Resumes a schedule: fires it missed while paused are dropped (`since` = now); `nextFireAt` is the first after now. */
  scheduleResume(p: { tenant: string; id: string; nextFireAt: number | null; now: number; audit?: AuditInput }): Promise<ScheduleRecord>;
  /** Deletes a schedule and its run history (the jobs it made stay); false when there was none. */
  scheduleDelete(p: { tenant: string; id: string; now: number; audit?: AuditInput }): Promise<boolean>;
  /** Schedules of every tenant that are not paused and whose next fire is at or before `now`, soonest first. */
  scheduleListDue(p: { now: number; limit: number }): Promise<ScheduleRecord[]>;
  /** The earliest next fire of a schedule that is not paused, or null. */
  scheduleNextFireAt(): Promise<number | null>;
  /**
   * Makes fires of one schedule in one transaction: for each fire, a run row keyed (schedule,
   * fire time) — a fire whose key exists already (another server made it) is skipped — and,
   * as the schedule's overlap policy decides against its still-active runs, a job (`start`), a
   * job that waits for the newest active run to end (`queue`), the active runs cancelled and a
   * job (`cancelPrevious`), or no job (`skip`). Then the schedule advances: last fire, executions
   * and `nextFireAt`, compare-and-set on `expectLastFireAt` (a schedule advanced meanwhile writes
   * nothing). `trigger` makes one extra run now without advancing the schedule. Fenced.
   */
  scheduleFire(p: {
    tenant: string;
    scheduleId: string;
    fires: FireInput[];
    nextFireAt: number | null;
    expectLastFireAt: number | null;
    /** Judged up to here even when no fire was made (kept as lastFireAt when there are no fires). */
    judgedTo?: number;
    trigger?: boolean;
    now: number;
    fence?: Fence;
    audit?: AuditInput;
  }): Promise<FireResult>;
  /**
   * scheduleFire for several schedules in one transaction (the fence checked once), in the order
   * given: what the cron service uses when many schedules are due on one tick.
   */
  scheduleFireMany(p: { items: Omit<Parameters<Store['scheduleFire']>[0], 'now' | 'fence'>[]; now: number; fence?: Fence }): Promise<FireResult[]>;
  /** Runs of a schedule of `tenant`, newest first; BATON_E_NOT_FOUND for an unknown schedule. */
  scheduleRuns(p: { tenant: string; id: string; limit: number; cursor?: string | null }): Promise<Page<ScheduleRun>>;

  // ---- deadlines, weights and limits ---------------------------------------------------------
  /** Fails (event `expire`, reason `deadline_exceeded`) jobs not started whose deadline is before `now`; returns them. Fenced. */
  jobExpireDeadlines(p: { now: number; limit: number; fence?: Fence }): Promise<Job[]>;
  /** The earliest deadline of a job not started yet, or null. */
  jobNextDeadline(): Promise<number | null>;
  /** Sets a queue's weight and/or concurrency cap (null clears the cap); creates the queue if needed. */
  queueSetLimits(p: { tenant: string; name: string; weight?: number; concurrencyLimit?: number | null; now: number; audit?: AuditInput }): Promise<QueueStats>;
  /** Sets a tenant's weight; BATON_E_NOT_FOUND for an unknown tenant. */
  tenantSetWeight(p: { id: string; weight: number; now: number; audit?: AuditInput }): Promise<Tenant>;
  /**
   * For each eligible queue (not paused, of `tenants`, in `queues` or all), up to `perQueue`
   * pending jobs in priority order and up to `perQueue` oldest pending jobs, unordered and without
   * repeats: the candidates the dispatcher re-ranks with aging, deadlines and weights.
   */
  jobListReadyHeads(p: { tenants: string[]; queues?: string[]; types: JobType[]; perQueue: number }): Promise<ReadyHead[]>;
  /** Weights and caps of `tenants` and their queues. */
  fairnessSettings(p: { tenants: string[] }): Promise<FairnessSettings>;

  // ---- audit -------------------------------------------------------------------------------
  auditWrite(p: { entry: AuditInput; now: number }): Promise<void>;
  /** Audit rows of a tenant, newest first. */
  auditList(p: { tenant: string; limit: number; cursor?: string | null }): Promise<Page<AuditEntry>>;
}

/** Spec fields a job update may set (for reference by implementations). */
export type JobSpecField = keyof JobSpec;

/**
 * Domain types shared by every layer. Plain data only: no classes, no I/O.
 * Times are epoch milliseconds (numbers) inside Baton and ISO 8601 strings at the API edge.
 */

/** Every status a job can be in. See the lifecycle in docs/architecture.md. */
export const JOB_STATUSES = [
  'blocked',
  'scheduled',
  'pending',
  'assigned',
  'running',
  'completed',
  'failed',
  'cancelled',
] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

/** Statuses from which a job never moves again on its own. */
export const TERMINAL_STATUSES: ReadonlySet<JobStatus> = new Set(['completed', 'failed', 'cancelled']);
/** Statuses in which an attempt holds a lease on a worker. */
export const LEASED_STATUSES: ReadonlySet<JobStatus> = new Set(['assigned', 'running']);

/** Job types a worker can execute. `container` is reserved for the isolation work. */
export const JOB_TYPES = ['command', 'http', 'function', 'container'] as const;
export type JobType = (typeof JOB_TYPES)[number];

/** Roles a token can hold, from most to least powerful. */
export const ROLES = ['admin', 'operator', 'submitter', 'viewer', 'worker'] as const;
export type Role = (typeof ROLES)[number];

/** Exponential backoff between attempts. */
export interface Backoff {
  /** Delay before the first retry, ms. Default 1000. */
  initialMs: number;
  /** Upper bound of any delay, ms. Default 300000 (5 min). */
  maxMs: number;
  /** Growth per retry. Default 2. */
  factor: number;
  /** Fraction (0–1) of the delay that is randomised ("equal jitter"). Default 0.2. */
  jitter: number;
}

/** Hard requirements a worker must meet to take a job. */
export interface Requirements {
  /** Labels the worker must carry with exactly these values. */
  labels: Record<string, string>;
  /** CPU cores the attempt reserves (may be fractional). Default 0 (no reservation). */
  cpu: number;
  /** Memory the attempt reserves, MiB. Default 0 (no reservation). */
  memoryMb: number;
}

/** Why an attempt ended, as recorded on the attempt and on the job. */
export interface JobError {
  /** Stable code: BATON_E_* for Baton's own reasons, or e.g. `exit_code`, `http_status`. */
  code: string;
  message: string;
  /** Free-form details (stack, stderr tail, HTTP status). */
  details?: unknown;
}

/** One try of a job on one worker. */
export interface Attempt {
  /** Attempt number, from 1. */
  attempt: number;
  workerId: string;
  status: 'assigned' | 'running' | 'completed' | 'failed' | 'timed_out' | 'lost' | 'cancelled' | 'returned';
  assignedAt: number;
  startedAt: number | null;
  endedAt: number | null;
  exitCode: number | null;
  error: JobError | null;
}

/** What a client asks for; the normalised, defaulted form of POST /v1/jobs. */
export interface JobSpec {
  type: JobType;
  payload: Record<string, unknown>;
  name: string | null;
  queue: string;
  /** 1–10, 10 most urgent. */
  priority: number;
  maxRetries: number;
  backoff: Backoff;
  /** Per-attempt time limit, ms; null means none. */
  timeoutMs: number | null;
  requirements: Requirements;
  idempotencyKey: string | null;
  tags: string[];
  metadata: Record<string, unknown>;
  /** Latest start (epoch ms): not started by then, the job fails with reason `deadline_exceeded`. Null or absent: none. */
  deadline?: number | null;
  /** Jobs sharing this key (within a tenant) run at most `concurrencyLimit` at once, cluster-wide. */
  concurrencyKey?: string | null;
  /** Cap for `concurrencyKey`; null or absent means 1. */
  concurrencyLimit?: number | null;
}

/** A job as stored: its spec plus its state. */
export interface Job extends JobSpec {
  id: string;
  tenant: string;
  status: JobStatus;
  /** When the job becomes (or became) eligible to run. */
  runAt: number;
  /** Number of attempts started so far (the current one when leased). */
  attempt: number;
  /** Attempt number at the last manual retry; `attempt - attemptBase` is the retry budget used. */
  attemptBase: number;
  /** Lease of the current attempt; null when not leased. */
  leaseToken: string | null;
  leaseExpiresAt: number | null;
  workerId: string | null;
  /** Last reported progress of the current attempt, 0–100. */
  progress: number | null;
  result: unknown;
  error: JobError | null;
  /** Why the job ended when that is not a plain outcome (e.g. `cancelled_by_user`). */
  reason: string | null;
  createdAt: number;
  updatedAt: number;
  startedAt: number | null;
  completedAt: number | null;
  attempts: Attempt[];
  /** The graph (jobs joined by dependencies) this job belongs to; null or absent when none. */
  graphId?: string | null;
  /** Its uniqueKey (see the job input), when it has one. */
  uniqueKey?: string | null;
  /** `name@version` of the template it was submitted from, when it was. */
  template?: string | null;
}

/** A queue's settings. Queues are created on first use. */
export interface Queue {
  tenant: string;
  name: string;
  paused: boolean;
  createdAt: number;
  /** Share of the dispatcher's picks among the tenant's queues (deficit round-robin). Default 1. */
  weight?: number;
  /** Most jobs of the queue running at once, cluster-wide; null or absent: no cap. */
  concurrencyLimit?: number | null;
}

/** Live counts of a queue, by status. */
export interface QueueStats extends Queue {
  counts: Partial<Record<JobStatus, number>>;
}

export type WorkerStatus = 'active' | 'draining' | 'offline';

/** A worker agent as registered with the server. */
export interface WorkerInfo {
  id: string;
  tenant: string;
  name: string;
  host: string;
  types: JobType[];
  /** Function handler names it can run (for `function` jobs). */
  handlers: string[];
  queues: string[];
  labels: Record<string, string>;
  capacity: number;
  cpu: number;
  memoryMb: number;
  region: string | null;
  zone: string | null;
  status: WorkerStatus;
  registeredAt: number;
  lastSeenAt: number;
}

export interface Tenant {
  id: string;
  name: string;
  createdAt: number;
  /** Share of the dispatcher's picks when tenants compete for the same workers. Default 1. */
  weight?: number;
}

/** A bearer token as stored: the secret itself is only ever kept hashed. */
export interface TokenRecord {
  id: string;
  tenant: string;
  name: string;
  role: Role;
  /** A system token may act in every tenant and create tenants. */
  system: boolean;
  /** sha256 of the secret, hex. */
  secretHash: string;
  createdAt: number;
  lastUsedAt: number | null;
}

/** Who did something, for the audit log. */
export interface Actor {
  tenant: string;
  /** Token id, or `system` for Baton itself. */
  tokenId: string;
  role: Role | 'system';
}

/** One audit row. */
export interface AuditEntry {
  id: number;
  tenant: string;
  actor: string;
  action: string;
  targetType: string;
  targetId: string | null;
  at: number;
  detail: unknown;
}

/** What a store needs to write an audit row inside a mutation's transaction. */
export interface AuditInput {
  actor: Actor;
  action: string;
  targetType: string;
  targetId: string | null;
  detail?: unknown;
}

/** One chunk of job output. */
export interface LogEntry {
  seq: number;
  jobId: string;
  attempt: number;
  stream: 'stdout' | 'stderr' | 'system';
  at: number;
  data: string;
}

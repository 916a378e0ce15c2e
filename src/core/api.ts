/**
 * Shapes of the REST API's JSON responses (v1). Times are ISO 8601 strings in UTC; absent values
 * are null. The server builds these from domain types (src/server/api/serialize.ts); the client
 * and the CLI read them.
 */
import type { Backoff, JobError, JobStatus, JobType, Requirements, Role, WorkerStatus } from './types.ts';

export interface AttemptView {
  attempt: number;
  workerId: string;
  status: 'assigned' | 'running' | 'completed' | 'failed' | 'timed_out' | 'lost' | 'cancelled' | 'returned';
  assignedAt: string;
  startedAt: string | null;
  endedAt: string | null;
  exitCode: number | null;
  error: JobError | null;
}

export interface JobView {
  id: string;
  tenant: string;
  type: JobType;
  name: string | null;
  queue: string;
  priority: number;
  status: JobStatus;
  payload: Record<string, unknown>;
  runAt: string;
  maxRetries: number;
  backoff: Backoff;
  timeoutMs: number | null;
  requirements: Requirements;
  idempotencyKey: string | null;
  tags: string[];
  metadata: Record<string, unknown>;
  /** Attempts started so far. */
  attempt: number;
  workerId: string | null;
  progress: number | null;
  error: JobError | null;
  reason: string | null;
  createdAt: string;
  updatedAt: string;
  startedAt: string | null;
  completedAt: string | null;
  /** Present on GET /v1/jobs/:id; omitted from lists. */
  attempts?: AttemptView[];
  /** The graph (jobs joined by dependencies) the job belongs to, or null. */
  graphId?: string | null;
  /** Its uniqueKey, or null. */
  uniqueKey?: string | null;
  /** `name@version` of the template it was submitted from, or null. */
  template?: string | null;
  /** Latest start (ISO 8601); null when none. */
  deadline?: string | null;
  /** Concurrency key and its cap; null when none. */
  concurrencyKey?: string | null;
  concurrencyLimit?: number | null;
}

/** One node of GET /v1/jobs/:id/graph. */
export interface GraphNodeView {
  id: string;
  ref: string | null;
  name: string | null;
  status: JobStatus;
}

/** One edge: `to` waits on `from` ending as `on` says; `state` is met, unmet-yet or never. */
export interface GraphEdgeView {
  from: string;
  to: string;
  on: 'success' | 'completion' | 'failure';
  state: 'met' | 'unmet-yet' | 'never';
}

/** GET /v1/jobs/:id/graph. */
export interface JobGraphView {
  graphId: string | null;
  nodes: GraphNodeView[];
  edges: GraphEdgeView[];
  /** True when the graph had more nodes than the server returns. */
  truncated: boolean;
}

/** A template version. */
export interface TemplateView {
  name: string;
  version: number;
  description: string | null;
  spec: Record<string, unknown>;
  paramsSchema: Record<string, unknown>;
  createdAt: string;
}

/** What POST /v1/jobs/bulk/* did. */
export interface BulkResultView {
  affected: number;
  skipped: number;
}

export interface JobListView {
  jobs: JobView[];
  nextCursor: string | null;
}

/** The answer of POST /v1/jobs/batch: whole jobs, or JobRefView ones (BatchRefResultView). */
export interface BatchResultView<J = JobView> {
  jobs: J[];
  /** Per input job: true when an existing job was returned for its idempotencyKey. */
  existed: boolean[];
}

/** A submitted job as the answer shows it when the request asked `Prefer: return=minimal`. */
export interface JobRefView {
  id: string;
  status: JobStatus;
}

/** The answer of POST /v1/jobs/batch with `Prefer: return=minimal`. */
export type BatchRefResultView = BatchResultView<JobRefView>;

export interface LogEntryView {
  seq: number;
  attempt: number;
  stream: 'stdout' | 'stderr' | 'system';
  at: string;
  data: string;
}

export interface ResultView {
  jobId: string;
  status: JobStatus;
  result: unknown;
}

export interface QueueView {
  name: string;
  paused: boolean;
  /** Share of dispatch picks among the tenant's queues. Default 1. */
  weight?: number;
  /** Most jobs of the queue running at once; null: no cap. */
  concurrencyLimit?: number | null;
  counts: Partial<Record<JobStatus, number>>;
}

export interface WorkerView {
  id: string;
  tenant: string;
  name: string;
  host: string;
  types: JobType[];
  handlers: string[];
  queues: string[];
  labels: Record<string, string>;
  capacity: number;
  region: string | null;
  zone: string | null;
  status: WorkerStatus;
  /** True when connected to the server that answered. */
  connected: boolean;
  registeredAt: string;
  lastSeenAt: string;
}

export interface TokenView {
  id: string;
  tenant: string;
  name: string;
  role: Role;
  system: boolean;
  createdAt: string;
  lastUsedAt: string | null;
}

/** Returned once, when a token is created: the only time the secret is shown. */
export interface CreatedTokenView extends TokenView {
  token: string;
}

export interface TenantView {
  id: string;
  name: string;
  createdAt: string;
  /** Share of dispatch picks when tenants compete for workers (set with PUT /v1/tenants/:id/weight). */
  weight?: number;
}

export interface AuditView {
  id: number;
  tenant: string;
  actor: string;
  action: string;
  targetType: string;
  targetId: string | null;
  at: string;
  detail: unknown;
}

export interface ErrorView {
  error: { code: string; message: string; field?: string; details?: unknown };
}

/** A cron schedule; instants are ISO 8601 with the offset of the schedule's zone at that instant. */
export interface ScheduleView {
  id: string;
  name: string;
  cron: string;
  timezone: string;
  /** The job each fire creates (as given to POST /v1/jobs). */
  job: Record<string, unknown>;
  startAt: string | null;
  endAt: string | null;
  maxExecutions: number | null;
  jitterMs: number;
  overlap: 'allow' | 'skip' | 'queue' | 'cancelPrevious';
  catchUp: 'none' | 'latest' | 'all';
  maxCatchUp: number;
  paused: boolean;
  /** Null while paused or once finished. */
  nextFireAt: string | null;
  lastFireAt: string | null;
  /** Fires that created a job. */
  executions: number;
  createdAt: string;
  updatedAt: string;
}

/** One fire of a schedule. */
export interface ScheduleRunView {
  fireAt: string;
  jobId: string | null;
  decision: 'started' | 'queued' | 'skipped' | 'cancelled_previous' | 'triggered';
  /** The job's status now (its outcome once ended); null when no job was made. */
  jobStatus: JobStatus | null;
  createdAt: string;
}

/** GET /v1/cron/preview. */
export interface CronPreviewView {
  expr: string;
  timezone: string;
  fires: string[];
}

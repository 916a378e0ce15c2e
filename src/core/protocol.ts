/**
 * The worker protocol: JSON messages over one WebSocket per worker at `GET /v1/worker/connect`
 * (bearer token with role `worker` or `admin`). The server pushes assignments; the worker sends
 * reports in batches and heartbeats. Every report names the attempt and its lease token, and the
 * server refuses one whose attempt is no longer current (fencing).
 */
import type { JobError, JobType } from './types.ts';

/** Version of this protocol; a worker with another major version is refused. */
export const PROTOCOL_VERSION = 1;

/** A lease a worker holds: one attempt of one job. */
export interface LeaseHeld {
  jobId: string;
  attempt: number;
  leaseToken: string;
}

/** What a worker tells the server about itself when it connects. */
export interface WorkerHello {
  t: 'hello';
  protocol: number;
  /** Sent again on reconnect so the server resumes the same worker. */
  workerId?: string;
  name: string;
  host: string;
  types: JobType[];
  handlers: string[];
  /** Queues served; `*` for all. */
  queues: string[];
  labels: Record<string, string>;
  capacity: number;
  /**
   * Assignments taken beyond `capacity`, queued on the worker and started as its slots free
   * (0 or absent: none). Saves a server round trip per job for short jobs; a queued job waits
   * for this worker's slots even when another worker is idle, so keep it 0 for long jobs.
   */
  prefetch?: number;
  /** Cores and MiB available to jobs; omit to not reserve resources. */
  cpu?: number;
  memoryMb?: number;
  region?: string | null;
  zone?: string | null;
  /** Attempts still running on this worker (after a reconnect). */
  running: LeaseHeld[];
  /** True when the worker is draining (takes no new work). */
  draining?: boolean;
}

interface ReportBase extends LeaseHeld {
  /** Worker clock, epoch ms (informational; the server stamps its own time). */
  at: number;
}

/** One thing that happened to an attempt on the worker. */
export type Report =
  /**
   * The attempt began running. Optional before a `completed` of the same attempt: a worker may
   * leave out a `started` still unsent when the attempt completes (the server takes `completed`
   * straight from `assigned` and stamps the start then), so a short job costs one report.
   */
  | (ReportBase & { kind: 'started' })
  /** An assignment the worker gives back without having started it (prefetched, then stopping). */
  | (ReportBase & { kind: 'returned' })
  | (ReportBase & { kind: 'progress'; progress: number })
  | (ReportBase & { kind: 'log'; seq: number; stream: 'stdout' | 'stderr' | 'system'; data: string })
  | (ReportBase & { kind: 'completed'; result: unknown; exitCode?: number | null })
  | (ReportBase & { kind: 'failed'; error: JobError; exitCode?: number | null; timedOut?: boolean });

export type WorkerMessage =
  | WorkerHello
  | { t: 'heartbeat'; running: LeaseHeld[] }
  | { t: 'reports'; batch: number; reports: Report[] }
  | { t: 'draining' };

/** A job pushed to a worker to run. */
export interface Assignment extends LeaseHeld {
  tenant: string;
  type: JobType;
  name: string | null;
  queue: string;
  payload: Record<string, unknown>;
  timeoutMs: number | null;
  metadata: Record<string, unknown>;
  leaseExpiresAt: number;
  /**
   * Outcomes of the job's parents (its dependencies), keyed by each parent's ref and by its id;
   * absent for a job without dependencies.
   */
  parents?: Record<string, { status: string; result: unknown; error: JobError | null }>;
}

/** The server's verdict on one report of a batch, in order. */
export type ReportVerdict = { ok: true } | { ok: false; code: string; message: string };

export type ServerMessage =
  | {
      t: 'welcome';
      workerId: string;
      heartbeatMs: number;
      leaseMs: number;
      maxResultBytes: number;
      /** Leases of the hello's `running` list that are no longer valid: stop those attempts. */
      lost: LeaseHeld[];
    }
  | { t: 'assign'; jobs: Assignment[] }
  | { t: 'cancel'; jobId: string; attempt: number; reason: string }
  /**
   * The verdicts of a report batch, in order. Trailing accepted verdicts are left out (an
   * all-accepted batch is acked with `[]`): a report with no verdict at its index was accepted.
   */
  | { t: 'ack'; batch: number; verdicts: ReportVerdict[] }
  | { t: 'heartbeat_ack'; lost: LeaseHeld[] }
  | { t: 'drain' }
  | { t: 'error'; code: string; message: string };

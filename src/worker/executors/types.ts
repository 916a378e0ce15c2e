/**
 * The one interface every executor (command, http, function, …) implements. An executor runs
 * one attempt and turns whatever happened into an outcome; it never throws for a job's own
 * failure, and it never talks to the server: the agent turns logs, progress and the outcome
 * into protocol reports.
 */
import type { Assignment } from '../../core/protocol.ts';
import type { JobError, JobType } from '../../core/types.ts';

/** Output streams of an attempt; `system` is the worker's own notes about the attempt. */
export type LogStream = 'stdout' | 'stderr' | 'system';

/** What an executor may do while it runs an attempt. */
export interface ExecContext {
  /** Appends output. Small writes are coalesced and large ones chunked by the agent. */
  log(stream: LogStream, data: string): void;
  /** Reports progress, 0–100 (clamped by the agent). */
  progress(pct: number): void;
  /**
   * Aborts when the attempt must stop: cancelled by the server, lost, or the worker closing.
   * The abort reason is an {@link AbortReason}. Timeouts are the executor's own business
   * (it reads `assignment.timeoutMs`), so it can report them as BATON_E_TIMEOUT.
   *
   * The agent creates the signal on first read (an AbortSignal per job is measurable at tens of
   * thousands of jobs a second), so an executor that only needs to hear of the stop should
   * prefer `onStop` (as `startDeadline` in deadline.ts does).
   */
  readonly signal: AbortSignal;
  /**
   * The cheap alternative to listening on `signal`: calls `fn` once with the reason when the
   * attempt must stop (at once when it already has) and returns a function that unhooks it.
   */
  onStop(fn: (reason: unknown) => void): () => void;
}

/** Why the agent aborted an attempt, passed as the AbortSignal's reason. */
export type AbortReason = 'cancelled' | 'lost' | 'closing';

/** How an attempt ended. */
export type ExecOutcome =
  | { ok: true; result: unknown; exitCode?: number }
  | { ok: false; error: JobError; exitCode?: number; timedOut?: boolean };

/** Runs attempts of one job type. */
export interface Executor {
  /** The job type this executor runs. */
  readonly type: JobType;
  /**
   * Runs one attempt to its end (or until `ctx.signal` aborts) and says how it ended: directly
   * when it ended without waiting (the agent then spends no promise on it), else as a promise.
   */
  execute(assignment: Assignment, ctx: ExecContext): ExecOutcome | Promise<ExecOutcome>;
}

/**
 * The events a running worker emits, for the CLI (to print what happens) and for tests (to wait
 * on a signal instead of sleeping).
 */
import type { Assignment, LeaseHeld, Report } from '../core/protocol.ts';
import type { ExecOutcome } from './executors/types.ts';

/** Event name → the value passed to listeners. */
export interface WorkerEvents {
  /** The server welcomed this worker (first connect or reconnect). */
  connected: { workerId: string; url: string };
  /** The connection dropped or a connect try failed; the worker reconnects unless closing. */
  disconnected: { url: string; code: number; reason: string };
  /** The server assigned an attempt. */
  assigned: Assignment;
  /** An attempt ended on this worker; `reported` is false when it was lost (no outcome sent). */
  finished: { jobId: string; attempt: number; outcome: ExecOutcome; reported: boolean };
  /** The server refused a report (stale attempt or another reason). */
  refused: { report: Report; code: string; message: string };
  /** An attempt is no longer this worker's (lost lease, reassigned, cancelled elsewhere). */
  lost: LeaseHeld & { why: string };
  /** The server cancelled an attempt. */
  cancelled: { jobId: string; attempt: number; reason: string };
  /** The server acknowledged a batch of reports. */
  acked: { batch: number };
  /** The server sent an error message. */
  serverError: { code: string; message: string };
  /** The worker started draining. */
  draining: Record<string, never>;
  /** The worker closed for good. */
  closed: Record<string, never>;
}

/** Name of a worker event. */
export type WorkerEventName = keyof WorkerEvents;

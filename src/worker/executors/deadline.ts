/**
 * One AbortSignal per attempt that fires on either the agent's signal (cancel, lost, closing)
 * or the attempt's own time limit, remembering which of the two fired first, so an executor
 * can tell a timeout (BATON_E_TIMEOUT) from a cancel.
 */
import type { JobError } from '../../core/types.ts';
import type { ExecOutcome } from './types.ts';

/** A combined stop signal for one attempt. */
export interface Deadline {
  /** Aborts on the parent signal or when the time limit passes. */
  signal: AbortSignal;
  /** True when the time limit fired (and not a cancel before it). */
  timedOut(): boolean;
  /** Stops the timer and unhooks from the parent signal; call when the attempt ends. */
  dispose(): void;
}

/** Starts a deadline of `timeoutMs` (null or ≤ 0 means none) under `parent`. */
export function startDeadline(parent: AbortSignal, timeoutMs: number | null): Deadline {
  const ctl = new AbortController();
  let timedOut = false;
  const onParent = (): void => ctl.abort(parent.reason);
  if (parent.aborted) ctl.abort(parent.reason);
  else parent.addEventListener('abort', onParent, { once: true });
  const timer =
    timeoutMs !== null && timeoutMs > 0 && !ctl.signal.aborted
      ? setTimeout(() => {
          timedOut = true;
          ctl.abort('timeout');
        }, timeoutMs)
      : null;
  return {
    signal: ctl.signal,
    timedOut: () => timedOut,
    dispose: () => {
      if (timer) clearTimeout(timer);
      parent.removeEventListener('abort', onParent);
    },
  };
}

/** The outcome of an attempt stopped by its time limit. */
export function timeoutOutcome(timeoutMs: number | null, extra: { exitCode?: number; details?: unknown } = {}): ExecOutcome {
  const error: JobError = { code: 'BATON_E_TIMEOUT', message: `the attempt ran longer than its timeoutMs (${timeoutMs} ms) and was stopped` };
  if (extra.details !== undefined) error.details = extra.details;
  return { ok: false, error, timedOut: true, ...(extra.exitCode !== undefined ? { exitCode: extra.exitCode } : {}) };
}

/** The outcome of an attempt stopped by the agent (cancel, lost lease, worker closing). */
export function abortedOutcome(reason: unknown): ExecOutcome {
  const why = typeof reason === 'string' ? reason : 'cancelled';
  const message =
    why === 'lost'
      ? 'the worker lost the lease of this attempt and stopped it'
      : why === 'closing'
        ? 'the worker shut down and stopped this attempt'
        : 'the attempt was cancelled';
  return { ok: false, error: { code: 'cancelled', message, details: { reason: why } } };
}

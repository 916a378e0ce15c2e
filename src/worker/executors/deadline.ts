/**
 * One stop signal per attempt that fires on either the agent's stop (cancel, lost, closing) or
 * the attempt's own time limit, remembering which of the two fired first, so an executor can
 * tell a timeout (BATON_E_TIMEOUT) from a cancel. The AbortSignal is created only when someone
 * reads it: most short jobs never need one, and at tens of thousands of jobs a second an
 * AbortController (plus its listeners) per job is a measurable share of the worker's CPU.
 */
import type { JobError } from '../../core/types.ts';
import type { ExecContext, ExecOutcome } from './types.ts';

/** A combined stop signal for one attempt. */
export interface Deadline {
  /** Aborts on the parent's stop or when the time limit passes; created on first read. */
  readonly signal: AbortSignal;
  /** True when the time limit fired (and not a cancel before it). */
  timedOut(): boolean;
  /** True once the deadline fired, for either reason. */
  stopped(): boolean;
  /** Why it fired: 'timeout' or the parent's reason; undefined before. */
  reason(): unknown;
  /** Calls `fn` once when the deadline fires (at once when it has); one callback per deadline. */
  onStop(fn: (reason: unknown) => void): void;
  /** Stops the timer and unhooks from the parent; call when the attempt ends. */
  dispose(): void;
}

/** What a deadline listens to: an executor's context. */
export type StopParent = Pick<ExecContext, 'onStop'>;

/**
 * Starts a deadline of `timeoutMs` (null or ≤ 0 means none) under `parent`, counted from
 * `startedAt` (default now), so a deadline set up after a handler's synchronous part still
 * ends the attempt `timeoutMs` after it began.
 */
export function startDeadline(parent: StopParent, timeoutMs: number | null, startedAt?: number): Deadline {
  return new AttemptDeadline(parent, timeoutMs, startedAt);
}

class AttemptDeadline implements Deadline {
  private ctl: AbortController | null = null;
  private fired = false;
  private why: unknown = undefined;
  private timeout = false;
  private timer: NodeJS.Timeout | null = null;
  private unhook: (() => void) | null = null;
  private listener: ((reason: unknown) => void) | null = null;

  constructor(parent: StopParent, timeoutMs: number | null, startedAt?: number) {
    this.unhook = parent.onStop((reason) => this.fire(reason));
    if (timeoutMs !== null && timeoutMs > 0 && !this.fired) {
      const left = startedAt === undefined ? timeoutMs : Math.max(0, timeoutMs - (Date.now() - startedAt));
      this.timer = setTimeout(() => {
        this.timer = null;
        if (this.fired) return;
        this.timeout = true;
        this.fire('timeout');
      }, left);
    }
  }

  get signal(): AbortSignal {
    if (this.ctl === null) {
      this.ctl = new AbortController();
      if (this.fired) this.ctl.abort(this.why);
    }
    return this.ctl.signal;
  }

  timedOut(): boolean {
    return this.timeout;
  }

  stopped(): boolean {
    return this.fired;
  }

  reason(): unknown {
    return this.why;
  }

  onStop(fn: (reason: unknown) => void): void {
    if (this.fired) fn(this.why);
    else this.listener = fn;
  }

  dispose(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.unhook?.();
    this.unhook = null;
    this.listener = null;
  }

  private fire(reason: unknown): void {
    if (this.fired) return;
    this.fired = true;
    this.why = reason;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.ctl?.abort(reason);
    const fn = this.listener;
    this.listener = null;
    fn?.(reason);
  }
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

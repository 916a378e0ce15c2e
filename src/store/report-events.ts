/**
 * What a worker report means to the state machine, shared by both engines: the transition event
 * a state-changing report stands for, and the verdict of a refused one.
 */
import type { Report } from '../core/protocol.ts';
import type { JobEvent } from '../core/transition.ts';
import type { ReportOutcome } from './types.ts';

/** The verdict of a report fenced off because its attempt is no longer current. */
export function stale(message: string): ReportOutcome {
  return { ok: false, code: 'BATON_E_STALE_ATTEMPT', message };
}

/** The transition event a state-changing report stands for; `random` feeds retry jitter. */
export function eventOf(r: Exclude<Report, { kind: 'log' }>, random: () => number): JobEvent {
  const ref = { attempt: r.attempt, leaseToken: r.leaseToken };
  switch (r.kind) {
    case 'started':
      return { type: 'start', ...ref };
    case 'returned':
      return { type: 'return', ...ref };
    case 'progress':
      return { type: 'progress', progress: r.progress, ...ref };
    case 'completed':
      return { type: 'complete', result: r.result, exitCode: r.exitCode ?? null, ...ref };
    case 'failed':
      return { type: 'fail', error: r.error, exitCode: r.exitCode ?? null, timedOut: r.timedOut ?? false, random: random(), ...ref };
  }
}

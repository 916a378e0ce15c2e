/**
 * Pure helpers that turn an executor's outcome into the protocol's last report of an attempt,
 * enforcing the server's result size limit on the worker side (cheaper than shipping a
 * too-large result only to have it refused).
 */
import type { Assignment, LeaseHeld } from '../core/protocol.ts';
import type { ExecOutcome } from './executors/types.ts';
import type { OutcomeReport } from './reports.ts';

/** Result limit used until the server's welcome says otherwise (the server's default). */
export const DEFAULT_MAX_RESULT_BYTES = 1024 * 1024;

/** Just the lease fields of an assignment or report. */
export function lease(a: LeaseHeld): LeaseHeld {
  return { jobId: a.jobId, attempt: a.attempt, leaseToken: a.leaseToken };
}

/**
 * Turns a success whose result is over `maxResultBytes` of JSON (or is not JSON at all) into a
 * failure saying so; other outcomes pass unchanged.
 */
export function limitResult(o: ExecOutcome, maxResultBytes: number): ExecOutcome {
  if (!o.ok) return o;
  if (clearlySmall(o.result, maxResultBytes)) return o;
  const exit = o.exitCode !== undefined ? { exitCode: o.exitCode } : {};
  let size: number;
  try {
    size = Buffer.byteLength(JSON.stringify(o.result ?? null));
  } catch (e) {
    return { ok: false, error: { code: 'BATON_E_EXECUTION_FAILED', message: `the result is not JSON-serialisable: ${(e as Error).message}` }, ...exit };
  }
  if (size <= maxResultBytes) return o;
  return {
    ok: false,
    error: {
      code: 'BATON_E_RESULT_TOO_LARGE',
      message: `the result is ${size} bytes of JSON, over the limit of ${maxResultBytes} bytes; store it elsewhere and return a reference`,
      details: { size, limit: maxResultBytes },
    },
    ...exit,
  };
}

/** The `completed` or `failed` report of an attempt. */
export function toReport(a: Assignment, o: ExecOutcome, now = Date.now()): OutcomeReport {
  // Built field by field (not spread): this runs once per job.
  if (o.ok) return { jobId: a.jobId, attempt: a.attempt, leaseToken: a.leaseToken, at: now, kind: 'completed', result: o.result ?? null, exitCode: o.exitCode ?? null };
  const r: OutcomeReport = { jobId: a.jobId, attempt: a.attempt, leaseToken: a.leaseToken, at: now, kind: 'failed', error: o.error, exitCode: o.exitCode ?? null };
  if (o.timedOut) r.timedOut = true;
  return r;
}

/** True for a result whose JSON surely fits (a primitive, or a short string): no need to serialise it twice. */
function clearlySmall(v: unknown, maxBytes: number): boolean {
  if (v === null || v === undefined || typeof v === 'boolean' || typeof v === 'number') return maxBytes >= 32;
  // At most 6 bytes of JSON per UTF-16 unit (\uXXXX), plus the quotes.
  return typeof v === 'string' && v.length * 6 + 2 <= maxBytes;
}

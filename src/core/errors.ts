/**
 * The registry of every error a user can see. Each code is stable: clients match on it.
 * docs/errors.md lists the same codes; test/core/errors.test.ts keeps the two in step.
 */

/** Definition of one error code: the HTTP status it maps to and what it means. */
export interface ErrorDef {
  status: number;
  /** One sentence for docs/errors.md: when it happens and what to change. */
  doc: string;
}

export const ERRORS = {
  BATON_E_VALIDATION: { status: 400, doc: 'A field is missing, of the wrong type, out of range or unknown; `field` names it.' },
  BATON_E_MALFORMED_JSON: { status: 400, doc: 'The request body is not valid JSON.' },
  BATON_E_UNSUPPORTED_MEDIA_TYPE: { status: 415, doc: 'The request body is not `application/json`.' },
  BATON_E_BODY_TOO_LARGE: { status: 413, doc: 'The request body is larger than the server accepts (BATON_BODY_LIMIT_BYTES).' },
  BATON_E_BATCH_TOO_LARGE: { status: 400, doc: 'A batch holds more than 10,000 jobs; split it.' },
  BATON_E_UNAUTHENTICATED: { status: 401, doc: 'No bearer token, or the token is unknown or revoked.' },
  BATON_E_FORBIDDEN: { status: 403, doc: 'The token is valid but its role may not do this.' },
  BATON_E_NOT_FOUND: { status: 404, doc: 'No such object in your tenant (objects of other tenants are reported as not found too).' },
  BATON_E_ROUTE_NOT_FOUND: { status: 404, doc: 'No such API route or method.' },
  BATON_E_CONFLICT: { status: 409, doc: 'The object exists already (e.g. a tenant id or token name in use).' },
  BATON_E_DUPLICATE: { status: 409, doc: 'Another job with the same `uniqueKey` has not ended yet; wait for it, or submit with `onDuplicate: "return"` to get that job back instead.' },
  BATON_E_JOB_NOT_MODIFIABLE: { status: 409, doc: 'The job has started or ended, so it can no longer be modified.' },
  BATON_E_JOB_NOT_CANCELLABLE: { status: 409, doc: 'The job has already ended, so it cannot be cancelled.' },
  BATON_E_JOB_NOT_RETRYABLE: { status: 409, doc: 'Only a failed or cancelled job can be retried; clone a completed job instead.' },
  BATON_E_INVALID_TRANSITION: { status: 409, doc: 'The requested change is not allowed from the job\'s current status.' },
  BATON_E_STALE_ATTEMPT: { status: 409, doc: 'A worker reported for an attempt that is no longer current (its lease was lost or the job was cancelled); the report was refused.' },
  BATON_E_RESULT_TOO_LARGE: { status: 413, doc: 'A job result is larger than BATON_MAX_RESULT_BYTES (default 1 MiB); store it elsewhere and return a reference.' },
  BATON_E_NO_RESULT: { status: 404, doc: 'The job has not completed, so it has no result yet.' },
  BATON_E_UNAVAILABLE: { status: 503, doc: 'The server cannot reach its store or is shutting down; retry after the Retry-After delay.' },
  BATON_E_INTERNAL: { status: 500, doc: 'An unexpected server error; the log has the details.' },
  BATON_E_WORKER_PROTOCOL: { status: 400, doc: 'A worker sent a message that does not follow the worker protocol.' },
  BATON_E_TIMEOUT: { status: 408, doc: 'A job attempt ran longer than its timeoutMs and was killed; it counts as a failed attempt.' },
  BATON_E_LEASE_EXPIRED: { status: 409, doc: 'A worker stopped heartbeating, so its attempt\'s lease expired and the job went back to pending.' },
  BATON_E_HANDLER_NOT_FOUND: { status: 400, doc: 'A function job named a handler that the worker has not registered.' },
  BATON_E_EXECUTION_FAILED: { status: 500, doc: 'A job attempt failed (non-zero exit, HTTP error status, thrown exception); details are on the attempt.' },
  BATON_E_WAIT_TIMEOUT: { status: 408, doc: 'A client (`baton submit --wait`, `waitForJob`) stopped waiting before the job ended; the job itself goes on — wait again or cancel it.' },
  BATON_E_DEADLINE_EXCEEDED: { status: 409, doc: 'The job did not start by its `deadline`, so it failed with reason `deadline_exceeded` (it is not retried on its own).' },
  BATON_E_NOT_LEADER: { status: 409, doc: 'A server that lost the leadership of a cluster-wide duty tried a leader-only write; it was refused (internal: the server steps down).' },
  BATON_E_CLI_USAGE: { status: 400, doc: 'The `baton` command line was given missing or invalid options.' },
  BATON_E_CONFIG: { status: 400, doc: 'A server or worker setting (flag or BATON_* variable) is invalid.' },
} as const satisfies Record<string, ErrorDef>;

export type ErrorCode = keyof typeof ERRORS;

/** An error with a stable code that the API turns into `{error: {code, message, field}}`. */
export class BatonError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  /** The input field at fault, as a JSON path (`jobs[3].priority`), when there is one. */
  readonly field: string | undefined;
  readonly details: unknown;

  constructor(code: ErrorCode, message: string, opts: { field?: string; details?: unknown } = {}) {
    super(message);
    this.name = 'BatonError';
    this.code = code;
    this.status = ERRORS[code].status;
    this.field = opts.field;
    this.details = opts.details;
  }

  /** The JSON body the API sends for this error. */
  toJSON(): { error: { code: ErrorCode; message: string; field?: string; details?: unknown } } {
    const body: { code: ErrorCode; message: string; field?: string; details?: unknown } = {
      code: this.code,
      message: this.message,
    };
    if (this.field !== undefined) body.field = this.field;
    if (this.details !== undefined) body.details = this.details;
    return { error: body };
  }
}

/** True when `e` is a BatonError (works across module copies, unlike instanceof). */
export function isBatonError(e: unknown): e is BatonError {
  return typeof e === 'object' && e !== null && (e as { name?: unknown }).name === 'BatonError' && 'code' in e;
}

/** Shorthand for a validation error on one field. */
export function invalid(field: string, message: string): BatonError {
  return new BatonError('BATON_E_VALIDATION', `${field}: ${message}`, { field });
}

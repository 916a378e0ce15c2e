/**
 * Structural checks of what a worker sends. A worker holds a worker token but is still an
 * outside party: a malformed message closes its connection with BATON_E_WORKER_PROTOCOL
 * instead of reaching the store.
 */
import { BatonError } from '../core/errors.ts';
import { PROTOCOL_VERSION, type LeaseHeld, type Report, type WorkerHello, type WorkerMessage } from '../core/protocol.ts';
import { JOB_TYPES } from '../core/types.ts';

const MAX_REPORTS = 10_000;
const KINDS = new Set(['started', 'progress', 'log', 'completed', 'failed', 'returned']);
const STREAMS = new Set(['stdout', 'stderr', 'system']);

function bad(message: string): never {
  throw new BatonError('BATON_E_WORKER_PROTOCOL', message);
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function strings(v: unknown, what: string): string[] {
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string' && x.length > 0 && x.length <= 200)) bad(`${what} must be an array of strings`);
  return v as string[];
}

function leases(v: unknown, what: string): LeaseHeld[] {
  if (!Array.isArray(v) || v.length > MAX_REPORTS) bad(`${what} must be an array of leases`);
  for (const l of v) lease(l, what);
  return v as LeaseHeld[];
}

/** Largest value of a 32-bit integer column (attempts, exit codes). */
const INT4_MAX = 2 ** 31 - 1;

/** An integer a 32-bit column holds (the PostgreSQL store's attempt and exit_code). */
function isInt4(v: unknown): boolean {
  return Number.isInteger(v) && (v as number) >= -INT4_MAX - 1 && (v as number) <= INT4_MAX;
}

function lease(l: unknown, what: string): void {
  if (!isObj(l) || typeof l.jobId !== 'string' || !isInt4(l.attempt) || typeof l.leaseToken !== 'string') {
    bad(`${what}: each entry needs jobId, attempt and leaseToken (attempt a 32-bit integer)`);
  }
}

/** Checks the envelope of any worker message (the `t` field and its payload's shape). */
export function checkWorkerMessage(m: unknown): WorkerMessage {
  if (!isObj(m) || typeof m.t !== 'string') bad('message must be an object with a string field t');
  switch (m.t) {
    case 'hello':
      return m as unknown as WorkerHello;
    case 'heartbeat':
      leases(m.running, 'heartbeat.running');
      return m as unknown as WorkerMessage;
    case 'draining':
      return m as unknown as WorkerMessage;
    case 'reports': {
      if (!Number.isInteger(m.batch)) bad('reports.batch must be an integer');
      if (!Array.isArray(m.reports) || m.reports.length > MAX_REPORTS) bad(`reports.reports must be an array of at most ${MAX_REPORTS}`);
      for (const r of m.reports) checkReport(r);
      return m as unknown as WorkerMessage;
    }
    default:
      bad(`unknown message type ${JSON.stringify(m.t).slice(0, 50)}`);
  }
}

function checkReport(r: unknown): asserts r is Report {
  lease(r, 'report');
  const o = r as Record<string, unknown>;
  if (typeof o.kind !== 'string' || !KINDS.has(o.kind)) bad(`report.kind must be one of ${[...KINDS].join(', ')}`);
  if (o.kind === 'progress' && (typeof o.progress !== 'number' || !Number.isFinite(o.progress))) bad('progress report needs a numeric progress');
  if (o.kind === 'log' && (!Number.isSafeInteger(o.seq) || typeof o.data !== 'string' || !STREAMS.has(o.stream as string))) {
    bad('log report needs seq (integer), stream (stdout|stderr|system) and data (string)');
  }
  if ((o.kind === 'completed' || o.kind === 'failed') && o.exitCode !== undefined && o.exitCode !== null && !isInt4(o.exitCode)) {
    bad(`${o.kind} report: exitCode must be a 32-bit integer or null`);
  }
  if (o.kind === 'failed' && (!isObj(o.error) || typeof o.error.code !== 'string' || typeof o.error.message !== 'string')) {
    bad('failed report needs error {code, message}');
  }
}

/** Checks a hello in full: what the worker claims to be decides what it will be given. */
export function checkHello(h: WorkerHello): WorkerHello {
  if (h.protocol !== PROTOCOL_VERSION) bad(`protocol version ${String(h.protocol)} is not supported (server speaks ${PROTOCOL_VERSION})`);
  if (h.workerId !== undefined && typeof h.workerId !== 'string') bad('hello.workerId must be a string');
  if (typeof h.name !== 'string' || h.name.length === 0 || h.name.length > 200) bad('hello.name must be a non-empty string');
  if (typeof h.host !== 'string' || h.host.length > 200) bad('hello.host must be a string');
  for (const t of strings(h.types, 'hello.types')) if (!(JOB_TYPES as readonly string[]).includes(t)) bad(`hello.types: unknown job type ${t}`);
  strings(h.handlers, 'hello.handlers');
  if (strings(h.queues, 'hello.queues').length === 0) bad('hello.queues must name at least one queue (or *)');
  if (!isObj(h.labels) || !Object.values(h.labels).every((v) => typeof v === 'string')) bad('hello.labels must be an object of strings');
  if (!Number.isInteger(h.capacity) || h.capacity < 1 || h.capacity > 10_000) bad('hello.capacity must be an integer 1–10000');
  if (h.prefetch !== undefined && (!Number.isInteger(h.prefetch) || h.prefetch < 0 || h.prefetch > 10_000)) bad('hello.prefetch must be an integer 0–10000');
  for (const k of ['cpu', 'memoryMb'] as const) {
    if (h[k] !== undefined && (typeof h[k] !== 'number' || !(h[k]! >= 0))) bad(`hello.${k} must be a non-negative number`);
  }
  for (const k of ['region', 'zone'] as const) {
    if (h[k] !== undefined && h[k] !== null && typeof h[k] !== 'string') bad(`hello.${k} must be a string`);
  }
  leases(h.running, 'hello.running');
  return h;
}

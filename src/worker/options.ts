/**
 * Worker settings: what the caller gives ({@link WorkerOptions}), the defaults, and the checked
 * form the agent runs with. Validated once, at start, with BATON_E_CONFIG naming the setting.
 */
import os from 'node:os';
import pino, { type Logger } from 'pino';
import { BatonError } from '../core/errors.ts';
import { PROTOCOL_VERSION, type LeaseHeld, type WorkerHello } from '../core/protocol.ts';
import type { JobType } from '../core/types.ts';
import type { HandlerMap } from './sdk.ts';

/** What a caller passes to startWorker. */
export interface WorkerOptions {
  /** Base URLs of servers (e.g. `http://127.0.0.1:7070`); the next one is tried when one fails. */
  servers: string[];
  /** Bearer token with role `worker` (or `admin`). */
  token: string;
  /** Slots: attempts run at once. Default 8. */
  capacity?: number;
  /** Queues served. Default `['*']` (all). */
  queues?: string[];
  /** Labels jobs can require. Default none. */
  labels?: Record<string, string>;
  /** Job types advertised. Default command and http, plus function when handlers are given. */
  types?: JobType[];
  /** Handlers for function jobs, by name. */
  handlers?: HandlerMap;
  /** Name shown in the API and dashboard. Default `<hostname>-<pid>`. */
  name?: string;
  region?: string;
  zone?: string;
  /** Cores offered to jobs that reserve CPU. Default: not advertised. */
  cpu?: number;
  /** MiB offered to jobs that reserve memory. Default: not advertised. */
  memoryMb?: number;
  /** Logger. Default pino at BATON_LOG_LEVEL (info). */
  logger?: Logger;
  /**
   * Assignments taken beyond `capacity`, queued here and started as slots free. Default 0. Raise
   * it for many short jobs (each slot then has its next job at hand instead of waiting for the
   * server); keep it 0 for long jobs, since a queued job waits for this worker even when another
   * is idle.
   */
  prefetch?: number;
  /** Longest a report waits while an earlier report batch awaits its ack, ms; with none in flight reports go at once. Default 10. */
  reportFlushMs?: number;
  /** First reconnect delay, ms (doubles per failure, with jitter). Default 100. */
  reconnectMinMs?: number;
  /** Largest reconnect delay, ms. Default 5000. */
  reconnectMaxMs?: number;
}

/** WorkerOptions with every default filled in and checked. */
export interface ResolvedWorkerOptions {
  urls: string[];
  token: string;
  capacity: number;
  prefetch: number;
  queues: string[];
  labels: Record<string, string>;
  types: JobType[];
  handlers: HandlerMap;
  name: string;
  region: string | null;
  zone: string | null;
  cpu: number | undefined;
  memoryMb: number | undefined;
  logger: Logger;
  reportFlushMs: number;
  reconnectMinMs: number;
  reconnectMaxMs: number;
}

function bad(field: string, message: string): never {
  throw new BatonError('BATON_E_CONFIG', `worker ${field}: ${message}`, { field });
}

/** Turns a server base URL into its worker WebSocket endpoint. */
export function connectUrl(base: string): string {
  let u: URL;
  try {
    u = new URL(base);
  } catch {
    bad('servers', `"${base}" is not a valid URL (expected e.g. http://127.0.0.1:7070)`);
  }
  const scheme = { 'http:': 'ws:', 'https:': 'wss:', 'ws:': 'ws:', 'wss:': 'wss:' }[u.protocol];
  if (!scheme) bad('servers', `"${base}" must be an http(s) or ws(s) URL`);
  u.protocol = scheme;
  u.pathname = `${u.pathname.replace(/\/+$/, '')}/v1/worker/connect`;
  u.search = '';
  u.hash = '';
  return u.toString();
}

/** Applies defaults and checks every setting. */
export function resolveWorkerOptions(o: WorkerOptions): ResolvedWorkerOptions {
  if (!Array.isArray(o.servers) || o.servers.length === 0) bad('servers', 'give at least one server URL');
  if (typeof o.token !== 'string' || o.token.length === 0) bad('token', 'a worker token is required');
  const capacity = o.capacity ?? 8;
  if (!Number.isInteger(capacity) || capacity < 1 || capacity > 10_000) bad('capacity', 'must be an integer 1–10000');
  const prefetch = o.prefetch ?? 0;
  if (!Number.isInteger(prefetch) || prefetch < 0 || prefetch > 10_000) bad('prefetch', 'must be an integer 0–10000');
  const queues = o.queues ?? ['*'];
  if (queues.length === 0 || !queues.every((q) => typeof q === 'string' && q.length > 0)) bad('queues', 'must name at least one queue (or *)');
  const handlers = o.handlers ?? {};
  for (const [k, v] of Object.entries(handlers)) if (typeof v !== 'function') bad('handlers', `handler "${k}" is not a function`);
  const types = o.types ?? (['command', 'http', ...(Object.keys(handlers).length > 0 ? ['function'] : [])] as JobType[]);
  if (types.includes('container')) bad('types', 'container jobs are not supported by this worker yet');
  const ms = (v: number | undefined, def: number, field: string, min: number): number => {
    const n = v ?? def;
    if (!Number.isFinite(n) || n < min) bad(field, `must be a number ≥ ${min}`);
    return n;
  };
  const reconnectMinMs = ms(o.reconnectMinMs, 100, 'reconnectMinMs', 1);
  const reconnectMaxMs = ms(o.reconnectMaxMs, 5000, 'reconnectMaxMs', reconnectMinMs);
  for (const k of ['cpu', 'memoryMb'] as const) if (o[k] !== undefined && !(o[k]! >= 0)) bad(k, 'must be a non-negative number');
  return {
    urls: o.servers.map(connectUrl),
    token: o.token,
    capacity,
    prefetch,
    queues,
    labels: o.labels ?? {},
    types,
    handlers,
    name: o.name ?? `${os.hostname()}-${process.pid}`,
    region: o.region ?? null,
    zone: o.zone ?? null,
    cpu: o.cpu,
    memoryMb: o.memoryMb,
    logger: o.logger ?? pino({ name: 'baton-worker', level: process.env.BATON_LOG_LEVEL ?? 'info' }),
    reportFlushMs: ms(o.reportFlushMs, 10, 'reportFlushMs', 0),
    reconnectMinMs,
    reconnectMaxMs,
  };
}

/** The hello a worker with these options sends on every (re)connect. */
export function helloFor(o: ResolvedWorkerOptions, state: { workerId: string | null; running: LeaseHeld[]; draining: boolean }): WorkerHello {
  return {
    t: 'hello',
    protocol: PROTOCOL_VERSION,
    ...(state.workerId ? { workerId: state.workerId } : {}),
    name: o.name,
    host: os.hostname(),
    types: o.types,
    handlers: o.types.includes('function') ? Object.keys(o.handlers) : [],
    queues: o.queues,
    labels: o.labels,
    capacity: o.capacity,
    ...(o.prefetch > 0 ? { prefetch: o.prefetch } : {}),
    ...(o.cpu !== undefined ? { cpu: o.cpu } : {}),
    ...(o.memoryMb !== undefined ? { memoryMb: o.memoryMb } : {}),
    region: o.region,
    zone: o.zone,
    running: state.running,
    draining: state.draining,
  };
}

/**
 * A real ServerContext for API tests: a real SQLite store in a fresh temp dir, a silent pino
 * logger, UUIDv7 ids and real job events. Only the background services are replaced, by
 * `recordingServices`, which records what the routes asked of them: the dispatcher and the
 * worker gateway are exercised for real by the end-to-end tests (test/e2e).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { v7 as uuidv7 } from 'uuid';
import type { Role } from '../../src/core/types.ts';
import { buildHttpApp } from '../../src/server/api/index.ts';
import { loadServerConfig } from '../../src/server/config.ts';
import { createJobEvents, type ServerContext, type Services } from '../../src/server/context.ts';
import { bootstrap, mintToken } from '../../src/server/tokens.ts';
import { openStore } from '../../src/store/index.ts';

/** Services that only record their calls; a stand-in for the dispatcher, promoter and gateway. */
export interface RecordingServices extends Services {
  calls: { wake: number; scheduledAt: number[]; cancel: Parameters<Services['cancelAttempt']>[0][]; drain: string[] };
  /** Worker ids reported as connected to this server. */
  connected: Set<string>;
}

/** Makes a fresh RecordingServices. */
export function recordingServices(): RecordingServices {
  const calls: RecordingServices['calls'] = { wake: 0, scheduledAt: [], cancel: [], drain: [] };
  const connected = new Set<string>();
  return {
    calls,
    connected,
    wakeDispatcher: () => void calls.wake++,
    scheduledAt: (runAt) => void calls.scheduledAt.push(runAt),
    cancelAttempt: (p) => void calls.cancel.push(p),
    drainWorker: (id) => {
      calls.drain.push(id);
      return connected.has(id);
    },
    connectedWorkers: () => connected,
  };
}

/** What an API test gets: the context, the app, the admin token and a way to mint more tokens. */
export interface ApiHarness {
  ctx: ServerContext;
  services: RecordingServices;
  app: FastifyInstance;
  dir: string;
  /** The bootstrap system admin token of tenant `default`. */
  adminToken: string;
  /** Mints a token of `role` in `tenant` (created when missing) and returns its string. */
  token(role: Role, tenant?: string): Promise<string>;
  /** Authorization header for a token. */
  auth(token: string): { authorization: string };
  close(): Promise<void>;
}

/** Builds a harness; `config` overrides server settings (e.g. a small bodyLimitBytes). */
export async function makeApiHarness(config: Parameters<typeof loadServerConfig>[0] = {}): Promise<ApiHarness> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'baton-api-'));
  const cfg = loadServerConfig({ dataDir: dir, logLevel: 'silent', ...config }, {});
  const store = await openStore(cfg.store);
  const services = recordingServices();
  const ctx: ServerContext = {
    config: cfg,
    serverId: 'api-test',
    store,
    now: () => Date.now(),
    newId: () => uuidv7(),
    random: () => Math.random(),
    log: pino({ level: 'silent' }),
    events: createJobEvents(),
    services,
  };
  const { adminToken } = await bootstrap(ctx);
  if (!adminToken) throw new Error('a fresh store must yield a bootstrap admin token');
  const app = await buildHttpApp(ctx);
  await app.ready();
  let n = 0;
  return {
    ctx,
    services,
    app,
    dir,
    adminToken,
    async token(role, tenant = 'default') {
      if (!(await store.tenantGet({ id: tenant }))) await store.tenantCreate({ tenant: { id: tenant, name: tenant, createdAt: ctx.now() } });
      return (await mintToken(ctx, { tenant, name: `${role}-${++n}`, role })).secret;
    },
    auth: (token) => ({ authorization: `Bearer ${token}` }),
    async close() {
      // Sockets that fetch() left open (keep-alive) would otherwise hold close() for seconds.
      if (app.server.listening) app.server.closeAllConnections();
      await app.close();
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A valid command job input, with `extra` fields merged in. */
export function commandJob(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { type: 'command', payload: { argv: ['echo', 'hi'] }, ...extra };
}

/** The lease of an attempt that a test holds in place of a worker. */
export interface TestLease {
  jobId: string;
  workerId: string;
  attempt: number;
  leaseToken: string;
}

/** Registers a worker row in `tenant` (no connection: the store is written directly). */
export async function registerWorker(h: ApiHarness, tenant = 'default', name = 'w1'): Promise<string> {
  const now = h.ctx.now();
  const id = h.ctx.newId();
  await h.ctx.store.workerUpsert({
    worker: {
      id, tenant, name, host: 'test-host', types: ['command', 'http', 'function'], handlers: [], queues: ['*'], labels: {},
      capacity: 4, cpu: 0, memoryMb: 0, region: null, zone: null, status: 'active', registeredAt: now, lastSeenAt: now,
    },
  });
  return id;
}

/** Assigns a pending job to a worker through the store, as the dispatcher would, and starts it. */
export async function startJob(h: ApiHarness, jobId: string, workerId: string, opts: { start?: boolean } = {}): Promise<TestLease> {
  const now = h.ctx.now();
  const leaseToken = h.ctx.newId();
  const [job] = await h.ctx.store.jobAssignMany({ assignments: [{ jobId, workerId, leaseToken, leaseExpiresAt: now + 60_000 }], now });
  if (!job) throw new Error(`job ${jobId} could not be assigned`);
  const lease = { jobId, workerId, attempt: job.attempt, leaseToken };
  if (opts.start !== false) await report(h, lease, [{ kind: 'started' }]);
  return lease;
}

type ReportBody =
  | { kind: 'started' }
  | { kind: 'log'; seq: number; stream: 'stdout' | 'stderr' | 'system'; data: string }
  | { kind: 'completed'; result: unknown; exitCode?: number | null }
  | { kind: 'failed'; error: { code: string; message: string }; exitCode?: number | null };

/** Applies worker reports for a lease through the store (as the gateway would) and emits the events. */
export async function report(h: ApiHarness, lease: TestLease, bodies: ReportBody[]): Promise<void> {
  const now = h.ctx.now();
  const reports = bodies.map((b) => ({ ...b, jobId: lease.jobId, attempt: lease.attempt, leaseToken: lease.leaseToken, at: now }));
  const out = await h.ctx.store.reportApplyMany({ workerId: lease.workerId, reports, now, random: () => 0.5 });
  const bad = out.find((o) => !o.ok);
  if (bad && !bad.ok) throw new Error(`report refused: ${bad.code} ${bad.message}`);
  if (bodies.some((b) => b.kind === 'log')) h.ctx.events.emit('log', lease.jobId);
  h.ctx.events.emit('job', lease.jobId);
}

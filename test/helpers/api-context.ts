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

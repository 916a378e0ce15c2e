/**
 * Composition root of a Baton server: opens and migrates the store, bootstraps the first admin
 * token, builds the HTTP API, adds the worker gateway, and starts the dispatcher and the
 * maintenance services. `startServer` is what `baton server` and `baton dev` call.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import websocket from '@fastify/websocket';
import type { FastifyInstance } from 'fastify';
import { pino, type Logger } from 'pino';
import { v7 as uuidv7 } from 'uuid';
import { openStore } from '../store/index.ts';
import { buildHttpApp } from './api/index.ts';
import { loadServerConfig } from './config.ts';
import { createJobEvents, type ServerConfig, type ServerContext } from './context.ts';
import { Dispatcher } from './dispatcher.ts';
import { Gateway } from './gateway.ts';
import { Leader } from './leader.ts';
import { Maintenance } from './maintenance.ts';
import { CronService } from './cron.ts';
import { uuidv7Source } from './ids.ts';
import { bootstrap } from './tokens.ts';

/** A started server. */
export interface RunningServer {
  /** Base URL of the API, e.g. http://127.0.0.1:7070. */
  url: string;
  /** The system admin token, only on the very first start (it is also written to adminTokenFile). */
  adminToken: string | null;
  adminTokenFile: string;
  ctx: ServerContext;
  app: FastifyInstance;
  /** Stops taking work, closes worker connections and the store. */
  close(): Promise<void>;
}

export interface StartServerOptions extends Partial<ServerConfig> {
  /** Logger to use instead of a new pino logger at `logLevel`. */
  logger?: Logger;
}

/** Starts a server and resolves once it listens. */
export async function startServer(opts: StartServerOptions = {}): Promise<RunningServer> {
  const { logger, ...overrides } = opts;
  const config = loadServerConfig(overrides);
  await mkdir(config.dataDir, { recursive: true });
  const log = logger ?? pino({ level: config.logLevel });
  const store = await openStore(config.store);
  try {
    await store.migrate();
  } catch (e) {
    await store.close();
    throw e;
  }

  const ctx: ServerContext = {
    config,
    // The embedded store has one server, which keeps its identity across restarts and so takes
    // its leadership back at once; servers sharing a database each get their own.
    serverId: store.capabilities.multiServer ? uuidv7() : 'embedded',
    store,
    now: Date.now,
    newId: uuidv7Source(),
    random: Math.random,
    log,
    events: createJobEvents(),
    // Filled in below, once the services exist.
    services: undefined as unknown as ServerContext['services'],
  };
  const gateway = new Gateway(ctx);
  const dispatcher = new Dispatcher(ctx, gateway);
  const leader = new Leader(ctx, 'maintenance', ctx.serverId, config.leaderTtlMs);
  const maintenance = new Maintenance(ctx, gateway, leader, () => dispatcher.wake());
  // Cron fires and deadlines are cluster-wide duties too: same leader, same fence.
  const cron = new CronService(ctx, leader, () => dispatcher.wake());
  gateway.onCapacity = () => dispatcher.wakeForCapacity();
  gateway.onWork = () => dispatcher.wake();
  ctx.services = {
    wakeDispatcher: () => dispatcher.wake(),
    planInsert: (jobs) => dispatcher.planInsert(jobs),
    scheduledAt: (runAt) => maintenance.scheduledAt(runAt),
    cancelAttempt: (p) => gateway.cancelAttempt(p),
    drainWorker: (id) => gateway.drainWorker(id),
    connectedWorkers: () => gateway.connectedIds(),
    cronDueAt: (at) => cron.dueAt(at),
  };

  const { adminToken } = await bootstrap(ctx);
  if (adminToken) {
    await mkdir(path.dirname(config.adminTokenFile), { recursive: true });
    await writeFile(config.adminTokenFile, adminToken + '\n', { mode: 0o600 });
  }

  const app = await buildHttpApp(ctx);
  await app.register(websocket, { options: { maxPayload: 64 * 1024 * 1024 } });
  gateway.register(app);
  try {
    await app.listen({ host: config.host, port: config.port });
  } catch (e) {
    await app.close();
    await store.close();
    throw e;
  }
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : config.port;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host === '0.0.0.0' ? '127.0.0.1' : config.host;
  const url = `http://${host}:${port}`;
  // Other servers' submits, promotions and freed slots wake this server's dispatcher at once.
  const unlisten =
    store.capabilities.supportsListen && store.listen
      ? await store.listen('wake', () => {
          dispatcher.wake();
          maintenance.recheck();
          cron.recheck();
        })
      : null;
  await leader.start();
  dispatcher.start();
  maintenance.start();
  cron.start();
  log.info({ url, store: config.store.replace(/\/\/[^@]*@/, '//***@') }, 'baton server listening');

  let closing: Promise<void> | null = null;
  return {
    url,
    adminToken,
    adminTokenFile: config.adminTokenFile,
    ctx,
    app,
    close() {
      closing ??= (async () => {
        await dispatcher.stop();
        await maintenance.stop();
        await cron.stop();
        await leader.stop();
        await unlisten?.();
        gateway.closeAll();
        await app.close();
        await store.close();
      })();
      return closing;
    },
  };
}

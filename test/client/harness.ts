/**
 * A real Baton server (embedded store in a fresh temp dir, a free port) and, when asked, a real
 * worker agent in this process, for the client and CLI tests. `stop()` closes both and removes
 * the data.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { BatonClient } from '../../src/client/index.ts';
import { startServer, type RunningServer } from '../../src/server/app.ts';
import { startWorker, type RunningWorker } from '../../src/worker/index.ts';

/** A running test server with an admin client. */
export interface TestServer {
  srv: RunningServer;
  url: string;
  /** The system admin token written on first start. */
  token: string;
  dataDir: string;
  client: BatonClient;
  /** Starts a worker agent in this process, connected with the admin token. */
  addWorker(opts?: { name?: string; queues?: string[]; capacity?: number }): Promise<RunningWorker>;
  stop(): Promise<void>;
}

/** Starts a server on 127.0.0.1 with a free port and its data in a new temp dir. */
export async function startTestServer(prefix: string): Promise<TestServer> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), `baton-${prefix}-`));
  const logger = pino({ level: 'warn' });
  const srv = await startServer({ port: 0, dataDir, logger });
  const token = srv.adminToken;
  if (!token) throw new Error('a fresh data dir must yield an admin token');
  const client = new BatonClient({ url: srv.url, token });
  const workers: RunningWorker[] = [];
  return {
    srv,
    url: srv.url,
    token,
    dataDir,
    client,
    async addWorker(opts = {}) {
      const name = opts.name ?? `test-worker-${workers.length + 1}`;
      const w = await startWorker({ servers: [srv.url], token, name, queues: opts.queues, capacity: opts.capacity ?? 4, logger });
      workers.push(w);
      // Connected means listed as connected: jobs submitted after this get dispatched.
      const deadline = Date.now() + 10_000;
      while (!(await client.workers()).some((x) => x.name === name && x.connected)) {
        if (Date.now() > deadline) throw new Error(`worker ${name} did not connect`);
        await new Promise((r) => setTimeout(r, 25));
      }
      return w;
    },
    async stop() {
      await Promise.all(workers.map((w) => w.close()));
      await srv.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

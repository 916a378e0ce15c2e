/**
 * `baton server`: runs one Baton server (API, worker gateway, dispatcher, maintenance) until a
 * signal. The only command that imports the server; see DESIGN.md's boundaries.
 */
import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { BatonError } from '../../core/errors.ts';
import type { RunningServer } from '../../server/app.ts';
import type { ServerConfig } from '../../server/context.ts';
import { parseIntFlag } from '../context.ts';
import { untilSignalled } from '../shutdown.ts';

/** Flags shared by `baton server` and `baton dev`. */
export interface ServerFlags {
  host?: string;
  port?: string;
  dataDir?: string;
  store?: string;
  logLevel?: string;
}

/** Turns server flags into config overrides; unset flags fall back to BATON_* and defaults. */
export function serverOverrides(flags: ServerFlags): Partial<ServerConfig> {
  return {
    host: flags.host,
    port: flags.port === undefined ? undefined : parseIntFlag('--port', flags.port),
    dataDir: flags.dataDir,
    store: flags.store,
    logLevel: flags.logLevel,
  };
}

/** Turns "port in use" and "no permission" into a BATON_E_CONFIG that names the setting to change. */
export function explainListenError(e: unknown): never {
  const err = e as NodeJS.ErrnoException & { address?: string; port?: number };
  if (err?.code === 'EADDRINUSE' || err?.code === 'EACCES' || err?.code === 'EADDRNOTAVAIL') {
    const where = err.address ? `${err.address}:${err.port}` : 'the configured address';
    const why = err.code === 'EADDRINUSE' ? 'is already in use' : err.code === 'EACCES' ? 'needs more privileges' : 'is not an address of this machine';
    throw new BatonError('BATON_E_CONFIG', `cannot listen on ${where}: it ${why}; pick another --port/--host (BATON_PORT/BATON_HOST)`, { field: 'port' });
  }
  throw e;
}

/** Prints where the server listens and how to authenticate against it. */
export function announceServer(srv: RunningServer, what = 'baton server'): void {
  const lines = [`${what} listening on ${srv.url}`];
  if (srv.adminToken) {
    lines.push(`admin token: ${srv.adminToken}`);
    lines.push(`  (first start: written to ${srv.adminTokenFile}; it is not printed again)`);
  } else if (existsSync(srv.adminTokenFile)) {
    lines.push(`admin token file: ${srv.adminTokenFile}`);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

/** Registers `baton server` on the program. */
export function registerServer(program: Command): void {
  program
    .command('server')
    .description('run a Baton server until SIGINT/SIGTERM')
    .option('--host <addr>', 'address to listen on (BATON_HOST, default 127.0.0.1)')
    .option('--port <n>', 'port to listen on, 0 for any free one (BATON_PORT, default 7070)')
    .option('--data-dir <dir>', 'directory of the embedded store and the admin token file (BATON_DATA_DIR, default ./data)')
    .option('--store <url>', 'store: sqlite:PATH or postgres://user@host:5432/db?schema=baton (BATON_STORE, default sqlite:<data dir>/baton.db)')
    .option('--log-level <level>', 'pino log level (BATON_LOG_LEVEL, default info)')
    .action(async (flags: ServerFlags) => {
      // Loaded on demand: client commands should not pay for loading the server.
      const { startServer } = await import('../../server/app.ts');
      const srv = await startServer(serverOverrides(flags)).catch(explainListenError);
      announceServer(srv);
      await untilSignalled({ graceful: () => srv.close() });
    });
}

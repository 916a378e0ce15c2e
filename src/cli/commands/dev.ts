/**
 * `baton dev` (what `npm start` runs): a server on the embedded store plus one local worker in
 * the same process, connected with the admin token. Ctrl-C stops both.
 */
import type { Command } from 'commander';
import { BatonError } from '../../core/errors.ts';
import { parseIntFlag, parseList, readTokenFile } from '../context.ts';
import { untilSignalled } from '../shutdown.ts';
import { announceServer, explainListenError, serverOverrides, type ServerFlags } from './server.ts';
import { parseTypes } from './worker.ts';

interface DevFlags extends ServerFlags {
  capacity: string;
  queues?: string;
  types?: string;
  handlers?: string;
}

/** Registers `baton dev` on the program. */
export function registerDev(program: Command): void {
  program
    .command('dev')
    .description('run a server on the embedded store plus one local worker, until Ctrl-C')
    .option('--port <n>', 'API port (BATON_PORT, default 7070)')
    .option('--data-dir <dir>', 'where the store and the admin token live (BATON_DATA_DIR, default ./data)')
    .option('--log-level <level>', 'pino log level (BATON_LOG_LEVEL, default info)')
    .option('--capacity <n>', 'slots of the local worker', '4')
    .option('--queues <list>', 'queues the local worker serves, comma-separated (default: every queue)')
    .option('--types <list>', 'job types the local worker runs (default: all it supports)')
    .option('--handlers <module>', 'function-job handlers for the local worker')
    .action(async (flags: DevFlags) => {
      const [{ startServer }, { loadHandlers, startWorker }] = await Promise.all([import('../../server/app.ts'), import('../../worker/index.ts')]);
      const capacity = parseIntFlag('--capacity', flags.capacity, 1);
      const types = parseTypes(flags.types);
      const handlers = flags.handlers === undefined ? undefined : await loadHandlers(flags.handlers);
      const srv = await startServer(serverOverrides(flags)).catch(explainListenError);
      try {
        const token = srv.adminToken ?? readTokenFile(srv.adminTokenFile);
        if (token === null) {
          throw new BatonError(
            'BATON_E_CONFIG',
            `the admin token file ${srv.adminTokenFile} is missing, so the local worker cannot connect; restore it or start with a fresh --data-dir`,
            { field: 'adminTokenFile' },
          );
        }
        const worker = await startWorker({
          servers: [srv.url],
          token,
          capacity,
          queues: parseList(flags.queues),
          labels: {},
          types,
          handlers,
          name: 'dev-worker',
          logger: srv.ctx.log.child({ component: 'worker' }),
        });
        announceServer(srv, 'baton dev: API');
        process.stdout.write(`local worker dev-worker: capacity ${capacity}, queues ${flags.queues ?? '*'}\n`);
        if (!srv.adminToken) process.stdout.write('use it: BATON_TOKEN=$(cat ' + srv.adminTokenFile + ') baton jobs ls\n');
        await untilSignalled({
          graceful: async () => {
            await worker.close();
            await srv.close();
          },
        });
      } catch (e) {
        await srv.close();
        throw e;
      }
    });
}

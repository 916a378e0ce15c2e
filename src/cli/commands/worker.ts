/**
 * `baton worker`: runs a worker agent that connects to one of the given servers, runs jobs,
 * and on SIGTERM/SIGINT drains (finishes its running jobs, takes no new ones) before exiting.
 */
import os from 'node:os';
import type { Command } from 'commander';
import { pino } from 'pino';
import { JOB_TYPES, type JobType } from '../../core/types.ts';
import { parseIntFlag, parseList, parsePairs, resolveConnection, usage, type GlobalOptions } from '../context.ts';
import { untilSignalled } from '../shutdown.ts';

/** Flags of `baton worker`. */
interface WorkerFlags extends GlobalOptions {
  server?: string;
  capacity: string;
  queues?: string;
  labels?: string;
  types?: string;
  handlers?: string;
  name?: string;
  region?: string;
  zone?: string;
  logLevel?: string;
}

/** Checks `--types`: known job types only. */
export function parseTypes(raw: string | undefined): JobType[] | undefined {
  const list = parseList(raw);
  if (list === undefined) return undefined;
  for (const t of list) if (!(JOB_TYPES as readonly string[]).includes(t)) throw usage(`--types: unknown job type "${t}" (one of ${JOB_TYPES.join(', ')})`, '--types');
  return list as JobType[];
}

/** Registers `baton worker` on the program. */
export function registerWorker(program: Command): void {
  program
    .command('worker')
    .description('run a worker agent until SIGTERM/SIGINT (first signal drains, second stops now)')
    .option('--server <urls>', 'server URL(s), comma-separated for failover (default: --url / BATON_URL / http://127.0.0.1:7070)')
    .option('--capacity <n>', 'jobs run at the same time (slots)', '8')
    .option('--queues <list>', 'queues to take jobs from, comma-separated (default: default)')
    .option('--labels <k=v,...>', 'labels jobs can require, e.g. region=eu,gpu=no')
    .option('--types <list>', `job types to run, comma-separated (default: all it supports of ${JOB_TYPES.join(', ')})`)
    .option('--handlers <module>', 'module exporting function-job handlers (a .ts file works)')
    .option('--name <name>', 'worker name shown in `baton workers` (default: the host name)')
    .option('--region <region>', 'region, for placement affinity')
    .option('--zone <zone>', 'zone, for placement affinity')
    .option('--log-level <level>', 'pino log level (BATON_LOG_LEVEL, default info)')
    .action(async (_flags: WorkerFlags, cmd: Command) => {
      const flags = cmd.optsWithGlobals<WorkerFlags>();
      const conn = resolveConnection(flags);
      const servers = parseList(flags.server) ?? [conn.url];
      if (servers.length === 0) throw usage('--server needs at least one URL', '--server');
      if (conn.token === null) throw usage('no token: pass --token, set BATON_TOKEN, or run where $BATON_DATA_DIR/admin-token exists', '--token');
      const { loadHandlers, startWorker } = await import('../../worker/index.ts');
      const handlers = flags.handlers === undefined ? undefined : await loadHandlers(flags.handlers);
      const logger = pino({ level: flags.logLevel ?? process.env.BATON_LOG_LEVEL ?? 'info' });
      const worker = await startWorker({
        servers,
        token: conn.token,
        capacity: parseIntFlag('--capacity', flags.capacity, 1),
        queues: parseList(flags.queues) ?? ['default'],
        labels: flags.labels === undefined ? {} : parsePairs('--labels', [flags.labels]),
        types: parseTypes(flags.types),
        handlers,
        name: flags.name ?? os.hostname(),
        region: flags.region,
        zone: flags.zone,
        logger,
      });
      process.stdout.write(`baton worker ${flags.name ?? os.hostname()} started (capacity ${flags.capacity}) → ${servers.join(', ')}\n`);
      await untilSignalled({
        graceful: async () => {
          await worker.drain();
          await worker.close();
        },
        immediate: () => worker.close(),
      });
    });
}

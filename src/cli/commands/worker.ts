/**
 * `baton worker`: runs a worker agent that connects to one of the given servers, runs jobs,
 * and on SIGTERM/SIGINT drains (finishes its running jobs, takes no new ones) before exiting.
 */
import type { Command } from 'commander';
import { pino } from 'pino';
import { JOB_TYPES, type JobType } from '../../core/types.ts';
import { parseIntFlag, parseList, parseNumberFlag, parsePairs, resolveConnection, usage, type GlobalOptions } from '../context.ts';
import { untilSignalled } from '../shutdown.ts';

/** Flags of `baton worker`. */
interface WorkerFlags extends GlobalOptions {
  server?: string;
  capacity: string;
  prefetch: string;
  queues?: string;
  labels?: string;
  types?: string;
  handlers?: string;
  name?: string;
  region?: string;
  zone?: string;
  cpu?: string;
  memoryMb?: string;
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
    .option('--prefetch <n>', 'jobs taken beyond --capacity and queued here, for many short jobs (0 for long ones)', '0')
    .option('--queues <list>', 'queues to take jobs from, comma-separated (default: * = every queue)')
    .option('--labels <k=v,...>', 'labels jobs can require, e.g. region=eu,gpu=no')
    .option('--types <list>', `job types to run, comma-separated (default: all it supports of ${JOB_TYPES.join(', ')})`)
    .option('--handlers <module>', 'module exporting function-job handlers (a .ts file works)')
    .option('--name <name>', 'worker name shown in `baton workers` (default: <hostname>-<pid>)')
    .option('--region <region>', 'region, for placement affinity')
    .option('--zone <zone>', 'zone, for placement affinity')
    .option('--cpu <cores>', 'cores offered to jobs that reserve CPU (default: not advertised)')
    .option('--memory-mb <mib>', 'MiB offered to jobs that reserve memory (default: not advertised)')
    .option('--log-level <level>', 'pino log level (BATON_LOG_LEVEL, default info)')
    .action(async (_flags: WorkerFlags, cmd: Command) => {
      const flags = cmd.optsWithGlobals<WorkerFlags>();
      const conn = resolveConnection(flags);
      const servers = parseList(flags.server) ?? [conn.url];
      if (servers.length === 0) throw usage('--server needs at least one URL', '--server');
      if (conn.token === null) throw usage('no token: pass --token, set BATON_TOKEN, or run where $BATON_DATA_DIR/admin-token exists', '--token');
      const { loadHandlers, startWorker } = await import('../../worker/index.ts');
      const handlers = flags.handlers === undefined ? undefined : await loadHandlers(flags.handlers);
      const capacity = parseIntFlag('--capacity', flags.capacity, 1);
      const worker = await startWorker({
        servers,
        token: conn.token,
        capacity,
        prefetch: parseIntFlag('--prefetch', flags.prefetch, 0),
        queues: parseList(flags.queues),
        labels: flags.labels === undefined ? {} : parsePairs('--labels', [flags.labels]),
        types: parseTypes(flags.types),
        handlers,
        name: flags.name,
        region: flags.region,
        zone: flags.zone,
        cpu: flags.cpu === undefined ? undefined : parseNumberFlag('--cpu', flags.cpu),
        memoryMb: flags.memoryMb === undefined ? undefined : parseIntFlag('--memory-mb', flags.memoryMb),
        // Without --log-level the agent picks its own default (BATON_LOG_LEVEL, else info).
        logger: flags.logLevel === undefined ? undefined : pino({ name: 'baton-worker', level: flags.logLevel }),
      });
      process.stdout.write(`baton worker${flags.name ? ` ${flags.name}` : ''} started: capacity ${capacity}, servers ${servers.join(', ')}\n`);
      worker.on('connected', (c) => process.stdout.write(`connected to ${c.url} as worker ${c.workerId}\n`));
      worker.on('draining', () => process.stdout.write('draining: finishing running jobs, taking no new ones\n'));
      // A drain asked through the API (`baton workers drain`) ends the worker too.
      const closed = new Promise<void>((resolve) => worker.on('closed', () => resolve()));
      await untilSignalled({
        graceful: async () => {
          await worker.drain();
          await worker.close();
        },
        immediate: () => worker.close(),
      }, closed);
    });
}

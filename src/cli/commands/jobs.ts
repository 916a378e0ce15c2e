/**
 * `baton jobs ...`: list, inspect, cancel, retry and clone jobs, read or follow their logs and
 * fetch their results.
 */
import type { Command } from 'commander';
import type { JobView, LogEntryView } from '../../core/api.ts';
import { JOB_STATUSES, JOB_TYPES, type JobStatus, type JobType } from '../../core/types.ts';
import type { JobFilter } from '../../client/index.ts';
import { clientFor, parseIntFlag, usage } from '../context.ts';
import { printJobTable, printJson } from '../output.ts';

interface LsFlags {
  status?: string;
  queue?: string;
  type?: string;
  tag?: string;
  limit?: string;
  all?: boolean;
  json?: boolean;
}

/** Registers `baton jobs` and its subcommands on the program. */
export function registerJobs(program: Command): void {
  const jobs = program.command('jobs').description('list, inspect, cancel, retry and follow jobs');

  jobs
    .command('ls', { isDefault: true })
    .description('list jobs, newest first')
    .option('--status <status>', `only this status (${JOB_STATUSES.join(', ')})`)
    .option('--queue <name>', 'only this queue')
    .option('--type <type>', `only this type (${JOB_TYPES.join(', ')})`)
    .option('--tag <tag>', 'only jobs with this tag')
    .option('--limit <n>', 'at most this many jobs (default 50)')
    .option('--all', 'every matching job, page after page')
    .option('--json', 'print JSON')
    .action(async (flags: LsFlags, cmd: Command) => {
      const client = clientFor(cmd);
      const filter = jobFilter(flags);
      let list: JobView[];
      let more = false;
      if (flags.all) {
        list = [];
        for await (const job of client.iterateJobs({ ...filter, limit: filter.limit ?? 500 })) list.push(job);
      } else {
        const page = await client.listJobs(filter);
        list = page.jobs;
        more = page.nextCursor !== null;
      }
      if (flags.json) printJson(list);
      else printJobTable(list);
      if (more && !flags.json) process.stderr.write('(more jobs: use --all or a larger --limit)\n');
    });

  jobs
    .command('get')
    .description('show one job with its attempts, as JSON')
    .argument('<id>', 'job id')
    .option('--json', 'accepted for symmetry: the output is always JSON')
    .action(async (id: string, _flags: unknown, cmd: Command) => {
      printJson(await clientFor(cmd).getJob(id));
    });

  jobs
    .command('cancel')
    .description('cancel a job that has not ended (a running attempt is killed)')
    .argument('<id>', 'job id')
    .option('--reason <text>', 'why, kept on the job')
    .option('--json', 'print the job as JSON')
    .action(async (id: string, flags: { reason?: string; json?: boolean }, cmd: Command) => {
      const job = await clientFor(cmd).cancel(id, flags.reason);
      if (flags.json) printJson(job);
      else process.stdout.write(`${job.id} ${job.status}\n`);
    });

  jobs
    .command('retry')
    .description('run a failed or cancelled job again')
    .argument('<id>', 'job id')
    .option('--json', 'print the job as JSON')
    .action(async (id: string, flags: { json?: boolean }, cmd: Command) => {
      const job = await clientFor(cmd).retry(id);
      if (flags.json) printJson(job);
      else process.stdout.write(`${job.id} ${job.status}\n`);
    });

  jobs
    .command('clone')
    .description('submit a new job with the same spec; prints the new id')
    .argument('<id>', 'job id to copy')
    .option('--json', 'print the new job as JSON')
    .action(async (id: string, flags: { json?: boolean }, cmd: Command) => {
      const job = await clientFor(cmd).clone(id);
      if (flags.json) printJson(job);
      else process.stdout.write(`${job.id}\n`);
    });

  jobs
    .command('logs')
    .description('print a job\'s output (stdout to stdout, stderr and worker notes to stderr)')
    .argument('<id>', 'job id')
    .option('-f, --follow', 'keep printing as the job writes, until it ends')
    .option('--json', 'print one JSON log entry per line')
    .action(async (id: string, flags: { follow?: boolean; json?: boolean }, cmd: Command) => {
      const client = clientFor(cmd);
      const print = flags.json ? (e: LogEntryView) => process.stdout.write(`${JSON.stringify(e)}\n`) : writeLogEntry;
      if (!flags.follow) {
        let afterSeq = 0;
        for (;;) {
          const page = await client.logs(id, { afterSeq, limit: 1000 });
          page.logs.forEach(print);
          if (page.logs.length < 1000 || page.nextSeq <= afterSeq) return;
          afterSeq = page.nextSeq;
        }
      }
      const stop = new AbortController();
      const onSignal = () => stop.abort();
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      try {
        const it = client.followLogs(id, { signal: stop.signal });
        for (;;) {
          const next = await it.next();
          if (next.done) {
            // A job that ended badly makes `logs -f` fail too, so scripts can chain on it.
            const end = next.value;
            if (end.status === 'failed' || end.status === 'cancelled') {
              const why = end.error ? `${end.error.code}: ${end.error.message}` : (end.reason ?? end.status);
              process.stderr.write(`job ${id} ${end.status}: ${why}\n`);
              process.exitCode = 1;
            }
            return;
          }
          print(next.value);
        }
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
    });

  jobs
    .command('result')
    .description('print the result of a completed job, as JSON')
    .argument('<id>', 'job id')
    .option('--json', 'accepted for symmetry: the output is always JSON')
    .action(async (id: string, _flags: unknown, cmd: Command) => {
      printJson((await clientFor(cmd).result(id)).result);
    });
}

/** Writes one log entry's data as it came, to the stream it came from. */
function writeLogEntry(e: LogEntryView): void {
  if (e.stream === 'stdout') process.stdout.write(e.data);
  else if (e.stream === 'stderr') process.stderr.write(e.data);
  else process.stderr.write(`[baton] ${e.data}${e.data.endsWith('\n') ? '' : '\n'}`);
}

/** Checks the filter flags of `jobs ls` locally, so a typo names the flag rather than a query field. */
function jobFilter(flags: LsFlags): JobFilter {
  const filter: JobFilter = {};
  if (flags.status !== undefined) {
    if (!(JOB_STATUSES as readonly string[]).includes(flags.status)) throw usage(`--status: unknown status "${flags.status}" (one of ${JOB_STATUSES.join(', ')})`, '--status');
    filter.status = flags.status as JobStatus;
  }
  if (flags.type !== undefined) {
    if (!(JOB_TYPES as readonly string[]).includes(flags.type)) throw usage(`--type: unknown type "${flags.type}" (one of ${JOB_TYPES.join(', ')})`, '--type');
    filter.type = flags.type as JobType;
  }
  if (flags.queue !== undefined) filter.queue = flags.queue;
  if (flags.tag !== undefined) filter.tag = flags.tag;
  filter.limit = flags.limit === undefined ? (flags.all ? undefined : 50) : parseIntFlag('--limit', flags.limit, 1);
  return filter;
}

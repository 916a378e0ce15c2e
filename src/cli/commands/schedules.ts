/**
 * `baton schedules ...` (list, show, create, pause, resume, trigger, delete, runs) and
 * `baton cron preview EXPR`: cron schedules over the REST API.
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import type { ScheduleView } from '../../core/api.ts';
import { clientFor, usage } from '../context.ts';
import { printJson, printTable } from '../output.ts';

function readJson(file: string, flag: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (e) {
    throw usage(`${flag}: cannot read ${file}: ${(e as Error).message}`, flag);
  }
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch (e) {
    throw usage(`${flag}: ${file} is not JSON: ${(e as Error).message}`, flag);
  }
}

function positiveInt(v: string, flag: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw usage(`${flag}: must be a positive integer, got "${v}"`, flag);
  return n;
}

function table(list: ScheduleView[]): void {
  printTable(
    ['ID', 'NAME', 'CRON', 'TIMEZONE', 'STATE', 'NEXT FIRE', 'RUNS'],
    list.map((s) => [s.id, s.name, s.cron, s.timezone, s.paused ? 'paused' : 'active', s.nextFireAt ?? '-', s.executions]),
  );
}

/** Registers `baton schedules` and `baton cron` on the program. */
export function registerSchedules(program: Command): void {
  const schedules = program.command('schedules').description('cron schedules: each fire creates one job');

  schedules
    .command('ls', { isDefault: true })
    .description('list schedules by name')
    .option('--json', 'print JSON')
    .action(async (flags: { json?: boolean }, cmd: Command) => {
      const list = await clientFor(cmd).listSchedules();
      if (flags.json) printJson(list);
      else table(list);
    });

  schedules
    .command('get')
    .description('show a schedule as JSON')
    .argument('<id>', 'schedule id')
    .action(async (id: string, _flags: unknown, cmd: Command) => printJson(await clientFor(cmd).getSchedule(id)));

  schedules
    .command('create')
    .description('create a schedule from flags, or from a JSON file (flags override its fields)')
    .option('--file <file>', 'the schedule as JSON (POST /v1/schedules body), or - for stdin')
    .option('--name <name>', 'schedule name, unique in the tenant')
    .option('--cron <expr>', 'cron expression: 5 fields, 6 with seconds first, or @hourly-style')
    .option('--tz <zone>', 'IANA time zone (default UTC)')
    .option('--job <json>', 'the job each fire creates, as JSON (POST /v1/jobs body)')
    .option('--overlap <policy>', 'allow | skip | queue | cancelPrevious')
    .option('--catch-up <policy>', 'none | latest | all')
    .option('--jitter-ms <ms>', 'spread each fire by up to this many ms')
    .option('--json', 'print the schedule as JSON')
    .action(async (flags: Record<string, string | boolean | undefined>, cmd: Command) => {
      const body: Record<string, unknown> = flags.file ? readJson(String(flags.file), '--file') : {};
      if (flags.name) body.name = flags.name;
      if (flags.cron) body.cron = flags.cron;
      if (flags.tz) body.timezone = flags.tz;
      if (flags.overlap) body.overlap = flags.overlap;
      if (flags.catchUp) body.catchUp = flags.catchUp;
      if (flags.jitterMs) body.jitterMs = Number(flags.jitterMs);
      if (flags.job) {
        try {
          body.job = JSON.parse(String(flags.job));
        } catch (e) {
          throw usage(`--job: not JSON: ${(e as Error).message}`, '--job');
        }
      }
      for (const [k, flag] of [['name', '--name'], ['cron', '--cron'], ['job', '--job']] as const) if (body[k] === undefined) throw usage(`${flag} (or ${k} in --file) is required`, flag);
      const s = await clientFor(cmd).createSchedule(body);
      if (flags.json) printJson(s);
      else process.stdout.write(`${s.id} ${s.name} next ${s.nextFireAt ?? '-'}\n`);
    });

  for (const verb of ['pause', 'resume'] as const) {
    schedules
      .command(verb)
      .description(verb === 'pause' ? 'stop firing a schedule' : 'fire a paused schedule again (fires missed while paused are dropped)')
      .argument('<id>', 'schedule id')
      .option('--json', 'print the schedule as JSON')
      .action(async (id: string, flags: { json?: boolean }, cmd: Command) => {
        const s = await clientFor(cmd).setSchedulePaused(id, verb === 'pause');
        if (flags.json) printJson(s);
        else process.stdout.write(`${s.id} ${s.paused ? 'paused' : `active, next ${s.nextFireAt ?? '-'}`}\n`);
      });
  }

  schedules
    .command('trigger')
    .description('fire once now (the cron and overlap policy are not applied; the schedule does not advance)')
    .argument('<id>', 'schedule id')
    .option('--json', 'print the run and the job as JSON')
    .action(async (id: string, flags: { json?: boolean }, cmd: Command) => {
      const r = await clientFor(cmd).triggerSchedule(id);
      if (flags.json) printJson(r);
      else process.stdout.write(`${r.job.id}\n`);
    });

  schedules
    .command('rm')
    .description('delete a schedule and its run history (the jobs it made stay)')
    .argument('<id>', 'schedule id')
    .action(async (id: string, _flags: unknown, cmd: Command) => {
      await clientFor(cmd).deleteSchedule(id);
      process.stdout.write(`${id} deleted\n`);
    });

  schedules
    .command('runs')
    .description('fires of a schedule, newest first, with what became of each')
    .argument('<id>', 'schedule id')
    .option('--limit <n>', 'most runs to show (default 50)')
    .option('--json', 'print JSON')
    .action(async (id: string, flags: { limit?: string; json?: boolean }, cmd: Command) => {
      const limit = flags.limit === undefined ? 50 : positiveInt(flags.limit, '--limit');
      const page = await clientFor(cmd).scheduleRuns(id, { limit });
      if (flags.json) return printJson(page.runs);
      printTable(['FIRE', 'DECISION', 'JOB', 'STATUS'], page.runs.map((r) => [r.fireAt, r.decision, r.jobId ?? '-', r.jobStatus ?? '-']));
    });

  const cron = program.command('cron').description('cron expression tools');
  cron
    .command('preview')
    .description('the next fire instants of a cron expression, as the server computes them')
    .argument('<expr>', 'cron expression (quote it)')
    .option('--tz <zone>', 'IANA time zone (default UTC)')
    .option('--count <n>', 'how many instants (default 10)')
    .option('--from <instant>', 'start after this ISO 8601 instant (default now)')
    .option('--json', 'print JSON')
    .action(async (expr: string, flags: { tz?: string; count?: string; from?: string; json?: boolean }, cmd: Command) => {
      const r = await clientFor(cmd).cronPreview(expr, {
        ...(flags.tz ? { timezone: flags.tz } : {}),
        ...(flags.from ? { from: flags.from } : {}),
        ...(flags.count ? { count: positiveInt(flags.count, '--count') } : {}),
      });
      if (flags.json) printJson(r);
      else process.stdout.write(r.fires.map((f) => `${f}\n`).join(''));
    });
}

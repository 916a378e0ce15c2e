/**
 * `baton submit`: builds one job input from flags (an argv command after `--`, a shell script,
 * an HTTP call, a function call, or a whole JSON job) and submits it.
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import type { JobView } from '../../core/api.ts';
import type { JobInput } from '../../core/spec.ts';
import { jobFlagOverrides, templateSubmission, type CommonSubmitFlags } from './template-submit.ts';
import { clientFor, collect, parseIntFlag, parsePairs, usage } from '../context.ts';
import { printJson } from '../output.ts';

/** Flags of `baton submit`, as commander parses them. */
interface SubmitFlags extends CommonSubmitFlags {
  label?: string[];
  script?: string;
  shell?: string;
  env?: string[];
  cwd?: string;
  http?: string;
  method?: string;
  header?: string[];
  body?: string;
  function?: string;
  args?: string;
  json?: string;
  jsonOutput?: boolean;
  wait?: boolean;
  waitTimeout?: string;
  template?: string;
  param?: string[];
}

/** Registers `baton submit` on the program. */
export function registerSubmit(program: Command): void {
  program
    .command('submit')
    .description('submit a job: `-- CMD ARGS...`, --script, --http, --function or --json FILE')
    .argument('[command...]', 'program and arguments of a command job (after --)')
    .option('--queue <name>', 'queue (default: default)')
    .option('--priority <n>', 'priority 1–10, 10 most urgent (default 5)')
    .option('--at <iso>', 'run at this instant (ISO 8601)')
    .option('--delay <ms>', 'run after this many milliseconds')
    .option('--name <name>', 'a name to recognise the job by')
    .option('--retries <n>', 'retries after a failed attempt (default 0)')
    .option('--timeout <ms>', 'time limit of each attempt, ms')
    .option('--tag <tag>', 'tag (repeatable)', collect)
    .option('--idempotency-key <key>', 'submitting the same key again returns the existing job')
    .option('--label <k=v>', 'worker label the job requires (repeatable)', collect)
    .option('--script <text>', 'command job: run this shell script')
    .option('--shell <path>', 'command job: shell for --script (default /bin/sh)')
    .option('--env <k=v>', 'command job: environment variable (repeatable)', collect)
    .option('--cwd <dir>', 'command job: working directory')
    .option('--http <url>', 'http job: call this URL')
    .option('--method <method>', 'http job: method (default GET)')
    .option('--header <k=v>', 'http job: request header (repeatable)', collect)
    .option('--body <text>', 'http job: request body')
    .option('--function <handler>', 'function job: registered handler name')
    .option('--args <json>', 'function job: arguments as JSON')
    .option('--template <ref>', 'submit from a template: name (latest) or name@version')
    .option('--param <k=v>', 'with --template: a parameter; JSON values keep their type (repeatable)', collect)
    .option('--json <file>', 'a whole job input as JSON, from FILE or - for stdin; other flags override its fields')
    .option('--json-output', 'print the submitted job as JSON instead of its id')
    .option('--wait', 'wait for the job to end; exit 1 unless it completed')
    .option('--wait-timeout <ms>', 'with --wait: give up waiting after this long (exit 1)')
    .action(async (command: string[], flags: SubmitFlags, cmd: Command) => {
      const client = clientFor(cmd);
      let job: JobView;
      if (flags.template !== undefined) {
        const t = templateSubmission(command, flags);
        job = await client.submitTemplate(t.ref, t.params, t.overrides);
      } else {
        job = await client.submit(buildJobInput(command, flags));
      }
      if (!flags.wait) {
        if (flags.jsonOutput) printJson(job);
        else process.stdout.write(`${job.id}\n`);
        return;
      }
      if (!flags.jsonOutput) process.stdout.write(`${job.id}\n`);
      const timeoutMs = flags.waitTimeout === undefined ? undefined : parseIntFlag('--wait-timeout', flags.waitTimeout, 1);
      const done = await client.waitForJob(job.id, { timeoutMs });
      if (flags.jsonOutput) printJson(done);
      else process.stdout.write(`${done.status}\n`);
      if (done.status !== 'completed') reportUnsuccessful(done);
    });
}

/** Says on stderr why a waited-for job did not complete, and sets exit status 1. */
function reportUnsuccessful(job: JobView): void {
  const why = job.error ? `${job.error.code}: ${job.error.message}` : (job.reason ?? job.status);
  process.stderr.write(`job ${job.id} ${job.status}: ${why}\n`);
  process.exitCode = 1;
}

/** Builds the job input from the flags; throws a usage error for contradictory or missing ones. */
export function buildJobInput(command: string[], f: SubmitFlags): JobInput {
  const kinds = [
    command.length > 0 && 'CMD ARGS',
    f.script !== undefined && '--script',
    f.http !== undefined && '--http',
    f.function !== undefined && '--function',
    f.json !== undefined && '--json',
  ].filter((k): k is string => typeof k === 'string');
  if (kinds.length === 0) throw usage('say what to run: `-- CMD ARGS...`, --script, --http, --function or --json FILE');
  if (kinds.length > 1) throw usage(`give only one of ${kinds.join(', ')}`);
  const only = (flag: string, ok: boolean) => {
    if (!ok) throw usage(`${flag} does not apply to this kind of job`, flag);
  };
  only('--shell', f.shell === undefined || f.script !== undefined);
  only('--env', f.env === undefined || command.length > 0 || f.script !== undefined);
  only('--cwd', f.cwd === undefined || command.length > 0 || f.script !== undefined);
  only('--method', f.method === undefined || f.http !== undefined);
  only('--header', f.header === undefined || f.http !== undefined);
  only('--body', f.body === undefined || f.http !== undefined);
  only('--args', f.args === undefined || f.function !== undefined);

  let input: JobInput;
  if (f.json !== undefined) {
    input = readJobFile(f.json);
  } else if (f.http !== undefined) {
    const payload: Record<string, unknown> = { url: f.http };
    if (f.method !== undefined) payload.method = f.method.toUpperCase();
    if (f.header !== undefined) payload.headers = parsePairs('--header', f.header);
    if (f.body !== undefined) payload.body = f.body;
    input = { type: 'http', payload };
  } else if (f.function !== undefined) {
    const payload: Record<string, unknown> = { handler: f.function };
    if (f.args !== undefined) payload.args = parseJsonFlag('--args', f.args);
    input = { type: 'function', payload };
  } else {
    const payload: Record<string, unknown> = f.script !== undefined ? { script: f.script } : { argv: command };
    if (f.shell !== undefined) payload.shell = f.shell;
    if (f.env !== undefined) payload.env = parsePairs('--env', f.env);
    if (f.cwd !== undefined) payload.cwd = f.cwd;
    input = { type: 'command', payload };
  }
  const o = jobFlagOverrides(f);
  // Flags win over a --json file: a time flag replaces the file's time, tags add to its tags.
  if (o.runAt !== undefined) delete input.delayMs;
  if (o.delayMs !== undefined) delete input.runAt;
  if (o.tags !== undefined) o.tags = [...(input.tags ?? []), ...o.tags];
  Object.assign(input, o);
  if (f.label !== undefined) {
    input.requirements = { ...(input.requirements ?? {}), labels: { ...(input.requirements?.labels ?? {}), ...parsePairs('--label', f.label) } };
  }
  return input;
}

/** Reads a job input from a file or stdin (`-`); the server checks its fields. */
function readJobFile(file: string): JobInput {
  let text: string;
  try {
    // fd 0 reads all of stdin synchronously, which is what a one-shot command wants.
    text = readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (e) {
    throw usage(`--json: cannot read ${file === '-' ? 'stdin' : file}: ${(e as Error).message}`, '--json');
  }
  const value = parseJsonFlag('--json', text);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw usage('--json must hold one JSON object (a job input)', '--json');
  return value as JobInput;
}

function parseJsonFlag(flag: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw usage(`${flag} is not valid JSON: ${(e as Error).message}`, flag);
  }
}

/**
 * Runs `command` jobs: `{argv}` spawned directly (no shell) or `{script, shell?}` run with
 * `shell -c`. Each attempt gets a fresh temporary working directory (removed afterwards) and a
 * minimal environment. The child leads its own process group, so cancel, timeout and close kill
 * the whole tree it started, not just the first process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Assignment } from '../../core/protocol.ts';
import { abortedOutcome, startDeadline, timeoutOutcome } from './deadline.ts';
import type { ExecContext, ExecOutcome, Executor } from './types.ts';

/** Time between SIGTERM and SIGKILL of a process group; keeps a kill under 1 s. */
export const KILL_GRACE_MS = 500;
/** How much of stderr's end is kept for a failure's details. */
const STDERR_TAIL_BYTES = 2048;
/** Variables inherited from the worker's own environment; everything else must be explicit. */
const INHERITED_ENV = ['PATH', 'HOME', 'LANG'] as const;

/** The payload of a command job, as validated by the core's spec checks. */
interface CommandPayload {
  argv?: string[];
  script?: string;
  shell?: string;
  env?: Record<string, string>;
  cwd?: string;
}

/** The result of a command attempt. */
export interface CommandResult {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
}

/** Sends `sig` to every process of the group led by `pid`; false when none is left. */
export function killGroup(pid: number, sig: NodeJS.Signals): boolean {
  try {
    process.kill(-pid, sig);
    return true;
  } catch {
    // ESRCH: the group is empty already.
    return false;
  }
}

/** Runs command jobs as child processes of the worker. */
export class CommandExecutor implements Executor {
  readonly type = 'command' as const;

  async execute(a: Assignment, ctx: ExecContext): Promise<ExecOutcome> {
    const p = a.payload as CommandPayload;
    const argv = p.script !== undefined ? [p.shell ?? '/bin/sh', '-c', p.script] : p.argv;
    if (!Array.isArray(argv) || argv.length === 0 || typeof argv[0] !== 'string' || argv[0] === '') {
      return failed('BATON_E_EXECUTION_FAILED', 'a command job needs payload.argv (non-empty array of strings) or payload.script');
    }
    const tmp = await mkdtemp(path.join(os.tmpdir(), 'baton-job-'));
    try {
      const cwd = await resolveCwd(tmp, p.cwd);
      if (typeof cwd !== 'string') return cwd;
      return await this.run(a, argv, cwd, buildEnv(a, p.env), ctx);
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  }

  private run(a: Assignment, argv: string[], cwd: string, env: NodeJS.ProcessEnv, ctx: ExecContext): Promise<ExecOutcome> {
    const deadline = startDeadline(ctx, a.timeoutMs);
    return new Promise<ExecOutcome>((resolve) => {
      let child: ChildProcess;
      try {
        child = spawn(argv[0], argv.slice(1), { cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
      } catch (e) {
        deadline.dispose();
        resolve(spawnFailed(argv[0], e));
        return;
      }
      let stderrTail = '';
      let spawnError: unknown = null;
      let exit: CommandResult | null = null;
      let killTimer: NodeJS.Timeout | null = null;
      child.stdout!.setEncoding('utf8');
      child.stderr!.setEncoding('utf8');
      child.stdout!.on('data', (d: string) => ctx.log('stdout', d));
      child.stderr!.on('data', (d: string) => {
        ctx.log('stderr', d);
        stderrTail = (stderrTail + d).slice(-STDERR_TAIL_BYTES);
      });

      const stop = (): void => {
        if (child.pid === undefined) return;
        killGroup(child.pid, 'SIGTERM');
        killTimer = setTimeout(() => killGroup(child.pid!, 'SIGKILL'), KILL_GRACE_MS);
      };
      deadline.onStop(stop);

      child.on('error', (e) => {
        spawnError = e;
      });
      child.on('exit', (code, signal) => {
        exit = { exitCode: code, signal };
        // Whatever the leader left behind (background children) dies with the attempt; this
        // also lets the stdio pipes close when a grandchild still held them open.
        if (child.pid !== undefined) killGroup(child.pid, 'SIGKILL');
      });
      child.on('close', () => {
        if (killTimer) clearTimeout(killTimer);
        const timedOut = deadline.timedOut();
        const aborted = deadline.stopped();
        const reason = deadline.reason();
        deadline.dispose();
        if (spawnError !== null && exit === null) return resolve(spawnFailed(argv[0], spawnError));
        const r = exit ?? { exitCode: null, signal: null };
        if (timedOut) return resolve(timeoutOutcome(a.timeoutMs, { ...exitOf(r), details: { ...r, stderrTail } }));
        if (aborted) return resolve(abortedOutcome(reason));
        resolve(outcomeOf(r, stderrTail));
      });
    });
  }
}

function outcomeOf(r: CommandResult, stderrTail: string): ExecOutcome {
  if (r.exitCode === 0) return { ok: true, result: r, exitCode: 0 };
  const message =
    r.exitCode !== null ? `the command exited with code ${r.exitCode}` : `the command was killed by signal ${r.signal ?? 'unknown'}`;
  return { ok: false, error: { code: r.exitCode !== null ? 'exit_code' : 'signal', message, details: { ...r, stderrTail } }, ...exitOf(r) };
}

function exitOf(r: CommandResult): { exitCode?: number } {
  return r.exitCode !== null ? { exitCode: r.exitCode } : {};
}

function failed(code: string, message: string, details?: unknown): ExecOutcome {
  return { ok: false, error: details === undefined ? { code, message } : { code, message, details } };
}

function spawnFailed(file: string, e: unknown): ExecOutcome {
  const err = e as NodeJS.ErrnoException;
  const why =
    err.code === 'ENOENT'
      ? 'no such file (is it installed and on PATH?)'
      : err.code === 'EACCES'
        ? 'permission denied (is it executable?)'
        : err.message;
  return failed('spawn_error', `cannot run "${file}": ${why}`, { errno: err.code ?? null, message: err.message });
}

/** Minimal inherited env, then the job's env, then Baton's own variables (which always win). */
function buildEnv(a: Assignment, jobEnv: Record<string, string> | undefined): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const k of INHERITED_ENV) if (process.env[k] !== undefined) env[k] = process.env[k];
  Object.assign(env, jobEnv ?? {});
  env.BATON_JOB_ID = a.jobId;
  env.BATON_ATTEMPT = String(a.attempt);
  return env;
}

/** The attempt's working directory: the temp dir, a relative path inside it, or an absolute path as is. */
async function resolveCwd(tmp: string, cwd: string | undefined): Promise<string | ExecOutcome> {
  if (cwd === undefined) return tmp;
  if (!path.isAbsolute(cwd)) {
    const inside = path.resolve(tmp, cwd);
    if (inside !== tmp && !inside.startsWith(tmp + path.sep)) {
      return failed('BATON_E_EXECUTION_FAILED', `payload.cwd "${cwd}" leaves the attempt's temporary directory; use an absolute path instead`);
    }
    await mkdir(inside, { recursive: true });
    return inside;
  }
  try {
    if ((await stat(cwd)).isDirectory()) return cwd;
  } catch {
    // Reported below with the same message as "not a directory".
  }
  return failed('BATON_E_EXECUTION_FAILED', `payload.cwd "${cwd}" is not an existing directory on worker ${os.hostname()}`);
}

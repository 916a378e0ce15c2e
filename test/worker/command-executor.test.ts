import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CommandExecutor } from '../../src/worker/executors/command.ts';
import { assignmentForTest, eventually, isAlive, recordingContext } from './helpers.ts';

const exec = new CommandExecutor();
const scratch = mkdtempSync(path.join(os.tmpdir(), 'baton-cmd-test-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function pidsFrom(text: string): number[] {
  return text.trim().split(/\s+/).map(Number).filter((n) => Number.isInteger(n) && n > 0);
}

describe('command executor', () => {
  it('runs argv directly, without a shell, and streams stdout', async () => {
    const ctx = recordingContext();
    const out = await exec.execute(assignmentForTest('command', { argv: ['echo', 'hello', '$HOME'] }), ctx);
    expect(out).toEqual({ ok: true, result: { exitCode: 0, signal: null }, exitCode: 0 });
    // No shell: $HOME reaches echo as-is.
    expect(ctx.text('stdout')).toBe('hello $HOME\n');
  });

  it('runs a script with the given shell and a minimal env plus the job env and BATON_* variables', async () => {
    process.env.BATON_TEST_WORKER_SECRET = 'must-not-leak';
    try {
      const a = assignmentForTest('command', {
        script: 'echo "foo=$FOO id=$BATON_JOB_ID attempt=$BATON_ATTEMPT secret=${BATON_TEST_WORKER_SECRET:-none} path=${PATH:+set}"; echo err >&2',
        shell: '/bin/bash',
        env: { FOO: 'bar' },
      }, { attempt: 3 });
      const ctx = recordingContext();
      const out = await exec.execute(a, ctx);
      expect(out.ok).toBe(true);
      expect(ctx.text('stdout')).toBe(`foo=bar id=${a.jobId} attempt=3 secret=none path=set\n`);
      expect(ctx.text('stderr')).toBe('err\n');
    } finally {
      delete process.env.BATON_TEST_WORKER_SECRET;
    }
  });

  it('runs in a fresh temporary directory that is removed afterwards; a relative cwd lives inside it', async () => {
    const ctx = recordingContext();
    await exec.execute(assignmentForTest('command', { script: 'pwd; touch leftover' }), ctx);
    const dir = ctx.text('stdout').trim();
    expect(path.basename(dir)).toMatch(/^baton-job-/);
    expect(existsSync(dir)).toBe(false);

    const ctx2 = recordingContext();
    await exec.execute(assignmentForTest('command', { script: 'pwd', cwd: 'sub/dir' }), ctx2);
    const sub = ctx2.text('stdout').trim();
    expect(sub.endsWith(path.join('sub', 'dir'))).toBe(true);
    expect(path.basename(path.dirname(path.dirname(sub)))).toMatch(/^baton-job-/);
    expect(existsSync(path.dirname(path.dirname(sub)))).toBe(false);
  });

  it('uses an absolute cwd as is and keeps it; refuses a missing one and a relative one that escapes', async () => {
    const ctx = recordingContext();
    const out = await exec.execute(assignmentForTest('command', { argv: ['pwd'], cwd: scratch }), ctx);
    expect(out.ok).toBe(true);
    expect(ctx.text('stdout').trim()).toBe(scratch);
    expect(existsSync(scratch)).toBe(true);

    const missing = await exec.execute(assignmentForTest('command', { argv: ['pwd'], cwd: path.join(scratch, 'nope') }), recordingContext());
    expect(missing).toMatchObject({ ok: false, error: { code: 'BATON_E_EXECUTION_FAILED', message: expect.stringContaining('not an existing directory') } });

    const escape = await exec.execute(assignmentForTest('command', { argv: ['pwd'], cwd: '../..' }), recordingContext());
    expect(escape).toMatchObject({ ok: false, error: { code: 'BATON_E_EXECUTION_FAILED' } });
  });

  it('fails with exit_code and the end of stderr on a non-zero exit', async () => {
    const out = await exec.execute(assignmentForTest('command', { script: 'echo "it broke" >&2; exit 3' }), recordingContext());
    expect(out).toMatchObject({
      ok: false,
      exitCode: 3,
      error: { code: 'exit_code', message: 'the command exited with code 3', details: { exitCode: 3, signal: null, stderrTail: 'it broke\n' } },
    });
  });

  it('keeps only the last 2 KiB of stderr in the details', async () => {
    const out = await exec.execute(assignmentForTest('command', { script: 'head -c 10000 /dev/zero | tr "\\0" x >&2; echo END >&2; exit 1' }), recordingContext());
    expect(out.ok).toBe(false);
    const tail = (out as { error: { details: { stderrTail: string } } }).error.details.stderrTail;
    expect(tail.length).toBe(2048);
    expect(tail.endsWith('xEND\n')).toBe(true);
  });

  it('fails with a clear message when the program does not exist', async () => {
    const out = await exec.execute(assignmentForTest('command', { argv: ['/nonexistent/baton-test-binary'] }), recordingContext());
    expect(out).toMatchObject({ ok: false, error: { code: 'spawn_error', message: expect.stringContaining('cannot run "/nonexistent/baton-test-binary": no such file') } });
  });

  it('on timeout kills the whole process group and fails with BATON_E_TIMEOUT', async () => {
    const ctx = recordingContext();
    const started = Date.now();
    const run = exec.execute(assignmentForTest('command', { script: 'sleep 30 & echo $!; echo $$; sleep 30' }, { timeoutMs: 400 }), ctx);
    const pids = pidsFrom(await ctx.waitForText((t) => pidsFrom(t).length === 2));
    expect(pids.every(isAlive)).toBe(true);
    const out = await run;
    expect(Date.now() - started).toBeLessThan(2000);
    expect(out).toMatchObject({ ok: false, timedOut: true, error: { code: 'BATON_E_TIMEOUT', message: expect.stringContaining('400 ms') } });
    expect(await eventually(() => !pids.some(isAlive), 1000)).toBe(true);
  });

  it('on cancel kills a tree that ignores SIGTERM within 1 s', async () => {
    const ctx = recordingContext();
    const run = exec.execute(assignmentForTest('command', { script: 'trap "" TERM; sleep 30 & echo $!; echo $$; wait' }), ctx);
    const pids = pidsFrom(await ctx.waitForText((t) => pidsFrom(t).length === 2));
    const t0 = Date.now();
    ctx.abort('cancelled');
    const out = await run;
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(out).toMatchObject({ ok: false, error: { code: 'cancelled' } });
    expect(await eventually(() => !pids.some(isAlive), 1000 - (Date.now() - t0))).toBe(true);
  });

  it('kills background processes left behind when the leader exits normally', async () => {
    const ctx = recordingContext();
    const out = await exec.execute(assignmentForTest('command', { script: 'sleep 30 & echo $!' }), ctx);
    expect(out.ok).toBe(true);
    const [bg] = pidsFrom(ctx.text());
    expect(await eventually(() => !isAlive(bg), 1000)).toBe(true);
  });

  it('reports a death by signal as a failure naming the signal', async () => {
    const out = await exec.execute(assignmentForTest('command', { script: 'kill -9 $$' }), recordingContext());
    expect(out).toMatchObject({ ok: false, error: { code: 'signal', message: 'the command was killed by signal SIGKILL' } });
  });
});

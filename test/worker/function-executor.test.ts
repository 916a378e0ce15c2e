import { describe, expect, it } from 'vitest';
import { FunctionExecutor } from '../../src/worker/executors/function.ts';
import { defineHandlers, type HandlerContext } from '../../src/worker/sdk.ts';
import { assignmentForTest, recordingContext } from './helpers.ts';

let seenCtx: HandlerContext | null = null;
let abortedSeen = false;

const handlers = defineHandlers({
  add: (args: { a: number; b: number }) => args.a + args.b,
  async report(args: { steps: number }, ctx) {
    seenCtx = ctx;
    for (let i = 1; i <= args.steps; i++) {
      ctx.log('step', i, { of: args.steps });
      ctx.progress((i / args.steps) * 100);
    }
    return { done: true };
  },
  explode: () => {
    const e = new Error('kaboom') as Error & { code: string };
    e.code = 'E_KABOOM';
    throw e;
  },
  waitForAbort: (_args: unknown, ctx) =>
    new Promise((_resolve, reject) => {
      ctx.signal.addEventListener('abort', () => {
        abortedSeen = true;
        reject(new Error('stopped'));
      });
    }),
  // Ignores its signal entirely: only the executor's own deadline can end the attempt.
  stubborn: () => new Promise(() => {}),
});

const exec = new FunctionExecutor(handlers);

describe('function executor', () => {
  it('returns what the handler returns', async () => {
    expect(await exec.execute(assignmentForTest('function', { handler: 'add', args: { a: 2, b: 3 } }), recordingContext())).toEqual({ ok: true, result: 5 });
  });

  it('gives the handler the job facts, a log that writes lines to stdout, and progress', async () => {
    const ctx = recordingContext();
    const a = assignmentForTest('function', { handler: 'report', args: { steps: 2 } }, { attempt: 2 });
    expect(await exec.execute(a, ctx)).toEqual({ ok: true, result: { done: true } });
    expect(ctx.text('stdout')).toBe('step 1 { of: 2 }\nstep 2 { of: 2 }\n');
    expect(ctx.progressSeen).toEqual([50, 100]);
    expect(seenCtx!.job).toEqual({ id: a.jobId, attempt: 2, name: a.name, queue: 'default', tenant: 'acme', metadata: { purpose: 'test' } });
    // After the attempt ended, the handler's context is inert.
    seenCtx!.log('late');
    expect(ctx.text('stdout')).not.toContain('late');
  });

  it('fails with function_error, the message and the stack when the handler throws', async () => {
    const out = await exec.execute(assignmentForTest('function', { handler: 'explode' }), recordingContext());
    expect(out).toMatchObject({ ok: false, error: { code: 'function_error', message: 'kaboom', details: { name: 'Error', errorCode: 'E_KABOOM', stack: expect.stringContaining('kaboom') } } });
  });

  it('fails with BATON_E_HANDLER_NOT_FOUND for an unknown handler, naming the known ones', async () => {
    const out = await exec.execute(assignmentForTest('function', { handler: 'nope' }), recordingContext());
    expect(out).toMatchObject({ ok: false, error: { code: 'BATON_E_HANDLER_NOT_FOUND', message: expect.stringContaining('registered: add, report') } });
    const proto = await exec.execute(assignmentForTest('function', { handler: 'toString' }), recordingContext());
    expect(proto).toMatchObject({ ok: false, error: { code: 'BATON_E_HANDLER_NOT_FOUND' } });
  });

  it('aborts the handler signal on cancel and ends the attempt as cancelled', async () => {
    abortedSeen = false;
    const ctx = recordingContext();
    const run = exec.execute(assignmentForTest('function', { handler: 'waitForAbort' }), ctx);
    setTimeout(() => ctx.abort('cancelled'), 20);
    expect(await run).toMatchObject({ ok: false, error: { code: 'cancelled' } });
    expect(abortedSeen).toBe(true);
  });

  it('gives a handler a context whose parts can be taken apart (const { log, progress, job, signal } = ctx)', async () => {
    const h = defineHandlers({
      apart(_args: unknown, ctx) {
        const { log, progress, job, signal, parents } = ctx;
        log('from', job.id);
        progress(10);
        return { aborted: signal.aborted, parents };
      },
    });
    const ctx = recordingContext();
    const a = assignmentForTest('function', { handler: 'apart' });
    expect(await new FunctionExecutor(h).execute(a, ctx)).toEqual({ ok: true, result: { aborted: false, parents: {} } });
    expect(ctx.text('stdout')).toBe(`from ${a.jobId}\n`);
    expect(ctx.progressSeen).toEqual([10]);
  });

  it('fails with function_error when an async handler rejects, and counts the time limit from the call', async () => {
    const h = defineHandlers({
      rejects: async () => {
        throw new Error('later');
      },
      // Busy for 80 ms before it returns its promise: the 100 ms limit must not restart then.
      slowStart: () => {
        const until = Date.now() + 80;
        while (Date.now() < until);
        return new Promise(() => {});
      },
    });
    const ex = new FunctionExecutor(h);
    expect(await ex.execute(assignmentForTest('function', { handler: 'rejects' }), recordingContext())).toMatchObject({ ok: false, error: { code: 'function_error', message: 'later' } });
    const t0 = Date.now();
    const out = await ex.execute(assignmentForTest('function', { handler: 'slowStart' }, { timeoutMs: 100 }), recordingContext());
    expect(out).toMatchObject({ ok: false, timedOut: true, error: { code: 'BATON_E_TIMEOUT' } });
    expect(Date.now() - t0).toBeLessThan(170);
  });

  it('ends as cancelled when the attempt was stopped before the handler returned its promise', async () => {
    const ctx = recordingContext();
    const h = defineHandlers({
      stopsItself: () => {
        ctx.abort('cancelled');
        return new Promise(() => {});
      },
    });
    expect(await new FunctionExecutor(h).execute(assignmentForTest('function', { handler: 'stopsItself' }), ctx)).toMatchObject({ ok: false, error: { code: 'cancelled' } });
  });

  it('times out with BATON_E_TIMEOUT even when the handler ignores its signal', async () => {
    const t0 = Date.now();
    const out = await exec.execute(assignmentForTest('function', { handler: 'stubborn' }, { timeoutMs: 100 }), recordingContext());
    expect(out).toMatchObject({ ok: false, timedOut: true, error: { code: 'BATON_E_TIMEOUT' } });
    expect(Date.now() - t0).toBeLessThan(1000);
  });
});

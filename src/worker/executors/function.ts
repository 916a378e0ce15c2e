/**
 * Runs `function` jobs: looks up the handler named by `payload.handler` and calls it with
 * `payload.args` and a {@link HandlerContext}. A handler cannot be killed, so on timeout or
 * cancel the attempt ends at once (its signal aborts) and whatever it returns later is ignored.
 */
import { format } from 'node:util';
import type { Assignment } from '../../core/protocol.ts';
import type { HandlerContext, HandlerMap } from '../sdk.ts';
import { abortedOutcome, startDeadline, timeoutOutcome } from './deadline.ts';
import type { ExecContext, ExecOutcome, Executor } from './types.ts';

/** Runs function jobs with the handlers registered on this worker. */
export class FunctionExecutor implements Executor {
  readonly type = 'function' as const;

  constructor(private readonly handlers: HandlerMap) {}

  async execute(a: Assignment, ctx: ExecContext): Promise<ExecOutcome> {
    const name = a.payload.handler;
    const handler = typeof name === 'string' && Object.hasOwn(this.handlers, name) ? this.handlers[name] : undefined;
    if (handler === undefined) {
      const known = Object.keys(this.handlers);
      return {
        ok: false,
        error: {
          code: 'BATON_E_HANDLER_NOT_FOUND',
          message: `no handler "${String(name)}" is registered on this worker (registered: ${known.length ? known.join(', ') : 'none'})`,
        },
      };
    }
    const deadline = startDeadline(ctx.signal, a.timeoutMs);
    let live = true;
    const hctx: HandlerContext = {
      job: { id: a.jobId, attempt: a.attempt, name: a.name, queue: a.queue, tenant: a.tenant, metadata: a.metadata },
      // Output after the attempt ended belongs to nobody: drop it rather than confuse the log.
      log: (...parts) => {
        if (live) ctx.log('stdout', `${format(...parts)}\n`);
      },
      progress: (pct) => {
        if (live) ctx.progress(pct);
      },
      signal: deadline.signal,
      parents: a.parents ?? {},
    };
    const stopped = new Promise<ExecOutcome>((resolve) => {
      const onAbort = (): void =>
        resolve(deadline.timedOut() ? timeoutOutcome(a.timeoutMs) : abortedOutcome(deadline.signal.reason));
      if (deadline.signal.aborted) onAbort();
      else deadline.signal.addEventListener('abort', onAbort, { once: true });
    });
    const ran = (async (): Promise<ExecOutcome> => {
      try {
        return { ok: true, result: await handler(a.payload.args, hctx) };
      } catch (e) {
        const err = e instanceof Error ? e : new Error(String(e));
        const code = (err as { code?: unknown }).code;
        return {
          ok: false,
          error: {
            code: 'function_error',
            message: err.message || err.name,
            details: { name: err.name, stack: err.stack ?? null, ...(typeof code === 'string' ? { errorCode: code } : {}) },
          },
        };
      }
    })();
    try {
      return await Promise.race([ran, stopped]);
    } finally {
      live = false;
      deadline.dispose();
    }
  }
}

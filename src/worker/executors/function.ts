/**
 * Runs `function` jobs: looks up the handler named by `payload.handler` and calls it with
 * `payload.args` and a {@link HandlerContext}. A handler cannot be killed, so on timeout or
 * cancel the attempt ends at once (its signal aborts) and whatever it returns later is ignored.
 */
import { format } from 'node:util';
import type { Assignment } from '../../core/protocol.ts';
import type { HandlerContext, HandlerJob, HandlerMap } from '../sdk.ts';
import { abortedOutcome, startDeadline, timeoutOutcome, type Deadline } from './deadline.ts';
import type { ExecContext, ExecOutcome, Executor } from './types.ts';

/** Runs function jobs with the handlers registered on this worker. */
export class FunctionExecutor implements Executor {
  readonly type = 'function' as const;

  constructor(private readonly handlers: HandlerMap) {}

  execute(a: Assignment, ctx: ExecContext): ExecOutcome | Promise<ExecOutcome> {
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
    const run = new HandlerRun(a, ctx);
    let value: unknown;
    try {
      value = handler(a.payload.args, run);
    } catch (e) {
      run.end();
      return thrown(e);
    }
    // A handler that returned without a promise is done: no cancel or timeout can have come
    // in between, so the common short job needs no deadline, timer or listener at all.
    if (!isThenable(value)) {
      run.end();
      return { ok: true, result: value };
    }
    return race(a, run, value);
  }
}

/** Waits for a handler's promise, or for the attempt to stop (cancel, timeout), whichever is first. */
async function race(a: Assignment, run: HandlerRun, value: PromiseLike<unknown>): Promise<ExecOutcome> {
  const deadline = run.deadline();
  const stopped = new Promise<ExecOutcome>((resolve) => {
    deadline.onStop((reason) => resolve(deadline.timedOut() ? timeoutOutcome(a.timeoutMs) : abortedOutcome(reason)));
  });
  const ran = Promise.resolve(value).then(
    (result): ExecOutcome => ({ ok: true, result }),
    thrown,
  );
  try {
    return await Promise.race([ran, stopped]);
  } finally {
    run.end();
  }
}

/** True when `v` is a promise (or any thenable) rather than a value. */
export function isThenable<T>(v: T | PromiseLike<T>): v is PromiseLike<T> {
  return (typeof v === 'object' || typeof v === 'function') && v !== null && typeof (v as { then?: unknown }).then === 'function';
}

function thrown(e: unknown): ExecOutcome {
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

/**
 * The context one handler call gets. Its parts are made on first use (getters), so a handler
 * that never logs or watches its signal costs no closures, AbortController or timer; `log` and
 * `progress` are still plain functions, so `const { log } = ctx` works.
 */
class HandlerRun implements HandlerContext {
  private live = true;
  private readonly startedAt = Date.now();
  private dl: Deadline | null = null;
  private jobFacts: HandlerJob | null = null;
  private logFn: HandlerContext['log'] | null = null;
  private progressFn: HandlerContext['progress'] | null = null;
  readonly parents: HandlerContext['parents'];

  constructor(
    private readonly a: Assignment,
    private readonly ctx: ExecContext,
  ) {
    this.parents = a.parents ?? {};
  }

  get job(): HandlerJob {
    const a = this.a;
    return (this.jobFacts ??= { id: a.jobId, attempt: a.attempt, name: a.name, queue: a.queue, tenant: a.tenant, metadata: a.metadata });
  }

  get log(): HandlerContext['log'] {
    // Output after the attempt ended belongs to nobody: drop it rather than confuse the log.
    return (this.logFn ??= logTo(this));
  }

  get progress(): HandlerContext['progress'] {
    return (this.progressFn ??= progressTo(this));
  }

  get signal(): AbortSignal {
    return this.deadline().signal;
  }

  /** The attempt's deadline, started on first use but counted from the handler's call. */
  deadline(): Deadline {
    if (this.dl === null) {
      this.dl = startDeadline(this.ctx, this.a.timeoutMs, this.startedAt);
      // First asked for after the attempt ended (a handler's stray callback): no timer or hook.
      if (!this.live) this.dl.dispose();
    }
    return this.dl;
  }

  write(parts: unknown[]): void {
    if (this.live) this.ctx.log('stdout', `${format(...parts)}\n`);
  }

  report(pct: number): void {
    if (this.live) this.ctx.progress(pct);
  }

  /** The attempt is over: the context goes inert and the deadline stops. */
  end(): void {
    this.live = false;
    this.dl?.dispose();
  }
}

// Made by factories (not inline) so the closures are anonymous: tsx keeps names with a
// defineProperty call per closure created, which a per-job path would pay every time.
function logTo(run: HandlerRun): HandlerContext['log'] {
  return (...parts) => run.write(parts);
}

function progressTo(run: HandlerRun): HandlerContext['progress'] {
  return (pct) => run.report(pct);
}

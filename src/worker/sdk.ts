/**
 * The SDK for `function` jobs: TypeScript functions registered with a worker by name and run
 * in the worker's own process. A handler gets the job's `args` and a context to log, report
 * progress and notice cancellation; what it returns is the job's result.
 *
 * ```ts
 * export default defineHandlers({
 *   async resize(args: { url: string }, ctx) {
 *     ctx.log('resizing', args.url);
 *     ctx.progress(50);
 *     return { ok: true };
 *   },
 * });
 * ```
 */
import { pathToFileURL } from 'node:url';
import path from 'node:path';
import { BatonError } from '../core/errors.ts';

/** Facts about the job a handler runs for. */
export interface HandlerJob {
  id: string;
  /** Attempt number, from 1. */
  attempt: number;
  name: string | null;
  queue: string;
  tenant: string;
  metadata: Record<string, unknown>;
}

/** What a handler may use while it runs. */
export interface HandlerContext {
  /** The job being run. */
  job: HandlerJob;
  /** Writes one line to the job's stdout log; parts are joined like console.log does. */
  log(...parts: unknown[]): void;
  /** Reports progress, 0–100. */
  progress(pct: number): void;
  /**
   * Aborts when the attempt is cancelled or times out. Long handlers should watch it (or pass
   * it to fetch and friends); the attempt ends on timeout whether or not the handler stops.
   */
  signal: AbortSignal;
  /**
   * Outcomes of the job's parents (its dependencies), keyed by each parent's ref and by its id:
   * `ctx.parents.extract.result`. Empty for a job without dependencies.
   */
  parents: Readonly<Record<string, ParentOutcome>>;
}

/** What a handler sees of one parent job. */
export interface ParentOutcome {
  status: string;
  result: unknown;
  error: { code: string; message: string; details?: unknown } | null;
}

/** A function job's code: takes the job's `args`, returns its result (JSON-serialisable). */
export type Handler<Args = any, Result = unknown> = (args: Args, ctx: HandlerContext) => Result | Promise<Result>;

/** Handlers by the name that jobs use in `payload.handler`. */
export type HandlerMap = Record<string, Handler>;

/**
 * Returns `handlers` unchanged, typed: use it as a handler module's default export so each
 * handler's `args` and `ctx` are checked.
 */
export function defineHandlers<T extends Record<string, Handler>>(handlers: T): T {
  return handlers;
}

/**
 * Imports a handler module (a `.ts` file works under tsx) and returns its handlers: the default
 * export, or else the named export `handlers`. Throws BATON_E_CONFIG when it has neither or a
 * value is not a function.
 */
export async function loadHandlers(modulePath: string): Promise<HandlerMap> {
  const url = /^[a-z][a-z0-9+.-]*:/i.test(modulePath) && !path.isAbsolute(modulePath) ? modulePath : pathToFileURL(path.resolve(modulePath)).href;
  let mod: Record<string, unknown>;
  try {
    mod = (await import(url)) as Record<string, unknown>;
  } catch (e) {
    throw new BatonError('BATON_E_CONFIG', `cannot load handler module ${modulePath}: ${(e as Error).message}`, { field: 'handlers' });
  }
  const found = isRecord(mod.default) ? mod.default : isRecord(mod.handlers) ? mod.handlers : null;
  if (found === null) {
    throw new BatonError('BATON_E_CONFIG', `handler module ${modulePath} must export its handlers as the default export or as "handlers"`, { field: 'handlers' });
  }
  for (const [name, fn] of Object.entries(found)) {
    if (typeof fn !== 'function') {
      throw new BatonError('BATON_E_CONFIG', `handler "${name}" in ${modulePath} is not a function`, { field: 'handlers' });
    }
  }
  return found as HandlerMap;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

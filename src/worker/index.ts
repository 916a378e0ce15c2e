/**
 * The public API of the Baton worker: embed a worker in your own process and register
 * TypeScript functions as handlers of `function` jobs.
 *
 * ```ts
 * import { startWorker, defineHandlers } from 'baton/worker';
 * const worker = await startWorker({ servers: ['http://127.0.0.1:7070'], token, handlers: defineHandlers({ ... }) });
 * ```
 */
export { startWorker, type RunningWorker } from './agent.ts';
export type { WorkerOptions } from './options.ts';
export type { WorkerEvents, WorkerEventName } from './events.ts';
export { defineHandlers, loadHandlers, type Handler, type HandlerContext, type HandlerJob, type HandlerMap } from './sdk.ts';
export type { ExecContext, ExecOutcome, Executor, LogStream } from './executors/types.ts';

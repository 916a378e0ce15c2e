/**
 * The order in which ready jobs are handed out: higher priority first, then the job that became
 * ready earliest (FIFO within equal rank), then the older job, then the id (a total order, so two
 * servers agree). Stores implement the same order in SQL; test/core/ordering.test.ts checks both.
 */
import type { Job } from './types.ts';

export type ReadyKey = Pick<Job, 'priority' | 'runAt' | 'createdAt' | 'id'>;

/** Negative when `a` should run before `b`. */
export function compareReady(a: ReadyKey, b: ReadyKey): number {
  if (a.priority !== b.priority) return b.priority - a.priority;
  if (a.runAt !== b.runAt) return a.runAt - b.runAt;
  if (a.createdAt !== b.createdAt) return a.createdAt - b.createdAt;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

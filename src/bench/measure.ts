/**
 * Reads what the store made durable, through the REST API of the server under test: job counts
 * by status, and the drain window — first attempt start to last completion, both timestamps
 * written by the server in the same transaction as the state change.
 */
import type { JobListView, JobView, QueueView } from '../core/api.ts';
import type { ServerProcess } from './procs.ts';

async function get<T>(srv: ServerProcess, pathAndQuery: string): Promise<T> {
  const r = await fetch(`${srv.url}${pathAndQuery}`, { headers: { authorization: `Bearer ${srv.token}` } });
  if (!r.ok) throw new Error(`GET ${pathAndQuery}: ${r.status} ${await r.text()}`);
  return (await r.json()) as T;
}

/** Server timestamps of one job's first attempt (ms since epoch), or null when it has none. */
export async function firstAttemptTimes(srv: ServerProcess, id: string): Promise<{ assignedAt: number; startedAt: number | null } | null> {
  const job = await get<JobView>(srv, `/v1/jobs/${id}`);
  const a = job.attempts?.[0];
  return a === undefined ? null : { assignedAt: Date.parse(a.assignedAt), startedAt: a.startedAt === null ? null : Date.parse(a.startedAt) };
}

/** Jobs of the default tenant by status, summed over queues. */
export async function jobCounts(srv: ServerProcess): Promise<Record<string, number>> {
  const { queues } = await get<{ queues: QueueView[] }>(srv, '/v1/queues');
  const out: Record<string, number> = {};
  for (const q of queues) for (const [k, v] of Object.entries(q.counts)) out[k] = (out[k] ?? 0) + (v ?? 0);
  return out;
}

/** The durable drain window of every completed job. */
export interface DrainWindow {
  completed: number;
  /** Earliest startedAt (ms since epoch). */
  firstStart: number;
  /** Latest completedAt (ms since epoch). */
  lastCompletion: number;
  seconds: number;
  jobsPerSec: number;
}

/** Pages through every completed job (1,000 a page) and returns the drain window. */
export async function drainWindow(srv: ServerProcess): Promise<DrainWindow> {
  let cursor: string | null = null;
  let completed = 0;
  let firstStart = Number.POSITIVE_INFINITY;
  let lastCompletion = 0;
  do {
    const q: string = `/v1/jobs?status=completed&limit=1000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
    const page: JobListView = await get<JobListView>(srv, q);
    for (const j of page.jobs) {
      completed++;
      if (j.startedAt) firstStart = Math.min(firstStart, Date.parse(j.startedAt));
      if (j.completedAt) lastCompletion = Math.max(lastCompletion, Date.parse(j.completedAt));
    }
    cursor = page.nextCursor;
  } while (cursor);
  const seconds = Math.max(0.001, (lastCompletion - firstStart) / 1000);
  return { completed, firstStart, lastCompletion, seconds, jobsPerSec: completed / seconds };
}

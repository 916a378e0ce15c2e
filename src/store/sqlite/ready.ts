/**
 * Ready heads for fair, aged dispatch (SQLite): for each eligible queue, the first jobs of the
 * ready index in priority order and the oldest ready jobs (jobs_ready_age), so the dispatcher
 * can re-rank with aging, deadlines and weights while every read stays on a partial index and
 * its cost is (queues × perQueue) rows however many jobs wait.
 */
import type { JobType } from '../../core/types.ts';
import type { ReadyHead } from '../types.ts';
import type { Sql } from './db.ts';
import { readyJobFromValues } from './rows.ts';
import { loadRowsCached } from './write.ts';

const QUEUES_ALL = 'SELECT tenant, name FROM queues WHERE tenant IN (SELECT value FROM json_each(?)) AND paused = 0';
const QUEUES_SOME = `SELECT tenant, name FROM queues WHERE tenant IN (SELECT value FROM json_each(?))
  AND name IN (SELECT value FROM json_each(?)) AND paused = 0`;
// Both walks read only their index (005_hot_indexes.sql: type and the priorities are in it).
const BY_PRIORITY = `SELECT id, max(priority, inherited_priority) AS rank FROM jobs INDEXED BY jobs_ready
  WHERE status = 'pending' AND tenant = ? AND queue = ? AND type IN (SELECT value FROM json_each(?))
  ORDER BY max(priority, inherited_priority) DESC, run_at, created_at, id LIMIT ?`;
const BY_AGE = `SELECT id, max(priority, inherited_priority) AS rank FROM jobs INDEXED BY jobs_ready_age
  WHERE status = 'pending' AND tenant = ? AND queue = ? AND type IN (SELECT value FROM json_each(?))
  ORDER BY run_at, id LIMIT ?`;

// The lowest rank of the queue's pending jobs of any type: the last key of jobs_ready, one seek.
const LOWEST_RANK = `SELECT max(priority, inherited_priority) FROM jobs INDEXED BY jobs_ready
  WHERE status = 'pending' AND tenant = ? AND queue = ?
  ORDER BY max(priority, inherited_priority) LIMIT 1`;

/** The two index walks of a ready read and the lowest-rank seek, for the plan tests. */
export const READY_WALKS = [BY_PRIORITY, BY_AGE, LOWEST_RANK] as const;

/**
 * See Store.jobListReadyHeads. The heads' rows come from the row cache, or are fetched in one
 * statement and cached for the next rounds and the assignment (each job is fetched once however
 * many rounds read it); a head decodes only what ranking and placement read (ReadyJob).
 */
export function jobListReadyHeads(sql: Sql, p: { tenants: string[]; queues?: string[]; types: JobType[]; perQueue: number }): ReadyHead[] {
  if (p.tenants.length === 0 || p.types.length === 0 || p.perQueue <= 0) return [];
  const all = p.queues === undefined || p.queues.includes('*');
  if (!all && p.queues!.length === 0) return [];
  const tenants = JSON.stringify(p.tenants);
  const queues = (all ? sql.stmt(QUEUES_ALL).all(tenants) : sql.stmt(QUEUES_SOME).all(tenants, JSON.stringify(p.queues))) as { tenant: string; name: string }[];
  const types = JSON.stringify(p.types);
  const seen = new Map<string, number>();
  for (const q of queues) {
    const byPriority = sql.rawStmt(BY_PRIORITY).all(q.tenant, q.name, types, p.perQueue) as [string, number][];
    for (const [id, rank] of byPriority) seen.set(id, rank);
    // The age walk is skipped when it cannot add a job the dispatcher would rank higher: when the
    // priority walk listed every pending job of the queue, or when every pending job has the rank
    // of the first head (a queue without priorities, the common case). With one rank, the
    // priority walk's jobs are the oldest (run_at, then created_at and id), which is the order
    // the dispatcher's aging ranks them in anyway.
    if (byPriority.length < p.perQueue) continue;
    if ((sql.rawStmt(LOWEST_RANK).get(q.tenant, q.name) as [number])[0] === byPriority[0][1]) continue;
    for (const [id, rank] of sql.rawStmt(BY_AGE).all(q.tenant, q.name, types, p.perQueue) as [string, number][]) seen.set(id, rank);
  }
  const out: ReadyHead[] = [];
  // Each statement reads its own snapshot: a job the walks found may have moved on since.
  const rows = loadRowsCached(sql, [...seen.keys()]);
  for (const [id, rank] of seen) {
    const row = rows.get(id);
    if (row !== undefined && row[6] === 'pending') out.push({ job: readyJobFromValues(row), rank });
  }
  return out;
}

/**
 * Ready heads for fair, aged dispatch (PostgreSQL); see the SQLite twin. Two LATERAL heads per
 * eligible queue, one on jobs_ready (priority order) and one on jobs_ready_age (oldest first).
 */
import type { JobType } from '../../core/types.ts';
import type { ReadyHead } from '../types.ts';
import type { Db } from './db.ts';
import { jobFromRow, type JobRow } from './rows.ts';

/** See Store.jobListReadyHeads. */
export async function jobListReadyHeads(sql: Db, p: { tenants: string[]; queues?: string[]; types: JobType[]; perQueue: number }): Promise<ReadyHead[]> {
  if (p.tenants.length === 0 || p.types.length === 0 || p.perQueue <= 0) return [];
  const all = p.queues === undefined || p.queues.includes('*');
  if (!all && p.queues!.length === 0) return [];
  const queueFilter = all ? sql`` : sql`AND q.name = ANY(${p.queues!}::text[])`;
  const rows = await sql`SELECT DISTINCT ON (j.id) j.* FROM queues q CROSS JOIN LATERAL (
      (SELECT * FROM jobs j WHERE j.status = 'pending' AND j.tenant = q.tenant AND j.queue = q.name AND j.type = ANY(${p.types}::text[])
        ORDER BY GREATEST(j.priority, j.inherited_priority) DESC, j.run_at, j.created_at, j.id LIMIT ${p.perQueue})
      UNION ALL
      (SELECT * FROM jobs j WHERE j.status = 'pending' AND j.tenant = q.tenant AND j.queue = q.name AND j.type = ANY(${p.types}::text[])
        ORDER BY j.run_at, j.id LIMIT ${p.perQueue})) j
    WHERE q.tenant = ANY(${p.tenants}::text[]) AND NOT q.paused ${queueFilter}`;
  return rows.map((r) => ({ job: jobFromRow(r as JobRow), rank: Math.max(r.priority as number, (r.inherited_priority as number) ?? 0) }));
}

/**
 * Ready heads for fair, aged dispatch (PostgreSQL); see the SQLite twin. Two LATERAL heads per
 * eligible queue, one on jobs_ready (priority order) and one on jobs_ready_age (oldest first).
 */
import type { JobType } from '../../core/types.ts';
import type { ReadyHead, ReadyJob } from '../types.ts';
import type { Db } from './db.ts';

/**
 * See Store.jobListReadyHeads. Heads are read every dispatcher round, up to twice the free slots
 * per queue, so each carries only what ranking and placement read (ReadyJob), not the whole row;
 * of a function job's payload only its handler (`{ handler }`: all placement looks at), other
 * payloads whole (a command's argv is small). The assignment reads the whole job.
 */
export async function jobListReadyHeads(sql: Db, p: { tenants: string[]; queues?: string[]; types: JobType[]; perQueue: number }): Promise<ReadyHead[]> {
  if (p.tenants.length === 0 || p.types.length === 0 || p.perQueue <= 0) return [];
  const all = p.queues === undefined || p.queues.includes('*');
  if (!all && p.queues!.length === 0) return [];
  const queueFilter = all ? sql`` : sql`AND q.name = ANY(${p.queues!}::text[])`;
  const rows = await sql`SELECT DISTINCT ON (j.id) j.* FROM queues q CROSS JOIN LATERAL (
      (SELECT j.id, j.tenant, j.queue, j.type, j.run_at, j.created_at, j.deadline, j.concurrency_key, j.requirements,
          GREATEST(j.priority, j.inherited_priority) AS rank,
          CASE WHEN j.type = 'function' THEN NULL ELSE j.payload END AS payload, j.payload -> 'handler' AS handler
        FROM jobs j WHERE j.status = 'pending' AND j.tenant = q.tenant AND j.queue = q.name AND j.type = ANY(${p.types}::text[])
        ORDER BY GREATEST(j.priority, j.inherited_priority) DESC, j.run_at, j.created_at, j.id LIMIT ${p.perQueue})
      UNION ALL
      (SELECT j.id, j.tenant, j.queue, j.type, j.run_at, j.created_at, j.deadline, j.concurrency_key, j.requirements,
          GREATEST(j.priority, j.inherited_priority) AS rank,
          CASE WHEN j.type = 'function' THEN NULL ELSE j.payload END AS payload, j.payload -> 'handler' AS handler
        FROM jobs j WHERE j.status = 'pending' AND j.tenant = q.tenant AND j.queue = q.name AND j.type = ANY(${p.types}::text[])
        ORDER BY j.run_at, j.id LIMIT ${p.perQueue})) j
    WHERE q.tenant = ANY(${p.tenants}::text[]) AND NOT q.paused ${queueFilter}`;
  return rows.map((r) => {
    const job: ReadyJob = {
      id: r.id as string,
      tenant: r.tenant as string,
      queue: r.queue as string,
      type: r.type as JobType,
      // SQL NULL: a function job, of which only the handler was read.
      payload: (r.payload ?? { handler: r.handler ?? undefined }) as ReadyJob['payload'],
      requirements: r.requirements as ReadyJob['requirements'],
      runAt: r.run_at as number,
      createdAt: r.created_at as number,
    };
    // Set only when present, as on a whole job (timeFields).
    if (r.deadline !== null) job.deadline = r.deadline as number;
    if (r.concurrency_key !== null) job.concurrencyKey = r.concurrency_key as string;
    return { job, rank: r.rank as number };
  });
}

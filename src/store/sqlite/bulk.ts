/**
 * Bulk operations in the SQLite store: cancel, retry or delete the jobs that match a filter (or
 * a list of ids), a batch of jobs per transaction, yielding to the event loop between batches so
 * that reports, claims and API calls run in between instead of waiting for the whole operation.
 */
import { ALLOWED, transition } from '../../core/transition.ts';
import { TERMINAL_STATUSES, type AuditInput } from '../../core/types.ts';
import type { BulkFilter, BulkResult } from '../types.ts';
import type { Sql } from './db.ts';
import { onJobsEnded } from './graph.ts';
import { jobColumns, jobFromValues } from './rows.ts';
import { writeAudit, writeTransition } from './write.ts';

/** Jobs per transaction when the caller does not say. */
export const DEFAULT_BULK_BATCH = 1000;

/** The WHERE clause and parameters of a bulk filter (jobs aliased `j`). */
export function bulkWhere(tenant: string, filter: BulkFilter | undefined, ids: string[] | undefined): { where: string; params: Record<string, unknown> } {
  const where = ['j.tenant = @tenant'];
  const params: Record<string, unknown> = { tenant };
  const f = filter ?? {};
  if (ids !== undefined) (where.push('j.id IN (SELECT value FROM json_each(@ids))'), (params.ids = JSON.stringify(ids)));
  if (f.status !== undefined) (where.push('j.status = @status'), (params.status = f.status));
  if (f.queue !== undefined) (where.push('j.queue = @queue'), (params.queue = f.queue));
  if (f.type !== undefined) (where.push('j.type = @type'), (params.type = f.type));
  if (f.tag !== undefined) (where.push('EXISTS (SELECT 1 FROM job_tags t WHERE t.job_id = j.id AND t.tag = @tag)'), (params.tag = f.tag));
  if (f.createdAfter !== undefined) (where.push('j.created_at >= @createdAfter'), (params.createdAfter = f.createdAfter));
  if (f.createdBefore !== undefined) (where.push('j.created_at < @createdBefore'), (params.createdBefore = f.createdBefore));
  if (f.template !== undefined) {
    if (f.template.includes('@')) (where.push('j.template = @template'), (params.template = f.template));
    else (where.push("j.template >= @tplLow AND j.template < @tplHigh"), (params.tplLow = `${f.template}@`), (params.tplHigh = `${f.template}A`));
  }
  return { where: where.join(' AND '), params };
}

/** Cancels, retries or deletes matching jobs; see Store.jobBulk. */
export async function jobBulk(
  sql: Sql,
  p: { tenant: string; action: 'cancel' | 'retry' | 'delete'; filter?: BulkFilter; ids?: string[]; reason?: string; now: number; batchSize?: number; audit?: AuditInput },
): Promise<BulkResult> {
  const size = p.batchSize ?? DEFAULT_BULK_BATCH;
  const { where, params } = bulkWhere(p.tenant, p.filter, p.ids);
  const select = `SELECT ${jobColumns('j')} FROM jobs j WHERE ${where} AND j.id > @cursor ORDER BY j.id LIMIT @limit`;
  const out: BulkResult = { affected: 0, skipped: 0, stopped: [] };
  let cursor = '';
  for (;;) {
    const n = sql.write(() => {
      const rows = sql.rawStmt(select).all({ ...params, cursor, limit: size }) as unknown[][];
      for (const row of rows) {
        const job = jobFromValues(row);
        if (p.action === 'delete') {
          if (!TERMINAL_STATUSES.has(job.status)) {
            out.skipped++;
            continue;
          }
          sql.stmt('DELETE FROM job_deps WHERE parent_id = ?').run(job.id);
          sql.rowCache.drop(job.id);
          sql.stmt('DELETE FROM jobs WHERE id = ?').run(job.id);
          out.affected++;
          continue;
        }
        const event = p.action === 'cancel' ? ({ type: 'cancel', reason: p.reason ?? 'cancelled_by_user' } as const) : ({ type: 'retry' } as const);
        if (!ALLOWED[event.type].has(job.status)) {
          out.skipped++;
          continue;
        }
        const r = transition(job, event, p.now);
        writeTransition(sql, r);
        if (p.action === 'cancel') {
          if (job.workerId !== null && (job.status === 'assigned' || job.status === 'running')) out.stopped.push({ jobId: job.id, workerId: job.workerId, attempt: job.attempt });
          onJobsEnded(sql, [r.job], p.now);
        }
        out.affected++;
      }
      if (rows.length > 0) cursor = rows[rows.length - 1][0] as string;
      return rows.length;
    });
    if (n < size) break;
    // Let reports, claims and requests in before the next batch.
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  if (p.audit) sql.write(() => writeAudit(sql, p.tenant, { ...p.audit!, detail: { ...(p.audit!.detail as object | undefined), affected: out.affected, skipped: out.skipped } }, p.now));
  return out;
}

/**
 * Bulk operations in the PostgreSQL store: cancel, retry or delete the jobs that match a filter
 * (or a list of ids), one batch of jobs per transaction (rows locked FOR UPDATE, in id order),
 * so a large operation never holds more than one batch's locks and other servers' claims and
 * reports go on in between.
 */
import { ALLOWED, transition, type TransitionResult } from '../../core/transition.ts';
import { TERMINAL_STATUSES, type AuditInput, type Job } from '../../core/types.ts';
import type { BulkFilter, BulkResult } from '../types.ts';
import { inTx, type Db } from './db.ts';
import { onJobsEnded } from './graph.ts';
import { jobFromRow, type JobRow } from './rows.ts';
import { notifyWake, writeAudit, writeResults, type Ctx } from './write.ts';

/** Jobs per transaction when the caller does not say. */
export const DEFAULT_BULK_BATCH = 1000;

function filterSql(tx: Db, tenant: string, f: BulkFilter, ids: string[] | undefined) {
  const tpl = f.template;
  return tx`j.tenant = ${tenant}
    ${ids !== undefined ? tx`AND j.id = ANY(${ids}::text[])` : tx``}
    ${f.status !== undefined ? tx`AND j.status = ${f.status}` : tx``}
    ${f.queue !== undefined ? tx`AND j.queue = ${f.queue}` : tx``}
    ${f.type !== undefined ? tx`AND j.type = ${f.type}` : tx``}
    ${f.tag !== undefined ? tx`AND EXISTS (SELECT 1 FROM job_tags t WHERE t.job_id = j.id AND t.tag = ${f.tag})` : tx``}
    ${f.createdAfter !== undefined ? tx`AND j.created_at >= ${f.createdAfter}::int8` : tx``}
    ${f.createdBefore !== undefined ? tx`AND j.created_at < ${f.createdBefore}::int8` : tx``}
    ${tpl === undefined ? tx`` : tpl.includes('@') ? tx`AND j.template = ${tpl}` : tx`AND j.template >= ${`${tpl}@`} AND j.template < ${`${tpl}A`}`}`;
}

/** Cancels, retries or deletes matching jobs; see Store.jobBulk. */
export async function jobBulk(
  c: Ctx,
  p: { tenant: string; action: 'cancel' | 'retry' | 'delete'; filter?: BulkFilter; ids?: string[]; reason?: string; now: number; batchSize?: number; audit?: AuditInput },
): Promise<BulkResult> {
  const size = p.batchSize ?? DEFAULT_BULK_BATCH;
  const out: BulkResult = { affected: 0, skipped: 0, stopped: [] };
  let cursor = '';
  for (;;) {
    const n = await inTx(c.sql, async (tx) => {
      const rows = await tx`SELECT j.* FROM jobs j WHERE ${filterSql(tx, p.tenant, p.filter ?? {}, p.ids)} AND j.id > ${cursor}
        ORDER BY j.id LIMIT ${size} FOR UPDATE`;
      if (rows.length === 0) return 0;
      cursor = rows[rows.length - 1].id as string;
      const jobs = rows.map((r) => jobFromRow(r as JobRow));
      if (p.action === 'delete') {
        const ended = jobs.filter((j) => TERMINAL_STATUSES.has(j.status)).map((j) => j.id);
        out.skipped += jobs.length - ended.length;
        if (ended.length > 0) {
          await tx`DELETE FROM job_deps WHERE parent_id = ANY(${ended}::text[])`;
          // Attempts have no foreign key to cascade (005_attempts_without_fk.sql).
          await tx`DELETE FROM job_attempts WHERE job_id = ANY(${ended}::text[])`;
          await tx`DELETE FROM jobs WHERE id = ANY(${ended}::text[])`;
        }
        out.affected += ended.length;
        return rows.length;
      }
      const event = p.action === 'cancel' ? ({ type: 'cancel', reason: p.reason ?? 'cancelled_by_user' } as const) : ({ type: 'retry' } as const);
      const results: TransitionResult[] = [];
      for (const job of jobs) {
        if (!ALLOWED[event.type].has(job.status)) {
          out.skipped++;
          continue;
        }
        if (p.action === 'cancel' && job.workerId !== null && (job.status === 'assigned' || job.status === 'running')) {
          out.stopped.push({ jobId: job.id, workerId: job.workerId, attempt: job.attempt });
        }
        results.push(transition(job, event, p.now));
      }
      await writeResults(tx, results);
      out.affected += results.length;
      let woken: Job[] = results.map((r) => r.job);
      if (p.action === 'cancel') woken = await onJobsEnded(tx, woken, p.now);
      await notifyWake(tx, c, woken.filter((j) => j.status === 'pending').map((j) => j.tenant));
      return rows.length;
    });
    if (n < size) break;
  }
  if (p.audit) {
    const a = p.audit;
    await inTx(c.sql, (tx) => writeAudit(tx, p.tenant, { ...a, detail: { ...(a.detail as object | undefined), affected: out.affected, skipped: out.skipped } }, p.now));
  }
  return out;
}

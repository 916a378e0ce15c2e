/**
 * Deadlines, weights and concurrency limits in the SQLite store: the job columns of
 * 004_schedules.sql, the deadline sweep, queue/tenant weights, and the claim-time check that
 * keeps queues and concurrency keys within their caps (counted in the same write transaction
 * as the assignment, so the cap holds whatever the dispatcher believed).
 */
import { BatonError } from '../../core/errors.ts';
import { transition } from '../../core/transition.ts';
import type { AuditInput, Job, QueueStats, Tenant } from '../../core/types.ts';
import type { Fence, FairnessSettings } from '../types.ts';
import * as admin from './admin.ts';
import type { Sql } from './db.ts';
import { onJobsEnded } from './graph.ts';
import { checkFence } from './leaders.ts';
import { jobFromValues, selectJobs } from './rows.ts';
import { ensureQueue, writeAudit, writeTransition } from './write.ts';

/** See Store.jobExpireDeadlines. */
export function jobExpireDeadlines(sql: Sql, p: { now: number; limit: number; fence?: Fence }): Job[] {
  return sql.write(() => {
    checkFence(sql, p.fence, p.now);
    const rows = sql.rawStmt(`${selectJobs()} INDEXED BY jobs_deadline WHERE deadline IS NOT NULL AND deadline < ?
      AND status IN ('blocked', 'scheduled', 'pending') ORDER BY deadline LIMIT ?`).all(p.now, p.limit) as unknown[][];
    const out: Job[] = [];
    for (const row of rows) {
      const r = transition(jobFromValues(row), { type: 'expire' }, p.now);
      writeTransition(sql, r);
      out.push(r.job);
    }
    out.push(...onJobsEnded(sql, out, p.now));
    return out;
  });
}

/** See Store.jobNextDeadline. */
export function jobNextDeadline(sql: Sql): number | null {
  return (sql.stmt("SELECT MIN(deadline) AS t FROM jobs WHERE deadline IS NOT NULL AND status IN ('blocked', 'scheduled', 'pending')").get() as { t: number | null }).t;
}

/** See Store.queueSetLimits. */
export function queueSetLimits(sql: Sql, p: { tenant: string; name: string; weight?: number; concurrencyLimit?: number | null; now: number; audit?: AuditInput }): QueueStats {
  return sql.write(() => {
    ensureQueue(sql, p.tenant, p.name, p.now);
    if (p.weight !== undefined) sql.stmt('UPDATE queues SET weight = ? WHERE tenant = ? AND name = ?').run(p.weight, p.tenant, p.name);
    if (p.concurrencyLimit !== undefined) sql.stmt('UPDATE queues SET concurrency_limit = ? WHERE tenant = ? AND name = ?').run(p.concurrencyLimit, p.tenant, p.name);
    if (p.audit) writeAudit(sql, p.tenant, p.audit, p.now);
    return admin.queueList(sql, { tenant: p.tenant }).find((q) => q.name === p.name)!;
  });
}

/** See Store.tenantSetWeight. */
export function tenantSetWeight(sql: Sql, p: { id: string; weight: number; now: number; audit?: AuditInput }): Tenant {
  return sql.write(() => {
    if (sql.stmt('UPDATE tenants SET weight = ? WHERE id = ?').run(p.weight, p.id).changes === 0) throw new BatonError('BATON_E_NOT_FOUND', `tenant ${p.id} not found`);
    if (p.audit) writeAudit(sql, p.id, p.audit, p.now);
    return { ...admin.tenantGet(sql, { id: p.id })!, weight: p.weight };
  });
}

/** See Store.fairnessSettings. */
export function fairnessSettings(sql: Sql, p: { tenants: string[] }): FairnessSettings {
  const ids = JSON.stringify(p.tenants);
  const out: FairnessSettings = { tenants: {}, queues: {} };
  for (const t of sql.stmt('SELECT id, weight FROM tenants WHERE id IN (SELECT value FROM json_each(?))').all(ids) as { id: string; weight: number }[]) out.tenants[t.id] = t.weight;
  const qs = sql.stmt('SELECT tenant, name, weight, concurrency_limit FROM queues WHERE tenant IN (SELECT value FROM json_each(?))').all(ids) as {
    tenant: string; name: string; weight: number; concurrency_limit: number | null;
  }[];
  for (const q of qs) out.queues[`${q.tenant}\u0000${q.name}`] = { weight: q.weight, concurrencyLimit: q.concurrency_limit };
  return out;
}

/**
 * The jobs of `candidates` (in order) that may be assigned without taking their queue or their
 * concurrency key over its cap, counting the jobs that hold a slot now plus those admitted
 * before them; none of a paused queue. Run inside the assignment's write transaction.
 */
export function admitWithinCaps(sql: Sql, candidates: Job[]): Set<string> {
  const admitted = new Set<string>();
  const queueUse = new Map<string, { used: number; cap: number | null }>();
  const keyUse = new Map<string, number>();
  for (const job of candidates) {
    const qk = `${job.tenant}\u0000${job.queue}`;
    let q = queueUse.get(qk);
    if (q === undefined) {
      const row = sql.stmt('SELECT concurrency_limit, paused FROM queues WHERE tenant = ? AND name = ?').get(job.tenant, job.queue) as
        | { concurrency_limit: number | null; paused: number }
        | undefined;
      // A paused queue admits nothing (the dispatcher may plan from heads read before the pause):
      // a cap of 0, without counting its leases.
      const cap = row?.paused ? 0 : (row?.concurrency_limit ?? null);
      const used = !cap ? 0 : (sql.stmt("SELECT COUNT(*) AS n FROM jobs INDEXED BY jobs_leased_queue WHERE tenant = ? AND queue = ? AND status IN ('assigned', 'running')").get(job.tenant, job.queue) as { n: number }).n;
      q = { used, cap };
      queueUse.set(qk, q);
    }
    if (q.cap !== null && q.used >= q.cap) continue;
    let kk: string | null = null;
    if (job.concurrencyKey != null) {
      kk = `${job.tenant}\u0000${job.concurrencyKey}`;
      let used = keyUse.get(kk);
      if (used === undefined) {
        used = (sql.stmt("SELECT COUNT(*) AS n FROM jobs INDEXED BY jobs_leased_key WHERE tenant = ? AND concurrency_key = ? AND status IN ('assigned', 'running')").get(job.tenant, job.concurrencyKey) as { n: number }).n;
        keyUse.set(kk, used);
      }
      if (used >= (job.concurrencyLimit ?? 1)) continue;
    }
    admitted.add(job.id);
    q.used++;
    if (kk !== null) keyUse.set(kk, keyUse.get(kk)! + 1);
  }
  return admitted;
}

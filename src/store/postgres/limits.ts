/**
 * Deadlines, weights and concurrency limits in the PostgreSQL store: the job columns of
 * 004_schedules.sql, the deadline sweep, queue/tenant weights, and the claim-time check that
 * keeps queues and concurrency keys within their caps across servers: each capped queue or key
 * is serialised by a transaction-scoped advisory lock, taken in one order, before its running
 * jobs are counted — so two servers claiming at once cannot both take the last slot.
 */
import { BatonError } from '../../core/errors.ts';
import { transition } from '../../core/transition.ts';
import type { AuditInput, Job, QueueStats, Tenant } from '../../core/types.ts';
import type { FairnessSettings, Fence } from '../types.ts';
import * as admin from './admin.ts';
import { allInOrder, inTx, type Db } from './db.ts';
import { onJobsEnded } from './graph.ts';
import { checkFence } from './leaders.ts';
import { jobFromRow, tenantFromRow, type JobRow } from './rows.ts';
import { ensureQueues, notifyWake, writeAudit, writeResults, type Ctx } from './write.ts';

/** See Store.jobExpireDeadlines. */
export async function jobExpireDeadlines(c: Ctx, p: { now: number; limit: number; fence?: Fence }): Promise<Job[]> {
  return inTx(c.sql, async (tx) => {
    await checkFence(tx, p.fence, p.now);
    const rows = await tx`SELECT * FROM jobs WHERE deadline IS NOT NULL AND deadline < ${p.now}::int8
      AND status IN ('blocked', 'scheduled', 'pending') ORDER BY deadline LIMIT ${p.limit} FOR UPDATE SKIP LOCKED`;
    const results = rows.map((r) => transition(jobFromRow(r as JobRow), { type: 'expire' }, p.now));
    await writeResults(tx, results);
    const ended = results.map((r) => r.job);
    const changed = await onJobsEnded(tx, ended, p.now);
    await notifyWake(tx, c, changed.filter((j) => j.status === 'pending').map((j) => j.tenant));
    return [...ended, ...changed];
  });
}

/** See Store.jobNextDeadline. */
export async function jobNextDeadline(sql: Db): Promise<number | null> {
  const [row] = await sql`SELECT min(deadline) AS t FROM jobs WHERE deadline IS NOT NULL AND status IN ('blocked', 'scheduled', 'pending')`;
  return (row.t as number | null) ?? null;
}

/** See Store.queueSetLimits. */
export async function queueSetLimits(c: Ctx, p: { tenant: string; name: string; weight?: number; concurrencyLimit?: number | null; now: number; audit?: AuditInput }): Promise<QueueStats> {
  await inTx(c.sql, async (tx) => {
    await ensureQueues(tx, [{ tenant: p.tenant, name: p.name, at: p.now }]);
    if (p.weight !== undefined) await tx`UPDATE queues SET weight = ${p.weight}::float8 WHERE tenant = ${p.tenant} AND name = ${p.name}`;
    if (p.concurrencyLimit !== undefined) await tx`UPDATE queues SET concurrency_limit = ${p.concurrencyLimit}::int4 WHERE tenant = ${p.tenant} AND name = ${p.name}`;
    if (p.audit) await writeAudit(tx, p.tenant, p.audit, p.now);
    // A raised cap frees slots.
    await notifyWake(tx, c, [p.tenant]);
  });
  return (await admin.queueList(c.sql, { tenant: p.tenant })).find((q) => q.name === p.name)!;
}

/** See Store.tenantSetWeight. */
export async function tenantSetWeight(c: Ctx, p: { id: string; weight: number; now: number; audit?: AuditInput }): Promise<Tenant> {
  return inTx(c.sql, async (tx) => {
    const [row] = await tx`UPDATE tenants SET weight = ${p.weight}::float8 WHERE id = ${p.id} RETURNING *`;
    if (row === undefined) throw new BatonError('BATON_E_NOT_FOUND', `tenant ${p.id} not found`);
    if (p.audit) await writeAudit(tx, p.id, p.audit, p.now);
    return { ...tenantFromRow(row), weight: p.weight };
  });
}

/** See Store.fairnessSettings. */
export async function fairnessSettings(sql: Db, p: { tenants: string[] }): Promise<FairnessSettings> {
  const out: FairnessSettings = { tenants: {}, queues: {} };
  for (const t of await sql`SELECT id, weight FROM tenants WHERE id = ANY(${p.tenants}::text[])`) out.tenants[t.id as string] = t.weight as number;
  for (const q of await sql`SELECT tenant, name, weight, concurrency_limit FROM queues WHERE tenant = ANY(${p.tenants}::text[])`) {
    out.queues[`${q.tenant as string}\u0000${q.name as string}`] = { weight: q.weight as number, concurrencyLimit: (q.concurrency_limit as number | null) ?? null };
  }
  return out;
}

/** Concurrency caps of queues, by `tenant\0queue`. */
export type QueueCaps = Map<string, number>;

/**
 * The jobs of `candidates` (in order) that may be assigned without taking their queue or their
 * concurrency key over its cap (`caps`: of the candidates' queues, read with the locked rows). Locks every capped queue and key of
 * the batch (advisory, transaction-scoped, in sorted order), then counts the jobs holding a slot:
 * the counts are pipelined behind the lock statement, so they run once it is granted — one round
 * trip, and none when no candidate has a capped queue or a concurrency key. Run inside the
 * assignment's transaction, before writing it.
 */
export async function admitWithinCaps(tx: Db, candidates: Job[], caps: QueueCaps): Promise<Set<string>> {
  const admitted = new Set<string>();
  if (candidates.length === 0) return admitted;
  const locks = new Set<string>();
  for (const j of candidates) {
    if (caps.has(`${j.tenant}\u0000${j.queue}`)) locks.add(`q\u001f${j.tenant}\u001f${j.queue}`);
    if (j.concurrencyKey != null) locks.add(`k\u001f${j.tenant}\u001f${j.concurrencyKey}`);
  }
  if (locks.size === 0) {
    for (const j of candidates) admitted.add(j.id);
    return admitted;
  }
  const sorted = [...locks].sort();
  const cappedQueues = candidates.filter((j) => caps.has(`${j.tenant}\u0000${j.queue}`));
  const keyed = candidates.filter((j) => j.concurrencyKey != null);
  const [, queueRows, keyRows] = await allInOrder([
    // One statement, locks taken in array order: every server takes them in the same order.
    tx`SELECT pg_advisory_xact_lock(hashtextextended(k, 0)) FROM unnest(${sorted}::text[]) WITH ORDINALITY AS t(k, n) ORDER BY n`.execute(),
    // Promise.resolve: allInOrder observes each entry through `then`, which a bare [] lacks.
    cappedQueues.length === 0
      ? Promise.resolve([])
      : tx`SELECT tenant, queue, count(*)::int AS n FROM jobs WHERE status IN ('assigned', 'running')
          AND (tenant, queue) IN (SELECT * FROM unnest(${cappedQueues.map((j) => j.tenant)}::text[], ${cappedQueues.map((j) => j.queue)}::text[]))
          GROUP BY tenant, queue`.execute(),
    keyed.length === 0
      ? Promise.resolve([])
      : tx`SELECT tenant, concurrency_key, count(*)::int AS n FROM jobs WHERE status IN ('assigned', 'running') AND concurrency_key IS NOT NULL
          AND (tenant, concurrency_key) IN (SELECT * FROM unnest(${keyed.map((j) => j.tenant)}::text[], ${keyed.map((j) => j.concurrencyKey!)}::text[]))
          GROUP BY tenant, concurrency_key`.execute(),
  ]);
  const queueUse = new Map<string, number>(queueRows.map((r) => [`${r.tenant as string}\u0000${r.queue as string}`, r.n as number]));
  const keyUse = new Map<string, number>(keyRows.map((r) => [`${r.tenant as string}\u0000${r.concurrency_key as string}`, r.n as number]));
  for (const j of candidates) {
    const qk = `${j.tenant}\u0000${j.queue}`;
    const cap = caps.get(qk);
    if (cap !== undefined && (queueUse.get(qk) ?? 0) >= cap) continue;
    const kk = j.concurrencyKey != null ? `${j.tenant}\u0000${j.concurrencyKey}` : null;
    if (kk !== null && (keyUse.get(kk) ?? 0) >= (j.concurrencyLimit ?? 1)) continue;
    admitted.add(j.id);
    if (cap !== undefined) queueUse.set(qk, (queueUse.get(qk) ?? 0) + 1);
    if (kk !== null) keyUse.set(kk, (keyUse.get(kk) ?? 0) + 1);
  }
  return admitted;
}

/**
 * Tenants, tokens, queues, workers and the audit log in the PostgreSQL store. An audit row belongs
 * to the tenant of the object changed (a new tenant's own id for tenantCreate).
 */
import { BatonError } from '../../core/errors.ts';
import type { AuditEntry, AuditInput, JobStatus, QueueStats, Tenant, TokenRecord, WorkerInfo, WorkerStatus } from '../../core/types.ts';
import type { Page } from '../types.ts';
import { inTx, isUniqueViolation, type Db, type Pool } from './db.ts';
import { auditFromRow, jsonbText, tenantFromRow, tokenFromRow, workerFromRow } from './rows.ts';
import { checkLimit, decodeCursor, encodeCursor, ensureQueues, notifyWake, writeAudit, type Ctx } from './write.ts';

/** Creates a tenant; BATON_E_CONFLICT when the id is taken. */
export async function tenantCreate(sql: Pool, p: { tenant: Tenant; audit?: AuditInput }): Promise<Tenant> {
  const t = p.tenant;
  await inTx(sql, async (tx) => {
    try {
      await tx`INSERT INTO tenants (id, name, created_at) VALUES (${t.id}, ${t.name}, ${t.createdAt}::int8)`;
    } catch (e) {
      if (isUniqueViolation(e)) throw new BatonError('BATON_E_CONFLICT', `tenant ${t.id} exists already`);
      throw e;
    }
    if (p.audit) await writeAudit(tx, t.id, p.audit, t.createdAt);
  });
  return { ...t };
}

/** A tenant by id, or null. */
export async function tenantGet(sql: Db, p: { id: string }): Promise<Tenant | null> {
  const [row] = await sql`SELECT * FROM tenants WHERE id = ${p.id}`;
  return row === undefined ? null : tenantFromRow(row);
}

/** All tenants by id. */
export async function tenantList(sql: Db): Promise<Tenant[]> {
  return (await sql`SELECT * FROM tenants ORDER BY id`).map(tenantFromRow);
}

/** Creates a token; BATON_E_CONFLICT when its id, or its name in the tenant, is taken. */
export async function tokenCreate(sql: Pool, p: { token: TokenRecord; audit?: AuditInput }): Promise<TokenRecord> {
  const t = p.token;
  await inTx(sql, async (tx) => {
    try {
      await tx`INSERT INTO tokens (id, tenant, name, role, system, secret_hash, created_at, last_used_at)
        VALUES (${t.id}, ${t.tenant}, ${t.name}, ${t.role}, ${t.system}, ${t.secretHash}, ${t.createdAt}::int8, ${t.lastUsedAt}::int8)`;
    } catch (e) {
      if (isUniqueViolation(e)) throw new BatonError('BATON_E_CONFLICT', `a token named ${t.name} (or with id ${t.id}) exists already in tenant ${t.tenant}`);
      throw e;
    }
    if (p.audit) await writeAudit(tx, t.tenant, p.audit, t.createdAt);
  });
  return { ...t };
}

/** A token by id, or null. */
export async function tokenGet(sql: Db, p: { id: string }): Promise<TokenRecord | null> {
  const [row] = await sql`SELECT * FROM tokens WHERE id = ${p.id}`;
  return row === undefined ? null : tokenFromRow(row);
}

/** The tokens of a tenant, oldest first. */
export async function tokenList(sql: Db, p: { tenant: string }): Promise<TokenRecord[]> {
  return (await sql`SELECT * FROM tokens WHERE tenant = ${p.tenant} ORDER BY created_at, id`).map(tokenFromRow);
}

/** Deletes a token of `tenant`; false when there was none. */
export async function tokenDelete(sql: Pool, p: { tenant: string; id: string; audit?: AuditInput }, now: number): Promise<boolean> {
  return inTx(sql, async (tx) => {
    const rows = await tx`DELETE FROM tokens WHERE id = ${p.id} AND tenant = ${p.tenant} RETURNING id`;
    if (rows.length > 0 && p.audit) await writeAudit(tx, p.tenant, p.audit, now);
    return rows.length > 0;
  });
}

/** How many system tokens exist. */
export async function tokenCountSystem(sql: Db): Promise<number> {
  const [row] = await sql`SELECT count(*) AS n FROM tokens WHERE system`;
  return row.n as number;
}

type Counts = Partial<Record<JobStatus, number>>;

async function countsOf(sql: Db, tenant: string, queue?: string): Promise<Map<string, Counts>> {
  const rows = await sql`SELECT queue, status, count(*) AS n FROM jobs
    WHERE tenant = ${tenant} ${queue === undefined ? sql`` : sql`AND queue = ${queue}`} GROUP BY queue, status`;
  const out = new Map<string, Counts>();
  for (const r of rows) {
    let c = out.get(r.queue);
    if (c === undefined) out.set(r.queue, (c = {}));
    c[r.status as JobStatus] = r.n;
  }
  return out;
}

/** Weight and cap of a queue, present only when not the defaults (weight 1, no cap). */
export function limitFields(weight: unknown, cap: unknown): { weight?: number; concurrencyLimit?: number } {
  return { ...(weight !== undefined && weight !== null && Number(weight) !== 1 ? { weight: Number(weight) } : {}), ...(cap !== undefined && cap !== null ? { concurrencyLimit: Number(cap) } : {}) };
}

function queueStats(r: Record<string, unknown>, counts: Counts | undefined): QueueStats {
  return {
    tenant: r.tenant as string, name: r.name as string, paused: r.paused as boolean, createdAt: r.created_at as number,
    ...limitFields(r.weight, r.concurrency_limit), counts: counts ?? {},
  };
}

/** The queues of a tenant by name, with job counts per status. */
export async function queueList(sql: Db, p: { tenant: string }): Promise<QueueStats[]> {
  const rows = await sql`SELECT * FROM queues WHERE tenant = ${p.tenant} ORDER BY name`;
  const counts = await countsOf(sql, p.tenant);
  return rows.map((r) => queueStats(r, counts.get(r.name)));
}

/** Pauses or resumes a queue (creating it if missing); a resume wakes the dispatchers. */
export async function queueSetPaused(c: Ctx, p: { tenant: string; name: string; paused: boolean; now: number; audit?: AuditInput }): Promise<QueueStats> {
  return inTx(c.sql, async (tx) => {
    await ensureQueues(tx, [{ tenant: p.tenant, name: p.name, at: p.now }]);
    const [row] = await tx`UPDATE queues SET paused = ${p.paused} WHERE tenant = ${p.tenant} AND name = ${p.name} RETURNING *`;
    if (p.audit) await writeAudit(tx, p.tenant, p.audit, p.now);
    if (!p.paused) await notifyWake(tx, c, [p.tenant]);
    return queueStats(row, (await countsOf(tx, p.tenant, p.name)).get(p.name));
  });
}

/** Inserts a worker or refreshes it; the first registeredAt is kept. */
export async function workerUpsert(sql: Db, p: { worker: WorkerInfo }): Promise<WorkerInfo> {
  const w = p.worker;
  const [row] = await sql`INSERT INTO workers (id, tenant, name, host, types, handlers, queues, labels, capacity, cpu, memory_mb,
      region, zone, status, registered_at, last_seen_at)
    VALUES (${w.id}, ${w.tenant}, ${w.name}, ${w.host}, ${jsonbText(w.types)}::text::jsonb, ${jsonbText(w.handlers)}::text::jsonb,
      ${jsonbText(w.queues)}::text::jsonb, ${jsonbText(w.labels)}::text::jsonb, ${w.capacity}, ${w.cpu}::float8, ${w.memoryMb}::int8,
      ${w.region}, ${w.zone}, ${w.status}, ${w.registeredAt}::int8, ${w.lastSeenAt}::int8)
    ON CONFLICT (id) DO UPDATE SET tenant = excluded.tenant, name = excluded.name, host = excluded.host,
      types = excluded.types, handlers = excluded.handlers, queues = excluded.queues, labels = excluded.labels,
      capacity = excluded.capacity, cpu = excluded.cpu, memory_mb = excluded.memory_mb, region = excluded.region,
      zone = excluded.zone, status = excluded.status, last_seen_at = excluded.last_seen_at
    RETURNING *`;
  return workerFromRow(row);
}

/** A worker of `tenant`, or null. */
export async function workerGet(sql: Db, p: { tenant: string; id: string }): Promise<WorkerInfo | null> {
  const [row] = await sql`SELECT * FROM workers WHERE id = ${p.id} AND tenant = ${p.tenant}`;
  return row === undefined ? null : workerFromRow(row);
}

/** The workers of a tenant by id. */
export async function workerList(sql: Db, p: { tenant: string }): Promise<WorkerInfo[]> {
  return (await sql`SELECT * FROM workers WHERE tenant = ${p.tenant} ORDER BY id`).map(workerFromRow);
}

/** Sets a worker's status; throws BATON_E_NOT_FOUND for an unknown worker. */
export async function workerSetStatus(sql: Pool, p: { id: string; status: WorkerStatus; now: number; audit?: AuditInput }): Promise<void> {
  await inTx(sql, async (tx) => {
    const [row] = await tx`UPDATE workers SET status = ${p.status} WHERE id = ${p.id} RETURNING tenant`;
    if (row === undefined) throw new BatonError('BATON_E_NOT_FOUND', `worker ${p.id} not found`);
    if (p.audit) await writeAudit(tx, row.tenant, p.audit, p.now);
  });
}

/** Records a sign of life; unknown workers are ignored (they register on connect). */
export async function workerTouch(sql: Db, p: { id: string; now: number }): Promise<void> {
  await sql`UPDATE workers SET last_seen_at = greatest(last_seen_at, ${p.now}::int8) WHERE id = ${p.id}`;
}

/** Writes an audit row in the actor's tenant. */
export async function auditWrite(sql: Db, p: { entry: AuditInput; now: number }): Promise<void> {
  await writeAudit(sql, p.entry.actor.tenant, p.entry, p.now);
}

/** Audit rows of a tenant, newest first, one page at a time. */
export async function auditList(sql: Db, p: { tenant: string; limit: number; cursor?: string | null }): Promise<Page<AuditEntry>> {
  checkLimit(p.limit);
  let after = Number.MAX_SAFE_INTEGER;
  if (p.cursor) {
    after = Number(decodeCursor(p.cursor));
    if (!Number.isSafeInteger(after)) throw new BatonError('BATON_E_VALIDATION', 'cursor: is not a cursor from a previous page', { field: 'cursor' });
  }
  const rows = await sql`SELECT * FROM audit WHERE tenant = ${p.tenant} AND id < ${after}::int8 ORDER BY id DESC LIMIT ${p.limit + 1}`;
  const more = rows.length > p.limit;
  const items = (more ? rows.slice(0, p.limit) : rows).map(auditFromRow);
  return { items, nextCursor: more ? encodeCursor(items[items.length - 1].id) : null };
}

/**
 * Tenants, tokens, queues, workers and the audit log in the SQLite store. An audit row belongs to
 * the tenant of the object changed (a new tenant's own id for tenantCreate).
 */
import { BatonError } from '../../core/errors.ts';
import type { AuditEntry, AuditInput, JobStatus, QueueStats, Tenant, TokenRecord, WorkerInfo, WorkerStatus } from '../../core/types.ts';
import type { Page } from '../types.ts';
import type { Sql } from './db.ts';
import { auditFromRow, tenantFromRow, tokenFromRow, workerFromRow, workerParams, type AuditRow, type TokenRow, type WorkerRow } from './rows.ts';
import { checkLimit, decodeCursor, encodeCursor, ensureQueue, writeAudit } from './write.ts';

function isUniqueViolation(e: unknown): boolean {
  const code = (e as { code?: string }).code;
  return code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === 'SQLITE_CONSTRAINT_UNIQUE';
}

export function tenantCreate(sql: Sql, p: { tenant: Tenant; audit?: AuditInput }): Tenant {
  const t = p.tenant;
  sql.write(() => {
    try {
      sql.stmt('INSERT INTO tenants (id, name, created_at) VALUES (?, ?, ?)').run(t.id, t.name, t.createdAt);
    } catch (e) {
      if (isUniqueViolation(e)) throw new BatonError('BATON_E_CONFLICT', `tenant ${t.id} exists already`);
      throw e;
    }
    if (p.audit) writeAudit(sql, t.id, p.audit, t.createdAt);
  });
  return { ...t };
}

export function tenantGet(sql: Sql, p: { id: string }): Tenant | null {
  const row = sql.stmt('SELECT * FROM tenants WHERE id = ?').get(p.id) as { id: string; name: string; created_at: number } | undefined;
  return row === undefined ? null : tenantFromRow(row);
}

export function tenantList(sql: Sql): Tenant[] {
  return (sql.stmt('SELECT * FROM tenants ORDER BY id').all() as { id: string; name: string; created_at: number }[]).map(tenantFromRow);
}

export function tokenCreate(sql: Sql, p: { token: TokenRecord; audit?: AuditInput }): TokenRecord {
  const t = p.token;
  sql.write(() => {
    try {
      sql
        .stmt('INSERT INTO tokens (id, tenant, name, role, system, secret_hash, created_at, last_used_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
        .run(t.id, t.tenant, t.name, t.role, t.system ? 1 : 0, t.secretHash, t.createdAt, t.lastUsedAt);
    } catch (e) {
      if (isUniqueViolation(e)) throw new BatonError('BATON_E_CONFLICT', `a token named ${t.name} (or with id ${t.id}) exists already in tenant ${t.tenant}`);
      throw e;
    }
    if (p.audit) writeAudit(sql, t.tenant, p.audit, t.createdAt);
  });
  return { ...t };
}

export function tokenGet(sql: Sql, p: { id: string }): TokenRecord | null {
  const row = sql.stmt('SELECT * FROM tokens WHERE id = ?').get(p.id) as TokenRow | undefined;
  return row === undefined ? null : tokenFromRow(row);
}

export function tokenList(sql: Sql, p: { tenant: string }): TokenRecord[] {
  return (sql.stmt('SELECT * FROM tokens WHERE tenant = ? ORDER BY created_at, id').all(p.tenant) as TokenRow[]).map(tokenFromRow);
}

export function tokenDelete(sql: Sql, p: { tenant: string; id: string; audit?: AuditInput }, now: number): boolean {
  return sql.write(() => {
    const n = sql.stmt('DELETE FROM tokens WHERE id = ? AND tenant = ?').run(p.id, p.tenant).changes;
    if (n > 0 && p.audit) writeAudit(sql, p.tenant, p.audit, now);
    return n > 0;
  });
}

export function tokenCountSystem(sql: Sql): number {
  return (sql.stmt('SELECT COUNT(*) AS n FROM tokens WHERE system = 1').get() as { n: number }).n;
}

type QueueRow = { tenant: string; name: string; paused: number; created_at: number; weight?: number; concurrency_limit?: number | null };

function countsOf(sql: Sql, tenant: string, queue?: string): Map<string, Partial<Record<JobStatus, number>>> {
  const rows = (
    queue === undefined
      ? sql.stmt('SELECT queue, status, COUNT(*) AS n FROM jobs WHERE tenant = ? GROUP BY queue, status').all(tenant)
      : sql.stmt('SELECT queue, status, COUNT(*) AS n FROM jobs WHERE tenant = ? AND queue = ? GROUP BY status').all(tenant, queue)
  ) as { queue: string; status: JobStatus; n: number }[];
  const out = new Map<string, Partial<Record<JobStatus, number>>>();
  for (const r of rows) {
    let c = out.get(r.queue);
    if (c === undefined) out.set(r.queue, (c = {}));
    c[r.status] = r.n;
  }
  return out;
}

/** Weight and cap of a queue, present only when not the defaults (weight 1, no cap). */
export function limitFields(weight: unknown, cap: unknown): { weight?: number; concurrencyLimit?: number } {
  return { ...(weight !== undefined && weight !== null && Number(weight) !== 1 ? { weight: Number(weight) } : {}), ...(cap !== undefined && cap !== null ? { concurrencyLimit: Number(cap) } : {}) };
}

function queueStats(r: QueueRow, counts: Partial<Record<JobStatus, number>> | undefined): QueueStats {
  return { tenant: r.tenant, name: r.name, paused: r.paused === 1, createdAt: r.created_at, ...limitFields(r.weight, r.concurrency_limit), counts: counts ?? {} };
}

export function queueList(sql: Sql, p: { tenant: string }): QueueStats[] {
  const rows = sql.stmt('SELECT * FROM queues WHERE tenant = ? ORDER BY name').all(p.tenant) as QueueRow[];
  const counts = countsOf(sql, p.tenant);
  return rows.map((r) => queueStats(r, counts.get(r.name)));
}

export function queueSetPaused(sql: Sql, p: { tenant: string; name: string; paused: boolean; now: number; audit?: AuditInput }): QueueStats {
  return sql.write(() => {
    ensureQueue(sql, p.tenant, p.name, p.now);
    sql.stmt('UPDATE queues SET paused = ? WHERE tenant = ? AND name = ?').run(p.paused ? 1 : 0, p.tenant, p.name);
    if (p.audit) writeAudit(sql, p.tenant, p.audit, p.now);
    const row = sql.stmt('SELECT * FROM queues WHERE tenant = ? AND name = ?').get(p.tenant, p.name) as QueueRow;
    return queueStats(row, countsOf(sql, p.tenant, p.name).get(p.name));
  });
}

/** Inserts a worker or refreshes it; the first registeredAt is kept. */
export function workerUpsert(sql: Sql, p: { worker: WorkerInfo }): WorkerInfo {
  return sql.write(() => {
    sql
      .stmt(
        `INSERT INTO workers (id, tenant, name, host, types, handlers, queues, labels, capacity, cpu, memory_mb,
           region, zone, status, registered_at, last_seen_at)
         VALUES (@id, @tenant, @name, @host, @types, @handlers, @queues, @labels, @capacity, @cpu, @memory_mb,
           @region, @zone, @status, @registered_at, @last_seen_at)
         ON CONFLICT (id) DO UPDATE SET tenant = excluded.tenant, name = excluded.name, host = excluded.host,
           types = excluded.types, handlers = excluded.handlers, queues = excluded.queues, labels = excluded.labels,
           capacity = excluded.capacity, cpu = excluded.cpu, memory_mb = excluded.memory_mb, region = excluded.region,
           zone = excluded.zone, status = excluded.status, last_seen_at = excluded.last_seen_at`,
      )
      .run(workerParams(p.worker));
    return workerFromRow(sql.stmt('SELECT * FROM workers WHERE id = ?').get(p.worker.id) as WorkerRow);
  });
}

export function workerGet(sql: Sql, p: { tenant: string; id: string }): WorkerInfo | null {
  const row = sql.stmt('SELECT * FROM workers WHERE id = ? AND tenant = ?').get(p.id, p.tenant) as WorkerRow | undefined;
  return row === undefined ? null : workerFromRow(row);
}

export function workerList(sql: Sql, p: { tenant: string }): WorkerInfo[] {
  return (sql.stmt('SELECT * FROM workers WHERE tenant = ? ORDER BY id').all(p.tenant) as WorkerRow[]).map(workerFromRow);
}

/** Sets a worker's status; throws BATON_E_NOT_FOUND for an unknown worker. */
export function workerSetStatus(sql: Sql, p: { id: string; status: WorkerStatus; now: number; audit?: AuditInput }): void {
  sql.write(() => {
    const row = sql.stmt('SELECT tenant FROM workers WHERE id = ?').get(p.id) as { tenant: string } | undefined;
    if (row === undefined) throw new BatonError('BATON_E_NOT_FOUND', `worker ${p.id} not found`);
    sql.stmt('UPDATE workers SET status = ? WHERE id = ?').run(p.status, p.id);
    if (p.audit) writeAudit(sql, row.tenant, p.audit, p.now);
  });
}

/** Records a sign of life; unknown workers are ignored (they register on connect). */
export function workerTouch(sql: Sql, p: { id: string; now: number }): void {
  sql.stmt('UPDATE workers SET last_seen_at = MAX(last_seen_at, ?) WHERE id = ?').run(p.now, p.id);
}

/** Writes an audit row in the actor's tenant. */
export function auditWrite(sql: Sql, p: { entry: AuditInput; now: number }): void {
  writeAudit(sql, p.entry.actor.tenant, p.entry, p.now);
}

export function auditList(sql: Sql, p: { tenant: string; limit: number; cursor?: string | null }): Page<AuditEntry> {
  checkLimit(p.limit);
  let after = Number.MAX_SAFE_INTEGER;
  if (p.cursor) {
    after = Number(decodeCursor(p.cursor));
    if (!Number.isSafeInteger(after)) throw new BatonError('BATON_E_VALIDATION', 'cursor: is not a cursor from a previous page', { field: 'cursor' });
  }
  const rows = sql.stmt('SELECT * FROM audit WHERE tenant = ? AND id < ? ORDER BY id DESC LIMIT ?').all(p.tenant, after, p.limit + 1) as AuditRow[];
  const more = rows.length > p.limit;
  const items = (more ? rows.slice(0, p.limit) : rows).map(auditFromRow);
  return { items, nextCursor: more ? encodeCursor(items[items.length - 1].id) : null };
}

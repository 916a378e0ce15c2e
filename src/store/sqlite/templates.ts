/**
 * Templates in the SQLite store: each save is a new immutable version (max + 1 inside the write
 * transaction, which SQLite serialises); import keeps the versions it is given.
 */
import { BatonError } from '../../core/errors.ts';
import type { AuditInput } from '../../core/types.ts';
import type { TemplateRecord } from '../types.ts';
import type { Sql } from './db.ts';
import { writeAudit } from './write.ts';

interface TemplateRow {
  tenant: string;
  name: string;
  version: number;
  description: string | null;
  spec: string;
  params_schema: string;
  created_at: number;
}

function fromRow(r: TemplateRow): TemplateRecord {
  return {
    tenant: r.tenant,
    name: r.name,
    version: r.version,
    description: r.description,
    spec: JSON.parse(r.spec),
    paramsSchema: JSON.parse(r.params_schema),
    createdAt: r.created_at,
  };
}

const INSERT = 'INSERT INTO templates (tenant, name, version, description, spec, params_schema, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)';

/** Saves the next version of a template; see Store.templateCreate. */
export function templateCreate(
  sql: Sql,
  p: { tenant: string; name: string; description: string | null; spec: Record<string, unknown>; paramsSchema: Record<string, unknown>; now: number; audit?: AuditInput },
): TemplateRecord {
  return sql.write(() => {
    const { v } = sql.stmt('SELECT COALESCE(MAX(version), 0) AS v FROM templates WHERE tenant = ? AND name = ?').get(p.tenant, p.name) as { v: number };
    const rec: TemplateRecord = { tenant: p.tenant, name: p.name, version: v + 1, description: p.description, spec: p.spec, paramsSchema: p.paramsSchema, createdAt: p.now };
    sql.stmt(INSERT).run(rec.tenant, rec.name, rec.version, rec.description, JSON.stringify(rec.spec), JSON.stringify(rec.paramsSchema), rec.createdAt);
    if (p.audit) writeAudit(sql, p.tenant, { ...p.audit, targetId: `${rec.name}@${rec.version}` }, p.now);
    return rec;
  });
}

/** One version, or the latest; see Store.templateGet. */
export function templateGet(sql: Sql, p: { tenant: string; name: string; version: number | null }): TemplateRecord | null {
  const row = (
    p.version === null
      ? sql.stmt('SELECT * FROM templates WHERE tenant = ? AND name = ? ORDER BY version DESC LIMIT 1').get(p.tenant, p.name)
      : sql.stmt('SELECT * FROM templates WHERE tenant = ? AND name = ? AND version = ?').get(p.tenant, p.name, p.version)
  ) as TemplateRow | undefined;
  return row === undefined ? null : fromRow(row);
}

/** The latest version of each template; see Store.templateList. */
export function templateList(sql: Sql, p: { tenant: string }): TemplateRecord[] {
  const rows = sql
    .stmt('SELECT t.* FROM templates t WHERE t.tenant = ? AND t.version = (SELECT MAX(version) FROM templates WHERE tenant = t.tenant AND name = t.name) ORDER BY t.name')
    .all(p.tenant) as TemplateRow[];
  return rows.map(fromRow);
}

/** Versions oldest first; see Store.templateVersions. */
export function templateVersions(sql: Sql, p: { tenant: string; name?: string }): TemplateRecord[] {
  const rows = (
    p.name === undefined
      ? sql.stmt('SELECT * FROM templates WHERE tenant = ? ORDER BY name, version').all(p.tenant)
      : sql.stmt('SELECT * FROM templates WHERE tenant = ? AND name = ? ORDER BY version').all(p.tenant, p.name)
  ) as TemplateRow[];
  return rows.map(fromRow);
}

/** Same content: description, spec and parameters schema as JSON. */
export function sameTemplate(a: Pick<TemplateRecord, 'description' | 'spec' | 'paramsSchema'>, b: Pick<TemplateRecord, 'description' | 'spec' | 'paramsSchema'>): boolean {
  return (a.description ?? null) === (b.description ?? null) && JSON.stringify(a.spec) === JSON.stringify(b.spec) && JSON.stringify(a.paramsSchema) === JSON.stringify(b.paramsSchema);
}

/** Imports versions all or nothing; see Store.templateImport. */
export function templateImport(
  sql: Sql,
  p: { tenant: string; templates: Omit<TemplateRecord, 'tenant' | 'createdAt'>[]; now: number; audit?: AuditInput },
): { created: number; skipped: number } {
  return sql.write(() => {
    let created = 0;
    let skipped = 0;
    for (const t of p.templates) {
      const have = templateGet(sql, { tenant: p.tenant, name: t.name, version: t.version });
      if (have !== null) {
        if (!sameTemplate(have, t)) throw new BatonError('BATON_E_CONFLICT', `template ${t.name}@${t.version} exists with other content; nothing was imported`);
        skipped++;
        continue;
      }
      sql.stmt(INSERT).run(p.tenant, t.name, t.version, t.description, JSON.stringify(t.spec), JSON.stringify(t.paramsSchema), p.now);
      created++;
    }
    if (p.audit) writeAudit(sql, p.tenant, { ...p.audit, detail: { created, skipped } }, p.now);
    return { created, skipped };
  });
}

/**
 * Templates in the PostgreSQL store: each save is a new immutable version (max + 1 under a
 * transaction-scoped advisory lock on the name, so two servers saving at once get 1 and 2);
 * import keeps the versions it is given.
 */
import { BatonError } from '../../core/errors.ts';
import type { AuditInput } from '../../core/types.ts';
import { sameTemplate } from '../sqlite/templates.ts';
import type { TemplateRecord } from '../types.ts';
import { inTx, type Db, type Pool } from './db.ts';
import { writeAudit } from './write.ts';
import { jsonbText } from './rows.ts';

function fromRow(r: Record<string, unknown>): TemplateRecord {
  return {
    tenant: r.tenant as string,
    name: r.name as string,
    version: r.version as number,
    description: (r.description as string | null) ?? null,
    spec: r.spec as Record<string, unknown>,
    paramsSchema: r.params_schema as Record<string, unknown>,
    createdAt: r.created_at as number,
  };
}

async function lockName(tx: Db, tenant: string, name: string): Promise<void> {
  await tx`SELECT pg_advisory_xact_lock(hashtextextended(${JSON.stringify(['template', tenant, name])}, 0))`;
}

/** Saves the next version of a template; see Store.templateCreate. */
export async function templateCreate(
  pool: Pool,
  p: { tenant: string; name: string; description: string | null; spec: Record<string, unknown>; paramsSchema: Record<string, unknown>; now: number; audit?: AuditInput },
): Promise<TemplateRecord> {
  return inTx(pool, async (tx) => {
    await lockName(tx, p.tenant, p.name);
    const [{ v }] = await tx`SELECT COALESCE(MAX(version), 0) AS v FROM templates WHERE tenant = ${p.tenant} AND name = ${p.name}`;
    const rec: TemplateRecord = { tenant: p.tenant, name: p.name, version: Number(v) + 1, description: p.description, spec: p.spec, paramsSchema: p.paramsSchema, createdAt: p.now };
    await tx`INSERT INTO templates (tenant, name, version, description, spec, params_schema, created_at)
      VALUES (${rec.tenant}, ${rec.name}, ${rec.version}, ${rec.description}, ${jsonbText(rec.spec)}::text::jsonb, ${jsonbText(rec.paramsSchema)}::text::jsonb, ${rec.createdAt}::int8)`;
    if (p.audit) await writeAudit(tx, p.tenant, { ...p.audit, targetId: `${rec.name}@${rec.version}` }, p.now);
    return rec;
  });
}

/** One version, or the latest; see Store.templateGet. */
export async function templateGet(sql: Db, p: { tenant: string; name: string; version: number | null }): Promise<TemplateRecord | null> {
  const [row] =
    p.version === null
      ? await sql`SELECT * FROM templates WHERE tenant = ${p.tenant} AND name = ${p.name} ORDER BY version DESC LIMIT 1`
      : await sql`SELECT * FROM templates WHERE tenant = ${p.tenant} AND name = ${p.name} AND version = ${p.version}`;
  return row === undefined ? null : fromRow(row);
}

/** The latest version of each template; see Store.templateList. */
export async function templateList(sql: Db, p: { tenant: string }): Promise<TemplateRecord[]> {
  const rows = await sql`SELECT DISTINCT ON (name) * FROM templates WHERE tenant = ${p.tenant} ORDER BY name, version DESC`;
  return rows.map(fromRow);
}

/** Versions oldest first; see Store.templateVersions. */
export async function templateVersions(sql: Db, p: { tenant: string; name?: string }): Promise<TemplateRecord[]> {
  const rows =
    p.name === undefined
      ? await sql`SELECT * FROM templates WHERE tenant = ${p.tenant} ORDER BY name, version`
      : await sql`SELECT * FROM templates WHERE tenant = ${p.tenant} AND name = ${p.name} ORDER BY version`;
  return rows.map(fromRow);
}

/** Imports versions all or nothing; see Store.templateImport. */
export async function templateImport(
  pool: Pool,
  p: { tenant: string; templates: Omit<TemplateRecord, 'tenant' | 'createdAt'>[]; now: number; audit?: AuditInput },
): Promise<{ created: number; skipped: number }> {
  return inTx(pool, async (tx) => {
    let created = 0;
    let skipped = 0;
    for (const name of [...new Set(p.templates.map((t) => t.name))].sort()) await lockName(tx, p.tenant, name);
    for (const t of p.templates) {
      const have = await templateGet(tx, { tenant: p.tenant, name: t.name, version: t.version });
      if (have !== null) {
        if (!sameTemplate(have, t)) throw new BatonError('BATON_E_CONFLICT', `template ${t.name}@${t.version} exists with other content; nothing was imported`);
        skipped++;
        continue;
      }
      await tx`INSERT INTO templates (tenant, name, version, description, spec, params_schema, created_at)
        VALUES (${p.tenant}, ${t.name}, ${t.version}, ${t.description}, ${jsonbText(t.spec)}::text::jsonb, ${jsonbText(t.paramsSchema)}::text::jsonb, ${p.now}::int8)`;
      created++;
    }
    if (p.audit) await writeAudit(tx, p.tenant, { ...p.audit, detail: { created, skipped } }, p.now);
    return { created, skipped };
  });
}

/**
 * Migration files shared by both engines' loaders: `NNN_name.sql` in an engine's migrations
 * folder, applied in version order and recorded in `schema_migrations`.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

/** One migration file: `NNN_name.sql`. */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/** The migrations in `dir`, in version order. Throws when two files share a version. */
export function loadMigrationsFrom(dir: string): Migration[] {
  const out: Migration[] = [];
  for (const file of readdirSync(dir)) {
    const m = /^(\d+)_([\w-]+)\.sql$/.exec(file);
    if (!m) continue;
    out.push({ version: Number(m[1]), name: m[2], sql: readFileSync(path.join(dir, file), 'utf8') });
  }
  out.sort((a, b) => a.version - b.version);
  for (let i = 1; i < out.length; i++) {
    if (out[i].version === out[i - 1].version) throw new Error(`two migrations share version ${out[i].version} in ${dir}`);
  }
  return out;
}

/**
 * Opens the store a URL names. `sqlite:PATH`, `sqlite://PATH` or a bare file path open the
 * embedded SQLite store; `postgres://` (or `postgresql://`) URLs open the shared PostgreSQL store
 * (`?schema=NAME` picks the schema, default `baton`).
 */
import { BatonError } from '../core/errors.ts';
import { openPostgresStore } from './postgres/index.ts';
import { openSqliteStore } from './sqlite/index.ts';
import type { Store } from './types.ts';

export type { Store } from './types.ts';

/** The file path inside a SQLite store URL, or null when `url` names another engine. */
export function sqlitePathOf(url: string): string | null {
  if (url.startsWith('sqlite://')) return url.slice('sqlite://'.length);
  if (url.startsWith('sqlite:')) return url.slice('sqlite:'.length);
  // A scheme of two letters or more (a Windows drive letter is one) names another engine.
  if (/^[a-z][a-z0-9+.-]+:/i.test(url)) return null;
  return url;
}

/** Opens and migrates the store named by `url`; throws BATON_E_CONFIG for one it cannot open. */
export async function openStore(url: string): Promise<Store> {
  if (/^postgres(ql)?:/i.test(url)) return openPostgresStore({ url });
  const path = sqlitePathOf(url);
  if (path === null || path === '') {
    throw new BatonError('BATON_E_CONFIG', `store ${redact(url)}: expected sqlite:PATH, sqlite://PATH or a file path`, { field: 'store' });
  }
  return openSqliteStore({ path });
}

/** The URL without a password, for error messages. */
function redact(url: string): string {
  return url.replace(/\/\/([^:/@]+):[^@]*@/, '//$1:***@');
}

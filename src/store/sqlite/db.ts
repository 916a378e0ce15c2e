/**
 * The SQLite connection Baton's embedded store runs on: opening (pragmas), numbered migrations
 * read from ./migrations, and a cache of prepared statements shared by the store's parts.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadMigrationsFrom, type Migration } from '../migrations.ts';
import Database from 'better-sqlite3';
import { RowCache } from './row-cache.ts';

/** How durable each commit is: FULL syncs the WAL on every commit, NORMAL only at checkpoints. */
export type SyncMode = 'FULL' | 'NORMAL';

/** One open database and the statements prepared on it. */
export interface Sql {
  db: Database.Database;
  /** The prepared statement for `sql`, prepared once per connection. */
  stmt(sql: string): Database.Statement;
  /**
   * Like `stmt`, but its rows come back as arrays of column values: no object with a key per
   * column is built for each row, which is most of the cost of reading wide rows.
   */
  rawStmt(sql: string): Database.Statement;
  /**
   * Runs `fn` in a write transaction (a savepoint when one is open already). IMMEDIATE takes the
   * write lock up front, so a read-then-write cannot fail half-way on another process's lock.
   * A transaction begun here (not one of the group-committed hot paths) empties `rowCache`, and
   * so does any failure: rolled-back writes may have updated cached rows.
   */
  write<T>(fn: () => T): T;
  /**
   * Runs `fn`, whose outermost `write` then runs in the open transaction directly instead of in
   * a savepoint of its own (nested writes keep theirs). For a caller that rolls the whole
   * transaction back when `fn` throws (the group commit): a savepoint there only cost time —
   * SQLite copies each page a savepoint first changes to a sub-journal.
   */
  unwrapped<T>(fn: () => T): T;
  /** Rows of the jobs on the hot paths (row-cache.ts); any write of a job row must update or drop its row. */
  rowCache: RowCache;
}

/** How long a writer waits for another connection's lock before failing, ms. */
const BUSY_TIMEOUT_MS = 5000;

/** Opens (creating the parent directory and the file if needed) and configures a database. */
export function openDatabase(path: string, synchronous: SyncMode): Sql {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  // FULL by default: a job the API acknowledged must survive a power cut, not just a crash.
  db.pragma(`synchronous = ${synchronous}`);
  db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
  db.pragma('foreign_keys = ON');
  // Statement journals (a multi-row INSERT inside a transaction keeps one, to undo its own rows
  // if a later row fails) and temporary sort trees in memory: on disk, past 64 KiB, each batch
  // insert wrote ~500 pages to a temp file besides its WAL pages. Neither needs to survive a
  // crash; the database and its WAL are unaffected.
  db.pragma('temp_store = MEMORY');
  // A smaller page cache than the default 2 MiB: every commit walks the whole cache
  // (pcache1TruncateUnsafe, 2.4 % of an in-process drain's CPU; 0.1 % at 1 MiB), while a drain
  // round or a batch of 1,000 touches ~30-200 pages and other reads come from the OS's cache.
  // In-process drain rounds of 64: 4-10 % less CPU per job at 30,000 and 200,000 pending.
  db.pragma('cache_size = -1024');
  const cache = new Map<string, Database.Statement>();
  const rawCache = new Map<string, Database.Statement>();
  // One transaction function for every write: better-sqlite3 builds a wrapper per db.transaction call.
  const tx = db.transaction((fn: () => unknown) => fn());
  const rowCache = new RowCache(db);
  // Set while a caller of `unwrapped` runs and none of its writes has begun; only honoured inside
  // a transaction, so a write never runs outside one.
  let unwrap = false;
  return {
    db,
    stmt(sql: string) {
      let s = cache.get(sql);
      if (s === undefined) {
        s = db.prepare(sql);
        cache.set(sql, s);
      }
      return s;
    },
    rawStmt(sql: string) {
      let s = rawCache.get(sql);
      if (s === undefined) {
        s = db.prepare(sql).raw(true);
        rawCache.set(sql, s);
      }
      return s;
    },
    write<T>(fn: () => T): T {
      if (unwrap && db.inTransaction) {
        unwrap = false;
        try {
          return fn();
        } finally {
          unwrap = true;
        }
      }
      if (!db.inTransaction) rowCache.clear();
      try {
        return tx.immediate(fn) as T;
      } catch (e) {
        rowCache.clear();
        throw e;
      }
    },
    unwrapped<T>(fn: () => T): T {
      unwrap = true;
      try {
        return fn();
      } finally {
        unwrap = false;
      }
    },
    rowCache,
  };
}

const MIGRATIONS_DIR = fileURLToPath(new URL('./migrations/', import.meta.url));

/** The migrations shipped with this build, in version order. */
export function loadMigrations(dir: string = MIGRATIONS_DIR): Migration[] {
  return loadMigrationsFrom(dir);
}

/**
 * Applies every migration newer than the database's, each in its own transaction, and records it
 * in schema_migrations. Returns the versions applied (empty when up to date).
 */
export function applyMigrations(sql: Sql, migrations: Migration[] = loadMigrations(), now = Date.now()): number[] {
  const { db } = sql;
  db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)');
  const applied = new Set((db.prepare('SELECT version FROM schema_migrations').all() as { version: number }[]).map((r) => r.version));
  const done: number[] = [];
  for (const m of migrations) {
    if (applied.has(m.version)) continue;
    // IMMEDIATE takes the write lock first, so two processes starting together cannot both apply it.
    db.transaction(() => {
      const again = db.prepare('SELECT 1 FROM schema_migrations WHERE version = ?').get(m.version);
      if (again) return;
      db.exec(m.sql);
      db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(m.version, m.name, now);
      done.push(m.version);
    }).immediate();
  }
  return done;
}

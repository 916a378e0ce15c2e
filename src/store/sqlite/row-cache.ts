/**
 * Rows of the jobs on the hot paths, so that each job of a drain is fetched once instead of four
 * times: ready reads fetched each pending job about twice (heads overlap from round to round),
 * its assignment once more and its report batch once more, and fetching a wide row cost more
 * than anything else done with it. A ready read caches the pending rows it fetches; a write of a
 * cached job replaces its row with the row as written (writeTransition), so the assignment and
 * the reports find it too; a job that ends leaves the cache. Raw rows (arrays of column values)
 * are kept, never Job objects, so no caller can change a cached value: each use decodes a fresh
 * Job (a ready head only the ReadyJob fields), and a write compares a cached row with the
 * transition's values to set only the columns that changed (writeTransition).
 *
 * A cached row is always its job's current row, because
 * - every write of a job row replaces (writeTransition) or drops (each direct UPDATE or DELETE of
 *   `jobs` in this store) that row;
 * - every write transaction outside the group-committed hot paths drops all rows (Sql.write);
 * - a commit by another connection drops all rows (PRAGMA data_version, checked at each use).
 */
import type Database from 'better-sqlite3';

/** Rows kept at most; past it the cache starts again empty (a row is ~1 KiB). */
const MAX_ROWS = 4096;

/** See the module comment. */
export class RowCache {
  readonly #rows = new Map<string, unknown[]>();
  readonly #dataVersion: Database.Statement;
  #seenVersion: unknown = null;

  constructor(db: Database.Database) {
    this.#dataVersion = db.prepare('PRAGMA data_version').pluck();
  }

  /**
   * Drops every row when another connection has committed since the last call. Call it before
   * each use; inside a write transaction no other connection can commit until it ends.
   */
  sync(): void {
    const v = this.#dataVersion.get();
    if (v !== this.#seenVersion) {
      this.#rows.clear();
      this.#seenVersion = v;
    }
  }

  /** The cached row of job `id`, if any. */
  get(id: string): unknown[] | undefined {
    return this.#rows.get(id);
  }

  /** Keeps `row` as the current row of job `id`. */
  set(id: string, row: unknown[]): void {
    if (this.#rows.size >= MAX_ROWS) this.#rows.clear();
    this.#rows.set(id, row);
  }

  /** Forgets the row of job `id`. */
  drop(id: string): void {
    this.#rows.delete(id);
  }

  /** Forgets every row. */
  clear(): void {
    this.#rows.clear();
  }
}

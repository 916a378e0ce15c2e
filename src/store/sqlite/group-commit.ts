/**
 * Group commit for the embedded store. With synchronous=FULL every commit is an fsync, and
 * better-sqlite3 runs it on the event loop; during a drain two workers' report batches and the
 * dispatcher's assignment often arrive in the same turn of the event loop. The store's hot
 * writes therefore queue here, and all those queued in one turn run in one write transaction —
 * one commit, one fsync. Every caller's promise settles only after the shared commit:
 * durability per call is unchanged.
 *
 * The calls of a group run without savepoints: a savepoint makes SQLite copy each page it first
 * changes to a sub-journal, which cost more than anything else in a drain's commit. When a call
 * throws, nothing of the group is kept: the calls before it run together again, it runs alone,
 * and the calls after it form a new group; when the shared COMMIT fails, each call runs again in
 * a transaction of its own. Either way whatever failed fails only the calls it concerns, and
 * calls are re-run only then (the store's hot writes fail rarely: conflicting ids, unique keys).
 */
import type Database from 'better-sqlite3';

interface Queued {
  run: () => unknown;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

/** Queues writes and commits those of one event-loop turn together. */
export class GroupCommit {
  /** Runs its argument in a transaction (IMMEDIATE via `.immediate`). */
  readonly #tx: Database.Transaction<(fn: () => unknown) => unknown>;
  /** Called whenever writes are rolled back (a call failed, or the whole group). */
  readonly #onRollback: () => void;
  /** Runs one call inside the open transaction (Sql.unwrapped: its own write opens no savepoint). */
  readonly #enter: (fn: () => unknown) => unknown;
  #queued: Queued[] = [];
  #timer: NodeJS.Immediate | null = null;

  constructor(db: Database.Database, onRollback: () => void, enter: (fn: () => unknown) => unknown = (fn) => fn()) {
    this.#onRollback = onRollback;
    this.#enter = enter;
    this.#tx = db.transaction((fn: () => unknown) => fn());
  }

  /** Runs `fn` in this turn's shared write transaction; settles after that transaction commits. */
  run<T>(fn: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#queued.push({ run: fn, resolve: resolve as (value: unknown) => void, reject });
      // setImmediate, not a microtask: callbacks of one poll phase (several sockets' messages)
      // each drain their microtasks before the next runs, so only this gathers them.
      this.#timer ??= setImmediate(() => this.flush());
    });
  }

  /** Commits what is queued now, e.g. before the database closes. */
  flush(): void {
    if (this.#timer !== null) clearImmediate(this.#timer);
    this.#timer = null;
    const group = this.#queued;
    this.#queued = [];
    this.#runGroup(group);
  }

  #alone(q: Queued): void {
    let value: unknown;
    try {
      value = this.#tx.immediate(() => this.#enter(q.run));
    } catch (e) {
      this.#onRollback();
      q.reject(e);
      return;
    }
    q.resolve(value);
  }

  /** Runs `group` (in order): one call alone, several together. */
  #runGroup(group: Queued[]): void {
    if (group.length === 1) this.#alone(group[0]);
    else if (group.length > 1) this.#together(group);
  }

  #together(group: Queued[]): void {
    let values: unknown[] = [];
    let failed = -1;
    try {
      this.#tx.immediate(() => {
        values = [];
        for (let i = 0; i < group.length; i++) {
          failed = i;
          values.push(this.#enter(group[i].run));
        }
        failed = -1;
      });
    } catch {
      this.#onRollback();
      if (failed < 0) {
        // The shared COMMIT failed: each call runs again on its own, so whatever failed it fails
        // only the calls it concerns.
        for (const q of group) this.#alone(q);
        return;
      }
      // Call `failed` threw and nothing of the group was kept: the calls before it run together
      // again, it runs alone (and settles as it does then), and the calls after it form a new
      // group — in their order, so each sees what the calls before it wrote.
      this.#runGroup(group.slice(0, failed));
      this.#alone(group[failed]);
      this.#runGroup(group.slice(failed + 1));
      return;
    }
    group.forEach((q, i) => q.resolve(values[i]));
  }
}

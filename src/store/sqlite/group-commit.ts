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
 * throws, or the shared COMMIT fails, nothing of the group is kept and each call runs again in a
 * transaction of its own, so whatever failed fails only the calls it concerns; calls are
 * re-run only then, and the store's hot writes fail rarely (conflicting ids, unique keys).
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
    if (group.length === 1) this.#alone(group[0]);
    else if (group.length > 1) this.#together(group);
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

  #together(group: Queued[]): void {
    let values: unknown[];
    try {
      values = this.#tx.immediate(() => group.map((q) => this.#enter(q.run))) as unknown[];
    } catch {
      this.#onRollback();
      // Nothing of the group was committed: each call runs again on its own, so whatever
      // failed it fails only the calls it concerns.
      for (const q of group) this.#alone(q);
      return;
    }
    group.forEach((q, i) => q.resolve(values[i]));
  }
}

/**
 * Group commit for the embedded store. With synchronous=FULL every commit is an fsync, and
 * better-sqlite3 runs it on the event loop; during a drain two workers' report batches and the
 * dispatcher's assignment often arrive in the same turn of the event loop. The store's hot
 * writes therefore queue here, and all those queued in one turn run in one write transaction —
 * one commit, one fsync — each in its own savepoint, so a call that fails leaves no trace and
 * fails alone. Every caller's promise settles only after the shared commit: durability per call
 * is unchanged.
 */
import type Database from 'better-sqlite3';

interface Queued {
  run: () => unknown;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

/** Queues writes and commits those of one event-loop turn together. */
export class GroupCommit {
  readonly #db: Database.Database;
  /** Runs its argument in a transaction (IMMEDIATE via `.immediate`), or a savepoint inside one. */
  readonly #tx: Database.Transaction<(fn: () => unknown) => unknown>;
  /** Called whenever writes are rolled back (a call failed, or the whole group). */
  readonly #onRollback: () => void;
  #queued: Queued[] = [];
  #timer: NodeJS.Immediate | null = null;

  constructor(db: Database.Database, onRollback: () => void) {
    this.#db = db;
    this.#onRollback = onRollback;
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
      value = this.#tx.immediate(q.run);
    } catch (e) {
      this.#onRollback();
      q.reject(e);
      return;
    }
    q.resolve(value);
  }

  #together(group: Queued[]): void {
    const outcomes: Outcome[] = [];
    try {
      this.#tx.immediate(() => {
        for (const q of group) {
          try {
            outcomes.push({ ok: true, value: this.#tx(q.run) });
          } catch (error) {
            this.#onRollback();
            // SQLite ended the whole transaction (I/O error, disk full): let the group fail.
            if (!this.#db.inTransaction) throw error;
            outcomes.push({ ok: false, error });
          }
        }
      });
    } catch {
      this.#onRollback();
      // Nothing of the group was committed: each call runs again on its own, so whatever
      // failed it fails only the calls it concerns.
      for (const q of group) this.#alone(q);
      return;
    }
    group.forEach((q, i) => {
      const o = outcomes[i];
      if (o.ok) q.resolve(o.value);
      else q.reject(o.error);
    });
  }
}

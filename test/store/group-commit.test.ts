/**
 * The SQLite store's group commit on its own, with a real database: calls of one event-loop
 * turn share a transaction, each settles on its own, and when a call throws or the shared COMMIT
 * itself fails every call runs again alone, so only the call at fault fails.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/store/sqlite/db.ts';
import { GroupCommit } from '../../src/store/sqlite/group-commit.ts';

let dir: string;
let db: Database.Database;
let rollbacks = 0;
let group: GroupCommit;

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'baton-group-commit-'));
  db = new Database(path.join(dir, 'g.db'));
  db.pragma('journal_mode = WAL');
  db.pragma('foreign_keys = ON');
  // A deferred foreign key is checked at COMMIT: the way to make a whole shared commit fail.
  db.exec(`CREATE TABLE parent (id INTEGER PRIMARY KEY);
    CREATE TABLE child (id INTEGER PRIMARY KEY, parent INTEGER REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED);
    INSERT INTO parent (id) VALUES (1);`);
  rollbacks = 0;
  group = new GroupCommit(db, () => rollbacks++);
});

afterEach(async () => {
  db.close();
  await rm(dir, { recursive: true, force: true });
});

const insertChild = (id: number, parent: number) => () => db.prepare('INSERT INTO child (id, parent) VALUES (?, ?)').run(id, parent).changes;
const children = () => (db.prepare('SELECT id FROM child ORDER BY id').all() as { id: number }[]).map((r) => r.id);

describe('SQLite group commit', () => {
  it('runs the calls of one turn in one transaction; a call that throws fails alone', async () => {
    const results = await Promise.allSettled([
      group.run(insertChild(1, 1)),
      group.run(() => {
        db.prepare('INSERT INTO child (id, parent) VALUES (?, ?)').run(2, 1);
        throw new Error('boom');
      }),
      group.run(insertChild(3, 1)),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(children()).toEqual([1, 3]); // the failed call's insert was rolled back
    // The shared transaction, then the failed call run again alone.
    expect(rollbacks).toBe(2);
    expect(db.inTransaction).toBe(false);
  });

  it('after a call throws, runs the calls before it together again, it alone, and the calls after it as a new group', async () => {
    const runs = [0, 0, 0, 0, 0];
    const call = (i: number, fail = false) => () => {
      runs[i]++;
      db.prepare('INSERT INTO child (id, parent) VALUES (?, ?)').run(i + 1, 1);
      if (fail) throw new Error('boom');
      return i;
    };
    const results = await Promise.allSettled([group.run(call(0)), group.run(call(1)), group.run(call(2, true)), group.run(call(3)), group.run(call(4))]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
    expect(results.map((r) => (r.status === 'fulfilled' ? r.value : null))).toEqual([0, 1, null, 3, 4]);
    // The calls after the failed one had not run yet: they ran once, in a group of their own.
    expect(runs).toEqual([2, 2, 2, 1, 1]);
    expect(children()).toEqual([1, 2, 4, 5]);
    expect(db.inTransaction).toBe(false);
  });

  it('when the shared COMMIT fails, runs each call again alone: only the faulty one fails', async () => {
    const results = await Promise.allSettled([group.run(insertChild(1, 1)), group.run(insertChild(2, 99)), group.run(insertChild(3, 1))]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(String((results[1] as PromiseRejectedResult).reason)).toMatch(/FOREIGN KEY/);
    expect(children()).toEqual([1, 3]);
    expect(db.inTransaction).toBe(false);
  });

  it('settles nothing before its commit, and flush() commits at once', async () => {
    let settled = false;
    const p = group.run(insertChild(1, 1)).then(() => (settled = true));
    expect(settled).toBe(false);
    expect(children()).toEqual([]); // not run yet: it waits for the end of the turn
    group.flush();
    expect(children()).toEqual([1]);
    await p;
    expect(settled).toBe(true);
  });

  it("runs each call's outermost Sql.write in the shared transaction, nested writes in savepoints", async () => {
    const sql = openDatabase(path.join(dir, 's.db'), 'NORMAL');
    sql.db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY)');
    const g = new GroupCommit(sql.db, () => rollbacks++, (fn) => sql.unwrapped(fn));
    const insert = (id: number) => sql.db.prepare('INSERT INTO t (id) VALUES (?)').run(id);
    const savepoints: boolean[] = [];
    const results = await Promise.allSettled([
      g.run(() =>
        sql.write(() => {
          insert(1);
          // A nested write that fails and is caught is still rolled back to its own savepoint.
          try {
            sql.write(() => {
              insert(2);
              throw new Error('inner');
            });
          } catch {
            savepoints.push(true);
          }
          return 1;
        }),
      ),
      g.run(() =>
        sql.write(() => {
          insert(3);
          throw new Error('outer');
        }),
      ),
      g.run(() => sql.write(() => insert(4).changes)),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(savepoints).toEqual([true, true]); // the first call ran twice: in the group, then alone
    expect((sql.db.prepare('SELECT id FROM t ORDER BY id').all() as { id: number }[]).map((r) => r.id)).toEqual([1, 4]);
    // Outside a transaction, `unwrapped` does not keep a write out of one.
    sql.unwrapped(() => sql.write(() => {
      expect(sql.db.inTransaction).toBe(true);
      insert(5);
    }));
    expect(sql.db.inTransaction).toBe(false);
    sql.db.close();
  });
});

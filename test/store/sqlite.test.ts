/**
 * The SQLite store: the shared contract suite on a fresh file per test, plus what only the
 * embedded engine has (migrations on disk, reopening a file, WAL, store URLs).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { describeStoreContract } from '../../src/store/contract.ts';
import { newJob, T0 } from '../../src/store/contract/fixtures.ts';
import { openStore, sqlitePathOf } from '../../src/store/index.ts';
import { applyMigrations, loadMigrations, openDatabase } from '../../src/store/sqlite/db.ts';
import { openSqliteStore } from '../../src/store/sqlite/index.ts';

const dir = mkdtempSync(join(tmpdir(), 'baton-store-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const freshPath = () => join(dir, `db-${n++}`, 'baton.db');

describeStoreContract('sqlite', async () => {
  const path = freshPath();
  // NORMAL: the contract is about behaviour, and fsync on every commit only slows the suite.
  const store = await openSqliteStore({ path, synchronous: 'NORMAL' });
  return {
    store,
    cleanup: async () => {
      await store.close();
      rmSync(join(path, '..'), { recursive: true, force: true });
    },
  };
});

describe('sqlite store', () => {
  it('applies migrations once and records them', async () => {
    const path = freshPath();
    const sql = openDatabase(path, 'NORMAL');
    const all = loadMigrations().map((m) => m.version);
    expect(all[0]).toBe(1);
    expect(applyMigrations(sql)).toEqual(all);
    expect(applyMigrations(sql)).toEqual([]);
    const rows = sql.db.prepare('SELECT version FROM schema_migrations ORDER BY version').all() as { version: number }[];
    expect(rows.map((r) => r.version)).toEqual(all);
    sql.db.close();
    const store = await openSqliteStore({ path });
    await store.migrate();
    await store.close();
  });

  it('keeps data across close and reopen, in WAL mode', async () => {
    const path = freshPath();
    const store = await openStore(`sqlite:${path}`);
    const job = newJob();
    await store.jobInsertMany({ jobs: [job] });
    await store.close();
    const again = await openStore(path);
    expect(await again.jobGet({ tenant: job.tenant, id: job.id })).toMatchObject({ id: job.id, status: 'pending', runAt: T0 });
    await again.ping();
    await again.close();
    const db = new Database(path, { readonly: true });
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    db.close();
  });

  it('declares the capabilities of a single-server engine', async () => {
    const store = await openSqliteStore({ path: freshPath() });
    expect(store.capabilities).toEqual({ supportsListen: false, supportsSkipLocked: false, multiServer: false, inlineWrites: true });
    await store.close();
  });

  it('parses store URLs and refuses engines it does not support', async () => {
    expect(sqlitePathOf('sqlite:/a/b.db')).toBe('/a/b.db');
    expect(sqlitePathOf('sqlite:///a/b.db')).toBe('/a/b.db');
    expect(sqlitePathOf('data/b.db')).toBe('data/b.db');
    expect(sqlitePathOf('mysql://x')).toBeNull();
    // postgres:// is supported now (test/store/postgres.test.ts); an unknown engine is refused, redacted.
    await expect(openStore('mysql://u:secret@h/db')).rejects.toMatchObject({ code: 'BATON_E_CONFIG' });
    await expect(openStore('mysql://u:secret@h/db')).rejects.not.toThrow(/secret/);
    await expect(openStore('mysql://h/db')).rejects.toMatchObject({ code: 'BATON_E_CONFIG' });
  });

  it('uses the partial indexes on the hot paths', async () => {
    const sql = openDatabase(freshPath(), 'NORMAL');
    applyMigrations(sql);
    const plan = (q: string) => (sql.db.prepare(`EXPLAIN QUERY PLAN ${q}`).all() as { detail: string }[]).map((r) => r.detail).join('; ');
    expect(plan("SELECT * FROM jobs WHERE status = 'scheduled' AND run_at <= 1 ORDER BY run_at LIMIT 10")).toContain('jobs_scheduled');
    // The reaper walks the small partial index of leased jobs (005 dropped jobs_leased).
    expect(plan("SELECT * FROM jobs INDEXED BY jobs_leased_queue WHERE status IN ('assigned', 'running') AND lease_expires_at < 1 ORDER BY lease_expires_at LIMIT 10")).toContain('jobs_leased_queue');
    expect(plan("SELECT * FROM jobs WHERE status = 'pending' AND tenant = 'a' AND queue = 'q' ORDER BY max(priority, inherited_priority) DESC, run_at, created_at, id LIMIT 10")).toContain('jobs_ready');
    // Listing: newest first from an index, never a sort of the tenant's jobs.
    const tagged = plan("SELECT j.* FROM job_tags t CROSS JOIN jobs j ON j.id = t.job_id WHERE j.tenant = 'a' AND t.tenant = 'a' AND t.tag = 'x' ORDER BY t.job_id DESC LIMIT 10");
    expect(tagged).toMatch(/^SEARCH t USING COVERING INDEX job_tags_tenant_tag/);
    expect(tagged).not.toContain('TEMP B-TREE');
    expect(plan("SELECT j.* FROM jobs j WHERE j.tenant = 'a' AND j.queue = 'q' ORDER BY j.id DESC LIMIT 10")).toContain('jobs_tenant_queue_id');
    expect(plan("SELECT j.* FROM jobs j WHERE j.tenant = 'a' AND j.status = 'failed' ORDER BY j.id DESC LIMIT 10")).toContain('jobs_tenant_status_id');
    sql.db.close();
  });
});

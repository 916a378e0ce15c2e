/**
 * Store targets of the benchmark: a fresh embedded SQLite file, or a fresh PostgreSQL schema
 * (`?schema=bench_<random>`), per scenario — every run starts empty, and every schema made is
 * dropped afterwards.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import { parseTarget } from '../store/postgres/db.ts';

/** The engines the suite knows. */
export type StoreKind = 'sqlite' | 'postgres';

/** One fresh store for one scenario. */
export interface StoreInstance {
  kind: StoreKind;
  /** The server's `--data-dir` (admin token; the SQLite file too). */
  dataDir: string;
  /** The server's `--store` URL. */
  store: string;
  /** Removes the data directory and drops the schema. */
  cleanup(): Promise<void>;
}

const live = new Set<StoreInstance>();

/** Cleans up every store made and not cleaned up yet (an interrupted run). */
export async function cleanupAllStores(): Promise<void> {
  await Promise.allSettled([...live].map((s) => s.cleanup()));
}

/** Default PostgreSQL server of the benchmark (the machine's shared one, database `test`). */
export const DEFAULT_PG_URL = 'postgres://postgres@127.0.0.1:5432/test';

/** A one-connection pool on `pgUrl` for the suite's own statements (a Unix-socket URL too, as the store reads it). */
function adminPool(pgUrl: string, connectTimeout?: number): postgres.Sql {
  const t = parseTarget(pgUrl);
  return postgres(t.url, { max: 1, onnotice: () => {}, ...(connectTimeout !== undefined ? { connect_timeout: connectTimeout } : {}), ...(t.socketPath !== null ? { path: t.socketPath } : {}) });
}

/** `pgUrl` with `?schema=` set to `schema` (on the query alone: libpq's `user@/db?host=` form is no WHATWG URL). */
function withSchema(pgUrl: string, schema: string): string {
  const q = pgUrl.indexOf('?');
  const params = new URLSearchParams(q < 0 ? '' : pgUrl.slice(q + 1));
  params.set('schema', schema);
  return `${q < 0 ? pgUrl : pgUrl.slice(0, q)}?${params}`;
}

/** True when `pgUrl` answers `select 1` within 3 s. */
export async function postgresReachable(pgUrl: string): Promise<boolean> {
  let sql: postgres.Sql;
  try {
    sql = adminPool(pgUrl, 3);
  } catch {
    return false;
  }
  try {
    await sql`select 1`;
    return true;
  } catch {
    return false;
  } finally {
    await sql.end({ timeout: 1 });
  }
}

/**
 * Lets the previous scenario's writes reach the disk before the next one starts: the kernel's
 * writeback of a drained 100,000-job database (and PostgreSQL's next checkpoint after it) stalled
 * the fsyncs of a following latency run for hundreds of milliseconds. `sync`, then on PostgreSQL
 * a CHECKPOINT (skipped without the privilege to run it).
 */
export async function settleDisk(kind: StoreKind, pgUrl: string): Promise<void> {
  await new Promise<void>((resolve) => execFile('sync', () => resolve()));
  if (kind !== 'postgres') return;
  const sql = adminPool(pgUrl, 3);
  try {
    await sql`CHECKPOINT`;
  } catch {
    // Not a superuser (or pg_checkpoint member): the figures just carry that noise.
  } finally {
    await sql.end({ timeout: 1 });
  }
}

/** Makes a fresh store of `kind` for the scenario `label`. */
export async function makeStore(kind: StoreKind, label: string, pgUrl: string): Promise<StoreInstance> {
  const made = await makeStoreUntracked(kind, label, pgUrl);
  const tracked: StoreInstance = {
    ...made,
    async cleanup() {
      live.delete(tracked);
      await made.cleanup();
    },
  };
  live.add(tracked);
  return tracked;
}

async function makeStoreUntracked(kind: StoreKind, label: string, pgUrl: string): Promise<StoreInstance> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), `baton-bench-${kind}-${label}-`));
  if (kind === 'sqlite') {
    return { kind, dataDir, store: `sqlite:${path.join(dataDir, 'baton.db')}`, cleanup: () => rm(dataDir, { recursive: true, force: true }) };
  }
  const schema = `bench_${randomBytes(4).toString('hex')}_${label.replace(/[^a-z0-9_]/g, '_')}`.slice(0, 63);
  return {
    kind,
    dataDir,
    store: withSchema(pgUrl, schema),
    async cleanup() {
      await rm(dataDir, { recursive: true, force: true });
      const sql = adminPool(pgUrl);
      try {
        await sql.unsafe(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      } finally {
        await sql.end({ timeout: 5 });
      }
    },
  };
}

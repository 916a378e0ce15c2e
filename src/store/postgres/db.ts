/**
 * The PostgreSQL connection pool Baton's shared store runs on: options (schema, search_path,
 * bigint parsing), numbered migrations applied under an advisory lock, and the mapping of driver
 * errors to BatonErrors.
 */
import { fileURLToPath } from 'node:url';
import { loadMigrationsFrom, type Migration } from '../migrations.ts';
import postgres from 'postgres';
import { BatonError, isBatonError } from '../../core/errors.ts';
import { socketFactory } from './socket.ts';
import { textWithoutNul } from './rows.ts';

/** The pool of the `postgres` client; `any` because the client's row typing is per query. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Pool = postgres.Sql<any>;

/**
 * A pool or a transaction. Store functions take this so the same code runs inside `sql.begin`
 * or on the pool.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Db = postgres.Sql<any> | postgres.ReservedSql<any>;

/** True for errors that mean the connection itself is gone (as opposed to a refused statement). */
export function isConnectionError(e: unknown): boolean {
  const code = (e as { code?: unknown }).code;
  return typeof code === 'string' && (UNAVAILABLE_CODES.has(code) || UNAVAILABLE_SQLSTATE.has(code));
}

/**
 * Waits for statements pipelined together and returns their results in order. When some failed,
 * throws the failure of the first one in `statements` (give them in the order they were sent)
 * that failed for its own reason: the ones after it failed only because of it (25P02), whatever
 * order the rejections arrive in.
 */
export async function allInOrder<T extends readonly unknown[] | []>(statements: T): Promise<{ -readonly [K in keyof T]: Awaited<T[K]> }> {
  const results = await collect((statements as readonly PromiseLike<unknown>[]).map(observe));
  const failure = firstFailure(results);
  if (failure !== null) throw failure.reason;
  return results.map((r) => (r as PromiseFulfilledResult<unknown>).value) as { -readonly [K in keyof T]: Awaited<T[K]> };
}

/**
 * Hands a transaction a statement whose answer `fn` does not need: the statement is sent at once
 * (behind everything sent before it on the connection; PostgreSQL runs a connection's statements
 * in the order they arrive) and inTx waits for it together with the COMMIT it sends behind it.
 * Accepts a query of the client (sent by this call) or a promise of statements already sent,
 * such as the write helpers of write.ts return.
 */
export type Defer = (statement: PromiseLike<unknown>) => void;

/** A statement's outcome, observed from the moment it is sent, so that its failure is never unhandled. */
type Outcome = Promise<PromiseSettledResult<unknown>>;

/** Observes `statement`; `then` on a query of the client sends it, synchronously, so observing keeps the order of the calls. */
function observe(statement: PromiseLike<unknown>): Outcome {
  return Promise.resolve(
    statement.then(
      (value): PromiseSettledResult<unknown> => ({ status: 'fulfilled', value }),
      (reason: unknown): PromiseSettledResult<unknown> => ({ status: 'rejected', reason }),
    ),
  );
}

/**
 * The outcomes in order, once all are in — or as far as they are at the first connection error:
 * the client never answers statements it still held queued for a connection that died (the pool
 * drops them with the connection), so waiting for those would hang.
 */
function collect(outcomes: Outcome[]): Promise<(PromiseSettledResult<unknown> | undefined)[]> {
  return new Promise((resolve) => {
    const results = new Array<PromiseSettledResult<unknown> | undefined>(outcomes.length);
    let left = outcomes.length;
    if (left === 0) resolve(results);
    outcomes.forEach((o, i) =>
      o.then((r) => {
        results[i] = r;
        if (--left === 0 || (r.status === 'rejected' && isConnectionError(r.reason))) resolve(results);
      }),
    );
  });
}

/** SQLSTATE of a statement refused because an earlier one failed in the same transaction. */
const IN_FAILED_TRANSACTION = '25P02';

/** The first failure in send order that is not a 25P02 (else the first 25P02), or null when none failed. */
function firstFailure(results: (PromiseSettledResult<unknown> | undefined)[]): PromiseRejectedResult | null {
  const failed = results.filter((r): r is PromiseRejectedResult => r?.status === 'rejected');
  return failed.find((r) => (r.reason as { code?: unknown }).code !== IN_FAILED_TRANSACTION) ?? failed[0] ?? null;
}

/** True when a connection error is among `results`. */
const sawDeadConnection = (results: (PromiseSettledResult<unknown> | undefined)[]) => results.some((r) => r?.status === 'rejected' && isConnectionError(r.reason));

/**
 * Runs `fn` in one transaction on a reserved connection, with as few round trips as the client's
 * pipelining allows: BEGIN is sent, not awaited, so it travels with fn's first statement; the
 * statements fn defers travel with the COMMIT sent right after fn returns, and are waited for
 * together with it. When one of them fails, PostgreSQL has already answered that COMMIT with a
 * ROLLBACK (a failed transaction cannot commit) and inTx throws the failure; a COMMIT answered
 * with anything but COMMIT throws too, so a swallowed statement error can never pass as success.
 * When `fn` throws, inTx waits for what was deferred, sends ROLLBACK and throws the first real
 * failure: a deferred statement's own error comes before the 25P02 its followers got.
 *
 * Used instead of the client's `sql.begin` because of a client bug (porsager/postgres #1154,
 * #1208; fix proposed in #1168): `begin` always sends ROLLBACK after an error, and when the error
 * was the connection dying, that write to a closed socket throws an uncaught TypeError and leaves
 * the pooled connection unable to reconnect (every later query on it times out). A dead session
 * needs no ROLLBACK — the server discards its transaction — so none is sent then, and the
 * connection is not released either: `release()` would put the closed connection back among the
 * open ones (same crash on its next query), while the client's own close handler has already
 * filed it among the closed ones, from where the pool reconnects it.
 */
export async function inTx<T>(pool: Pool, fn: (tx: Db, defer: Defer) => Promise<T>): Promise<T> {
  const tx = await reserveWithin(pool, RESERVE_TIMEOUT_MS);
  const sent: Outcome[] = [];
  const defer: Defer = (statement) => void sent.push(observe(statement));
  let dead = false;
  try {
    defer(tx`BEGIN`);
    let result: T;
    try {
      result = await fn(tx, defer);
    } catch (e) {
      const results = await collect(sent);
      dead = isConnectionError(e) || sawDeadConnection(results);
      if (!dead) await tx`ROLLBACK`;
      const failure = firstFailure(results);
      throw failure !== null && (failure.reason as { code?: unknown }).code !== IN_FAILED_TRANSACTION ? failure.reason : e;
    }
    let command = '';
    defer(tx`COMMIT`.then((r) => (command = r.command)));
    const results = await collect(sent);
    const failure = firstFailure(results);
    if (failure !== null) {
      // The COMMIT ended the transaction either way (as a ROLLBACK), unless the connection died.
      dead = sawDeadConnection(results);
      throw failure.reason;
    }
    if (command !== 'COMMIT') throw new Error(`the transaction was not committed: PostgreSQL answered COMMIT with ${command}`);
    return result;
  } catch (e) {
    dead ||= isConnectionError(e);
    throw e;
  } finally {
    if (!dead) tx.release();
  }
}

/**
 * Longest wait for a pooled connection, ms. After PostgreSQL restarts, the client can leave a
 * `reserve()` queued forever (seen with postgres 3.4.9 under load: the request it serves never
 * answers); past this wait the caller gets BATON_E_UNAVAILABLE (a 503) instead of hanging.
 */
export const RESERVE_TIMEOUT_MS = Number(process.env.BATON_PG_RESERVE_TIMEOUT_MS ?? 10_000);

/** `pool.reserve()` that gives up after `ms`; a connection that arrives later is released at once. */
async function reserveWithin(pool: Pool, ms: number): Promise<Awaited<ReturnType<Pool['reserve']>>> {
  let timer: NodeJS.Timeout | undefined;
  let timedOut = false;
  const pending = pool.reserve();
  try {
    return await Promise.race([
      pending,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          timedOut = true;
          reject(new BatonError('BATON_E_UNAVAILABLE', `no PostgreSQL connection became free within ${ms} ms`));
        }, ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
    if (timedOut) pending.then((c) => c.release(), () => undefined);
  }
}

/** Schema names Baton accepts: plain lower-case identifiers, so they never need quoting. */
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/** The default schema of the store. */
export const DEFAULT_SCHEMA = 'baton';

/** Connection settings parsed from a store URL. */
export interface PgTarget {
  /** The URL handed to the client: `schema` (and a socket `host`) removed, which the server would refuse as settings. */
  url: string;
  schema: string;
  /**
   * The Unix socket to connect through (`<dir>/.s.PGSQL.<port>`), when the URL names a socket
   * directory as libpq does — `?host=/var/run/postgresql`, or the directory percent-encoded as the
   * host (`postgres://%2Fvar%2Frun%2Fpostgresql/db`); null for TCP.
   */
  socketPath: string | null;
}

/** Splits `?schema=` off a postgres:// URL; an explicit `schema` wins. Throws BATON_E_CONFIG. */
export function parseTarget(url: string, schema?: string): PgTarget {
  let parsed: URL;
  try {
    // libpq's `postgres://user@/db?host=/dir` (a user, no host) is not a valid URL for the WHATWG
    // parser: a placeholder host makes it one, and socketOf requires the socket directory then.
    const withHost = url.replace(/^(postgres(?:ql)?:\/\/[^/?#@]*@)(?=[/?#]|$)/i, '$1localhost');
    parsed = new URL(withHost);
    if (withHost !== url && !parsed.searchParams.has('host')) throw new Error('no host');
  } catch {
    throw new BatonError('BATON_E_CONFIG', `store ${redact(url)}: not a valid postgres:// URL`, { field: 'store' });
  }
  const fromUrl = parsed.searchParams.get('schema');
  parsed.searchParams.delete('schema');
  const socketPath = socketOf(parsed, url);
  const name = schema ?? fromUrl ?? DEFAULT_SCHEMA;
  if (!SCHEMA_NAME.test(name)) {
    throw new BatonError('BATON_E_CONFIG', `store schema "${name}": use lower-case letters, digits and _ (at most 63, not starting with a digit)`, { field: 'store' });
  }
  return { url: parsed.toString(), schema: name, socketPath };
}

/**
 * The Unix socket a store URL names (libpq's forms), taken out of `u`; null for a TCP host. A
 * `?host=` that is not an absolute path is refused: the client would send it to the server as a
 * setting, which the server rejects with a less helpful error.
 */
function socketOf(u: URL, raw: string): string | null {
  let dir: string | null = null;
  const param = u.searchParams.get('host');
  if (param !== null) {
    if (!param.startsWith('/')) {
      throw new BatonError('BATON_E_CONFIG', `store ${redact(raw)}: ?host= names a Unix socket directory (an absolute path); put a TCP host before the database name`, { field: 'store' });
    }
    dir = param;
    u.searchParams.delete('host');
  } else if (u.hostname.startsWith('%2F') || u.hostname.startsWith('%2f')) {
    try {
      dir = decodeURIComponent(u.hostname);
    } catch {
      throw new BatonError('BATON_E_CONFIG', `store ${redact(raw)}: the host is not a valid percent-encoded socket directory`, { field: 'store' });
    }
  }
  if (dir === null) return null;
  // The client connects through `path` and ignores the host: a placeholder keeps the URL valid.
  u.hostname = 'localhost';
  return `${dir.replace(/\/+$/, '')}/.s.PGSQL.${u.port || 5432}`;
}

/** The URL without a password, for error messages. */
export function redact(url: string): string {
  return url.replace(/\/\/([^:/@]+):[^@]*@/, '//$1:***@');
}

/** Opens a lazy pool (no connection is made until the first query) with search_path = schema. */
export function connect(target: PgTarget, max: number): Pool {
  // `socket` is a documented option of the client (README "Custom socket") missing from its types.
  const socket = { socket: socketFactory() } as Record<string, unknown>;
  return postgres(target.url, {
    ...socket,
    ...(target.socketPath !== null ? { path: target.socketPath } : {}),
    max,
    // The schema in application_name tells operators (and pg_stat_activity) whose connection it is.
    // Every run of a prepared statement is planned for its parameters and the tables as they are
    // then. By default PostgreSQL switches a statement to a generic plan after five runs and keeps
    // it for the session: one made while a table was small (a fresh schema, autovacuum not yet
    // run or off) reads it sequentially, and kept doing so as the table grew — a report batch's
    // attempt UPDATE scanned all of job_attempts, 8-14 ms a batch by 100,000 attempts, and the
    // reads of jobs by id did the same. Planning a run on a warm session: 0.07-0.1 ms for a lock
    // or batch UPDATE of 64 jobs, 0.46-0.49 ms for the ready-heads read (BENCHMARKS.md).
    connection: { search_path: target.schema, application_name: `baton:${target.schema}`, plan_cache_mode: 'force_custom_plan' },
    // An optional field left undefined is stored as NULL, as the SQLite store does.
    transform: { undefined: null },
    // CREATE ... IF NOT EXISTS and friends send notices; they are not worth a log line.
    onnotice: () => {},
    // int8 (bigint, count(*)) as a JS number: epoch ms and row ids stay far below 2^53.
    types: {
      int8: { to: 20, from: [20], serialize: (x: number) => String(x), parse: (x: string) => Number(x) },
      // Every text parameter, alone or in a text[]: PostgreSQL refuses a NUL in text (and fails
      // the statement — a whole report batch, for a NUL in one log chunk of binary output), which
      // SQLite stores; it becomes U+FFFD (rows.ts, with jsonb's refusals, handled where JSON text
      // is made). No parser: text is read as it comes.
      text: { to: 25, from: [], serialize: textWithoutNul, parse: (x: string) => x },
    },
  });
}

const MIGRATIONS_DIR = fileURLToPath(new URL('./migrations/', import.meta.url));

/** The migrations shipped with this build, in version order. */
export function loadMigrations(dir: string = MIGRATIONS_DIR): Migration[] {
  return loadMigrationsFrom(dir);
}

/** First key of the two-int advisory lock that guards migrations (ASCII "BTN1"). */
const MIGRATE_LOCK_CLASS = 0x42544e31;

/** A stable 31-bit FNV-1a hash of `s`: the second key of the migration lock, one per schema. */
export function schemaLockKey(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h & 0x7fffffff;
}

/**
 * Creates the schema if needed and applies every migration newer than the database's, all in one
 * transaction that first takes an advisory lock derived from the schema name: servers starting
 * together queue on the lock, and the later ones find nothing left to do. Returns the versions
 * applied (empty when up to date).
 */
export async function applyMigrations(sql: Pool, schema: string, migrations: Migration[] = loadMigrations(), now = Date.now()): Promise<number[]> {
  return inTx(sql, async (tx) => {
    await tx`SELECT pg_advisory_xact_lock(${MIGRATE_LOCK_CLASS}::int4, ${schemaLockKey(schema)}::int4)`;
    // The schema name was checked against SCHEMA_NAME, so it is a safe bare identifier.
    await tx.unsafe(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
    await tx.unsafe(`CREATE TABLE IF NOT EXISTS ${schema}.schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at bigint NOT NULL)`);
    const rows = await tx.unsafe(`SELECT version FROM ${schema}.schema_migrations`);
    const applied = new Set(rows.map((r) => Number(r.version)));
    const done: number[] = [];
    // Every migration runs with the store's schema first on the path, whatever the pool set.
    await tx.unsafe(`SET LOCAL search_path TO ${schema}`);
    for (const m of migrations) {
      if (applied.has(m.version)) continue;
      await tx.unsafe(m.sql);
      await tx`INSERT INTO schema_migrations (version, name, applied_at) VALUES (${m.version}, ${m.name}, ${now})`;
      done.push(m.version);
    }
    return done;
  });
}

/** SQLSTATE classes and codes that mean "the database is not reachable right now". */
const UNAVAILABLE_SQLSTATE = new Set(['57P01', '57P02', '57P03', '53300', '53400', '08000', '08001', '08003', '08004', '08006', '08007']);
/** Errors of the client and of node's sockets that mean the same. */
const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH',
  'CONNECTION_CLOSED', 'CONNECTION_ENDED', 'CONNECTION_DESTROYED', 'CONNECT_TIMEOUT',
]);

/** True for a unique_violation from PostgreSQL. */
export function isUniqueViolation(e: unknown): boolean {
  return (e as { code?: string }).code === '23505';
}

/**
 * Maps a driver error to a BatonError where one applies: lost or refused connections become
 * BATON_E_UNAVAILABLE (the API answers 503), a unique violation BATON_E_CONFLICT. Anything else
 * is returned as it is.
 */
export function mapError(e: unknown): unknown {
  if (isBatonError(e)) return e;
  const code = (e as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (UNAVAILABLE_CODES.has(code) || UNAVAILABLE_SQLSTATE.has(code)) {
      return new BatonError('BATON_E_UNAVAILABLE', `the PostgreSQL store is unavailable (${code}): ${(e as Error).message}`);
    }
    if (code === '23505') return new BatonError('BATON_E_CONFLICT', `the object exists already: ${(e as Error).message}`);
  }
  return e;
}

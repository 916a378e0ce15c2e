/**
 * What every client command shares: how the CLI finds the server, the token and the tenant,
 * and how a usage mistake is reported. Commands get a BatonClient from here and never read the
 * environment themselves, so the lookup order is the same everywhere.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { BatonClient } from '../client/index.ts';
import { BatonError } from '../core/errors.ts';

/** Server used when neither --url nor BATON_URL is given. */
export const DEFAULT_URL = 'http://127.0.0.1:7070';

/** The global options of `baton`, as commander hands them to a command. */
export interface GlobalOptions {
  url?: string;
  token?: string;
  tenant?: string;
}

/** Where the connection settings came from, resolved once per command. */
export interface Connection {
  url: string;
  token: string | null;
  /** Where the token came from: `flag`, `env`, a file path, or null when none was found. */
  tokenSource: string | null;
  tenant: string | null;
}

/**
 * Path of the admin token file the server writes on its first start:
 * BATON_ADMIN_TOKEN_FILE, else `$BATON_DATA_DIR/admin-token`, else `./data/admin-token`.
 */
export function adminTokenPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.BATON_ADMIN_TOKEN_FILE) return path.resolve(env.BATON_ADMIN_TOKEN_FILE);
  return path.resolve(env.BATON_DATA_DIR || './data', 'admin-token');
}

/** Reads a token file; null when it does not exist or is empty. */
export function readTokenFile(file: string): string | null {
  try {
    const token = readFileSync(file, 'utf8').trim();
    return token === '' ? null : token;
  } catch {
    return null;
  }
}

/** Resolves url, token and tenant: flag, then BATON_* variable, then default (token: the admin token file). */
export function resolveConnection(opts: GlobalOptions, env: NodeJS.ProcessEnv = process.env): Connection {
  const url = opts.url || env.BATON_URL || DEFAULT_URL;
  let token: string | null = null;
  let tokenSource: string | null = null;
  if (opts.token) {
    token = opts.token;
    tokenSource = 'flag';
  } else if (env.BATON_TOKEN) {
    token = env.BATON_TOKEN;
    tokenSource = 'env';
  } else {
    const file = adminTokenPath(env);
    token = readTokenFile(file);
    tokenSource = token === null ? null : file;
  }
  return { url, token, tokenSource, tenant: opts.tenant || env.BATON_TENANT || null };
}

/** A client for the command's connection settings. */
export function clientFor(cmd: Command): BatonClient {
  const conn = resolveConnection(cmd.optsWithGlobals<GlobalOptions>());
  return new BatonClient({ url: conn.url, token: conn.token, tenant: conn.tenant });
}

/** A mistake on the command line: reported as BATON_E_CLI_USAGE with exit status 2. */
export function usage(message: string, field?: string): BatonError {
  return new BatonError('BATON_E_CLI_USAGE', message, { field });
}

/** Parses a whole non-negative integer option, or throws a usage error naming the flag. */
export function parseIntFlag(flag: string, raw: string, min = 0): number {
  const n = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(n) || n < min) throw usage(`${flag} must be a whole number${min > 0 ? ` ≥ ${min}` : ''}, got "${raw}"`, flag);
  return n;
}

/** Parses a non-negative number option (fractions allowed), or throws a usage error naming the flag. */
export function parseNumberFlag(flag: string, raw: string): number {
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(n) || n < 0) throw usage(`${flag} must be a non-negative number, got "${raw}"`, flag);
  return n;
}

/** Parses `k=v` pairs (given repeatedly or comma-separated) into an object. */
export function parsePairs(flag: string, items: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of items.flatMap((s) => s.split(','))) {
    if (item.trim() === '') continue;
    const eq = item.indexOf('=');
    if (eq <= 0) throw usage(`${flag} takes key=value, got "${item}"`, flag);
    out[item.slice(0, eq).trim()] = item.slice(eq + 1).trim();
  }
  return out;
}

/** Splits comma-separated lists (possibly given several times) into their items. */
export function parseList(items: string[] | string | undefined): string[] | undefined {
  if (items === undefined) return undefined;
  const list = (Array.isArray(items) ? items : [items]).flatMap((s) => s.split(',')).map((s) => s.trim()).filter((s) => s !== '');
  return list;
}

/** Commander collector for repeatable options (`--tag a --tag b`). */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

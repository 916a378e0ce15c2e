/**
 * Bearer-token authentication and role checks, shared by the REST API and the worker gateway.
 *
 * A token reads `baton_<tokenId>_<secret>`. Only sha256(secret) is stored; verification looks the
 * record up by id and compares hashes in constant time. Verified records are cached for a few
 * seconds so that a busy client does not cost one store read per request.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { BatonError } from '../core/errors.ts';
import type { Actor, Role, TokenRecord } from '../core/types.ts';
import type { ServerContext } from './context.ts';

/** Who is calling, after authentication. */
export interface Principal {
  tokenId: string;
  /** The tenant the request acts in: the token's own, or the one a system token chose. */
  tenant: string;
  role: Role;
  /** True for a system token, which may act in any tenant and manage tenants. */
  system: boolean;
}

/** Prefix of every token string; lets secret scanners recognise leaked Baton tokens. */
export const TOKEN_PREFIX = 'baton_';

/** Header a system token uses to act in another tenant. */
export const TENANT_HEADER = 'x-baton-tenant';

/** How long a verified token record is trusted without re-reading the store, ms. */
export const TOKEN_CACHE_MS = 5_000;

/**
 * Rank of the roles that may use the REST API; a role may do everything a lower one may.
 * `worker` is absent on purpose: it speaks only the worker protocol.
 */
const RANK: Partial<Record<Role, number>> = { viewer: 1, submitter: 2, operator: 3, admin: 4 };

interface CacheEntry {
  record: TokenRecord;
  until: number;
}

// Per context, so two servers in one test process never share a cache.
const caches = new WeakMap<ServerContext, Map<string, CacheEntry>>();

function cacheOf(ctx: ServerContext): Map<string, CacheEntry> {
  let c = caches.get(ctx);
  if (!c) {
    c = new Map();
    caches.set(ctx, c);
  }
  return c;
}

/** sha256 of a token secret, hex: the form kept in `TokenRecord.secretHash`. */
export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

/** Joins a token id and its secret into the string a client sends. */
export function formatToken(tokenId: string, secret: string): string {
  return `${TOKEN_PREFIX}${tokenId}_${secret}`;
}

/**
 * Splits a token string into id and secret, or null when it is not shaped like a token. Ids
 * (UUIDs) contain no `_`, so the first `_` after the prefix separates them; the base64url secret
 * may contain `_` itself.
 */
export function parseToken(token: string): { tokenId: string; secret: string } | null {
  if (!token.startsWith(TOKEN_PREFIX)) return null;
  const rest = token.slice(TOKEN_PREFIX.length);
  const sep = rest.indexOf('_');
  if (sep <= 0 || sep === rest.length - 1) return null;
  return { tokenId: rest.slice(0, sep), secret: rest.slice(sep + 1) };
}

/** Drops a token from this process's cache (after it was deleted), so it stops working at once. */
export function forgetToken(ctx: ServerContext, tokenId: string): void {
  cacheOf(ctx).delete(tokenId);
}

async function loadToken(ctx: ServerContext, tokenId: string): Promise<TokenRecord | null> {
  const cache = cacheOf(ctx);
  const now = ctx.now();
  const hit = cache.get(tokenId);
  if (hit && hit.until > now) return hit.record;
  const record = await ctx.store.tokenGet({ id: tokenId });
  if (record) cache.set(tokenId, { record, until: now + TOKEN_CACHE_MS });
  else cache.delete(tokenId);
  return record;
}

function unauthenticated(message: string): BatonError {
  return new BatonError('BATON_E_UNAUTHENTICATED', message);
}

/**
 * Verifies an `Authorization` header and resolves the tenant the request acts in.
 *
 * @param authorization the raw header value (`Bearer baton_...`), or undefined.
 * @param tenantHeader the `X-Baton-Tenant` value, honoured only for system tokens.
 * @throws BATON_E_UNAUTHENTICATED for a missing, malformed or unknown token;
 *   BATON_E_FORBIDDEN when a non-system token names another tenant;
 *   BATON_E_NOT_FOUND when a system token names a tenant that does not exist.
 */
export async function authenticate(ctx: ServerContext, authorization: string | undefined, tenantHeader?: string): Promise<Principal> {
  if (!authorization) throw unauthenticated('missing bearer token: send "Authorization: Bearer baton_..."');
  const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
  if (!m) throw unauthenticated('the Authorization header must read "Bearer <token>"');
  const parsed = parseToken(m[1]);
  if (!parsed) throw unauthenticated('the bearer token is not a Baton token (baton_<id>_<secret>)');
  const record = await loadToken(ctx, parsed.tokenId);
  const given = Buffer.from(hashSecret(parsed.secret), 'hex');
  const stored = record ? Buffer.from(record.secretHash, 'hex') : Buffer.alloc(given.length);
  // Compare even when the record is missing, so timing does not tell which token ids exist.
  const same = stored.length === given.length && timingSafeEqual(stored, given);
  if (!record || !same) throw unauthenticated('unknown or revoked token');

  let tenant = record.tenant;
  const wanted = tenantHeader?.trim();
  if (wanted && wanted !== record.tenant) {
    if (!record.system) {
      throw new BatonError('BATON_E_FORBIDDEN', `only a system token may act in another tenant (this token belongs to "${record.tenant}")`);
    }
    const t = await ctx.store.tenantGet({ id: wanted });
    if (!t) throw new BatonError('BATON_E_NOT_FOUND', `no tenant "${wanted}"`, { field: 'X-Baton-Tenant' });
    tenant = t.id;
  }
  return { tokenId: record.id, tenant, role: record.role, system: record.system };
}

/** The least powerful REST role needed by each class of route. */
export type RouteRole = 'viewer' | 'submitter' | 'operator' | 'admin';

/** True when `role` may use routes that need `needed`. The worker role may use none. */
export function roleAllows(role: Role, needed: RouteRole): boolean {
  const have = RANK[role];
  const need = RANK[needed] ?? Infinity;
  return have !== undefined && have >= need;
}

/** Throws BATON_E_FORBIDDEN unless the principal's role reaches `needed` (and is system, if asked). */
export function requireRole(p: Principal, needed: RouteRole, opts: { system?: boolean } = {}): void {
  if (!roleAllows(p.role, needed)) {
    const why = p.role === 'worker' ? 'a worker token may only use the worker protocol' : `this needs the ${needed} role or higher; the token has ${p.role}`;
    throw new BatonError('BATON_E_FORBIDDEN', why);
  }
  if (opts.system && !p.system) throw new BatonError('BATON_E_FORBIDDEN', 'this needs a system admin token');
}

/** The audit actor of a principal. */
export function actorOf(p: Principal): Actor {
  return { tenant: p.tenant, tokenId: p.tokenId, role: p.role };
}

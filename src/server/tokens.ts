/**
 * Minting bearer tokens and the first-start bootstrap (default tenant + system admin token).
 */
import { randomBytes } from 'node:crypto';
import type { Actor, Role, TokenRecord } from '../core/types.ts';
import { formatToken, hashSecret } from './auth.ts';
import type { ServerContext } from './context.ts';

/** The tenant created on first start. */
export const DEFAULT_TENANT = 'default';

/** Name of the system admin token created on first start. */
export const BOOTSTRAP_TOKEN_NAME = 'bootstrap-admin';

/** Baton itself, as the actor of what it does on its own (the bootstrap). */
const SYSTEM_ACTOR: Actor = { tenant: DEFAULT_TENANT, tokenId: 'system', role: 'system' };

/**
 * Creates and stores a new token. The full token string is returned once and never stored:
 * only the sha256 of its secret is kept.
 *
 * When `actor` is given, a `token.create` audit row is written with the token.
 *
 * @returns the stored record and the full token string (`baton_<id>_<secret>`).
 */
export async function mintToken(
  ctx: ServerContext,
  p: { tenant: string; name: string; role: Role; system?: boolean; actor?: Actor },
): Promise<{ record: TokenRecord; secret: string }> {
  const id = ctx.newId();
  // 32 random bytes: guessing is hopeless, and base64url keeps the token header- and URL-safe.
  const raw = randomBytes(32).toString('base64url');
  const record: TokenRecord = {
    id,
    tenant: p.tenant,
    name: p.name,
    role: p.role,
    system: p.system ?? false,
    secretHash: hashSecret(raw),
    createdAt: ctx.now(),
    lastUsedAt: null,
  };
  const audit = p.actor
    ? { actor: p.actor, action: 'token.create', targetType: 'token', targetId: id, detail: { name: p.name, role: p.role, system: record.system } }
    : undefined;
  const stored = await ctx.store.tokenCreate({ token: record, ...(audit ? { audit } : {}) });
  return { record: stored, secret: formatToken(id, raw) };
}

/**
 * Prepares a fresh store: creates the `default` tenant when missing and, when no system token
 * exists yet, a system admin token in it. Safe to call on every start.
 *
 * @returns the new admin token string (the caller prints it and writes it to the admin-token
 *   file), or null when a system admin token existed already.
 */
export async function bootstrap(ctx: ServerContext): Promise<{ adminToken: string | null }> {
  const now = ctx.now();
  if (!(await ctx.store.tenantGet({ id: DEFAULT_TENANT }))) {
    await ctx.store.tenantCreate({
      tenant: { id: DEFAULT_TENANT, name: 'Default', createdAt: now },
      audit: { actor: SYSTEM_ACTOR, action: 'tenant.create', targetType: 'tenant', targetId: DEFAULT_TENANT },
    });
  }
  // Only a system *admin* counts: system worker tokens (shared workers) cannot use the REST API,
  // so with nothing but those left an operator would be locked out. Bootstrap admins live in the
  // default tenant.
  if ((await ctx.store.tokenCountSystem()) > 0) {
    const own = await ctx.store.tokenList({ tenant: DEFAULT_TENANT });
    if (own.some((t) => t.system && t.role === 'admin')) return { adminToken: null };
  }
  const { secret } = await mintToken(ctx, {
    tenant: DEFAULT_TENANT,
    name: BOOTSTRAP_TOKEN_NAME,
    role: 'admin',
    system: true,
    actor: SYSTEM_ACTOR,
  });
  return { adminToken: secret };
}

/**
 * What every route file shares: the per-route auth settings, the authenticated principal on
 * the request, strict query-string parsing (bodies are never coerced, so query values — always
 * strings — are parsed here with the parameter named in the error), and small schema pieces.
 */
import { Type } from '@sinclair/typebox';
import type { FastifyRequest } from 'fastify';
import { BatonError, invalid } from '../../core/errors.ts';
import type { AuditInput } from '../../core/types.ts';
import { actorOf, type Principal, type RouteRole } from '../auth.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * The least role a route needs. Absent means the route is public (health, OpenAPI).
     */
    role?: RouteRole;
    /** The route also needs a system token (tenant management). */
    system?: boolean;
  }
  interface FastifyRequest {
    /** Set by the auth hook on every route that has a `role`. */
    principal: Principal | null;
  }
}

/** The principal of an authenticated route (the auth hook ran before the handler). */
export function principalOf(req: FastifyRequest): Principal {
  if (!req.principal) throw new BatonError('BATON_E_UNAUTHENTICATED', 'missing bearer token');
  return req.principal;
}

/** An audit input for `req`'s principal. */
export function auditOf(req: FastifyRequest, action: string, targetType: string, targetId: string | null, detail?: unknown): AuditInput {
  return { actor: actorOf(principalOf(req)), action, targetType, targetId, ...(detail === undefined ? {} : { detail }) };
}

/** Raw query parameters as fastify parsed them (a repeated name gives an array). */
export type RawQuery = Record<string, string | string[] | undefined>;

function single(q: RawQuery, name: string): string | undefined {
  const v = q[name];
  if (Array.isArray(v)) throw invalid(name, 'may be given only once');
  return v;
}

/** An integer query parameter in [min, max], or `dflt` when absent. */
export function queryInt(q: RawQuery, name: string, dflt: number, min: number, max: number): number {
  const v = single(q, name);
  if (v === undefined || v === '') return dflt;
  if (!/^-?\d+$/.test(v)) throw invalid(name, `must be an integer, got "${v}"`);
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < min || n > max) throw invalid(name, `must be between ${min} and ${max}, got ${v}`);
  return n;
}

/** A string query parameter, optionally one of `allowed`; undefined when absent. */
export function queryString(q: RawQuery, name: string, allowed?: readonly string[], maxLength = 200): string | undefined {
  const v = single(q, name);
  if (v === undefined || v === '') return undefined;
  if (v.length > maxLength) throw invalid(name, `must be at most ${maxLength} characters`);
  if (allowed && !allowed.includes(v)) throw invalid(name, `must be one of ${allowed.join(', ')}, got "${v}"`);
  return v;
}

/** A boolean query parameter (`true`/`false`/`1`/`0`), or false when absent. */
export function queryBool(q: RawQuery, name: string): boolean {
  const v = single(q, name);
  if (v === undefined || v === '') return false;
  if (v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  throw invalid(name, `must be true or false, got "${v}"`);
}

/** Schema of `:id` path parameters. */
export const IdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 200 }) });

/** Schema of `:name` path parameters (queue names). */
export const NameParams = Type.Object({ name: Type.String({ minLength: 1, maxLength: 200, pattern: '^[A-Za-z0-9][A-Za-z0-9_.:-]*$' }) });

/** Documentation schema of query strings: every value arrives as a string and is parsed in the route. */
export function querySchema(names: Record<string, string>): ReturnType<typeof Type.Object> {
  return Type.Object(Object.fromEntries(Object.entries(names).map(([k, d]) => [k, Type.Optional(Type.String({ description: d }))])));
}

/** The OpenAPI security requirement of authenticated routes. */
export const BEARER = [{ bearerAuth: [] }];

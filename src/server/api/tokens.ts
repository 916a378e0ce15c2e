/**
 * Bearer tokens of the caller's tenant: POST /v1/tokens, GET /v1/tokens, DELETE /v1/tokens/:id.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { BatonError } from '../../core/errors.ts';
import { ROLES } from '../../core/types.ts';
import { actorOf, forgetToken } from '../auth.ts';
import type { ServerContext } from '../context.ts';
import { mintToken } from '../tokens.ts';
import { auditOf, BEARER, IdParams, principalOf } from './common.ts';
import { createdTokenView, tokenView } from './serialize.ts';

/** Body of POST /v1/tokens. */
export const TokenInput = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 100, pattern: '^[A-Za-z0-9][A-Za-z0-9_.:@-]*$' }),
    role: Type.Union(ROLES.map((r) => Type.Literal(r))),
    system: Type.Optional(Type.Boolean({ description: 'a system worker token: its workers are shared by every tenant (system admin only; role must be worker)' })),
  },
  { additionalProperties: false },
);

/** Registers the token routes. */
export function tokenRoutes(ctx: ServerContext) {
  return async function plugin(app: FastifyInstance): Promise<void> {
    app.post<{ Body: Static<typeof TokenInput> }>(
      '/v1/tokens',
      { config: { role: 'admin' }, schema: { tags: ['tokens'], summary: 'Create a token; its secret is shown only in this response', security: BEARER, body: TokenInput } },
      async (req, reply) => {
        const p = principalOf(req);
        // A system worker token makes shared workers (README "Workers"); only a system admin may
        // mint one, and only for the worker role, so no new way to get system REST rights opens.
        if (req.body.system === true) {
          if (!p.system) throw new BatonError('BATON_E_FORBIDDEN', 'only a system admin token may create a system token');
          if (req.body.role !== 'worker') throw new BatonError('BATON_E_VALIDATION', 'a system token created here must have role worker', { field: 'system' });
        }
        const existing = await ctx.store.tokenList({ tenant: p.tenant });
        if (existing.some((t) => t.name === req.body.name)) {
          throw new BatonError('BATON_E_CONFLICT', `a token named "${req.body.name}" exists already in tenant ${p.tenant}`, { field: 'name' });
        }
        const { record, secret } = await mintToken(ctx, { tenant: p.tenant, name: req.body.name, role: req.body.role, system: req.body.system === true, actor: actorOf(p) });
        return reply.status(201).send(createdTokenView(record, secret));
      },
    );

    app.get(
      '/v1/tokens',
      { config: { role: 'admin' }, schema: { tags: ['tokens'], summary: 'Tokens of the tenant (without secrets)', security: BEARER } },
      async (req) => ({ tokens: (await ctx.store.tokenList({ tenant: principalOf(req).tenant })).map(tokenView) }),
    );

    app.delete<{ Params: { id: string } }>(
      '/v1/tokens/:id',
      { config: { role: 'admin' }, schema: { tags: ['tokens'], summary: 'Revoke a token', security: BEARER, params: IdParams } },
      async (req, reply) => {
        const p = principalOf(req);
        const t = await ctx.store.tokenGet({ id: req.params.id });
        if (!t || t.tenant !== p.tenant) throw new BatonError('BATON_E_NOT_FOUND', `no token ${req.params.id}`);
        if (t.system && !p.system) throw new BatonError('BATON_E_FORBIDDEN', 'only a system token may revoke a system token');
        const deleted = await ctx.store.tokenDelete({ tenant: p.tenant, id: t.id, audit: auditOf(req, 'token.delete', 'token', t.id, { name: t.name }) });
        if (!deleted) throw new BatonError('BATON_E_NOT_FOUND', `no token ${req.params.id}`);
        forgetToken(ctx, t.id);
        return reply.status(204).send();
      },
    );
  };
}

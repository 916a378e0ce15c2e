/**
 * Tenants (system admin only): POST /v1/tenants, GET /v1/tenants.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { BatonError } from '../../core/errors.ts';
import type { ServerContext } from '../context.ts';
import { auditOf, BEARER } from './common.ts';
import { tenantView } from './serialize.ts';

/** Body of POST /v1/tenants. */
export const TenantInput = Type.Object(
  {
    id: Type.String({ minLength: 1, maxLength: 64, pattern: '^[a-z0-9][a-z0-9_-]*$' }),
    name: Type.String({ minLength: 1, maxLength: 200 }),
  },
  { additionalProperties: false },
);

/** Registers the tenant routes. */
export function tenantRoutes(ctx: ServerContext) {
  return async function plugin(app: FastifyInstance): Promise<void> {
    app.post<{ Body: Static<typeof TenantInput> }>(
      '/v1/tenants',
      { config: { role: 'admin', system: true }, schema: { tags: ['tenants'], summary: 'Create a tenant (system token)', security: BEARER, body: TenantInput } },
      async (req, reply) => {
        if (await ctx.store.tenantGet({ id: req.body.id })) {
          throw new BatonError('BATON_E_CONFLICT', `tenant "${req.body.id}" exists already`, { field: 'id' });
        }
        const t = await ctx.store.tenantCreate({
          tenant: { id: req.body.id, name: req.body.name, createdAt: ctx.now() },
          audit: auditOf(req, 'tenant.create', 'tenant', req.body.id, { name: req.body.name }),
        });
        return reply.status(201).send(tenantView(t));
      },
    );

    app.get(
      '/v1/tenants',
      { config: { role: 'admin', system: true }, schema: { tags: ['tenants'], summary: 'All tenants (system token)', security: BEARER } },
      async () => ({ tenants: (await ctx.store.tenantList()).map(tenantView) }),
    );
  };
}

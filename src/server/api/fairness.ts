/**
 * Weights and limits of the dispatcher's fair shares: PUT /v1/queues/:name
 * `{weight?, concurrencyLimit?}` (operator of the tenant) and PATCH /v1/tenants/:id `{weight}`
 * (system admin). See README "Ordering and fairness".
 */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { ServerContext } from '../context.ts';
import { auditOf, BEARER, IdParams, NameParams, principalOf } from './common.ts';
import { queueView, tenantView } from './serialize.ts';

const Weight = Type.Number({ exclusiveMinimum: 0, maximum: 1000, description: 'share of dispatch picks relative to the others (default 1)' });

/** Body of PUT /v1/queues/:name. */
export const QueueSettingsInput = Type.Object(
  {
    weight: Type.Optional(Weight),
    concurrencyLimit: Type.Optional(Type.Union([Type.Integer({ minimum: 1, maximum: 1_000_000 }), Type.Null()], { description: 'most jobs of the queue running at once, cluster-wide; null: no cap' })),
  },
  { additionalProperties: false, minProperties: 1 },
);

/** Body of PATCH /v1/tenants/:id. */
export const TenantSettingsInput = Type.Object({ weight: Weight }, { additionalProperties: false });

/** Registers the weight and limit routes. */
export function fairnessRoutes(ctx: ServerContext) {
  return async function plugin(app: FastifyInstance): Promise<void> {
    app.put<{ Params: { name: string }; Body: Static<typeof QueueSettingsInput> }>(
      '/v1/queues/:name',
      { config: { role: 'operator' }, schema: { tags: ['queues'], summary: "Set a queue's weight and concurrency cap", security: BEARER, params: NameParams, body: QueueSettingsInput } },
      async (req) => {
        const q = await ctx.store.queueSetLimits({
          tenant: principalOf(req).tenant, name: req.params.name, ...req.body, now: ctx.now(),
          audit: auditOf(req, 'queue.settings', 'queue', req.params.name, req.body),
        });
        ctx.services.wakeDispatcher();
        return queueView(q);
      },
    );

    app.patch<{ Params: { id: string }; Body: Static<typeof TenantSettingsInput> }>(
      '/v1/tenants/:id',
      { config: { role: 'admin', system: true }, schema: { tags: ['tenants'], summary: "Set a tenant's weight (system token)", security: BEARER, params: IdParams, body: TenantSettingsInput } },
      async (req) => {
        const t = await ctx.store.tenantSetWeight({ id: req.params.id, weight: req.body.weight, now: ctx.now(), audit: auditOf(req, 'tenant.weight', 'tenant', req.params.id, req.body) });
        ctx.services.wakeDispatcher();
        return tenantView(t);
      },
    );
  };
}

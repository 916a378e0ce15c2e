/**
 * Workers: GET /v1/workers, GET /v1/workers/:id, POST /v1/workers/:id/drain.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { BatonError } from '../../core/errors.ts';
import type { WorkerInfo } from '../../core/types.ts';
import type { ServerContext } from '../context.ts';
import { auditOf, BEARER, IdParams, principalOf } from './common.ts';
import { workerView } from './serialize.ts';

/** Registers the worker routes. */
export function workerRoutes(ctx: ServerContext) {
  async function load(req: FastifyRequest, id: string): Promise<WorkerInfo> {
    const w = await ctx.store.workerGet({ tenant: principalOf(req).tenant, id });
    if (!w) throw new BatonError('BATON_E_NOT_FOUND', `no worker ${id}`);
    return w;
  }

  return async function plugin(app: FastifyInstance): Promise<void> {
    app.get(
      '/v1/workers',
      { config: { role: 'viewer' }, schema: { tags: ['workers'], summary: 'Registered workers', security: BEARER } },
      async (req) => {
        const connected = ctx.services.connectedWorkers();
        const workers = await ctx.store.workerList({ tenant: principalOf(req).tenant });
        return { workers: workers.map((w) => workerView(w, connected.has(w.id))) };
      },
    );

    app.get<{ Params: { id: string } }>(
      '/v1/workers/:id',
      { config: { role: 'viewer' }, schema: { tags: ['workers'], summary: 'One worker', security: BEARER, params: IdParams } },
      async (req) => {
        const w = await load(req, req.params.id);
        return workerView(w, ctx.services.connectedWorkers().has(w.id));
      },
    );

    app.post<{ Params: { id: string } }>(
      '/v1/workers/:id/drain',
      {
        config: { role: 'operator' },
        schema: { tags: ['workers'], summary: 'Let a worker finish its running jobs and take no new ones', security: BEARER, params: IdParams },
      },
      async (req, reply) => {
        const w = await load(req, req.params.id);
        // The status is durable so a worker connected to another server is skipped by its dispatcher too.
        await ctx.store.workerSetStatus({ id: w.id, status: 'draining', now: ctx.now(), audit: auditOf(req, 'worker.drain', 'worker', w.id) });
        const notified = ctx.services.drainWorker(w.id);
        const after = (await ctx.store.workerGet({ tenant: w.tenant, id: w.id })) ?? { ...w, status: 'draining' as const };
        return reply.status(202).send({ ...workerView(after, ctx.services.connectedWorkers().has(w.id)), notified });
      },
    );
  };
}

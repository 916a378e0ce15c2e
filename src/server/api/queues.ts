/**
 * Queues: GET /v1/queues, POST /v1/queues/:name/pause and /resume.
 */
import type { FastifyInstance } from 'fastify';
import type { ServerContext } from '../context.ts';
import { auditOf, BEARER, NameParams, principalOf } from './common.ts';
import { queueView } from './serialize.ts';

/** Registers the queue routes. */
export function queueRoutes(ctx: ServerContext) {
  return async function plugin(app: FastifyInstance): Promise<void> {
    app.get(
      '/v1/queues',
      { config: { role: 'viewer' }, schema: { tags: ['queues'], summary: 'Queues with job counts by status', security: BEARER } },
      async (req) => ({ queues: (await ctx.store.queueList({ tenant: principalOf(req).tenant })).map(queueView) }),
    );

    for (const action of ['pause', 'resume'] as const) {
      app.post<{ Params: { name: string } }>(
        `/v1/queues/:name/${action}`,
        {
          config: { role: 'operator' },
          schema: {
            tags: ['queues'],
            summary: action === 'pause' ? 'Stop dispatching from a queue (running jobs go on)' : 'Dispatch from a paused queue again',
            security: BEARER,
            params: NameParams,
          },
        },
        async (req) => {
          const q = await ctx.store.queueSetPaused({
            tenant: principalOf(req).tenant,
            name: req.params.name,
            paused: action === 'pause',
            now: ctx.now(),
            audit: auditOf(req, `queue.${action}`, 'queue', req.params.name),
          });
          if (action === 'resume') ctx.services.wakeDispatcher();
          return queueView(q);
        },
      );
    }
  };
}

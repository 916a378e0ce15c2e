/**
 * GET /v1/jobs/:id/graph: the jobs connected to a job by dependencies, with their statuses, and
 * the edges with their conditions and states.
 */
import type { FastifyInstance } from 'fastify';
import type { JobGraphView } from '../../core/api.ts';
import { graphEdges } from '../../core/graph.ts';
import type { ServerContext } from '../context.ts';
import { BEARER, IdParams, principalOf } from './common.ts';

/** Most nodes a graph view returns. */
export const MAX_GRAPH_NODES = 10_000;

/** Registers the graph route. */
export function graphRoutes(ctx: ServerContext) {
  return async function plugin(app: FastifyInstance): Promise<void> {
    app.get<{ Params: { id: string } }>(
      '/v1/jobs/:id/graph',
      { config: { role: 'viewer' }, schema: { tags: ['jobs'], summary: 'The dependency graph a job belongs to: nodes with statuses, edges with states', security: BEARER, params: IdParams } },
      async (req): Promise<JobGraphView> => {
        const g = await ctx.store.jobGraph({ tenant: principalOf(req).tenant, id: req.params.id, limit: MAX_GRAPH_NODES });
        return {
          graphId: g.graphId,
          nodes: g.nodes.map((n) => ({ id: n.id, ref: n.ref, name: n.name, status: n.status })),
          edges: graphEdges(g.nodes),
          truncated: g.truncated,
        };
      },
    );
  };
}

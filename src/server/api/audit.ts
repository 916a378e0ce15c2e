/**
 * The audit log of the caller's tenant: GET /v1/audit.
 */
import type { FastifyInstance } from 'fastify';
import type { ServerContext } from '../context.ts';
import { BEARER, principalOf, queryInt, queryString, querySchema, type RawQuery } from './common.ts';
import { auditView } from './serialize.ts';

/** Largest page of audit rows. */
export const MAX_AUDIT_PAGE = 1000;

/** Registers the audit route. */
export function auditRoutes(ctx: ServerContext) {
  return async function plugin(app: FastifyInstance): Promise<void> {
    app.get<{ Querystring: RawQuery }>(
      '/v1/audit',
      {
        config: { role: 'operator' },
        schema: {
          tags: ['audit'],
          summary: 'Audit rows, newest first',
          security: BEARER,
          querystring: querySchema({ limit: `page size, 1–${MAX_AUDIT_PAGE} (default 50)`, cursor: 'nextCursor of the previous page' }),
        },
      },
      async (req) => {
        const limit = queryInt(req.query, 'limit', 50, 1, MAX_AUDIT_PAGE);
        const cursor = queryString(req.query, 'cursor', undefined, 1000);
        const page = await ctx.store.auditList({ tenant: principalOf(req).tenant, limit, ...(cursor ? { cursor } : {}) });
        return { entries: page.items.map(auditView), nextCursor: page.nextCursor };
      },
    );
  };
}

/**
 * POST /v1/jobs/bulk/cancel|retry|delete: one action on every job of the tenant that matches a
 * filter, or on a list of ids. The store works through them a batch per transaction; running
 * attempts that were cancelled are stopped on their workers. Operators only: one call can touch
 * every job of a tenant.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { BulkResultView } from '../../core/api.ts';
import { invalid } from '../../core/errors.ts';
import { parseInstant } from '../../core/spec.ts';
import { JOB_STATUSES, JOB_TYPES, type JobStatus, type JobType } from '../../core/types.ts';
import type { BulkFilter } from '../../store/types.ts';
import type { ServerContext } from '../context.ts';
import { auditOf, BEARER, principalOf } from './common.ts';

/** Most ids one bulk call may list. */
export const MAX_BULK_IDS = 100_000;

/** Body of the bulk routes: a filter or a list of ids (not both). */
export const BulkInput = Type.Object(
  {
    filter: Type.Optional(
      Type.Object(
        {
          status: Type.Optional(Type.Union(JOB_STATUSES.map((s) => Type.Literal(s)))),
          queue: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
          type: Type.Optional(Type.Union(JOB_TYPES.map((t) => Type.Literal(t)))),
          tag: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
          createdAfter: Type.Optional(Type.String({ format: 'date-time' })),
          createdBefore: Type.Optional(Type.String({ format: 'date-time' })),
          template: Type.Optional(Type.String({ minLength: 1, maxLength: 220 })),
        },
        { additionalProperties: false },
      ),
    ),
    ids: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 200 }), { minItems: 1, maxItems: MAX_BULK_IDS })),
    reason: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
  },
  { additionalProperties: false },
);
type BulkInput = Static<typeof BulkInput>;

function filterOf(b: BulkInput): BulkFilter | undefined {
  if (b.filter === undefined) return undefined;
  const f = b.filter;
  const out: BulkFilter = {};
  if (f.status) out.status = f.status as JobStatus;
  if (f.queue) out.queue = f.queue;
  if (f.type) out.type = f.type as JobType;
  if (f.tag) out.tag = f.tag;
  if (f.createdAfter) out.createdAfter = parseInstant(f.createdAfter, 'filter.createdAfter');
  if (f.createdBefore) out.createdBefore = parseInstant(f.createdBefore, 'filter.createdBefore');
  if (f.template) out.template = f.template;
  return out;
}

/** Registers the bulk routes. */
export function bulkRoutes(ctx: ServerContext) {
  return async function plugin(app: FastifyInstance): Promise<void> {
    for (const action of ['cancel', 'retry', 'delete'] as const) {
      app.post<{ Body: BulkInput }>(
        `/v1/jobs/bulk/${action}`,
        {
          config: { role: 'operator' },
          schema: { tags: ['jobs'], summary: `${action[0].toUpperCase()}${action.slice(1)} every job matching a filter or listed by id`, security: BEARER, body: BulkInput },
        },
        async (req): Promise<BulkResultView> => {
          const b = req.body;
          if ((b.filter === undefined) === (b.ids === undefined)) throw invalid('filter', 'give a filter or ids (one of them)');
          if (b.reason !== undefined && action !== 'cancel') throw invalid('reason', 'only bulk cancel takes a reason');
          const filter = filterOf(b);
          const reason = b.reason ?? 'cancelled_by_user';
          const res = await ctx.store.jobBulk({
            tenant: principalOf(req).tenant,
            action,
            ...(filter ? { filter } : {}),
            ...(b.ids ? { ids: b.ids } : {}),
            ...(action === 'cancel' ? { reason } : {}),
            now: ctx.now(),
            audit: auditOf(req, `job.bulk_${action}`, 'job', null, { filter: b.filter ?? null, ids: b.ids?.length ?? null }),
          });
          for (const s of res.stopped) ctx.services.cancelAttempt({ ...s, reason });
          // Retried jobs and released children are new work; cancelled attempts free slots.
          if (res.affected > 0) ctx.services.wakeDispatcher();
          return { affected: res.affected, skipped: res.skipped };
        },
      );
    }
  };
}

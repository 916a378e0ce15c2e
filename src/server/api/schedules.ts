/**
 * Schedules: POST/GET /v1/schedules, GET/PATCH/DELETE /v1/schedules/:id,
 * POST /v1/schedules/:id/pause|resume|trigger, GET /v1/schedules/:id/runs, and
 * GET /v1/cron/preview. Operators manage schedules, viewers read them. Instants are ISO 8601
 * with the offset the schedule's zone has at that instant (formatInstant, as firing reports them).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { formatInstant, nextFires, parseCron } from '../../core/cron.ts';
import { BatonError } from '../../core/errors.ts';
import { jobForFire, normalizeScheduleInput, normalizeSchedulePatch, ScheduleInput, SchedulePatchInput } from '../../core/schedule.ts';
import { parseInstant } from '../../core/spec.ts';
import type { ScheduleRecord, ScheduleRun } from '../../store/types.ts';
import type { ServerContext } from '../context.ts';
import { auditOf, BEARER, IdParams, principalOf, queryInt, queryString, querySchema } from './common.ts';
import { jobView } from './serialize.ts';

/** Largest page of schedules or runs. */
export const MAX_SCHEDULE_PAGE = 1000;
/** Most instants a preview returns. */
export const MAX_PREVIEW = 1000;

/** A schedule as the API shows it. */
export function scheduleView(s: ScheduleRecord) {
  const at = (ms: number | null) => (ms === null ? null : formatInstant(ms, s.timezone));
  return {
    id: s.id,
    name: s.name,
    cron: s.cron,
    timezone: s.timezone,
    job: s.job,
    startAt: at(s.startAt),
    endAt: at(s.endAt),
    maxExecutions: s.maxExecutions,
    jitterMs: s.jitterMs,
    overlap: s.overlap,
    catchUp: s.catchUp,
    maxCatchUp: s.maxCatchUp,
    paused: s.paused,
    nextFireAt: s.paused ? null : at(s.nextFireAt),
    lastFireAt: at(s.lastFireAt),
    executions: s.executions,
    createdAt: new Date(s.createdAt).toISOString(),
    updatedAt: new Date(s.updatedAt).toISOString(),
  };
}

/** One run (fire) of a schedule as the API shows it. */
export function runView(r: ScheduleRun, timezone: string) {
  return { fireAt: formatInstant(r.fireAt, timezone), jobId: r.jobId, decision: r.decision, jobStatus: r.jobStatus, createdAt: new Date(r.createdAt).toISOString() };
}

async function mustGet(ctx: ServerContext, req: FastifyRequest, id: string): Promise<ScheduleRecord> {
  const s = await ctx.store.scheduleGet({ tenant: principalOf(req).tenant, id });
  if (s === null) throw new BatonError('BATON_E_NOT_FOUND', `schedule ${id} not found`);
  return s;
}

/** Registers the schedule and cron preview routes. */
export function scheduleRoutes(ctx: ServerContext) {
  return async function plugin(app: FastifyInstance): Promise<void> {
    const tags = ['schedules'];
    app.post<{ Body: ScheduleInput }>(
      '/v1/schedules',
      { config: { role: 'operator' }, schema: { tags, summary: 'Create a cron schedule', security: BEARER, body: ScheduleInput } },
      async (req, reply) => {
        const tenant = principalOf(req).tenant;
        const now = ctx.now();
        const n = normalizeScheduleInput(req.body, { tenant }, now);
        const id = ctx.newId();
        const s = await ctx.store.scheduleCreate({
          schedule: { ...n.spec, id, tenant, nextFireAt: n.nextFireAt, lastFireAt: null, since: now, executions: 0, createdAt: now, updatedAt: now },
          audit: auditOf(req, 'schedule.create', 'schedule', id, { name: n.spec.name, cron: n.spec.cron, timezone: n.spec.timezone }),
        });
        ctx.services.cronDueAt?.(s.nextFireAt);
        return reply.status(201).send(scheduleView(s));
      },
    );

    app.get(
      '/v1/schedules',
      {
        config: { role: 'viewer' },
        schema: { tags, summary: 'Schedules by name', security: BEARER, querystring: querySchema({ limit: `page size, 1–${MAX_SCHEDULE_PAGE} (default 100)`, cursor: 'nextCursor of the previous page' }) },
      },
      async (req) => {
        const q = req.query as Record<string, string>;
        const page = await ctx.store.scheduleList({ tenant: principalOf(req).tenant, limit: queryInt(q, 'limit', 100, 1, MAX_SCHEDULE_PAGE), cursor: queryString(q, 'cursor', undefined, 1000) ?? null });
        return { schedules: page.items.map(scheduleView), nextCursor: page.nextCursor };
      },
    );

    app.get<{ Params: { id: string } }>(
      '/v1/schedules/:id',
      { config: { role: 'viewer' }, schema: { tags, summary: 'A schedule', security: BEARER, params: IdParams } },
      async (req) => scheduleView(await mustGet(ctx, req, req.params.id)),
    );

    app.patch<{ Params: { id: string }; Body: SchedulePatchInput }>(
      '/v1/schedules/:id',
      { config: { role: 'operator' }, schema: { tags, summary: 'Change a schedule (null clears startAt, endAt, maxExecutions)', security: BEARER, params: IdParams, body: SchedulePatchInput } },
      async (req) => {
        const cur = await mustGet(ctx, req, req.params.id);
        const now = ctx.now();
        const n = normalizeSchedulePatch(req.body, cur, { tenant: cur.tenant }, now);
        const s = await ctx.store.scheduleUpdate({
          tenant: cur.tenant, id: cur.id, spec: n.spec, nextFireAt: n.nextFireAt, now,
          audit: auditOf(req, 'schedule.update', 'schedule', cur.id, { fields: Object.keys(req.body) }),
        });
        ctx.services.cronDueAt?.(s.nextFireAt);
        return scheduleView(s);
      },
    );

    app.delete<{ Params: { id: string } }>(
      '/v1/schedules/:id',
      { config: { role: 'operator' }, schema: { tags, summary: 'Delete a schedule and its run history (its jobs stay)', security: BEARER, params: IdParams } },
      async (req, reply) => {
        const tenant = principalOf(req).tenant;
        const gone = await ctx.store.scheduleDelete({ tenant, id: req.params.id, now: ctx.now(), audit: auditOf(req, 'schedule.delete', 'schedule', req.params.id) });
        if (!gone) throw new BatonError('BATON_E_NOT_FOUND', `schedule ${req.params.id} not found`);
        return reply.status(204).send();
      },
    );

    app.post<{ Params: { id: string } }>(
      '/v1/schedules/:id/pause',
      { config: { role: 'operator' }, schema: { tags, summary: 'Stop firing a schedule', security: BEARER, params: IdParams } },
      async (req) => {
        const tenant = principalOf(req).tenant;
        return scheduleView(await ctx.store.schedulePause({ tenant, id: req.params.id, now: ctx.now(), audit: auditOf(req, 'schedule.pause', 'schedule', req.params.id) }));
      },
    );

    app.post<{ Params: { id: string } }>(
      '/v1/schedules/:id/resume',
      { config: { role: 'operator' }, schema: { tags, summary: 'Fire a paused schedule again (fires missed while paused are dropped)', security: BEARER, params: IdParams } },
      async (req) => {
        const cur = await mustGet(ctx, req, req.params.id);
        const now = ctx.now();
        const n = normalizeSchedulePatch({ paused: false }, cur, { tenant: cur.tenant }, now);
        const s = await ctx.store.scheduleResume({ tenant: cur.tenant, id: cur.id, nextFireAt: n.nextFireAt, now, audit: auditOf(req, 'schedule.resume', 'schedule', cur.id) });
        ctx.services.cronDueAt?.(s.nextFireAt);
        return scheduleView(s);
      },
    );

    app.post<{ Params: { id: string } }>(
      '/v1/schedules/:id/trigger',
      { config: { role: 'operator' }, schema: { tags, summary: 'Fire once now, whatever the cron and overlap policy; the schedule does not advance', security: BEARER, params: IdParams } },
      async (req, reply) => {
        const cur = await mustGet(ctx, req, req.params.id);
        const now = ctx.now();
        const job = jobForFire(cur, { id: ctx.newId(), tenant: cur.tenant }, now, now);
        const r = await ctx.store.scheduleFire({
          tenant: cur.tenant, scheduleId: cur.id, fires: [{ fireAt: now, job }], nextFireAt: cur.nextFireAt, expectLastFireAt: cur.lastFireAt,
          trigger: true, now, audit: auditOf(req, 'schedule.trigger', 'schedule', cur.id, { jobId: job.id }),
        });
        if (r.jobs.length === 0) throw new BatonError('BATON_E_CONFLICT', `schedule ${cur.id} fired at this instant already; try again`);
        for (const j of r.jobs) ctx.events.emit('job', j.id);
        ctx.services.wakeDispatcher();
        return reply.status(201).send({ run: runView(r.runs[0], cur.timezone), job: jobView(r.jobs[0]) });
      },
    );

    app.get<{ Params: { id: string } }>(
      '/v1/schedules/:id/runs',
      {
        config: { role: 'viewer' },
        schema: { tags, summary: 'Fires of a schedule, newest first, with the status of each job', security: BEARER, params: IdParams, querystring: querySchema({ limit: `page size, 1–${MAX_SCHEDULE_PAGE} (default 100)`, cursor: 'nextCursor of the previous page' }) },
      },
      async (req) => {
        const cur = await mustGet(ctx, req, req.params.id);
        const q = req.query as Record<string, string>;
        const page = await ctx.store.scheduleRuns({ tenant: cur.tenant, id: cur.id, limit: queryInt(q, 'limit', 100, 1, MAX_SCHEDULE_PAGE), cursor: queryString(q, 'cursor', undefined, 1000) ?? null });
        return { runs: page.items.map((r) => runView(r, cur.timezone)), nextCursor: page.nextCursor };
      },
    );

    app.get(
      '/v1/cron/preview',
      {
        config: { role: 'viewer' },
        schema: {
          tags, summary: 'The next fire instants of a cron expression (the code path firing uses)', security: BEARER,
          querystring: querySchema({ expr: 'cron expression (5 or 6 fields, or @hourly-style)', timezone: 'IANA zone (default UTC)', from: 'ISO 8601 instant (default now)', count: `1–${MAX_PREVIEW} (default 10)` }),
        },
      },
      async (req) => {
        const q = req.query as Record<string, string>;
        const expr = queryString(q, 'expr');
        if (expr === undefined) throw new BatonError('BATON_E_VALIDATION', 'expr: is required, e.g. expr=*/5 * * * *', { field: 'expr' });
        const cron = parseCron(expr, queryString(q, 'timezone', undefined, 64) ?? 'UTC', { cron: 'expr', timezone: 'timezone' });
        const fromRaw = queryString(q, 'from');
        const from = fromRaw === undefined ? ctx.now() : parseInstant(fromRaw, 'from');
        const count = queryInt(q, 'count', 10, 1, MAX_PREVIEW);
        return { expr: cron.expr, timezone: cron.timezone, fires: nextFires(cron, from, count).map((t) => formatInstant(t, cron.timezone)) };
      },
    );
  };
}

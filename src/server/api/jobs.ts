/**
 * Job submission and reads: POST /v1/jobs, POST /v1/jobs/batch, GET /v1/jobs, GET /v1/jobs/:id.
 */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { BatchRefResultView, JobRefView } from '../../core/api.ts';
import { BatonError } from '../../core/errors.ts';
import { JobInput, MAX_BATCH, PlainJobInput } from '../../core/spec.ts';
import { JOB_STATUSES, JOB_TYPES, type Job } from '../../core/types.ts';
import type { ServerContext } from '../context.ts';
import { auditOf, BEARER, IdParams, principalOf, queryInt, queryString, querySchema, type RawQuery } from './common.ts';
import { jobView, jsonOfList } from './serialize.ts';
import { SubmitBatcher } from '../submit-batcher.ts';
import { DEFAULT_IDEMPOTENCY_RETENTION_MS, expandTemplateBodies, expandTemplatesHook, prepareInsert } from './submit-input.ts';

/** Body of POST /v1/jobs/batch. */
export const BatchInput = Type.Object(
  {
    jobs: Type.Array(JobInput, { minItems: 1, maxItems: MAX_BATCH }),
    /** Compensation job created once when any job of this batch's graph ends failed. */
    onFailure: Type.Optional(PlainJobInput),
  },
  { additionalProperties: false },
);

// Field prefixes of the submitted jobs, made once rather than per request.
const SINGLE_AT = { at: () => '' };
function batchAt(i: number): string {
  return `jobs[${i}]`;
}
const BATCH_AT = { at: batchAt };

/**
 * True when the request asks for the short answer (RFC 7240 `Prefer: return=minimal`): each job
 * as `{id, status}` instead of its full view. A loader of thousands of jobs rarely reads the
 * echo of what it just sent, and building and sending it cost about a quarter of a batch's time.
 * Other preferences, and other values of `return`, are ignored as RFC 7240 asks.
 */
function prefersMinimal(req: FastifyRequest): boolean {
  const header = req.headers.prefer;
  if (header === undefined) return false;
  for (const list of Array.isArray(header) ? header : [header]) {
    for (const item of list.split(',')) {
      const [name, value = ''] = item.split(';')[0].split('=');
      if (name.trim().toLowerCase() === 'return' && value.trim().replace(/^"(.*)"$/, '$1').toLowerCase() === 'minimal') return true;
    }
  }
  return false;
}

/** The short view of a submitted job (see prefersMinimal). */
function jobRef(j: Job): JobRefView {
  return { id: j.id, status: j.status };
}

/** Sends a short answer, saying the preference was applied. */
function sendMinimal(reply: FastifyReply, body: JobRefView | BatchRefResultView): FastifyReply {
  return reply.header('preference-applied', 'return=minimal').send(body);
}

/** The content type fastify gives a JSON answer, for the answers built as a Buffer. */
const JSON_TYPE = 'application/json; charset=utf-8';

/** Largest page of GET /v1/jobs. */
export const MAX_PAGE = 1000;

/**
 * Tells the services about freshly written jobs: the dispatcher about ready and blocked ones, the promoter
 * about the earliest scheduled one, and in-process listeners (SSE) about each.
 */
export function announceJobs(ctx: ServerContext, jobs: Job[]): void {
  let ready = false;
  let soonest: number | null = null;
  let deadline: number | null = null;
  for (const j of jobs) {
    // A blocked job may have raised the inherited priority of pending parents: a dispatcher
    // holding ready heads ranks them by what it read, until a wake-up makes it read again.
    if (j.status === 'pending' || j.status === 'blocked') ready = true;
    if (j.status === 'scheduled' && (soonest === null || j.runAt < soonest)) soonest = j.runAt;
    if (j.deadline != null && (deadline === null || j.deadline < deadline)) deadline = j.deadline;
    ctx.events.emit('job', j.id);
  }
  if (ready) ctx.services.wakeDispatcher();
  if (soonest !== null) ctx.services.scheduledAt(soonest);
  // The deadline sweep runs in the cron service's tick: arm it for the earliest new deadline.
  if (deadline !== null) ctx.services.cronDueAt?.(deadline);
}

/** Loads a job of the caller's tenant or throws BATON_E_NOT_FOUND (also for other tenants' jobs). */
export async function loadJob(ctx: ServerContext, req: FastifyRequest, id: string): Promise<Job> {
  const job = await ctx.store.jobGet({ tenant: principalOf(req).tenant, id });
  if (!job) throw new BatonError('BATON_E_NOT_FOUND', `no job ${id}`);
  return job;
}

/** Registers the job submission and read routes. */
export function jobRoutes(ctx: ServerContext) {
  const batcher = new SubmitBatcher(ctx.store, {
    idempotencyRetentionMs: ctx.config.idempotencyRetentionMs ?? DEFAULT_IDEMPOTENCY_RETENTION_MS,
    // On an embedded store a second group in flight only splits the next one: with one, groups
    // of 50 clients grew from ~21 to ~32 submits and server CPU fell ~9 % per job.
    maxInFlight: ctx.store.capabilities.inlineWrites ? 1 : 2,
    planInsert: (jobs) => ctx.services.planInsert?.(jobs) ?? null,
  });
  return async function plugin(app: FastifyInstance): Promise<void> {
    app.post<{ Body: JobInput }>(
      '/v1/jobs',
      {
        config: { role: 'submitter' },
        preValidation: expandTemplatesHook(ctx),
        schema: {
          tags: ['jobs'],
          summary: 'Submit a job',
          description:
            'The body is a job, or `{template: "name[@version]", params, ...fields}`: the template renders the job and the other fields override its own. ' +
            'With the header `Prefer: return=minimal` the answer is `{id, status}` instead of the whole job (and carries `Preference-Applied: return=minimal`).',
          security: BEARER,
          body: JobInput,
        },
      },
      async (req, reply) => {
        const p = principalOf(req);
        const prepared = await prepareInsert(ctx, p.tenant, [req.body], SINGLE_AT);
        const job = prepared.jobs[0];
        const audit = auditOf(req, 'job.submit', 'job', job.id, { type: job.type, queue: job.queue, idempotencyKey: job.idempotencyKey });
        let stored: Job;
        let existed: boolean;
        if (prepared.extras === undefined) {
          // A plain job: group commit with the other submits of this turn of the event loop.
          ({ job: stored, existed } = await batcher.submit(job, audit));
        } else {
          const res = await ctx.store.jobInsertMany({ ...prepared, audit });
          stored = res.jobs[0];
          existed = res.existed[0];
        }
        if (!existed) announceJobs(ctx, [stored]);
        reply.status(existed ? 200 : 201);
        if (prefersMinimal(req)) return sendMinimal(reply, jobRef(stored));
        return reply.send(jobView(stored, true));
      },
    );

    app.post<{ Body: { jobs: JobInput[]; onFailure?: PlainJobInput } }>(
      '/v1/jobs/batch',
      {
        config: { role: 'submitter' },
        schema: {
          tags: ['jobs'],
          summary: `Submit up to ${MAX_BATCH} jobs, all or nothing`,
          description: 'With the header `Prefer: return=minimal` each job of the answer is `{id, status}` instead of the whole job (and the answer carries `Preference-Applied: return=minimal`).',
          security: BEARER,
          body: BatchInput,
        },
        // Refuse an oversized batch before ajv walks ten thousand items only to fail.
        preValidation: async (req) => {
          const jobs = (req.body as { jobs?: unknown } | undefined)?.jobs;
          if (Array.isArray(jobs) && jobs.length > MAX_BATCH) {
            throw new BatonError('BATON_E_BATCH_TOO_LARGE', `a batch may hold at most ${MAX_BATCH} jobs; this one has ${jobs.length}`, { field: 'jobs' });
          }
          await expandTemplateBodies(ctx, req, true);
        },
      },
      async (req, reply) => {
        const p = principalOf(req);
        const prepared = await prepareInsert(ctx, p.tenant, req.body.jobs, req.body.onFailure ? { at: batchAt, graphOnFailure: req.body.onFailure } : BATCH_AT);
        const jobs = prepared.jobs;
        const res = await ctx.store.jobInsertMany({
          ...prepared,
          audit: auditOf(req, 'job.submit_batch', 'job', null, { count: jobs.length, firstId: jobs[0]?.id ?? null }),
        });
        announceJobs(ctx, res.jobs.filter((_, i) => !res.existed[i]));
        reply.status(201);
        if (prefersMinimal(req)) return sendMinimal(reply, { jobs: res.jobs.map(jobRef), existed: res.existed });
        return reply.type(JSON_TYPE).send(jsonOfList('jobs', res.jobs.map((j) => jobView(j)), { existed: res.existed }));
      },
    );

    app.get<{ Querystring: RawQuery }>(
      '/v1/jobs',
      {
        config: { role: 'viewer' },
        schema: {
          tags: ['jobs'],
          summary: 'List jobs, newest first',
          security: BEARER,
          querystring: querySchema({
            status: `one of ${JOB_STATUSES.join(', ')}`,
            queue: 'queue name',
            type: `one of ${JOB_TYPES.join(', ')}`,
            tag: 'jobs carrying this tag',
            limit: `page size, 1–${MAX_PAGE} (default 50)`,
            cursor: 'nextCursor of the previous page',
          }),
        },
      },
      async (req, reply) => {
        const q = req.query;
        const status = queryString(q, 'status', JOB_STATUSES) as Job['status'] | undefined;
        const type = queryString(q, 'type', JOB_TYPES) as Job['type'] | undefined;
        const queue = queryString(q, 'queue');
        const tag = queryString(q, 'tag');
        const limit = queryInt(q, 'limit', 50, 1, MAX_PAGE);
        const cursor = queryString(q, 'cursor', undefined, 1000);
        const page = await ctx.store.jobList({
          tenant: principalOf(req).tenant,
          limit,
          ...(status ? { status } : {}),
          ...(type ? { type } : {}),
          ...(queue ? { queue } : {}),
          ...(tag ? { tag } : {}),
          ...(cursor ? { cursor } : {}),
        });
        return reply.type(JSON_TYPE).send(jsonOfList('jobs', page.items.map((j) => jobView(j)), { nextCursor: page.nextCursor }));
      },
    );

    app.get<{ Params: { id: string } }>(
      '/v1/jobs/:id',
      { config: { role: 'viewer' }, schema: { tags: ['jobs'], summary: 'A job with its attempts', security: BEARER, params: IdParams } },
      async (req) => jobView(await loadJob(ctx, req, req.params.id), true),
    );
  };
}

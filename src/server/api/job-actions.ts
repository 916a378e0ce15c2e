/**
 * Changes to existing jobs: cancel, modify (PATCH), retry and clone. Each goes through the
 * store's `jobApply` (the core transition function) or `jobInsertMany`, with its audit row in
 * the same store call, and then pokes the services that care.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { jobInputProperties, JobPatchInput, normalizeJobInput, normalizeJobPatch, parseInstant, validatePayload, type JobInput } from '../../core/spec.ts';
import { invalid } from '../../core/errors.ts';
import type { Job, JobSpec } from '../../core/types.ts';
import type { ServerContext } from '../context.ts';
import { auditOf, BEARER, IdParams, principalOf } from './common.ts';
import { announceJobs, loadJob } from './jobs.ts';
import { jobView } from './serialize.ts';

/** Body of POST /v1/jobs/:id/cancel (optional). */
export const CancelInput = Type.Object({ reason: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })) }, { additionalProperties: false });

/** Body of POST /v1/jobs/:id/retry (optional): what to change for the new round of attempts. */
export const RetryInput = Type.Object(
  {
    priority: jobInputProperties.priority,
    maxRetries: jobInputProperties.maxRetries,
    queue: jobInputProperties.queue,
    timeoutMs: jobInputProperties.timeoutMs,
    runAt: jobInputProperties.runAt,
    delayMs: jobInputProperties.delayMs,
    payload: Type.Optional(jobInputProperties.payload),
  },
  { additionalProperties: false },
);
type RetryInput = Static<typeof RetryInput>;

/** Body of POST /v1/jobs/:id/clone (optional): fields of the copy that differ from the original. */
// The fields a patch may change, plus a new idempotencyKey for the copy.
export const CloneInput = Type.Object(
  { ...JobPatchInput.properties, idempotencyKey: jobInputProperties.idempotencyKey },
  { additionalProperties: false },
);
type CloneInput = Static<typeof CloneInput>;

/** Default reason recorded on a job cancelled through the API. */
export const DEFAULT_CANCEL_REASON = 'cancelled_by_user';

/** Routes with an optional body see `{}` when none was sent, so their schema can stay an object. */
async function emptyBodyIsObject(req: FastifyRequest): Promise<void> {
  if (req.body === undefined || req.body === null) req.body = {};
}

/** The original's spec as a job input, so a clone passes the same checks as a new job. */
function specAsInput(j: Job): JobInput {
  const input: JobInput = {
    type: j.type,
    payload: j.payload,
    queue: j.queue,
    priority: j.priority,
    maxRetries: j.maxRetries,
    backoff: j.backoff,
    requirements: j.requirements,
    tags: j.tags,
    metadata: j.metadata,
  };
  if (j.name !== null) input.name = j.name;
  if (j.timeoutMs !== null) input.timeoutMs = j.timeoutMs;
  // The deadline is not copied: the original's has usually passed, and a clone is a new run.
  if (j.concurrencyKey) {
    input.concurrencyKey = j.concurrencyKey;
    input.concurrencyLimit = j.concurrencyLimit ?? 1;
  }
  return input;
}

/** Registers cancel, PATCH, retry and clone. */
export function jobActionRoutes(ctx: ServerContext) {
  return async function plugin(app: FastifyInstance): Promise<void> {
    app.post<{ Params: { id: string }; Body: { reason?: string } }>(
      '/v1/jobs/:id/cancel',
      {
        config: { role: 'submitter' },
        preValidation: emptyBodyIsObject,
        schema: { tags: ['jobs'], summary: 'Cancel a job (stops its running attempt)', security: BEARER, params: IdParams, body: CancelInput },
      },
      async (req) => {
        const reason = req.body.reason ?? DEFAULT_CANCEL_REASON;
        const { before, after } = await ctx.store.jobApply({
          tenant: principalOf(req).tenant,
          id: req.params.id,
          event: { type: 'cancel', reason },
          now: ctx.now(),
          audit: auditOf(req, 'job.cancel', 'job', req.params.id, { reason }),
        });
        if ((before.status === 'assigned' || before.status === 'running') && before.workerId) {
          ctx.services.cancelAttempt({ workerId: before.workerId, jobId: before.id, attempt: before.attempt, reason });
        }
        // A freed slot may take other work, and the cancel may have released children (`completion` edges).
        ctx.services.wakeDispatcher();
        ctx.events.emit('job', after.id);
        return jobView(after, true);
      },
    );

    app.patch<{ Params: { id: string }; Body: JobPatchInput }>(
      '/v1/jobs/:id',
      {
        config: { role: 'submitter' },
        schema: { tags: ['jobs'], summary: 'Modify a job that has not started', security: BEARER, params: IdParams, body: JobPatchInput },
      },
      async (req) => {
        const current = await loadJob(ctx, req, req.params.id);
        const now = ctx.now();
        const patch = normalizeJobPatch(req.body, current, now);
        const { after } = await ctx.store.jobApply({
          tenant: current.tenant,
          id: current.id,
          event: { type: 'modify', patch },
          now,
          audit: auditOf(req, 'job.modify', 'job', current.id, { fields: Object.keys(req.body) }),
        });
        announceJobs(ctx, [after]);
        return jobView(after, true);
      },
    );

    app.post<{ Params: { id: string }; Body: RetryInput }>(
      '/v1/jobs/:id/retry',
      {
        config: { role: 'submitter' },
        preValidation: emptyBodyIsObject,
        schema: { tags: ['jobs'], summary: 'Retry a failed or cancelled job', security: BEARER, params: IdParams, body: RetryInput },
      },
      async (req) => {
        const current = await loadJob(ctx, req, req.params.id);
        const now = ctx.now();
        const b = req.body;
        if (b.runAt !== undefined && b.delayMs !== undefined) throw invalid('delayMs', 'give runAt or delayMs, not both');
        const patch: Partial<JobSpec> = {};
        if (b.payload !== undefined) {
          validatePayload(current.type, b.payload, 'payload');
          patch.payload = b.payload;
        }
        if (b.priority !== undefined) patch.priority = b.priority;
        if (b.maxRetries !== undefined) patch.maxRetries = b.maxRetries;
        if (b.queue !== undefined) patch.queue = b.queue;
        if (b.timeoutMs !== undefined) patch.timeoutMs = b.timeoutMs;
        const runAt = b.runAt !== undefined ? parseInstant(b.runAt, 'runAt') : b.delayMs !== undefined ? now + b.delayMs : undefined;
        const { after } = await ctx.store.jobApply({
          tenant: current.tenant,
          id: current.id,
          event: { type: 'retry', ...(Object.keys(patch).length > 0 ? { patch } : {}), ...(runAt !== undefined ? { runAt } : {}) },
          now,
          audit: auditOf(req, 'job.retry', 'job', current.id, { from: current.status, fields: Object.keys(b) }),
        });
        announceJobs(ctx, [after]);
        return jobView(after, true);
      },
    );

    app.post<{ Params: { id: string }; Body: CloneInput }>(
      '/v1/jobs/:id/clone',
      {
        config: { role: 'submitter' },
        preValidation: emptyBodyIsObject,
        schema: { tags: ['jobs'], summary: 'Submit a new job with the spec of an existing one', security: BEARER, params: IdParams, body: CloneInput },
      },
      async (req, reply) => {
        const original = await loadJob(ctx, req, req.params.id);
        const now = ctx.now();
        const input: JobInput = { ...specAsInput(original), ...req.body };
        // A clone keeps the original's backoff and requirements unless overridden field by field.
        if (req.body.backoff) input.backoff = { ...original.backoff, ...req.body.backoff };
        if (req.body.requirements) input.requirements = { ...original.requirements, ...req.body.requirements };
        const job = normalizeJobInput(input, { id: ctx.newId(), tenant: original.tenant }, now);
        const res = await ctx.store.jobInsertMany({
          jobs: [job],
          audit: auditOf(req, 'job.clone', 'job', job.id, { from: original.id, fields: Object.keys(req.body) }),
        });
        const stored = res.jobs[0];
        if (res.existed[0]) return reply.status(200).send(jobView(stored, true));
        announceJobs(ctx, [stored]);
        return reply.status(201).send(jobView(stored, true));
      },
    );
  };
}

/**
 * From validated job inputs to what the store inserts: normalised jobs, their graph and
 * deduplication extras (dependencies resolved to ids, refs, compensation specs, uniqueKey,
 * template), and templates expanded before validation — a body `{template, params, ...}` becomes
 * the job input the template renders, with the caller's other fields laid over it.
 */
import type { FastifyRequest } from 'fastify';
import { BatonError, isBatonError } from '../../core/errors.ts';
import { resolveBatchGraph } from '../../core/graph.ts';
import { checkParentPlaceholders } from '../../core/placeholders.ts';
import { mayHoldPlaceholders, normalizeJobInput, type JobInput, type NewJob, type PlainJobInput } from '../../core/spec.ts';
import { formatTemplateRef, parseTemplateRef, renderTemplate } from '../../core/template.ts';
import type { JobSpec, JobStatus } from '../../core/types.ts';
import type { JobInsertExtra, JobInsertOptions } from '../../store/types.ts';
import type { ServerContext } from '../context.ts';
import { principalOf } from './common.ts';

/** Default window of idempotency keys: 24 h. */
export const DEFAULT_IDEMPOTENCY_RETENTION_MS = 24 * 3_600_000;

// The template each expanded input came from, keyed by the input object the handler receives.
const fromTemplate = new WeakMap<object, string>();

function prefixed(e: unknown, at: string): unknown {
  if (!at || !isBatonError(e)) return e;
  const field = e.field === undefined ? at : `${at}.${e.field}`;
  return new BatonError(e.code, `${at}.${e.message}`, { field, details: e.details });
}

/** Whether a body is a template submission, `{template, params, ...overrides}`. */
function isTemplateBody(body: unknown): body is { template: unknown; params?: unknown } & Record<string, unknown> {
  return typeof body === 'object' && body !== null && !Array.isArray(body) && 'template' in body;
}

/** Renders one `{template, params, ...overrides}` body into a job input. */
async function expandOne(ctx: ServerContext, tenant: string, body: { template: unknown; params?: unknown } & Record<string, unknown>, at: string): Promise<unknown> {
  const { template, params, ...overrides } = body;
  try {
    const ref = parseTemplateRef(template as string, 'template');
    const t = await ctx.store.templateGet({ tenant, name: ref.name, version: ref.version });
    if (t === null) throw new BatonError('BATON_E_NOT_FOUND', `template: no template ${template as string}`, { field: 'template' });
    const input = { ...renderTemplate(t, params), ...overrides };
    fromTemplate.set(input, formatTemplateRef(t.name, t.version));
    return input;
  } catch (e) {
    throw prefixed(e, at);
  }
}

async function expandBatch(ctx: ServerContext, tenant: string, jobs: unknown[], first: number): Promise<void> {
  // One at a time, in order: the first bad template is the one reported.
  for (let i = first; i < jobs.length; i++) {
    const x = jobs[i];
    if (isTemplateBody(x)) jobs[i] = await expandOne(ctx, tenant, x, `jobs[${i}]`);
  }
}

/**
 * Expands template submissions in the body of POST /v1/jobs (`batch` false) or /v1/jobs/batch
 * in place, so schema validation and the handler see plain job inputs. Returns null, without
 * waiting for anything, when the body holds no template submission (the common case).
 */
export function expandTemplateBodies(ctx: ServerContext, req: FastifyRequest, batch: boolean): Promise<void> | null {
  if (!batch) {
    const body = req.body;
    if (!isTemplateBody(body)) return null;
    return expandOne(ctx, principalOf(req).tenant, body, '').then((input) => {
      req.body = input;
    });
  }
  const jobs = (req.body as { jobs?: unknown } | undefined)?.jobs;
  if (!Array.isArray(jobs)) return null;
  for (let i = 0; i < jobs.length; i++) {
    if (isTemplateBody(jobs[i])) return expandBatch(ctx, principalOf(req).tenant, jobs, i);
  }
  return null;
}

/**
 * preValidation hook of POST /v1/jobs: {@link expandTemplateBodies} for a single job. A callback
 * hook rather than an async one, so a plain job costs no promise.
 */
export function expandTemplatesHook(ctx: ServerContext) {
  return (req: FastifyRequest, _reply: unknown, done: (err?: Error) => void): void => {
    const pending = expandTemplateBodies(ctx, req, false);
    if (pending === null) done();
    else pending.then(() => done(), done);
  };
}

/** The spec part of a normalised job (what a compensation job keeps until it fires). */
function specOf(n: NewJob): JobSpec {
  const { id: _id, tenant: _t, status: _s, runAt: _r, createdAt: _c, ...spec } = n;
  return spec;
}

/** Everything jobInsertMany needs for these inputs. */
export interface PreparedInsert extends JobInsertOptions {
  jobs: NewJob[];
}

/**
 * Normalises inputs into jobs plus extras: resolves `dependsOn` (refs within the batch, ids of
 * existing jobs of the tenant), checks cycles and placeholders, normalises compensation jobs.
 * `at(i)` is the field prefix of input i (`jobs[i]`, or empty for a single job). Throws
 * BATON_E_VALIDATION naming the field.
 */
export async function prepareInsert(
  ctx: ServerContext,
  tenant: string,
  inputs: JobInput[],
  opts: { graphOnFailure?: PlainJobInput; at: (i: number) => string },
): Promise<PreparedInsert> {
  const now = ctx.now();
  const jobs: NewJob[] = new Array(inputs.length);
  let hasGraph = opts.graphOnFailure !== undefined;
  for (let i = 0; i < inputs.length; i++) {
    const x = inputs[i];
    jobs[i] = normalizeJobInput(x, { id: ctx.newId(), tenant }, now, opts.at(i));
    if (!hasGraph && (x.dependsOn?.length || x.onFailure || x.uniqueKey || x.ref || fromTemplate.has(x))) hasGraph = true;
  }
  const retention = ctx.config.idempotencyRetentionMs ?? DEFAULT_IDEMPOTENCY_RETENTION_MS;
  if (!hasGraph) {
    // Without dependencies, a parents placeholder can name nothing. Only payloads with `{{` can
    // hold one (the scan builds a field path per value, so it is skipped for the others).
    for (let i = 0; i < inputs.length; i++) {
      if (!mayHoldPlaceholders(inputs[i].payload)) continue;
      const at = opts.at(i);
      checkParentPlaceholders(inputs[i].payload, new Set(), at ? `${at}.payload` : 'payload');
    }
    return { jobs, idempotencyRetentionMs: retention };
  }

  // Statuses of the existing jobs named by id (tenant-scoped: another tenant's job is unknown).
  const existing = new Map<string, JobStatus>();
  for (const x of inputs) {
    for (const d of x.dependsOn ?? []) {
      if (!('job' in d) || existing.has(d.job)) continue;
      const j = await ctx.store.jobGet({ tenant, id: d.job });
      if (j !== null) existing.set(d.job, j.status);
    }
  }
  const single = inputs.length === 1 && opts.at(0) === '';
  let resolved;
  try {
    resolved = resolveBatchGraph(inputs, jobs.map((j) => j.id), (id) => existing.get(id), 'jobs');
  } catch (e) {
    // A single job's fields are named without the `jobs[0].` prefix.
    if (single && isBatonError(e) && e.field?.startsWith('jobs[0].')) {
      const field = e.field.slice('jobs[0].'.length);
      throw new BatonError(e.code, e.message.replace('jobs[0].', ''), { field, details: e.details });
    }
    throw e;
  }
  const extras: JobInsertExtra[] = inputs.map((x, i) => {
    const r = resolved.items[i];
    const at = opts.at(i);
    const p = (f: string) => (at ? `${at}.${f}` : f);
    const deps = r.dependsOn.map((d, k) => {
      const given = x.dependsOn![k];
      return { job: d.job, on: d.on, ref: 'ref' in given ? given.ref : null };
    });
    if (deps.length > 0) {
      jobs[i].status = 'blocked';
      checkParentPlaceholders(x.payload, new Set([...deps.map((d) => d.ref).filter((v): v is string => v !== null), ...deps.map((d) => d.job)]), p('payload'));
    } else {
      checkParentPlaceholders(x.payload, new Set(), p('payload'));
    }
    const extra: JobInsertExtra = {};
    if (x.ref !== undefined) extra.ref = x.ref;
    if (deps.length > 0) extra.dependsOn = deps;
    if (x.onFailure) extra.onFailure = specOf(normalizeJobInput(x.onFailure, { id: 'compensation', tenant }, now, p('onFailure')));
    if (x.uniqueKey) extra.uniqueKey = x.uniqueKey;
    if (x.onDuplicate) extra.onDuplicate = x.onDuplicate;
    const tpl = fromTemplate.get(x);
    if (tpl) extra.template = tpl;
    return extra;
  });
  const graphOnFailure = opts.graphOnFailure ? specOf(normalizeJobInput(opts.graphOnFailure, { id: 'compensation', tenant }, now, 'onFailure')) : undefined;
  return { jobs, extras, idempotencyRetentionMs: retention, ...(graphOnFailure ? { graphOnFailure } : {}) };
}

/**
 * The job input accepted by POST /v1/jobs: its JSON Schema (used by the API for validation and
 * for /openapi.json) and the pure function that checks what a schema cannot and fills defaults.
 */
import { Type, type Static } from '@sinclair/typebox';
import { invalid } from './errors.ts';
import { graphInputProperties } from './graph.ts';
import { findPlaceholders, MAX_PLACEHOLDER_DEPTH } from './placeholders.ts';
import { DEFAULT_BACKOFF } from './retry.ts';
import { readyStatus } from './transition.ts';
import type { JobSpec, JobStatus, JobType } from './types.ts';

/** Largest batch of jobs accepted in one request. */
export const MAX_BATCH = 10_000;

const Name = Type.String({ minLength: 1, maxLength: 200, pattern: '^[A-Za-z0-9][A-Za-z0-9_.:-]*$' });

export const BackoffInput = Type.Object(
  {
    initialMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 86_400_000 })),
    maxMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 7 * 86_400_000 })),
    factor: Type.Optional(Type.Number({ minimum: 1, maximum: 10 })),
    jitter: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
  },
  { additionalProperties: false },
);

export const RequirementsInput = Type.Object(
  {
    labels: Type.Optional(Type.Record(Type.String({ minLength: 1, maxLength: 100 }), Type.String({ maxLength: 200 }))),
    cpu: Type.Optional(Type.Number({ minimum: 0, maximum: 1024 })),
    memoryMb: Type.Optional(Type.Integer({ minimum: 0, maximum: 16_777_216 })),
  },
  { additionalProperties: false },
);

/** The fields a client may set on a job. */
export const jobInputProperties = {
  type: Type.Union([Type.Literal('command'), Type.Literal('http'), Type.Literal('function'), Type.Literal('container')]),
  payload: Type.Record(Type.String(), Type.Unknown()),
  name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
  queue: Type.Optional(Name),
  priority: Type.Optional(Type.Integer({ minimum: 1, maximum: 10 })),
  runAt: Type.Optional(Type.String({ format: 'date-time' })),
  delayMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 366 * 86_400_000 })),
  maxRetries: Type.Optional(Type.Integer({ minimum: 0, maximum: 100 })),
  backoff: Type.Optional(BackoffInput),
  timeoutMs: Type.Optional(Type.Integer({ minimum: 1, maximum: 7 * 86_400_000 })),
  requirements: Type.Optional(RequirementsInput),
  idempotencyKey: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
  tags: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 100 }), { maxItems: 50 })),
  metadata: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  /** While a job with this key has not ended, another one with it is refused (or returned, see onDuplicate). */
  uniqueKey: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
  /** What a duplicate uniqueKey gets: `refuse` (409 BATON_E_DUPLICATE, the default) or `return` (the existing job). */
  onDuplicate: Type.Optional(Type.Union([Type.Literal('refuse'), Type.Literal('return')])),
  /** Not started by this instant → failed with reason `deadline_exceeded`; earlier deadlines go first within a priority. */
  deadline: Type.Optional(Type.String({ format: 'date-time' })),
  /** Jobs of a tenant sharing this key run at most `concurrencyLimit` (default 1) at once, cluster-wide. */
  concurrencyKey: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
  concurrencyLimit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100_000 })),
};

/** A job input without graph fields: the shape of an `onFailure` (compensation) job. */
export const PlainJobInput = Type.Object(jobInputProperties, { additionalProperties: false });
export type PlainJobInput = Static<typeof PlainJobInput>;

/** A job input: the plain fields plus `ref`, `dependsOn` and `onFailure` (see graph.ts). */
export const JobInput = Type.Object({ ...jobInputProperties, ...graphInputProperties(PlainJobInput) }, { additionalProperties: false });
export type JobInput = Static<typeof JobInput>;

/** PATCH /v1/jobs/:id — every spec field but `type` and `idempotencyKey` may change before start. */
export const JobPatchInput = Type.Partial(
  Type.Object({
    payload: jobInputProperties.payload,
    name: jobInputProperties.name,
    queue: jobInputProperties.queue,
    priority: jobInputProperties.priority,
    runAt: jobInputProperties.runAt,
    delayMs: jobInputProperties.delayMs,
    maxRetries: jobInputProperties.maxRetries,
    backoff: jobInputProperties.backoff,
    timeoutMs: jobInputProperties.timeoutMs,
    requirements: jobInputProperties.requirements,
    tags: jobInputProperties.tags,
    metadata: jobInputProperties.metadata,
  }),
  { additionalProperties: false, minProperties: 1 },
);
export type JobPatchInput = Static<typeof JobPatchInput>;

/** A job ready to insert: its spec, its first status and when it may run. */
export interface NewJob extends JobSpec {
  id: string;
  tenant: string;
  status: JobStatus;
  runAt: number;
  createdAt: number;
}

function isStringArray(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((x) => typeof x === 'string');
}

function isStringRecord(v: unknown): v is Record<string, string> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && Object.values(v).every((x) => typeof x === 'string');
}

/** The payload fields each job type knows. */
const PAYLOAD_FIELDS: Record<JobType, readonly string[]> = {
  command: ['argv', 'script', 'shell', 'env', 'cwd'],
  http: ['url', 'method', 'headers', 'body', 'okStatus'],
  function: ['handler', 'args'],
  container: ['image', 'argv', 'env', 'memoryMb', 'cpus', 'network'],
};

/**
 * Checks a job payload against its type. `at` is the JSON path of the payload, used in the
 * error's `field`. Throws BATON_E_VALIDATION naming the first bad field.
 */
export function validatePayload(type: JobType, payload: Record<string, unknown>, at: string): void {
  const allowed = PAYLOAD_FIELDS[type];
  for (const k of Object.keys(payload)) {
    if (!allowed.includes(k)) throw invalid(`${at}.${k}`, `unknown field for a ${type} job (allowed: ${allowed.join(', ')})`);
  }
  switch (type) {
    case 'command': {
      const { argv, script, shell, env, cwd } = payload;
      if (argv === undefined && script === undefined) throw invalid(`${at}.argv`, 'a command job needs argv (array of strings) or script (string)');
      if (argv !== undefined && script !== undefined) throw invalid(`${at}.script`, 'give argv or script, not both');
      if (argv !== undefined && (!isStringArray(argv) || argv.length === 0 || argv[0] === '')) throw invalid(`${at}.argv`, 'must be a non-empty array of strings');
      if (script !== undefined && (typeof script !== 'string' || script.length === 0)) throw invalid(`${at}.script`, 'must be a non-empty string');
      if (shell !== undefined && (typeof shell !== 'string' || shell.length === 0)) throw invalid(`${at}.shell`, 'must be a path to a shell');
      if (env !== undefined && !isStringRecord(env)) throw invalid(`${at}.env`, 'must be an object of string values');
      if (cwd !== undefined && (typeof cwd !== 'string' || cwd.length === 0)) throw invalid(`${at}.cwd`, 'must be a non-empty string');
      return;
    }
    case 'http': {
      const { url, method, headers, okStatus } = payload;
      if (typeof url !== 'string') throw invalid(`${at}.url`, 'an http job needs url (string)');
      let parsed: URL;
      try {
        parsed = new URL(url);
      } catch {
        throw invalid(`${at}.url`, 'is not a valid absolute URL');
      }
      if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw invalid(`${at}.url`, 'must be http or https');
      if (method !== undefined && (typeof method !== 'string' || !/^(GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS)$/.test(method))) {
        throw invalid(`${at}.method`, 'must be one of GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS');
      }
      if (headers !== undefined && !isStringRecord(headers)) throw invalid(`${at}.headers`, 'must be an object of string values');
      if (okStatus !== undefined && (!Array.isArray(okStatus) || !okStatus.every((s) => Number.isInteger(s) && s >= 100 && s <= 599))) {
        throw invalid(`${at}.okStatus`, 'must be an array of HTTP status codes');
      }
      return;
    }
    case 'function': {
      const { handler } = payload;
      if (typeof handler !== 'string' || !/^[A-Za-z0-9_.:-]{1,200}$/.test(handler)) throw invalid(`${at}.handler`, 'a function job needs handler (the registered name)');
      return;
    }
    case 'container': {
      const { image, argv } = payload;
      if (typeof image !== 'string' || image.length === 0) throw invalid(`${at}.image`, 'a container job needs image');
      if (argv !== undefined && !isStringArray(argv)) throw invalid(`${at}.argv`, 'must be an array of strings');
      return;
    }
  }
}

/** Parses an ISO 8601 instant; the schema checked the format, this guards what it cannot (e.g. month 13). */
export function parseInstant(value: string, field: string): number {
  const t = Date.parse(value);
  if (!Number.isFinite(t)) throw invalid(field, 'is not a valid ISO 8601 date-time');
  return t;
}

/**
 * Whether `value` may hold a `{{...}}` placeholder: some string in it contains `{{`, or it is
 * nested as deep as {@link MAX_PLACEHOLDER_DEPTH} (where the placeholder scan refuses it). When
 * false, {@link findPlaceholders} and `checkParentPlaceholders` find nothing and throw nothing,
 * so the hot submit path skips them; this walk allocates nothing.
 */
export function mayHoldPlaceholders(value: unknown, depth = 0): boolean {
  if (typeof value === 'string') return value.includes('{{');
  if (typeof value !== 'object' || value === null) return false;
  if (depth >= MAX_PLACEHOLDER_DEPTH) return true;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) if (mayHoldPlaceholders(value[i], depth + 1)) return true;
    return false;
  }
  for (const k in value) {
    if (Object.prototype.hasOwnProperty.call(value, k) && mayHoldPlaceholders((value as Record<string, unknown>)[k], depth + 1)) return true;
  }
  return false;
}

/** `f` under the prefix `at` (`jobs[3]` + `priority` → `jobs[3].priority`). */
function under(at: string, f: string): string {
  return at ? `${at}.${f}` : f;
}

/**
 * Turns a schema-valid job input into a job ready to insert: fills defaults, checks the payload
 * and the rules a schema cannot express. `at` prefixes field names (e.g. `jobs[3]`).
 */
export function normalizeJobInput(input: PlainJobInput, ids: { id: string; tenant: string }, now: number, at = ''): NewJob {
  if (input.runAt !== undefined && input.delayMs !== undefined) throw invalid(under(at, 'delayMs'), 'give runAt or delayMs, not both');
  // A payload reading its parents' outcomes is only complete at dispatch, where it is checked
  // again after the placeholders are filled; here its other fields are still checked.
  if (!mayHoldPlaceholders(input.payload) || findPlaceholders(input.payload, under(at, 'payload')).length === 0) {
    validatePayload(input.type, input.payload, under(at, 'payload'));
  }
  const backoff = { ...DEFAULT_BACKOFF, ...input.backoff };
  if (backoff.maxMs < backoff.initialMs) throw invalid(under(at, 'backoff.maxMs'), 'must be at least backoff.initialMs');
  const runAt =
    input.runAt !== undefined ? parseInstant(input.runAt, under(at, 'runAt')) : input.delayMs !== undefined ? now + input.delayMs : now;
  const deadline = input.deadline === undefined ? null : parseInstant(input.deadline, under(at, 'deadline'));
  if (deadline !== null && deadline < runAt) throw invalid(under(at, 'deadline'), 'must not be before the job may run (runAt / delayMs)');
  if (input.concurrencyLimit !== undefined && input.concurrencyKey === undefined) throw invalid(under(at, 'concurrencyLimit'), 'needs a concurrencyKey');
  const req = input.requirements;
  const tags = input.tags;
  const job: NewJob = {
    id: ids.id,
    tenant: ids.tenant,
    type: input.type,
    payload: input.payload,
    name: input.name ?? null,
    queue: input.queue ?? 'default',
    priority: input.priority ?? 5,
    maxRetries: input.maxRetries ?? 0,
    backoff,
    timeoutMs: input.timeoutMs ?? null,
    requirements: req === undefined ? { labels: {}, cpu: 0, memoryMb: 0 } : { labels: req.labels ?? {}, cpu: req.cpu ?? 0, memoryMb: req.memoryMb ?? 0 },
    idempotencyKey: input.idempotencyKey ?? null,
    tags: tags === undefined || tags.length === 0 ? [] : [...new Set(tags)],
    metadata: input.metadata ?? {},
  } as NewJob;
  // Set only when given, so jobs without them keep the shape they had; the order of the keys is
  // the order they always had (the spec fields, then status, runAt, createdAt).
  if (deadline !== null) job.deadline = deadline;
  if (input.concurrencyKey !== undefined) {
    job.concurrencyKey = input.concurrencyKey;
    job.concurrencyLimit = input.concurrencyLimit ?? 1;
  }
  job.status = readyStatus(runAt, now);
  job.runAt = runAt;
  job.createdAt = now;
  return job;
}

/**
 * Turns a schema-valid patch into the spec fields to change. `type` is the job's type, needed to
 * check a new payload.
 */
export function normalizeJobPatch(
  patch: JobPatchInput,
  current: Pick<JobSpec, 'type' | 'backoff' | 'requirements'>,
  now: number,
): Partial<JobSpec> & { runAt?: number } {
  if (patch.runAt !== undefined && patch.delayMs !== undefined) throw invalid('delayMs', 'give runAt or delayMs, not both');
  const out: Partial<JobSpec> & { runAt?: number } = {};
  if (patch.payload !== undefined) {
    validatePayload(current.type, patch.payload, 'payload');
    out.payload = patch.payload;
  }
  if (patch.name !== undefined) out.name = patch.name;
  if (patch.queue !== undefined) out.queue = patch.queue;
  if (patch.priority !== undefined) out.priority = patch.priority;
  if (patch.maxRetries !== undefined) out.maxRetries = patch.maxRetries;
  if (patch.timeoutMs !== undefined) out.timeoutMs = patch.timeoutMs;
  if (patch.tags !== undefined) out.tags = [...new Set(patch.tags)];
  if (patch.metadata !== undefined) out.metadata = patch.metadata;
  if (patch.backoff !== undefined) {
    out.backoff = { ...current.backoff, ...patch.backoff };
    if (out.backoff.maxMs < out.backoff.initialMs) throw invalid('backoff.maxMs', 'must be at least backoff.initialMs');
  }
  if (patch.requirements !== undefined) out.requirements = { ...current.requirements, ...patch.requirements, labels: patch.requirements.labels ?? current.requirements.labels };
  if (patch.runAt !== undefined) out.runAt = parseInstant(patch.runAt, 'runAt');
  if (patch.delayMs !== undefined) out.runAt = now + patch.delayMs;
  return out;
}

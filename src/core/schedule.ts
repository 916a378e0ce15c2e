/**
 * Schedules: the input of POST/PATCH /v1/schedules (JSON Schema + normalisation) and the pure
 * policies the cron service applies on each tick — which fires are due after downtime (catch-up),
 * whether a fire may start while earlier runs are active (overlap), and jitter.
 */
import { Type, type Static } from '@sinclair/typebox';
import { firesBetween, latestFires, nextFire, parseCron, type CompiledCron } from './cron.ts';
import { invalid } from './errors.ts';
import { JobInput, normalizeJobInput, parseInstant, type NewJob } from './spec.ts';
import { readyStatus } from './transition.ts';

/** What a fire does while runs of earlier fires are still active. */
export type OverlapPolicy = 'allow' | 'skip' | 'queue' | 'cancelPrevious';
/** Which missed fires are made after downtime (a fire is missed when more than `graceMs` late). */
export type CatchUpPolicy = 'none' | 'latest' | 'all';

/** Default overlap: fires start whatever runs are active, as plain cron does. */
export const DEFAULT_OVERLAP: OverlapPolicy = 'allow';
/**
 * Default catch-up: `latest`, so a server restart or a leader failover that outlasts the grace
 * window runs a missed tick once, late, instead of losing it silently.
 */
export const DEFAULT_CATCH_UP: CatchUpPolicy = 'latest';
/** Default and largest `maxCatchUp`. */
export const DEFAULT_MAX_CATCH_UP = 100;
export const MAX_MAX_CATCH_UP = 10_000;
/** Largest `jitterMs`: one hour. */
export const MAX_JITTER_MS = 3_600_000;
/**
 * How late a fire may be found and still count as on time (made whatever the catch-up policy):
 * 2 s covers a cron tick's normal delay without letting `none` replay seconds of downtime.
 */
export const DEFAULT_FIRE_GRACE_MS = 2_000;

const Name = Type.String({ minLength: 1, maxLength: 200, pattern: '^[A-Za-z0-9][A-Za-z0-9_.:-]*$' });
const Overlap = Type.Union([Type.Literal('allow'), Type.Literal('skip'), Type.Literal('queue'), Type.Literal('cancelPrevious')]);
const CatchUp = Type.Union([Type.Literal('none'), Type.Literal('latest'), Type.Literal('all')]);
const Instant = Type.String({ format: 'date-time' });
const MaxExecutions = Type.Integer({ minimum: 1, maximum: 1_000_000_000 });

/** The fields of a schedule a client may set, with their JSON Schemas. */
export const scheduleInputProperties = {
  name: Name,
  cron: Type.String({ minLength: 1, maxLength: 200, description: '5 fields, 6 with seconds first, or @hourly-style nickname' }),
  timezone: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'IANA zone; default UTC' })),
  job: JobInput,
  startAt: Type.Optional(Instant),
  endAt: Type.Optional(Instant),
  maxExecutions: Type.Optional(MaxExecutions),
  jitterMs: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_JITTER_MS })),
  overlap: Type.Optional(Overlap),
  catchUp: Type.Optional(CatchUp),
  maxCatchUp: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_MAX_CATCH_UP })),
  paused: Type.Optional(Type.Boolean()),
};

/** Body of POST /v1/schedules. */
export const ScheduleInput = Type.Object(scheduleInputProperties, { additionalProperties: false });
export type ScheduleInput = Static<typeof ScheduleInput>;

/** Body of PATCH /v1/schedules/:id: any field; `null` clears startAt, endAt or maxExecutions. */
export const SchedulePatchInput = Type.Partial(
  Type.Object({
    ...scheduleInputProperties,
    startAt: Type.Union([Instant, Type.Null()]),
    endAt: Type.Union([Instant, Type.Null()]),
    maxExecutions: Type.Union([MaxExecutions, Type.Null()]),
  }),
  { additionalProperties: false, minProperties: 1 },
);
export type SchedulePatchInput = Static<typeof SchedulePatchInput>;

/** A schedule's normalised settings, every default filled. */
export interface ScheduleSpec {
  name: string;
  /** The expression as given (trimmed). */
  cron: string;
  /** IANA zone name, capitalised as the runtime spells it (see canonicalTimezone in cron.ts). */
  timezone: string;
  /** The job each fire creates; never has runAt, delayMs or idempotencyKey. */
  job: JobInput;
  startAt: number | null;
  endAt: number | null;
  maxExecutions: number | null;
  jitterMs: number;
  overlap: OverlapPolicy;
  catchUp: CatchUpPolicy;
  maxCatchUp: number;
  paused: boolean;
}

/** Job fields a schedule's job may not carry, and why. */
const REFUSED_JOB_FIELDS: ReadonlyArray<[string, string]> = [
  ['runAt', 'a scheduled job runs at its fire time; remove it'],
  ['delayMs', 'a scheduled job runs at its fire time; remove it (use jitterMs to spread fires)'],
  ['idempotencyKey', 'a scheduled job may not have one: each fire is its own job, unique by schedule and fire time'],
  // Graph fields name other jobs of one submission; a fire submits a single job.
  ['ref', 'a scheduled job cannot be part of a job graph'],
  ['dependsOn', 'a scheduled job cannot be part of a job graph'],
  ['onFailure', 'a scheduled job cannot be part of a job graph'],
];

/** A checked schedule: its settings, its compiled expression and the first fire to arm. */
export interface NormalizedSchedule {
  spec: ScheduleSpec;
  cron: CompiledCron;
  /** The first fire after `now` within startAt/endAt; null never happens on success. */
  nextFireAt: number;
}

/**
 * Checks a schema-valid schedule input and fills its defaults. The job is checked as
 * POST /v1/jobs would check it (errors name `job.…`), and may not carry `runAt`/`delayMs` (a
 * fire's job runs at its fire time), `idempotencyKey` (it would fold every fire into one job;
 * each fire is already unique by schedule and fire time) or job-graph fields.
 *
 * @throws BatonError BATON_E_VALIDATION naming the field: `cron`, `timezone`, `job.*`, `endAt`
 *   (before startAt, or no fire left in the window).
 */
export function normalizeScheduleInput(input: ScheduleInput, ctx: { tenant: string }, now: number): NormalizedSchedule {
  const cron = parseCron(input.cron, input.timezone ?? 'UTC');
  const job = input.job as Record<string, unknown>;
  for (const [f, why] of REFUSED_JOB_FIELDS) if (job[f] !== undefined) throw invalid(`job.${f}`, why);
  // Only for the checks: the id is never stored.
  normalizeJobInput(input.job, { id: 'schedule-check', tenant: ctx.tenant }, now, 'job');
  const startAt = input.startAt === undefined ? null : parseInstant(input.startAt, 'startAt');
  const endAt = input.endAt === undefined ? null : parseInstant(input.endAt, 'endAt');
  if (startAt !== null && endAt !== null && endAt <= startAt) throw invalid('endAt', 'must be after startAt');
  const spec: ScheduleSpec = {
    name: input.name,
    cron: cron.expr,
    timezone: cron.timezone,
    job: input.job,
    startAt,
    endAt,
    maxExecutions: input.maxExecutions ?? null,
    jitterMs: input.jitterMs ?? 0,
    overlap: input.overlap ?? DEFAULT_OVERLAP,
    catchUp: input.catchUp ?? DEFAULT_CATCH_UP,
    maxCatchUp: input.maxCatchUp ?? DEFAULT_MAX_CATCH_UP,
    paused: input.paused ?? false,
  };
  const nextFireAt = firstFireInWindow(cron, Math.max(now, (startAt ?? -Infinity) - 1), endAt);
  if (nextFireAt === null) throw invalid('endAt', `the schedule would never fire again: no fire of "${cron.expr}" falls before endAt`);
  return { spec, cron, nextFireAt };
}

/**
 * Applies a schema-valid patch to `current` and checks the result as a whole, as
 * {@link normalizeScheduleInput} does (so a new `cron` is checked against the current `timezone`
 * and the other way round).
 */
export function normalizeSchedulePatch(patch: SchedulePatchInput, current: ScheduleSpec, ctx: { tenant: string }, now: number): NormalizedSchedule {
  const iso = (ms: number | null) => (ms === null ? undefined : new Date(ms).toISOString());
  const pick = <T>(v: T | null | undefined, old: T | undefined): T | undefined => (v === null ? undefined : v === undefined ? old : v);
  return normalizeScheduleInput(
    {
      name: patch.name ?? current.name,
      cron: patch.cron ?? current.cron,
      timezone: patch.timezone ?? current.timezone,
      job: patch.job ?? current.job,
      startAt: pick(patch.startAt, iso(current.startAt)),
      endAt: pick(patch.endAt, iso(current.endAt)),
      maxExecutions: pick(patch.maxExecutions, current.maxExecutions ?? undefined),
      jitterMs: patch.jitterMs ?? current.jitterMs,
      overlap: patch.overlap ?? current.overlap,
      catchUp: patch.catchUp ?? current.catchUp,
      maxCatchUp: patch.maxCatchUp ?? current.maxCatchUp,
      paused: patch.paused ?? current.paused,
    },
    ctx,
    now,
  );
}

function firstFireInWindow(cron: CompiledCron, after: number, endAt: number | null): number | null {
  const n = nextFire(cron, after);
  return n === null || (endAt !== null && n > endAt) ? null : n;
}

/** What {@link dueFires} needs of a schedule. */
export interface ScheduleTiming {
  cron: CompiledCron;
  startAt: number | null;
  /** Inclusive: a fire exactly at endAt is made. */
  endAt: number | null;
  maxExecutions: number | null;
  /** Fires made so far; counts toward maxExecutions. */
  executions: number;
  catchUp: CatchUpPolicy;
  maxCatchUp: number;
  /**
   * Fires at or before this instant are never made: when the schedule was created or last
   * resumed (a pause drops the fires it covers rather than replaying them on resume).
   */
  since: number;
}

/** The result of {@link dueFires}. */
export interface DueFires {
  /** Fire instants to make now, oldest first. Each becomes one job, keyed (schedule, fire). */
  fires: number[];
  /** True when missed fires were left out by the catch-up policy or maxCatchUp. */
  skippedMissed: boolean;
  /** The next fire to arm, strictly after `now`; null when the schedule is finished (endAt passed or maxExecutions reached). */
  nextFireAt: number | null;
}

/**
 * The fires to make at `now`. Fires after `lastFireAt` (and after `since`, at or after startAt,
 * at or before endAt) and no later than `now` are due; those found within `graceMs` of their
 * time are on time and always made; older ones were missed, and the catch-up policy decides:
 * - `none`: missed fires are skipped;
 * - `latest`: only the newest missed fire is made — one run for all of them;
 * - `all`: each missed fire is made, the newest `maxCatchUp` of them, oldest first.
 * At most `maxExecutions - executions` fires are made (the oldest). The work is bounded by
 * `maxCatchUp`, never by the length of the downtime.
 *
 * @param lastFireAt the last fire made (null when none); passing an instant up to which fires
 *   were already judged (e.g. the previous call's `now`) works too.
 * @param graceMs default {@link DEFAULT_FIRE_GRACE_MS}.
 */
export function dueFires(schedule: ScheduleTiming, lastFireAt: number | null, now: number, graceMs = DEFAULT_FIRE_GRACE_MS): DueFires {
  const c = schedule.cron;
  const from = Math.max(lastFireAt ?? -Infinity, schedule.since, (schedule.startAt ?? -Infinity) - 1);
  const to = Math.min(now, schedule.endAt ?? Infinity);
  const remaining = schedule.maxExecutions === null ? Infinity : Math.max(0, schedule.maxExecutions - schedule.executions);
  let fires: number[] = [];
  let skippedMissed = false;
  if (to > from && remaining > 0) {
    const onTimeFrom = Math.max(from, now - graceMs);
    const missedTo = Math.min(to, onTimeFrom);
    const onTime = firesBetween(c, onTimeFrom, to, schedule.maxCatchUp);
    let missed: number[] = [];
    if (missedTo > from) {
      const keep = schedule.catchUp === 'none' ? 0 : schedule.catchUp === 'latest' ? 1 : schedule.maxCatchUp;
      // One more than kept tells whether any were left out.
      const newest = latestFires(c, from, missedTo, keep + 1);
      skippedMissed = newest.length > keep;
      missed = keep === 0 ? [] : newest.slice(-keep);
    }
    fires = [...missed, ...onTime].slice(0, remaining === Infinity ? undefined : remaining);
  }
  const left = remaining - fires.length;
  const nextFireAt = left <= 0 ? null : firstFireInWindow(c, Math.max(now, from, fires[fires.length - 1] ?? -Infinity), schedule.endAt);
  return { fires, skippedMissed, nextFireAt };
}

/** What a fire does about earlier runs of the same schedule. */
export type OverlapDecision = 'start' | 'skip' | 'queue' | 'cancelPrevious';

/**
 * The overlap policy applied to a fire, given how many jobs of earlier fires are still active
 * (not ended): with none active every policy starts; otherwise `allow` starts anyway, `skip`
 * makes no job, `queue` makes one that waits for the active runs to end, `cancelPrevious`
 * cancels them and starts.
 */
export function overlapDecision(policy: OverlapPolicy, activeRunCount: number): OverlapDecision {
  if (activeRunCount <= 0 || policy === 'allow') return 'start';
  return policy;
}

/**
 * When a fire's job may run: `fireAt` plus a spread in [0, jitterMs], so many schedules on the
 * same tick do not start at once. The fire keeps its `fireAt` as its key; only runAt moves.
 *
 * @param random a number in [0, 1), injected so the function stays pure; clamped, NaN counts as 0.
 */
export function applyJitter(fireAt: number, jitterMs: number, random: number): number {
  if (!(jitterMs > 0)) return fireAt;
  const r = Number.isNaN(random) ? 0 : Math.min(Math.max(random, 0), 1 - Number.EPSILON);
  return fireAt + Math.floor(r * (Math.floor(jitterMs) + 1));
}

/**
 * The job a fire creates: the schedule's job input with defaults filled, running at `runAt`
 * (the fire time plus jitter; `pending` when already past `now`, else `scheduled`).
 */
export function jobForFire(spec: Pick<ScheduleSpec, 'job'>, ids: { id: string; tenant: string }, runAt: number, now: number): NewJob {
  const job = normalizeJobInput(spec.job, ids, now, 'job');
  return { ...job, runAt, status: readyStatus(runAt, now) };
}

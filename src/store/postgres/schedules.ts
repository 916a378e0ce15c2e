/**
 * Schedules in the PostgreSQL store; see the SQLite twin for the semantics. Several servers may
 * fire at once: scheduleFire locks the schedule row, checks the fence and the compare-and-set on
 * last_fire_at, and inserts each run with ON CONFLICT DO NOTHING on (schedule_id, fire_at), so
 * a tick another server made already inserts nothing here.
 */
import { BatonError } from '../../core/errors.ts';
import { overlapDecision, type ScheduleSpec } from '../../core/schedule.ts';
import { isTerminal, transition } from '../../core/transition.ts';
import type { AuditInput, Job, JobStatus } from '../../core/types.ts';
import type { FireResult, Page, ScheduleRecord, ScheduleRun, ScheduleRunDecision, Store } from '../types.ts';
import { inTx, isUniqueViolation, type Db } from './db.ts';
import { applyInsertExtras, onJobsEnded } from './graph.ts';
import { insertJobRows, insertTags } from './jobs.ts';
import { checkFence } from './leaders.ts';
import { jobFromNew, jobFromRow, jsonbText, type JobRow } from './rows.ts';
import { checkLimit, decodeCursor, encodeCursor, ensureQueues, notifyWake, writeAudit, writeResults, type Ctx } from './write.ts';

/** How many of a schedule's newest runs the overlap policy looks at for active ones. */
const ACTIVE_RUN_WINDOW = 1000;
const CANCELLED_BY_SCHEDULE = 'cancelled_by_schedule';

function fromRow(r: Record<string, unknown>): ScheduleRecord {
  const spec = r.spec as ScheduleSpec;
  return {
    ...spec,
    paused: r.paused as boolean,
    id: r.id as string,
    tenant: r.tenant as string,
    nextFireAt: (r.next_fire_at as number | null) ?? null,
    lastFireAt: (r.last_fire_at as number | null) ?? null,
    since: r.since as number,
    executions: Number(r.executions),
    createdAt: r.created_at as number,
    updatedAt: r.updated_at as number,
  };
}

function specJson(s: ScheduleSpec, paused = s.paused): string {
  const spec: ScheduleSpec = {
    name: s.name, cron: s.cron, timezone: s.timezone, job: s.job, startAt: s.startAt, endAt: s.endAt,
    maxExecutions: s.maxExecutions, jitterMs: s.jitterMs, overlap: s.overlap, catchUp: s.catchUp,
    maxCatchUp: s.maxCatchUp, paused,
  };
  return jsonbText(spec);
}

async function load(sql: Db, tenant: string, id: string, lock = false): Promise<ScheduleRecord | null> {
  const [row] = lock
    ? await sql`SELECT * FROM schedules WHERE id = ${id} AND tenant = ${tenant} FOR UPDATE`
    : await sql`SELECT * FROM schedules WHERE id = ${id} AND tenant = ${tenant}`;
  return row === undefined ? null : fromRow(row);
}

async function mustLoad(sql: Db, tenant: string, id: string, lock = false): Promise<ScheduleRecord> {
  const s = await load(sql, tenant, id, lock);
  if (s === null) throw new BatonError('BATON_E_NOT_FOUND', `schedule ${id} not found`);
  return s;
}

function taken(e: unknown, name: string): never {
  if (isUniqueViolation(e)) throw new BatonError('BATON_E_CONFLICT', `a schedule named ${name} exists already`);
  throw e;
}

/** See Store.scheduleCreate. */
export async function scheduleCreate(c: Ctx, p: { schedule: ScheduleRecord; audit?: AuditInput }): Promise<ScheduleRecord> {
  const s = p.schedule;
  return inTx(c.sql, async (tx) => {
    let row;
    try {
      [row] = await tx`INSERT INTO schedules (id, tenant, name, cron, timezone, spec, paused, next_fire_at, last_fire_at, since, executions, created_at, updated_at)
        VALUES (${s.id}, ${s.tenant}, ${s.name}, ${s.cron}, ${s.timezone}, ${specJson(s)}::text::jsonb, ${s.paused}, ${s.nextFireAt}::int8,
          ${s.lastFireAt}::int8, ${s.since}::int8, ${s.executions}::int8, ${s.createdAt}::int8, ${s.updatedAt}::int8) RETURNING *`;
    } catch (e) {
      taken(e, s.name);
    }
    if (p.audit) await writeAudit(tx, s.tenant, p.audit, s.createdAt);
    // Other servers' cron services re-arm for the new schedule.
    await notifyWake(tx, c, [s.tenant]);
    return fromRow(row);
  });
}

/** See Store.scheduleGet. */
export async function scheduleGet(sql: Db, p: { tenant: string; id: string }): Promise<ScheduleRecord | null> {
  return load(sql, p.tenant, p.id);
}

/** See Store.scheduleList. */
export async function scheduleList(sql: Db, p: { tenant: string; limit: number; cursor?: string | null }): Promise<Page<ScheduleRecord>> {
  checkLimit(p.limit);
  const after = p.cursor ? decodeCursor(p.cursor) : '';
  const rows = await sql`SELECT * FROM schedules WHERE tenant = ${p.tenant} AND name > ${after} ORDER BY name LIMIT ${p.limit + 1}`;
  const more = rows.length > p.limit;
  const items = (more ? rows.slice(0, p.limit) : rows).map(fromRow);
  return { items, nextCursor: more ? encodeCursor(items[items.length - 1].name) : null };
}

/** See Store.scheduleUpdate. */
export async function scheduleUpdate(c: Ctx, p: Parameters<Store['scheduleUpdate']>[0]): Promise<ScheduleRecord> {
  return inTx(c.sql, async (tx) => {
    const cur = await mustLoad(tx, p.tenant, p.id, true);
    const since = cur.paused && !p.spec.paused ? p.now : cur.since;
    let row;
    try {
      [row] = await tx`UPDATE schedules SET name = ${p.spec.name}, cron = ${p.spec.cron}, timezone = ${p.spec.timezone}, spec = ${specJson(p.spec)}::text::jsonb,
          paused = ${p.spec.paused}, next_fire_at = ${p.nextFireAt}::int8, since = ${since}::int8, updated_at = ${p.now}::int8
        WHERE id = ${p.id} RETURNING *`;
    } catch (e) {
      taken(e, p.spec.name);
    }
    if (p.audit) await writeAudit(tx, p.tenant, p.audit, p.now);
    await notifyWake(tx, c, [p.tenant]);
    return fromRow(row);
  });
}

/** See Store.schedulePause. */
export async function schedulePause(c: Ctx, p: { tenant: string; id: string; now: number; audit?: AuditInput }): Promise<ScheduleRecord> {
  return inTx(c.sql, async (tx) => {
    const cur = await mustLoad(tx, p.tenant, p.id, true);
    const [row] = await tx`UPDATE schedules SET paused = true, spec = ${specJson(cur, true)}::text::jsonb, updated_at = ${p.now}::int8 WHERE id = ${p.id} RETURNING *`;
    if (p.audit) await writeAudit(tx, p.tenant, p.audit, p.now);
    return fromRow(row);
  });
}

/** See Store.scheduleResume. */
export async function scheduleResume(c: Ctx, p: { tenant: string; id: string; nextFireAt: number | null; now: number; audit?: AuditInput }): Promise<ScheduleRecord> {
  return inTx(c.sql, async (tx) => {
    const cur = await mustLoad(tx, p.tenant, p.id, true);
    let out = cur;
    if (cur.paused) {
      const [row] = await tx`UPDATE schedules SET paused = false, spec = ${specJson(cur, false)}::text::jsonb, since = ${p.now}::int8,
          next_fire_at = ${p.nextFireAt}::int8, updated_at = ${p.now}::int8 WHERE id = ${p.id} RETURNING *`;
      out = fromRow(row);
    }
    if (p.audit) await writeAudit(tx, p.tenant, p.audit, p.now);
    await notifyWake(tx, c, [p.tenant]);
    return out;
  });
}

/** See Store.scheduleDelete. */
export async function scheduleDelete(c: Ctx, p: { tenant: string; id: string; now: number; audit?: AuditInput }): Promise<boolean> {
  return inTx(c.sql, async (tx) => {
    const rows = await tx`DELETE FROM schedules WHERE id = ${p.id} AND tenant = ${p.tenant} RETURNING id`;
    if (rows.length > 0 && p.audit) await writeAudit(tx, p.tenant, p.audit, p.now);
    return rows.length > 0;
  });
}

/** See Store.scheduleListDue. */
export async function scheduleListDue(sql: Db, p: { now: number; limit: number }): Promise<ScheduleRecord[]> {
  const rows = await sql`SELECT * FROM schedules WHERE NOT paused AND next_fire_at IS NOT NULL AND next_fire_at <= ${p.now}::int8
    ORDER BY next_fire_at LIMIT ${p.limit}`;
  return rows.map(fromRow);
}

/** See Store.scheduleNextFireAt. */
export async function scheduleNextFireAt(sql: Db): Promise<number | null> {
  const [row] = await sql`SELECT min(next_fire_at) AS t FROM schedules WHERE NOT paused AND next_fire_at IS NOT NULL`;
  return (row.t as number | null) ?? null;
}

async function activeRuns(tx: Db, scheduleId: string): Promise<Job[]> {
  const rows = await tx`SELECT j.* FROM (SELECT job_id, fire_at FROM schedule_runs WHERE schedule_id = ${scheduleId} AND job_id IS NOT NULL
      ORDER BY fire_at DESC LIMIT ${ACTIVE_RUN_WINDOW}) r JOIN jobs j ON j.id = r.job_id
    WHERE j.status NOT IN ('completed', 'failed', 'cancelled') ORDER BY r.fire_at FOR UPDATE OF j`;
  return rows.map((r) => jobFromRow(r as JobRow)).filter((j) => !isTerminal(j.status));
}

/** Inserts one fire's job inside `tx`, as jobInsertMany would (tags, queue row, dependencies). */
async function insertFireJob(tx: Db, c: Ctx, p: Parameters<Store['scheduleFire']>[0]['fires'][number], dependsOn: string | null): Promise<Job> {
  const job = jobFromNew(p.job);
  await insertJobRows(tx, [job]);
  await insertTags(tx, [job]);
  await ensureQueues(tx, [{ tenant: job.tenant, name: job.queue, at: job.createdAt }]);
  const result = { jobs: [job], existed: [false] };
  if (dependsOn !== null) {
    const { raised } = await applyInsertExtras(tx, { jobs: [p.job], extras: [{ dependsOn: [{ job: dependsOn, on: 'completion', ref: null }] }] }, result);
    // A pending run whose inherited priority rose: other servers' kept heads rank it too low.
    await notifyWake(tx, c, raised);
  }
  return result.jobs[0];
}

/** See Store.scheduleFire. */
export async function scheduleFire(c: Ctx, p: Parameters<Store['scheduleFire']>[0]): Promise<FireResult> {
  return inTx(c.sql, async (tx) => {
    await checkFence(tx, p.fence, p.now);
    return fireIn(tx, c, p);
  });
}

/** See Store.scheduleFireMany. Schedules are locked in id order, one order for every caller. */
export async function scheduleFireMany(c: Ctx, p: Parameters<Store['scheduleFireMany']>[0]): Promise<FireResult[]> {
  return inTx(c.sql, async (tx) => {
    await checkFence(tx, p.fence, p.now);
    const order = p.items.map((_, i) => i).sort((a, b) => (p.items[a].scheduleId < p.items[b].scheduleId ? -1 : p.items[a].scheduleId > p.items[b].scheduleId ? 1 : 0));
    const out: FireResult[] = new Array(p.items.length);
    for (const i of order) out[i] = await fireIn(tx, c, { ...p.items[i], now: p.now });
    return out;
  });
}

/** One schedule's fires inside `tx` (fence already checked). */
async function fireIn(tx: Db, c: Ctx, p: Parameters<Store['scheduleFire']>[0]): Promise<FireResult> {
  {
    const none: FireResult = { runs: [], jobs: [], stopped: [], advanced: false };
    const s = await load(tx, p.tenant, p.scheduleId, true);
    if (s === null) return none;
    if (!p.trigger && (s.paused || s.lastFireAt !== p.expectLastFireAt)) return none;
    let active = s.overlap === 'allow' || p.trigger ? [] : await activeRuns(tx, s.id);
    const result: FireResult = { runs: [], jobs: [], stopped: [], advanced: true };
    let made = 0;
    for (const f of p.fires) {
      const claimed = await tx`INSERT INTO schedule_runs (schedule_id, fire_at, tenant, job_id, decision, created_at)
        VALUES (${s.id}, ${f.fireAt}::int8, ${s.tenant}, NULL, 'skipped', ${p.now}::int8) ON CONFLICT DO NOTHING RETURNING fire_at`;
      if (claimed.length === 0) continue;
      const decision = p.trigger ? 'start' : overlapDecision(s.overlap, active.length);
      if (decision === 'cancelPrevious') {
        const results = active.map((prev) => transition(prev, { type: 'cancel', reason: CANCELLED_BY_SCHEDULE }, p.now));
        await writeResults(tx, results);
        await onJobsEnded(tx, results.map((r) => r.job), p.now);
        for (const prev of active) {
          if (prev.workerId !== null && (prev.status === 'assigned' || prev.status === 'running')) result.stopped.push({ jobId: prev.id, workerId: prev.workerId, attempt: prev.attempt });
        }
        active = [];
      }
      let job: Job | null = null;
      if (decision !== 'skip') {
        job = await insertFireJob(tx, c, f, decision === 'queue' ? active[active.length - 1].id : null);
        active.push(job);
        result.jobs.push(job);
        if (!p.trigger) made++;
      }
      const name: ScheduleRunDecision = p.trigger ? 'triggered' : decision === 'start' ? 'started' : decision === 'queue' ? 'queued' : decision === 'skip' ? 'skipped' : 'cancelled_previous';
      await tx`UPDATE schedule_runs SET job_id = ${job?.id ?? null}, decision = ${name} WHERE schedule_id = ${s.id} AND fire_at = ${f.fireAt}::int8`;
      result.runs.push({ scheduleId: s.id, fireAt: f.fireAt, jobId: job?.id ?? null, decision: name, jobStatus: job?.status ?? null, createdAt: p.now });
    }
    if (!p.trigger) {
      const last = Math.max(s.lastFireAt ?? -Infinity, p.judgedTo ?? -Infinity, ...p.fires.map((f) => f.fireAt));
      await tx`UPDATE schedules SET last_fire_at = ${Number.isFinite(last) ? last : null}::int8, next_fire_at = ${p.nextFireAt}::int8,
          executions = executions + ${made}, updated_at = ${p.now}::int8 WHERE id = ${s.id}`;
    }
    if (p.audit) await writeAudit(tx, s.tenant, p.audit, p.now);
    await notifyWake(tx, c, result.jobs.filter((j) => j.status === 'pending' || j.status === 'scheduled').map((j) => j.tenant));
    return result;
  }
}

/** See Store.scheduleRuns. */
export async function scheduleRuns(sql: Db, p: { tenant: string; id: string; limit: number; cursor?: string | null }): Promise<Page<ScheduleRun>> {
  checkLimit(p.limit);
  await mustLoad(sql, p.tenant, p.id);
  const before = p.cursor ? Number(decodeCursor(p.cursor)) : Number.MAX_SAFE_INTEGER;
  const rows = await sql`SELECT r.*, j.status AS job_status FROM schedule_runs r LEFT JOIN jobs j ON j.id = r.job_id
    WHERE r.schedule_id = ${p.id} AND r.fire_at < ${before}::int8 ORDER BY r.fire_at DESC LIMIT ${p.limit + 1}`;
  const more = rows.length > p.limit;
  const items: ScheduleRun[] = (more ? rows.slice(0, p.limit) : rows).map((r) => ({
    scheduleId: r.schedule_id as string,
    fireAt: r.fire_at as number,
    jobId: (r.job_id as string | null) ?? null,
    decision: r.decision as ScheduleRunDecision,
    jobStatus: (r.job_status as JobStatus | null) ?? null,
    createdAt: r.created_at as number,
  }));
  return { items, nextCursor: more ? encodeCursor(items[items.length - 1].fireAt) : null };
}

/**
 * Schedules in the SQLite store: CRUD, the due list the cron service reads, and scheduleFire —
 * each fire's run row (keyed schedule + fire time), its job and the schedule's advance in one
 * write transaction, with the overlap policy applied against the schedule's active runs.
 */
import { BatonError } from '../../core/errors.ts';
import { overlapDecision, type ScheduleSpec } from '../../core/schedule.ts';
import { isTerminal, transition } from '../../core/transition.ts';
import type { AuditInput, Job, JobStatus } from '../../core/types.ts';
import type { FireResult, Page, ScheduleRecord, ScheduleRun, ScheduleRunDecision, Store } from '../types.ts';
import type { Sql } from './db.ts';
import { onJobsEnded } from './graph.ts';
import * as jobs from './jobs.ts';
import { checkFence } from './leaders.ts';
import { checkLimit, decodeCursor, encodeCursor, loadJob, writeAudit, writeTransition } from './write.ts';

interface ScheduleRow {
  id: string;
  tenant: string;
  name: string;
  spec: string;
  paused: number;
  next_fire_at: number | null;
  last_fire_at: number | null;
  since: number;
  executions: number;
  created_at: number;
  updated_at: number;
}

/** How many of a schedule's newest runs the overlap policy looks at for active ones. */
export const ACTIVE_RUN_WINDOW = 1000;
/** Reason a `cancelPrevious` fire gives the runs it cancels. */
export const CANCELLED_BY_SCHEDULE = 'cancelled_by_schedule';

function fromRow(r: ScheduleRow): ScheduleRecord {
  const spec = JSON.parse(r.spec) as ScheduleSpec;
  return {
    ...spec,
    paused: r.paused === 1,
    id: r.id,
    tenant: r.tenant,
    nextFireAt: r.next_fire_at,
    lastFireAt: r.last_fire_at,
    since: r.since,
    executions: r.executions,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

/** The ScheduleSpec part of a record, as stored in the `spec` column. */
export function specOf(s: ScheduleSpec): ScheduleSpec {
  return {
    name: s.name, cron: s.cron, timezone: s.timezone, job: s.job, startAt: s.startAt, endAt: s.endAt,
    maxExecutions: s.maxExecutions, jitterMs: s.jitterMs, overlap: s.overlap, catchUp: s.catchUp,
    maxCatchUp: s.maxCatchUp, paused: s.paused,
  };
}

function taken(e: unknown, name: string): never {
  if ((e as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE') throw new BatonError('BATON_E_CONFLICT', `a schedule named ${name} exists already`);
  throw e;
}

function load(sql: Sql, tenant: string, id: string): ScheduleRecord | null {
  const row = sql.stmt('SELECT * FROM schedules WHERE id = ? AND tenant = ?').get(id, tenant) as ScheduleRow | undefined;
  return row === undefined ? null : fromRow(row);
}

function mustLoad(sql: Sql, tenant: string, id: string): ScheduleRecord {
  const s = load(sql, tenant, id);
  if (s === null) throw new BatonError('BATON_E_NOT_FOUND', `schedule ${id} not found`);
  return s;
}

/** See Store.scheduleCreate. */
export function scheduleCreate(sql: Sql, p: { schedule: ScheduleRecord; audit?: AuditInput }): ScheduleRecord {
  const s = p.schedule;
  return sql.write(() => {
    try {
      sql.stmt(`INSERT INTO schedules (id, tenant, name, cron, timezone, spec, paused, next_fire_at, last_fire_at, since, executions, created_at, updated_at)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`).run(
        s.id, s.tenant, s.name, s.cron, s.timezone, JSON.stringify(specOf(s)), s.paused ? 1 : 0, s.nextFireAt, s.lastFireAt, s.since, s.executions, s.createdAt, s.updatedAt,
      );
    } catch (e) {
      taken(e, s.name);
    }
    if (p.audit) writeAudit(sql, s.tenant, p.audit, s.createdAt);
    return mustLoad(sql, s.tenant, s.id);
  });
}

/** See Store.scheduleGet. */
export function scheduleGet(sql: Sql, p: { tenant: string; id: string }): ScheduleRecord | null {
  return load(sql, p.tenant, p.id);
}

/** See Store.scheduleList. */
export function scheduleList(sql: Sql, p: { tenant: string; limit: number; cursor?: string | null }): Page<ScheduleRecord> {
  checkLimit(p.limit);
  const after = p.cursor ? decodeCursor(p.cursor) : '';
  const rows = sql.stmt('SELECT * FROM schedules WHERE tenant = ? AND name > ? ORDER BY name LIMIT ?').all(p.tenant, after, p.limit + 1) as ScheduleRow[];
  const more = rows.length > p.limit;
  const items = (more ? rows.slice(0, p.limit) : rows).map(fromRow);
  return { items, nextCursor: more ? encodeCursor(items[items.length - 1].name) : null };
}

/** See Store.scheduleUpdate. */
export function scheduleUpdate(sql: Sql, p: Parameters<Store['scheduleUpdate']>[0]): ScheduleRecord {
  return sql.write(() => {
    const cur = mustLoad(sql, p.tenant, p.id);
    // Un-pausing through a patch drops the fires the pause covered, as resume does.
    const since = cur.paused && !p.spec.paused ? p.now : cur.since;
    try {
      sql.stmt('UPDATE schedules SET name = ?, cron = ?, timezone = ?, spec = ?, paused = ?, next_fire_at = ?, since = ?, updated_at = ? WHERE id = ?').run(
        p.spec.name, p.spec.cron, p.spec.timezone, JSON.stringify(specOf(p.spec)), p.spec.paused ? 1 : 0, p.nextFireAt, since, p.now, p.id,
      );
    } catch (e) {
      taken(e, p.spec.name);
    }
    if (p.audit) writeAudit(sql, p.tenant, p.audit, p.now);
    return mustLoad(sql, p.tenant, p.id);
  });
}

/** See Store.schedulePause. */
export function schedulePause(sql: Sql, p: { tenant: string; id: string; now: number; audit?: AuditInput }): ScheduleRecord {
  return sql.write(() => {
    const cur = mustLoad(sql, p.tenant, p.id);
    sql.stmt('UPDATE schedules SET paused = 1, spec = ?, updated_at = ? WHERE id = ?').run(JSON.stringify({ ...specOf(cur), paused: true }), p.now, p.id);
    if (p.audit) writeAudit(sql, p.tenant, p.audit, p.now);
    return mustLoad(sql, p.tenant, p.id);
  });
}

/** See Store.scheduleResume. */
export function scheduleResume(sql: Sql, p: { tenant: string; id: string; nextFireAt: number | null; now: number; audit?: AuditInput }): ScheduleRecord {
  return sql.write(() => {
    const cur = mustLoad(sql, p.tenant, p.id);
    if (cur.paused) {
      sql.stmt('UPDATE schedules SET paused = 0, spec = ?, since = ?, next_fire_at = ?, updated_at = ? WHERE id = ?').run(
        JSON.stringify({ ...specOf(cur), paused: false }), p.now, p.nextFireAt, p.now, p.id,
      );
    }
    if (p.audit) writeAudit(sql, p.tenant, p.audit, p.now);
    return mustLoad(sql, p.tenant, p.id);
  });
}

/** See Store.scheduleDelete. */
export function scheduleDelete(sql: Sql, p: { tenant: string; id: string; now: number; audit?: AuditInput }): boolean {
  return sql.write(() => {
    const gone = sql.stmt('DELETE FROM schedules WHERE id = ? AND tenant = ?').run(p.id, p.tenant).changes > 0;
    if (gone && p.audit) writeAudit(sql, p.tenant, p.audit, p.now);
    return gone;
  });
}

/** See Store.scheduleListDue. */
export function scheduleListDue(sql: Sql, p: { now: number; limit: number }): ScheduleRecord[] {
  const rows = sql.stmt('SELECT * FROM schedules WHERE paused = 0 AND next_fire_at IS NOT NULL AND next_fire_at <= ? ORDER BY next_fire_at LIMIT ?').all(p.now, p.limit) as ScheduleRow[];
  return rows.map(fromRow);
}

/** See Store.scheduleNextFireAt. */
export function scheduleNextFireAt(sql: Sql): number | null {
  return (sql.stmt('SELECT MIN(next_fire_at) AS t FROM schedules WHERE paused = 0 AND next_fire_at IS NOT NULL').get() as { t: number | null }).t;
}

/** Jobs of the schedule's newest runs that have not ended, oldest first. */
function activeRuns(sql: Sql, scheduleId: string): Job[] {
  const rows = sql.stmt(`SELECT job_id FROM (SELECT job_id, fire_at FROM schedule_runs WHERE schedule_id = ? AND job_id IS NOT NULL ORDER BY fire_at DESC LIMIT ?)
    ORDER BY fire_at`).all(scheduleId, ACTIVE_RUN_WINDOW) as { job_id: string }[];
  const out: Job[] = [];
  for (const r of rows) {
    const j = loadJob(sql, r.job_id);
    if (j !== null && !isTerminal(j.status)) out.push(j);
  }
  return out;
}

/** See Store.scheduleFire. */
export function scheduleFire(sql: Sql, p: Parameters<Store['scheduleFire']>[0]): FireResult {
  return sql.write((): FireResult => {
    checkFence(sql, p.fence, p.now);
    const none: FireResult = { runs: [], jobs: [], stopped: [], advanced: false };
    const s = load(sql, p.tenant, p.scheduleId);
    if (s === null) return none;
    if (!p.trigger && (s.paused || s.lastFireAt !== p.expectLastFireAt)) return none;
    let active = s.overlap === 'allow' || p.trigger ? [] : activeRuns(sql, s.id);
    const result: FireResult = { runs: [], jobs: [], stopped: [], advanced: true };
    let made = 0;
    for (const f of p.fires) {
      if (sql.stmt('SELECT 1 FROM schedule_runs WHERE schedule_id = ? AND fire_at = ?').get(s.id, f.fireAt) !== undefined) continue;
      const decision = p.trigger ? 'start' : overlapDecision(s.overlap, active.length);
      let job: Job | null = null;
      if (decision === 'cancelPrevious') {
        for (const prev of active) {
          const r = transition(prev, { type: 'cancel', reason: CANCELLED_BY_SCHEDULE }, p.now);
          writeTransition(sql, r);
          onJobsEnded(sql, [r.job], p.now);
          if (prev.workerId !== null && (prev.status === 'assigned' || prev.status === 'running')) {
            result.stopped.push({ jobId: prev.id, workerId: prev.workerId, attempt: prev.attempt });
          }
        }
        active = [];
      }
      if (decision !== 'skip') {
        // `queue`: the job waits (blocked) for the newest active run to end, whatever its outcome.
        const extras = decision === 'queue' ? [{ dependsOn: [{ job: active[active.length - 1].id, on: 'completion' as const, ref: null }] }] : undefined;
        job = jobs.jobInsertMany(sql, { jobs: [f.job], extras }).jobs[0];
        active.push(job);
        result.jobs.push(job);
        if (!p.trigger) made++;
      }
      const name: ScheduleRunDecision = p.trigger ? 'triggered' : decision === 'start' ? 'started' : decision === 'queue' ? 'queued' : decision === 'skip' ? 'skipped' : 'cancelled_previous';
      sql.stmt('INSERT INTO schedule_runs (schedule_id, fire_at, tenant, job_id, decision, created_at) VALUES (?, ?, ?, ?, ?, ?)').run(s.id, f.fireAt, s.tenant, job?.id ?? null, name, p.now);
      result.runs.push({ scheduleId: s.id, fireAt: f.fireAt, jobId: job?.id ?? null, decision: name, jobStatus: job?.status ?? null, createdAt: p.now });
    }
    if (!p.trigger) {
      const last = Math.max(s.lastFireAt ?? -Infinity, p.judgedTo ?? -Infinity, ...p.fires.map((f) => f.fireAt));
      sql.stmt('UPDATE schedules SET last_fire_at = ?, next_fire_at = ?, executions = executions + ?, updated_at = ? WHERE id = ?').run(
        Number.isFinite(last) ? last : null, p.nextFireAt, made, p.now, s.id,
      );
    }
    if (p.audit) writeAudit(sql, s.tenant, p.audit, p.now);
    return result;
  });
}

/** See Store.scheduleFireMany. */
export function scheduleFireMany(sql: Sql, p: Parameters<Store['scheduleFireMany']>[0]): FireResult[] {
  return sql.write(() => {
    checkFence(sql, p.fence, p.now);
    return p.items.map((i) => scheduleFire(sql, { ...i, now: p.now }));
  });
}

/** See Store.scheduleRuns. */
export function scheduleRuns(sql: Sql, p: { tenant: string; id: string; limit: number; cursor?: string | null }): Page<ScheduleRun> {
  checkLimit(p.limit);
  mustLoad(sql, p.tenant, p.id);
  const before = p.cursor ? Number(decodeCursor(p.cursor)) : Number.MAX_SAFE_INTEGER;
  const rows = sql.stmt(`SELECT r.*, j.status AS job_status FROM schedule_runs r LEFT JOIN jobs j ON j.id = r.job_id
    WHERE r.schedule_id = ? AND r.fire_at < ? ORDER BY r.fire_at DESC LIMIT ?`).all(p.id, before, p.limit + 1) as {
    schedule_id: string; fire_at: number; job_id: string | null; decision: ScheduleRunDecision; job_status: JobStatus | null; created_at: number;
  }[];
  const more = rows.length > p.limit;
  const items = (more ? rows.slice(0, p.limit) : rows).map((r) => ({
    scheduleId: r.schedule_id, fireAt: r.fire_at, jobId: r.job_id, decision: r.decision, jobStatus: r.job_status, createdAt: r.created_at,
  }));
  return { items, nextCursor: more ? encodeCursor(items[items.length - 1].fireAt) : null };
}

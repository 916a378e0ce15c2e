/**
 * Contract: schedules and their fires, deadlines, weights and concurrency caps. A fire is made
 * once per (schedule, fire time) however many callers race; overlap policies act on the
 * schedule's active runs in the fire's transaction; fenced fires of a stale term write nothing.
 */
import { v7 } from 'uuid';
import { describe, expect, it } from 'vitest';
import type { ScheduleSpec } from '../../core/schedule.ts';
import type { ScheduleRecord, Store } from '../types.ts';
import { assign, audit, insert, mustGet, newJob, rejectsWith, T0, TENANT, type ContractContext } from './fixtures.ts';

/** A schedule of TENANT firing every second, as the API would store it; `over` replaces any field. */
export function newSchedule(over: Partial<ScheduleRecord> = {}): ScheduleRecord {
  const spec: ScheduleSpec = {
    name: `s-${v7()}`, cron: '* * * * * *', timezone: 'UTC', job: { type: 'command', payload: { argv: ['true'] } },
    startAt: null, endAt: null, maxExecutions: null, jitterMs: 0, overlap: 'allow', catchUp: 'latest', maxCatchUp: 100, paused: false,
  };
  return { ...spec, id: v7(), tenant: TENANT, nextFireAt: T0 + 1000, lastFireAt: null, since: T0, executions: 0, createdAt: T0, updatedAt: T0, ...over };
}

/** Fires `at` (one or several instants) of `s`, as the cron service would. */
function fire(store: Store, s: ScheduleRecord, at: number[], opts: { expect?: number | null; next?: number | null; now?: number; trigger?: boolean } = {}) {
  return store.scheduleFire({
    tenant: s.tenant,
    scheduleId: s.id,
    fires: at.map((t) => ({ fireAt: t, job: newJob({ runAt: t, createdAt: opts.now ?? t }) })),
    nextFireAt: opts.next === undefined ? at[at.length - 1] + 1000 : opts.next,
    expectLastFireAt: opts.expect === undefined ? null : opts.expect,
    trigger: opts.trigger,
    now: opts.now ?? at[at.length - 1],
  });
}

export function schedulesContract(ctx: ContractContext): void {
  describe('schedules', () => {
    it('creates, reads, lists by name, updates, pauses, resumes and deletes, with audit rows', async () => {
      const s = ctx.store();
      const a = await s.scheduleCreate({ schedule: newSchedule({ name: 'b-nightly' }), audit: audit('schedule.create', 'schedule', null) });
      const b = await s.scheduleCreate({ schedule: newSchedule({ name: 'a-hourly', cron: '0 * * * *', timezone: 'Europe/London' }) });
      expect(await s.scheduleGet({ tenant: TENANT, id: a.id })).toEqual(a);
      expect(await s.scheduleGet({ tenant: 'globex', id: a.id })).toBeNull();
      await rejectsWith(s.scheduleCreate({ schedule: newSchedule({ name: 'b-nightly' }) }), 'BATON_E_CONFLICT');
      const p1 = await s.scheduleList({ tenant: TENANT, limit: 1 });
      expect(p1.items.map((x) => x.name)).toEqual(['a-hourly']);
      const p2 = await s.scheduleList({ tenant: TENANT, limit: 1, cursor: p1.nextCursor });
      expect(p2).toEqual({ items: [a], nextCursor: null });
      const up = await s.scheduleUpdate({ tenant: TENANT, id: b.id, spec: { ...b, cron: '*/5 * * * *', overlap: 'skip' }, nextFireAt: T0 + 300_000, now: T0 + 1 });
      expect(up).toMatchObject({ cron: '*/5 * * * *', overlap: 'skip', nextFireAt: T0 + 300_000, updatedAt: T0 + 1, timezone: 'Europe/London' });
      const paused = await s.schedulePause({ tenant: TENANT, id: b.id, now: T0 + 2 });
      expect(paused.paused).toBe(true);
      expect(await s.scheduleListDue({ now: T0 + 10_000_000, limit: 10 })).toEqual([expect.objectContaining({ id: a.id })]);
      const resumed = await s.scheduleResume({ tenant: TENANT, id: b.id, nextFireAt: T0 + 600_000, now: T0 + 3 });
      expect(resumed).toMatchObject({ paused: false, since: T0 + 3, nextFireAt: T0 + 600_000 });
      await rejectsWith(s.schedulePause({ tenant: TENANT, id: v7(), now: T0 }), 'BATON_E_NOT_FOUND');
      expect(await s.scheduleDelete({ tenant: 'globex', id: a.id, now: T0 })).toBe(false);
      expect(await s.scheduleDelete({ tenant: TENANT, id: a.id, now: T0, audit: audit('schedule.delete', 'schedule', a.id) })).toBe(true);
      expect(await s.scheduleGet({ tenant: TENANT, id: a.id })).toBeNull();
      const log = await s.auditList({ tenant: TENANT, limit: 10 });
      expect(log.items.map((e) => e.action)).toEqual(['schedule.delete', 'schedule.create']);
    });

    it('lists due schedules soonest first and knows the next fire', async () => {
      const s = ctx.store();
      const late = await s.scheduleCreate({ schedule: newSchedule({ nextFireAt: T0 + 5000 }) });
      const soon = await s.scheduleCreate({ schedule: newSchedule({ nextFireAt: T0 + 1000 }) });
      await s.scheduleCreate({ schedule: newSchedule({ nextFireAt: T0 + 500, paused: true }) });
      await s.scheduleCreate({ schedule: newSchedule({ nextFireAt: null }) });
      expect(await s.scheduleNextFireAt()).toBe(T0 + 1000);
      expect((await s.scheduleListDue({ now: T0 + 5000, limit: 10 })).map((x) => x.id)).toEqual([soon.id, late.id]);
      expect((await s.scheduleListDue({ now: T0 + 1000, limit: 10 })).map((x) => x.id)).toEqual([soon.id]);
    });

    it('fires: one job and one run per fire, and advances the schedule in the same transaction', async () => {
      const s = ctx.store();
      const sc = await s.scheduleCreate({ schedule: newSchedule() });
      const r = await fire(s, sc, [T0 + 1000, T0 + 2000], { next: T0 + 3000 });
      expect(r.advanced).toBe(true);
      expect(r.jobs).toHaveLength(2);
      expect(r.runs.map((x) => [x.fireAt, x.decision])).toEqual([[T0 + 1000, 'started'], [T0 + 2000, 'started']]);
      expect(await s.scheduleGet({ tenant: TENANT, id: sc.id })).toMatchObject({ lastFireAt: T0 + 2000, nextFireAt: T0 + 3000, executions: 2 });
      // The same fires again (a second server that read the schedule before): nothing written.
      const again = await fire(s, sc, [T0 + 1000, T0 + 2000]);
      expect(again).toEqual({ runs: [], jobs: [], stopped: [], advanced: false });
      const runs = await s.scheduleRuns({ tenant: TENANT, id: sc.id, limit: 10 });
      expect(runs.items.map((x) => [x.fireAt, x.jobId, x.jobStatus])).toEqual([
        [T0 + 2000, r.jobs[1].id, 'pending'],
        [T0 + 1000, r.jobs[0].id, 'pending'],
      ]);
      const page = await s.scheduleRuns({ tenant: TENANT, id: sc.id, limit: 1 });
      expect((await s.scheduleRuns({ tenant: TENANT, id: sc.id, limit: 1, cursor: page.nextCursor })).items[0].fireAt).toBe(T0 + 1000);
      await rejectsWith(s.scheduleRuns({ tenant: 'globex', id: sc.id, limit: 1 }), 'BATON_E_NOT_FOUND');
    });

    it('fires several schedules in one transaction, fenced once, results in input order', async () => {
      const s = ctx.store();
      const a = await s.scheduleCreate({ schedule: newSchedule() });
      const b = await s.scheduleCreate({ schedule: newSchedule() });
      const item = (sc: ScheduleRecord, at: number) => ({ tenant: TENANT, scheduleId: sc.id, fires: [{ fireAt: at, job: newJob({ runAt: at }) }], nextFireAt: at + 1000, expectLastFireAt: null });
      const out = await s.scheduleFireMany({ items: [item(b, T0 + 1000), item(a, T0 + 1000)], now: T0 + 1000 });
      expect(out.map((r) => r.runs[0].scheduleId)).toEqual([b.id, a.id]);
      expect(out.every((r) => r.advanced && r.jobs.length === 1)).toBe(true);
      await s.leaderAcquire({ name: 'cron', holder: 'x', ttlMs: 1000, now: T0 });
      await rejectsWith(s.scheduleFireMany({ items: [item(a, T0 + 2000)], now: T0 + 5000, fence: { name: 'cron', holder: 'x', term: 1 } }), 'BATON_E_NOT_LEADER');
      expect((await s.scheduleGet({ tenant: TENANT, id: a.id }))!.lastFireAt).toBe(T0 + 1000);
    });

    it('makes a tick once when two callers race for it', async () => {
      const s = ctx.store();
      const sc = await s.scheduleCreate({ schedule: newSchedule() });
      const results = await Promise.all([fire(s, sc, [T0 + 1000]), fire(s, sc, [T0 + 1000]), fire(s, sc, [T0 + 1000])]);
      expect(results.filter((r) => r.advanced)).toHaveLength(1);
      expect(results.flatMap((r) => r.jobs)).toHaveLength(1);
      expect((await s.scheduleRuns({ tenant: TENANT, id: sc.id, limit: 10 })).items).toHaveLength(1);
      expect((await s.jobList({ tenant: TENANT, limit: 10 })).items).toHaveLength(1);
    });

    it('refuses a fire fenced with a stale term, writing nothing', async () => {
      const s = ctx.store();
      const sc = await s.scheduleCreate({ schedule: newSchedule() });
      await s.leaderAcquire({ name: 'cron', holder: 'a', ttlMs: 1000, now: T0 });
      await s.leaderAcquire({ name: 'cron', holder: 'b', ttlMs: 1000, now: T0 + 5000 });
      await rejectsWith(
        s.scheduleFire({ tenant: TENANT, scheduleId: sc.id, fires: [{ fireAt: T0 + 1000, job: newJob() }], nextFireAt: T0 + 2000, expectLastFireAt: null, now: T0 + 5001, fence: { name: 'cron', holder: 'a', term: 1 } }),
        'BATON_E_NOT_LEADER',
      );
      expect((await s.jobList({ tenant: TENANT, limit: 10 })).items).toHaveLength(0);
      expect((await s.scheduleGet({ tenant: TENANT, id: sc.id }))!.lastFireAt).toBeNull();
    });

    it('overlap skip makes no job while a run is active; queue waits for it; cancelPrevious cancels it', async () => {
      const s = ctx.store();
      for (const overlap of ['skip', 'queue', 'cancelPrevious'] as const) {
        const sc = await s.scheduleCreate({ schedule: newSchedule({ overlap }) });
        const first = await fire(s, sc, [T0 + 1000]);
        const running = await assign(s, first.jobs[0].id, { now: T0 + 1000 });
        const second = await fire(s, sc, [T0 + 2000], { expect: T0 + 1000 });
        if (overlap === 'skip') {
          expect(second.runs).toEqual([expect.objectContaining({ decision: 'skipped', jobId: null })]);
          expect(second.jobs).toEqual([]);
          // Skipped fires count as judged but not as executions.
          expect(await s.scheduleGet({ tenant: TENANT, id: sc.id })).toMatchObject({ lastFireAt: T0 + 2000, executions: 1 });
        } else if (overlap === 'queue') {
          expect(second.runs[0].decision).toBe('queued');
          expect(second.jobs[0].status).toBe('blocked');
          await s.jobApply({ tenant: TENANT, id: running.id, event: { type: 'cancel', reason: 'test' }, now: T0 + 2500 });
          expect((await mustGet(s, second.jobs[0].id)).status).toBe('pending');
        } else {
          expect(second.runs[0].decision).toBe('cancelled_previous');
          expect(second.stopped).toEqual([{ jobId: running.id, workerId: 'w1', attempt: 1 }]);
          expect(await mustGet(s, running.id)).toMatchObject({ status: 'cancelled', reason: 'cancelled_by_schedule' });
          expect(second.jobs[0].status).toBe('pending');
        }
      }
    });

    it('trigger makes one run now without advancing the schedule', async () => {
      const s = ctx.store();
      const sc = await s.scheduleCreate({ schedule: newSchedule({ paused: true, overlap: 'skip' }) });
      const r = await fire(s, sc, [T0 + 1234], { trigger: true, expect: 42 });
      expect(r.runs).toEqual([expect.objectContaining({ decision: 'triggered', fireAt: T0 + 1234 })]);
      expect(r.jobs).toHaveLength(1);
      expect(await s.scheduleGet({ tenant: TENANT, id: sc.id })).toMatchObject({ lastFireAt: null, executions: 0, nextFireAt: T0 + 1000 });
    });
  });

  describe('deadlines, weights and concurrency caps', () => {
    it('fails jobs not started by their deadline, and only those', async () => {
      const s = ctx.store();
      const [late, fine, started, none] = await insert(
        s,
        newJob({ deadline: T0 + 100 }),
        newJob({ deadline: T0 + 10_000 }),
        newJob({ deadline: T0 + 100 }),
        newJob(),
      );
      expect(late.deadline).toBe(T0 + 100);
      expect(none.deadline).toBeUndefined();
      await assign(s, started.id);
      expect(await s.jobNextDeadline()).toBe(T0 + 100);
      const expired = await s.jobExpireDeadlines({ now: T0 + 101, limit: 100 });
      expect(expired.map((j) => j.id)).toEqual([late.id]);
      expect(await mustGet(s, late.id)).toMatchObject({ status: 'failed', reason: 'deadline_exceeded', error: { code: 'BATON_E_DEADLINE_EXCEEDED' } });
      expect((await mustGet(s, fine.id)).status).toBe('pending');
      expect((await mustGet(s, started.id)).status).toBe('assigned');
      expect(await s.jobNextDeadline()).toBe(T0 + 10_000);
    });

    it('keeps a queue and a concurrency key within their caps at assignment', async () => {
      const s = ctx.store();
      const q = await s.queueSetLimits({ tenant: TENANT, name: 'capped', weight: 3, concurrencyLimit: 2, now: T0 });
      expect(q).toMatchObject({ name: 'capped', weight: 3, concurrencyLimit: 2 });
      const capped = await insert(s, ...[1, 2, 3].map(() => newJob({ queue: 'capped' })));
      const keyed = await insert(s, ...[1, 2, 3].map(() => newJob({ concurrencyKey: 'cust-1', concurrencyLimit: 1 })));
      const all = [...capped, ...keyed];
      const got = await s.jobAssignMany({ now: T0, assignments: all.map((j) => ({ jobId: j.id, workerId: 'w1', leaseToken: v7(), leaseExpiresAt: T0 + 10_000 })) });
      expect(got.filter((j) => j.queue === 'capped')).toHaveLength(2);
      expect(got.filter((j) => j.concurrencyKey === 'cust-1')).toHaveLength(1);
      // Two more claims later: still full.
      const again = await s.jobAssignMany({ now: T0, assignments: all.map((j) => ({ jobId: j.id, workerId: 'w2', leaseToken: v7(), leaseExpiresAt: T0 + 10_000 })) });
      expect(again).toEqual([]);
      // Clearing the cap frees the queue.
      await s.queueSetLimits({ tenant: TENANT, name: 'capped', concurrencyLimit: null, now: T0 });
      const freed = await s.jobAssignMany({ now: T0, assignments: capped.map((j) => ({ jobId: j.id, workerId: 'w2', leaseToken: v7(), leaseExpiresAt: T0 + 10_000 })) });
      expect(freed).toHaveLength(1);
    });

    it('lists ready heads per queue by priority and by age, skipping paused queues', async () => {
      const s = ctx.store();
      const old = await insert(s, newJob({ priority: 1, runAt: T0 - 60_000 }));
      const urgent = await insert(s, ...[1, 2, 3, 4].map((i) => newJob({ priority: 10, runAt: T0 + i })));
      const [other] = await insert(s, newJob({ queue: 'other' }));
      await insert(s, newJob({ queue: 'stopped' }));
      await s.queueSetPaused({ tenant: TENANT, name: 'stopped', paused: true, now: T0 });
      const heads = await s.jobListReadyHeads({ tenants: [TENANT], types: ['command'], perQueue: 2 });
      // Two by priority, two by age (the old priority-1 job among them), one of `other`.
      const ids = heads.map((h) => h.job.id).sort();
      expect(ids).toEqual([old[0].id, urgent[0].id, urgent[1].id, other.id].sort());
      expect(heads.find((h) => h.job.id === old[0].id)!.rank).toBe(1);
      expect(await s.jobListReadyHeads({ tenants: [TENANT], queues: ['other'], types: ['command'], perQueue: 5 })).toEqual([expect.objectContaining({ rank: 5 })]);
    });

    it('stores tenant and queue weights for the dispatcher', async () => {
      const s = ctx.store();
      await s.tenantCreate({ tenant: { id: TENANT, name: 'Acme', createdAt: T0 } });
      expect(await s.tenantSetWeight({ id: TENANT, weight: 3, now: T0 })).toMatchObject({ id: TENANT, weight: 3 });
      await rejectsWith(s.tenantSetWeight({ id: 'nobody', weight: 1, now: T0 }), 'BATON_E_NOT_FOUND');
      await s.queueSetLimits({ tenant: TENANT, name: 'bulk', weight: 0.5, now: T0 });
      const f = await s.fairnessSettings({ tenants: [TENANT] });
      expect(f.tenants[TENANT]).toBe(3);
      expect(f.queues[`${TENANT}\u0000bulk`]).toEqual({ weight: 0.5, concurrencyLimit: null });
    });
  });
}

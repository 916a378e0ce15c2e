/**
 * Contract: what the dispatcher relies on — ready jobs in dispatch order, paused queues left
 * out, and assignment as a compare-and-set.
 */
import { v7 } from 'uuid';
import { describe, expect, it } from 'vitest';
import { assign, insert, mustGet, newJob, OTHER, rep, T0, TENANT, type ContractContext } from './fixtures.ts';

/** Declares the dispatch contract tests. */
export function dispatchContract(ctx: ContractContext): void {
  describe('jobListReady', () => {
    it('orders by priority desc, then runAt, then createdAt, then id, across queues', async () => {
      const low = newJob({ priority: 1, queue: 'a' });
      const highLate = newJob({ priority: 9, runAt: T0 - 10, queue: 'b' });
      const highEarly = newJob({ priority: 9, runAt: T0 - 20, queue: 'a' });
      const midOld = newJob({ priority: 5, runAt: T0, createdAt: T0 - 5, queue: 'c' });
      const midNewA = newJob({ priority: 5, runAt: T0, queue: 'b' });
      const midNewB = newJob({ priority: 5, runAt: T0, queue: 'a' });
      await insert(ctx.store(), midNewB, low, highLate, midNewA, highEarly, midOld);
      const ready = await ctx.store().jobListReady({ tenants: [TENANT], types: ['command'], limit: 10 });
      const [first, second] = [midNewA.id, midNewB.id].sort();
      expect(ready.map((j) => j.id)).toEqual([highEarly.id, highLate.id, midOld.id, first, second, low.id]);
      expect((await ctx.store().jobListReady({ tenants: [TENANT], types: ['command'], limit: 2 })).map((j) => j.id)).toEqual([highEarly.id, highLate.id]);
    });

    it('returns only pending jobs of the given tenants, types and queues', async () => {
      const a = newJob({ queue: 'q1' });
      const b = newJob({ queue: 'q2', type: 'http', payload: { url: 'http://x' } });
      const c = newJob({ tenant: OTHER, queue: 'q1' });
      const d = newJob({ status: 'scheduled', runAt: T0 + 1000 });
      const e = newJob({ status: 'blocked' });
      await insert(ctx.store(), a, b, c, d, e);
      const ids = async (p: { tenants: string[]; queues?: string[]; types: ('command' | 'http')[] }) =>
        (await ctx.store().jobListReady({ ...p, limit: 100 })).map((j) => j.id).sort();
      expect(await ids({ tenants: [TENANT], types: ['command'] })).toEqual([a.id]);
      expect(await ids({ tenants: [TENANT], types: ['command', 'http'] })).toEqual([a.id, b.id].sort());
      expect(await ids({ tenants: [TENANT, OTHER], types: ['command'], queues: ['q1'] })).toEqual([a.id, c.id].sort());
      expect(await ids({ tenants: [TENANT, OTHER], types: ['command', 'http'], queues: ['*'] })).toEqual([a.id, b.id, c.id].sort());
      expect(await ids({ tenants: [TENANT], types: ['command', 'http'], queues: ['q2'] })).toEqual([b.id]);
      expect(await ids({ tenants: [], types: ['command'] })).toEqual([]);
    });

    it('leaves out paused queues until they are resumed', async () => {
      const a = newJob({ queue: 'paused' });
      const b = newJob({ queue: 'open' });
      await insert(ctx.store(), a, b);
      await ctx.store().queueSetPaused({ tenant: TENANT, name: 'paused', paused: true, now: T0 });
      // Pausing a queue of another tenant with the same name changes nothing here.
      await ctx.store().queueSetPaused({ tenant: OTHER, name: 'open', paused: true, now: T0 });
      const ready = async () => (await ctx.store().jobListReady({ tenants: [TENANT], types: ['command'], limit: 10 })).map((j) => j.id);
      expect(await ready()).toEqual([b.id]);
      await ctx.store().queueSetPaused({ tenant: TENANT, name: 'paused', paused: false, now: T0 });
      expect((await ready()).sort()).toEqual([a.id, b.id].sort());
    });
  });

  describe('jobListReadyHeads', () => {
    it('shows, and assigns, every change made to a job after it was read: edits, cancels, graph adoption, even within the same millisecond', async () => {
      const s = ctx.store();
      const [a, b, c] = await insert(s, newJob({ metadata: { v: 1 } }), newJob(), newJob());
      const read = async () => new Map((await s.jobListReadyHeads({ tenants: [TENANT], types: ['command'], perQueue: 10 })).map((h) => [h.job.id, h]));
      expect([...(await read()).keys()].sort()).toEqual([a.id, b.id, c.id].sort());
      // A child joins c to a graph.
      await s.jobInsertMany({ jobs: [newJob({ status: 'blocked' })], extras: [{ dependsOn: [{ job: c.id, on: 'success', ref: null }] }] });
      const graphId = (await mustGet(s, c.id)).graphId;
      expect(graphId).toBeTruthy();
      expect((await read()).has(c.id)).toBe(true);
      // At T0 again, the time the jobs were inserted at: nothing but the rows tells the change.
      await s.jobApply({ tenant: TENANT, id: a.id, now: T0, event: { type: 'modify', patch: { payload: { argv: ['edited'] }, metadata: { v: 2 }, priority: 6 } } });
      await s.jobApply({ tenant: TENANT, id: b.id, now: T0, event: { type: 'cancel', reason: 'test' } });
      const again = await read();
      expect([...again.keys()].sort()).toEqual([a.id, c.id].sort());
      // A head carries what ranking and placement read (ReadyJob); the assignment the full job.
      expect(again.get(a.id)).toMatchObject({ job: { payload: { argv: ['edited'] } }, rank: 6 });
      const lease = (jobId: string) => ({ jobId, workerId: 'w1', leaseToken: v7(), leaseExpiresAt: T0 + 5000 });
      const assigned = await s.jobAssignMany({ now: T0, assignments: [lease(a.id), lease(b.id), lease(c.id)] });
      expect(assigned.map((j) => j.id)).toEqual([a.id, c.id]);
      expect(assigned[0]).toMatchObject({ payload: { argv: ['edited'] }, metadata: { v: 2 }, priority: 6, attempt: 1 });
      expect(assigned[1]).toMatchObject({ graphId, attempt: 1 });
      expect(await read()).toEqual(new Map());
    });

    it('reads and assigns a job given back after its assignment as it is now', async () => {
      const s = ctx.store();
      const [j] = await insert(s, newJob());
      const heads = () => s.jobListReadyHeads({ tenants: [TENANT], types: ['command'], perQueue: 10 });
      expect((await heads()).map((h) => h.job.id)).toEqual([j.id]);
      const first = await assign(s, j.id);
      expect(await heads()).toEqual([]);
      await s.reportApplyMany({ workerId: 'w1', reports: [rep.returned(first)], now: T0 + 10, random: () => 0 });
      expect((await heads()).map((h) => [h.job.id, h.job.runAt])).toEqual([[j.id, T0 + 10]]);
      const second = await assign(s, j.id, { now: T0 + 20 });
      expect(second).toMatchObject({ attempt: 2, status: 'assigned' });
      expect((await mustGet(s, j.id)).attempts.map((a) => a.status)).toEqual(['returned', 'assigned']);
    });
  });

  describe('jobAssignMany', () => {
    it('assigns a pending job with a new attempt and lease, and records the attempt', async () => {
      const [j] = await insert(ctx.store(), newJob());
      const token = v7();
      const [assigned] = await ctx.store().jobAssignMany({ now: T0 + 1, assignments: [{ jobId: j.id, workerId: 'w1', leaseToken: token, leaseExpiresAt: T0 + 9000 }] });
      expect(assigned).toMatchObject({ id: j.id, status: 'assigned', attempt: 1, workerId: 'w1', leaseToken: token, leaseExpiresAt: T0 + 9000 });
      const got = await mustGet(ctx.store(), j.id);
      expect(got).toMatchObject({ status: 'assigned', attempt: 1, leaseToken: token });
      expect(got.attempts).toEqual([{ attempt: 1, workerId: 'w1', status: 'assigned', assignedAt: T0 + 1, startedAt: null, endedAt: null, exitCode: null, error: null }]);
      expect(await ctx.store().jobListReady({ tenants: [TENANT], types: ['command'], limit: 10 })).toEqual([]);
    });

    it('assigns a job only once (compare-and-set), also within one batch, and skips jobs that are not pending', async () => {
      const [a, b, c] = await insert(ctx.store(), newJob(), newJob(), newJob({ status: 'scheduled', runAt: T0 + 1000 }));
      const lease = (jobId: string, workerId: string) => ({ jobId, workerId, leaseToken: v7(), leaseExpiresAt: T0 + 5000 });
      const first = await ctx.store().jobAssignMany({ now: T0, assignments: [lease(a.id, 'w1'), lease(a.id, 'w2'), lease(c.id, 'w1'), lease(newJob().id, 'w1')] });
      expect(first.map((j) => [j.id, j.workerId])).toEqual([[a.id, 'w1']]);
      const second = await ctx.store().jobAssignMany({ now: T0, assignments: [lease(a.id, 'w2'), lease(b.id, 'w2')] });
      expect(second.map((j) => [j.id, j.workerId])).toEqual([[b.id, 'w2']]);
      expect((await mustGet(ctx.store(), a.id)).workerId).toBe('w1');
    });

    it('does not assign a job whose queue was paused after it was read, and assigns it once the queue is resumed', async () => {
      const s = ctx.store();
      const [held, open] = await insert(s, newJob({ queue: 'held-later' }), newJob({ queue: 'open-later' }));
      const heads = await s.jobListReadyHeads({ tenants: [TENANT], types: ['command'], perQueue: 10 });
      expect(heads.map((h) => h.job.id).sort()).toEqual([held.id, open.id].sort());
      await s.queueSetPaused({ tenant: TENANT, name: 'held-later', paused: true, now: T0 });
      const lease = (jobId: string) => ({ jobId, workerId: 'w1', leaseToken: v7(), leaseExpiresAt: T0 + 5000 });
      const got = await s.jobAssignMany({ now: T0 + 1, assignments: [lease(held.id), lease(open.id)] });
      expect(got.map((j) => j.id)).toEqual([open.id]);
      expect(await mustGet(s, held.id)).toMatchObject({ status: 'pending', attempt: 0, workerId: null, attempts: [] });
      await s.queueSetPaused({ tenant: TENANT, name: 'held-later', paused: false, now: T0 + 2 });
      expect((await s.jobAssignMany({ now: T0 + 3, assignments: [lease(held.id)] })).map((j) => j.id)).toEqual([held.id]);
    });

    it('assigns new jobs in their insert transaction (JobInsertOptions.assign): not those of paused queues, never past a cap, nor ones it did not create', async () => {
      const s = ctx.store();
      const lease = (jobId: string, workerId = 'w1') => ({ jobId, workerId, leaseToken: v7(), leaseExpiresAt: T0 + 5000 });
      await s.queueSetPaused({ tenant: TENANT, name: 'held', paused: true, now: T0 });
      await s.queueSetLimits({ tenant: TENANT, name: 'one-at-a-time', concurrencyLimit: 1, now: T0 });
      const [older] = await insert(s, newJob({ idempotencyKey: 'k-1' }));
      const plain = newJob();
      const held = newJob({ queue: 'held' });
      const capped = [newJob({ queue: 'one-at-a-time' }), newJob({ queue: 'one-at-a-time' })];
      const again = newJob({ idempotencyKey: 'k-1' });
      const later = newJob({ status: 'scheduled', runAt: T0 + 60_000 });
      const all = [plain, held, ...capped, again, later];
      const res = await s.jobInsertMany({ jobs: all, assign: { now: T0 + 1, assignments: all.map((j) => lease(j.id)) } });
      expect(res.existed).toEqual([false, false, false, false, true, false]);
      // A capped queue's jobs may be left to a dispatch round; never more than the cap is assigned.
      const ids = res.assigned!.map((j) => j.id);
      expect(ids).toContain(plain.id);
      expect(ids.filter((id) => id !== plain.id).every((id) => capped.some((j) => j.id === id))).toBe(true);
      expect(ids.length).toBeLessThanOrEqual(2);
      expect(res.assigned!.find((j) => j.id === plain.id)).toMatchObject({ status: 'assigned', attempt: 1, workerId: 'w1' });
      // The answer shows each job as committed.
      expect(res.jobs.map((j) => (j.id === capped[0].id ? 'capped' : j.status))).toEqual(['assigned', 'pending', 'capped', 'pending', 'pending', 'scheduled']);
      expect(res.jobs[2].status).toBe(ids.includes(capped[0].id) ? 'assigned' : 'pending');
      expect(res.jobs[4].id).toBe(older.id);
      for (const j of res.jobs) expect(await mustGet(s, j.id)).toMatchObject({ status: j.status, attempt: j.attempt });
      const got = await mustGet(s, plain.id);
      const answered = res.assigned!.find((j) => j.id === plain.id)!;
      expect(got).toMatchObject({ status: 'assigned', attempt: 1, leaseToken: answered.leaseToken });
      // Stored as answered: every field an assignment sets, and the others as inserted.
      const { attempts: _a, ...stored } = got;
      const { attempts: _b, ...shown } = answered;
      expect(stored).toMatchObject(shown);
      // A job left pending (its queue paused) is stored as it was inserted.
      expect(await mustGet(s, held.id)).toMatchObject({ status: 'pending', attempt: 0, leaseToken: null, leaseExpiresAt: null, workerId: null, updatedAt: held.createdAt });
      expect(got.attempts).toMatchObject([{ attempt: 1, workerId: 'w1', status: 'assigned', assignedAt: T0 + 1 }]);
      for (const j of [held, capped[1], later]) expect((await mustGet(s, j.id)).attempts).toEqual([]);
      if (!ids.includes(capped[0].id)) expect((await mustGet(s, capped[0].id)).attempts).toEqual([]);
      expect(await mustGet(s, older.id)).toMatchObject({ status: 'pending', attempt: 0 });
      // Without `assign`, no `assigned` in the result.
      expect((await s.jobInsertMany({ jobs: [newJob()] })).assigned).toBeUndefined();
    });

    it('settles calls made together each on its own: a failing insert fails alone, the others land', async () => {
      const [taken, running, leased] = await insert(ctx.store(), newJob(), newJob(), newJob());
      const held = await assign(ctx.store(), running.id);
      const other = await assign(ctx.store(), leased.id, { workerId: 'w3' });
      const fresh = newJob();
      const lease = { jobId: taken.id, workerId: 'w2', leaseToken: v7(), leaseExpiresAt: T0 + 5000 };
      const [ins, dup, assigned, reported, extended] = await Promise.allSettled([
        ctx.store().jobInsertMany({ jobs: [fresh] }),
        ctx.store().jobInsertMany({ jobs: [{ ...newJob(), id: taken.id }] }),
        ctx.store().jobAssignMany({ now: T0, assignments: [lease] }),
        ctx.store().reportApplyMany({ workerId: 'w1', reports: [rep.started(held), rep.completed(held)], now: T0 + 1, random: () => 0 }),
        ctx.store().leaseExtend({ workerId: 'w3', leases: [{ jobId: other.id, attempt: 1, leaseToken: other.leaseToken! }], leaseExpiresAt: T0 + 90_000, now: T0 + 1 }),
      ]);
      expect(ins).toMatchObject({ status: 'fulfilled', value: { existed: [false] } });
      expect(dup).toMatchObject({ status: 'rejected', reason: { code: 'BATON_E_CONFLICT' } });
      expect(assigned).toMatchObject({ status: 'fulfilled', value: [{ id: taken.id, workerId: 'w2' }] });
      expect(reported).toMatchObject({ status: 'fulfilled', value: [{ ok: true }, { ok: true }] });
      expect(extended).toEqual({ status: 'fulfilled', value: { lost: [] } });
      expect(await mustGet(ctx.store(), fresh.id)).toMatchObject({ status: 'pending' });
      expect(await mustGet(ctx.store(), taken.id)).toMatchObject({ status: 'assigned', workerId: 'w2' });
      expect(await mustGet(ctx.store(), running.id)).toMatchObject({ status: 'completed' });
      expect(await mustGet(ctx.store(), leased.id)).toMatchObject({ status: 'assigned', leaseExpiresAt: T0 + 90_000 });
    });

    it('counts attempts across reassignments', async () => {
      const [j] = await insert(ctx.store(), newJob({ maxRetries: 3 }));
      await assign(ctx.store(), j.id, { leaseMs: 10 });
      await ctx.store().leaseReapExpired({ now: T0 + 100, limit: 10, random: () => 0 });
      const again = await assign(ctx.store(), j.id, { workerId: 'w2', now: T0 + 200 });
      expect(again.attempt).toBe(2);
      expect((await mustGet(ctx.store(), j.id)).attempts.map((a) => [a.attempt, a.workerId, a.status])).toEqual([
        [1, 'w1', 'lost'],
        [2, 'w2', 'assigned'],
      ]);
    });
  });
}

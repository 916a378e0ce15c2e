/**
 * Contract: worker reports (fenced by attempt and lease token), group commit, lease extension,
 * reaping of lapsed leases, and logs.
 */
import { describe, expect, it } from 'vitest';
import { LOST_LEASE_ALLOWANCE } from '../../core/transition.ts';
import type { Job } from '../../core/types.ts';
import { assign, insert, mustGet, newJob, OTHER, rep, report, T0, TENANT, type ContractContext } from './fixtures.ts';

/** Declares the report, lease and log contract tests. */
export function reportsContract(ctx: ContractContext): void {
  describe('reportApplyMany', () => {
    it('starts, reports progress and completes an attempt', async () => {
      const [j] = await insert(ctx.store(), newJob());
      const a = await assign(ctx.store(), j.id);
      const out = await report(ctx.store(), [rep.started(a), rep.progress(a, 40)], { now: T0 + 10 });
      expect(out.map((o) => o.ok)).toEqual([true, true]);
      expect(out[1]).toMatchObject({ ok: true, job: { status: 'running', progress: 40 } });
      const [done] = await report(ctx.store(), [rep.completed(a, { answer: 42 })], { now: T0 + 20 });
      expect(done).toMatchObject({ ok: true, job: { status: 'completed', result: { answer: 42 }, completedAt: T0 + 20, leaseToken: null } });
      const got = await mustGet(ctx.store(), j.id);
      expect(got).toMatchObject({ status: 'completed', result: { answer: 42 }, startedAt: T0 + 10, progress: 100 });
      expect(got.attempts[0]).toMatchObject({ status: 'completed', startedAt: T0 + 10, endedAt: T0 + 20, exitCode: 0 });
    });

    it('treats a repeated `started` for the running attempt as a harmless no-op', async () => {
      const [j] = await insert(ctx.store(), newJob());
      const a = await assign(ctx.store(), j.id);
      await report(ctx.store(), [rep.started(a)], { now: T0 + 10 });
      const [again] = await report(ctx.store(), [rep.started(a)], { now: T0 + 50 });
      expect(again).toMatchObject({ ok: true, job: { status: 'running', startedAt: T0 + 10 } });
      expect((await mustGet(ctx.store(), j.id)).attempts[0].startedAt).toBe(T0 + 10);
    });

    it('schedules a retry with backoff when a failed attempt has retries left', async () => {
      const [j] = await insert(ctx.store(), newJob({ maxRetries: 2 }));
      const a = await assign(ctx.store(), j.id);
      const [out] = await report(ctx.store(), [rep.failed(a)], { now: T0 + 100 });
      // Backoff without jitter: the first retry waits initialMs (1000 ms).
      expect(out).toMatchObject({ ok: true, job: { status: 'scheduled', runAt: T0 + 1100, error: { code: 'exit_code' }, leaseToken: null } });
      const got = await mustGet(ctx.store(), j.id);
      expect(got.attempts[0]).toMatchObject({ status: 'failed', exitCode: 1, endedAt: T0 + 100, error: { code: 'exit_code' } });
      expect(await ctx.store().jobNextRunAt()).toBe(T0 + 1100);
    });

    it('fails the job for good when its retries are spent, and marks a timeout on the attempt', async () => {
      const [j] = await insert(ctx.store(), newJob({ maxRetries: 0 }));
      const a = await assign(ctx.store(), j.id);
      const [out] = await report(ctx.store(), [rep.failed(a, { timedOut: true })], { now: T0 + 5 });
      expect(out).toMatchObject({ ok: true, job: { status: 'failed', completedAt: T0 + 5 } });
      expect((await mustGet(ctx.store(), j.id)).attempts[0].status).toBe('timed_out');
    });

    it('takes back an unstarted assignment (returned): pending at once, attempt kept as returned, budget untouched', async () => {
      const [j] = await insert(ctx.store(), newJob({ maxRetries: 0 }));
      const a = await assign(ctx.store(), j.id);
      const [out] = await report(ctx.store(), [rep.returned(a)], { now: T0 + 30 });
      expect(out).toMatchObject({ ok: true, job: { status: 'pending', runAt: T0 + 30, leaseToken: null, workerId: null } });
      const got = await mustGet(ctx.store(), j.id);
      expect(got).toMatchObject({ status: 'pending', attempt: 1, attemptBase: 1 });
      expect(got.attempts[0]).toMatchObject({ status: 'returned', endedAt: T0 + 30 });
      // Ready for the next claim; a resent `returned` is stale, and so is one for a started attempt.
      const heads = await ctx.store().jobListReadyHeads({ tenants: [TENANT], types: ['command'], perQueue: 5 });
      expect(heads.map((h) => h.job.id)).toContain(j.id);
      expect((await report(ctx.store(), [rep.returned(a)], { now: T0 + 40 }))[0]).toMatchObject({ ok: false, code: 'BATON_E_STALE_ATTEMPT' });
      const b = await assign(ctx.store(), j.id, { now: T0 + 50 });
      await report(ctx.store(), [rep.started(b)], { now: T0 + 60 });
      expect((await report(ctx.store(), [rep.returned(b)], { now: T0 + 70 }))[0]).toMatchObject({ ok: false, code: 'BATON_E_STALE_ATTEMPT' });
      expect(await mustGet(ctx.store(), j.id)).toMatchObject({ status: 'running', attempt: 2 });
    });

    it('refuses reports of a stale attempt after the job was reassigned, changing nothing', async () => {
      const [j] = await insert(ctx.store(), newJob({ maxRetries: 1 }));
      const first = await assign(ctx.store(), j.id, { workerId: 'w1', leaseMs: 10 });
      await ctx.store().leaseReapExpired({ now: T0 + 50, limit: 10, random: () => 0 });
      const second = await assign(ctx.store(), j.id, { workerId: 'w2', now: T0 + 60 });
      const out = await report(ctx.store(), [rep.started(first), rep.progress(first, 10), rep.log(first, 1, 'late'), rep.completed(first)], { workerId: 'w1', now: T0 + 70 });
      for (const o of out) expect(o).toMatchObject({ ok: false, code: 'BATON_E_STALE_ATTEMPT' });
      const got = await mustGet(ctx.store(), j.id);
      expect(got).toMatchObject({ status: 'assigned', attempt: 2, workerId: 'w2', leaseToken: second.leaseToken, progress: null });
      expect(await ctx.store().logList({ tenant: TENANT, jobId: j.id, afterSeq: 0, limit: 10 })).toEqual([]);
    });

    it('refuses a report with the wrong lease token and one for an unknown job', async () => {
      const [j] = await insert(ctx.store(), newJob());
      const a = await assign(ctx.store(), j.id);
      const forged = { ...a, leaseToken: 'forged' };
      const unknown = { ...a, id: newJob().id };
      const out = await report(ctx.store(), [rep.started(forged), rep.started(unknown)]);
      expect(out[0]).toMatchObject({ ok: false, code: 'BATON_E_STALE_ATTEMPT' });
      expect(out[1]).toMatchObject({ ok: false, code: 'BATON_E_NOT_FOUND' });
      expect((await mustGet(ctx.store(), j.id)).status).toBe('assigned');
    });

    it('does not let one bad report abort the others of its batch', async () => {
      const [x, y] = await insert(ctx.store(), newJob(), newJob());
      const ax = await assign(ctx.store(), x.id);
      const ay = await assign(ctx.store(), y.id);
      const out = await report(ctx.store(), [rep.started(ax), rep.completed({ ...ay, attempt: 7 }), rep.completed(ay), rep.progress(ax, 50)]);
      expect(out.map((o) => o.ok)).toEqual([true, false, true, true]);
      expect((await mustGet(ctx.store(), x.id)).progress).toBe(50);
      expect((await mustGet(ctx.store(), y.id)).status).toBe('completed');
    });

    it('applies several reports for the same jobs in one batch in order, interleaved', async () => {
      const [x, y] = await insert(ctx.store(), newJob(), newJob({ maxRetries: 1 }));
      const ax = await assign(ctx.store(), x.id);
      const ay = await assign(ctx.store(), y.id);
      const out = await report(ctx.store(), [
        rep.started(ax), rep.started(ay), rep.log(ax, 1, 'x1'), rep.progress(ax, 30), rep.failed(ay),
        rep.completed(ax, 'done'), rep.log(ax, 2, 'x2'), rep.progress(ay, 10), rep.log(ay, 1, 'late y'),
      ], { now: T0 + 7 });
      expect(out.map((o) => o.ok)).toEqual([true, true, true, true, true, true, true, false, true]);
      const gx = await mustGet(ctx.store(), x.id);
      expect(gx).toMatchObject({ status: 'completed', result: 'done', progress: 100, startedAt: T0 + 7, completedAt: T0 + 7 });
      expect(gx.attempts).toEqual([{ attempt: 1, workerId: 'w1', status: 'completed', assignedAt: T0, startedAt: T0 + 7, endedAt: T0 + 7, exitCode: 0, error: null }]);
      const gy = await mustGet(ctx.store(), y.id);
      expect(gy).toMatchObject({ status: 'scheduled', runAt: T0 + 1007, leaseToken: null });
      expect(gy.attempts[0]).toMatchObject({ status: 'failed', startedAt: T0 + 7, endedAt: T0 + 7, exitCode: 1, error: { code: 'exit_code' } });
      expect((await ctx.store().logList({ tenant: TENANT, jobId: x.id, afterSeq: 0, limit: 10 })).map((l) => l.data)).toEqual(['x1', 'x2']);
      expect((await ctx.store().logList({ tenant: TENANT, jobId: y.id, afterSeq: 0, limit: 10 })).map((l) => l.data)).toEqual(['late y']);
    });

    it('keeps completion exactly-once: a second outcome for the same attempt is refused', async () => {
      const [j] = await insert(ctx.store(), newJob());
      const a = await assign(ctx.store(), j.id);
      const out = await report(ctx.store(), [rep.completed(a, 1), rep.completed(a, 2), rep.failed(a)]);
      expect(out.map((o) => o.ok)).toEqual([true, false, false]);
      expect((await mustGet(ctx.store(), j.id)).result).toBe(1);
    });
  });

  describe('logs', () => {
    it('stores log chunks once, keeps late lines of the finished current attempt, and pages by seq', async () => {
      const [j] = await insert(ctx.store(), newJob());
      const a = await assign(ctx.store(), j.id);
      const out = await report(ctx.store(), [rep.log(a, 1, 'one'), rep.log(a, 2, 'two', 'stderr'), rep.log(a, 1, 'one again')], { now: T0 + 1 });
      expect(out).toEqual([{ ok: true, job: null }, { ok: true, job: null }, { ok: true, job: null }]);
      await report(ctx.store(), [rep.completed(a), rep.log(a, 3, 'three')], { now: T0 + 2 });
      const logs = await ctx.store().logList({ tenant: TENANT, jobId: j.id, afterSeq: 0, limit: 100 });
      expect(logs.map((l) => [l.data, l.stream, l.attempt])).toEqual([['one', 'stdout', 1], ['two', 'stderr', 1], ['three', 'stdout', 1]]);
      expect(logs[0]).toMatchObject({ jobId: j.id, at: T0 + 1 });
      expect(logs[0].seq).toBeLessThan(logs[1].seq);
      const rest = await ctx.store().logList({ tenant: TENANT, jobId: j.id, afterSeq: logs[0].seq, limit: 1 });
      expect(rest.map((l) => l.data)).toEqual(['two']);
      expect(await ctx.store().logList({ tenant: OTHER, jobId: j.id, afterSeq: 0, limit: 100 })).toEqual([]);
    });

    it('continues seq across attempts so afterSeq pagination never goes back', async () => {
      const [j] = await insert(ctx.store(), newJob({ maxRetries: 1 }));
      const a1 = await assign(ctx.store(), j.id);
      await report(ctx.store(), [rep.log(a1, 1, 'a1'), rep.failed(a1)]);
      await ctx.store().jobPromoteDue({ now: T0 + 60_000, limit: 10 });
      const a2 = await assign(ctx.store(), j.id, { now: T0 + 60_000 });
      await report(ctx.store(), [rep.log(a2, 1, 'a2')]);
      const logs = await ctx.store().logList({ tenant: TENANT, jobId: j.id, afterSeq: 0, limit: 100 });
      expect(logs.map((l) => [l.attempt, l.data])).toEqual([[1, 'a1'], [2, 'a2']]);
      expect(logs[1].seq).toBeGreaterThan(logs[0].seq);
    });
  });

  describe('leases', () => {
    it('extends valid leases and names the lost ones', async () => {
      const [j, k, c] = await insert(ctx.store(), newJob(), newJob(), newJob());
      const a = await assign(ctx.store(), j.id);
      const b = await assign(ctx.store(), k.id);
      const cc = await assign(ctx.store(), c.id, { workerId: 'w2' });
      await ctx.store().jobApply({ tenant: TENANT, id: k.id, event: { type: 'cancel', reason: 'r' }, now: T0 });
      const leases = [a, b, cc].map((x) => ({ jobId: x.id, attempt: x.attempt, leaseToken: x.leaseToken! }));
      const { lost } = await ctx.store().leaseExtend({ workerId: 'w1', leases, leaseExpiresAt: T0 + 99_000, now: T0 + 1 });
      expect(lost).toEqual([leases[1], leases[2]]);
      expect((await mustGet(ctx.store(), j.id)).leaseExpiresAt).toBe(T0 + 99_000);
      expect((await mustGet(ctx.store(), c.id)).leaseExpiresAt).toBe(T0 + 10_000);
    });

    it('reaps an expired lease back to pending, counting the attempt', async () => {
      const [j, keep] = await insert(ctx.store(), newJob({ maxRetries: 1 }), newJob());
      await assign(ctx.store(), j.id, { leaseMs: 100 });
      await assign(ctx.store(), keep.id, { leaseMs: 10_000 });
      const reaped = await ctx.store().leaseReapExpired({ now: T0 + 101, limit: 10, random: () => 0 });
      expect(reaped.map((r) => [r.id, r.status])).toEqual([[j.id, 'pending']]);
      const got = await mustGet(ctx.store(), j.id);
      expect(got).toMatchObject({ status: 'pending', attempt: 1, workerId: null, leaseToken: null, error: { code: 'BATON_E_LEASE_EXPIRED' } });
      expect(got.attempts[0].status).toBe('lost');
      expect((await mustGet(ctx.store(), keep.id)).status).toBe('assigned');
      expect(await ctx.store().leaseReapExpired({ now: T0 + 101, limit: 10, random: () => 0 })).toEqual([]);
    });

    it('fails a job whose leases expired beyond its retries plus the lost-lease allowance', async () => {
      const [j] = await insert(ctx.store(), newJob({ maxRetries: 0 }));
      let last: Job | undefined;
      // Each loss returns the job to pending until maxRetries + 1 + LOST_LEASE_ALLOWANCE attempts are used.
      for (let i = 0; i <= LOST_LEASE_ALLOWANCE; i++) {
        const a = await assign(ctx.store(), j.id, { leaseMs: 100 });
        await report(ctx.store(), [rep.started(a)]);
        [last] = await ctx.store().leaseReapExpired({ now: T0 + 200, limit: 10, random: () => 0 });
        expect(last.status).toBe(i < LOST_LEASE_ALLOWANCE ? 'pending' : 'failed');
      }
      expect(last).toMatchObject({ id: j.id, status: 'failed', attempt: 1 + LOST_LEASE_ALLOWANCE, completedAt: T0 + 200 });
    });
  });
}

/**
 * Contract: inserting, reading, listing and changing jobs (insert, idempotency, all-or-nothing
 * batches, tenant isolation, list filters and pages, client events through jobApply).
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_BACKOFF } from '../../core/retry.ts';
import type { Job } from '../../core/types.ts';
import { audit, insert, mustGet, newJob, OTHER, rejectsWith, T0, TENANT, type ContractContext } from './fixtures.ts';

async function listAll(ctx: ContractContext, filter: Record<string, unknown> = {}, limit = 1000): Promise<Job[]> {
  const out: Job[] = [];
  let cursor: string | null = null;
  do {
    const page = await ctx.store().jobList({ tenant: TENANT, limit, cursor, ...filter });
    out.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor !== null);
  return out;
}

/** Declares the job contract tests. */
export function jobsContract(ctx: ContractContext): void {
  describe('jobInsertMany / jobGet', () => {
    it('stores every field and returns the jobs in input order', async () => {
      const a = newJob({ name: 'a', priority: 9, tags: ['x', 'y'], metadata: { m: 1 }, payload: { argv: ['echo', 'hi'] }, timeoutMs: 5000 });
      const b = newJob({ status: 'scheduled', runAt: T0 + 60_000, requirements: { labels: { gpu: 'yes' }, cpu: 1.5, memoryMb: 512 } });
      const res = await ctx.store().jobInsertMany({ jobs: [a, b] });
      expect(res.existed).toEqual([false, false]);
      expect(res.jobs.map((j) => j.id)).toEqual([a.id, b.id]);
      const got = await mustGet(ctx.store(), a.id);
      expect(got).toMatchObject({ ...a, attempt: 0, attemptBase: 0, leaseToken: null, workerId: null, result: null, error: null, updatedAt: T0, attempts: [] });
      expect(await mustGet(ctx.store(), b.id)).toMatchObject({ status: 'scheduled', runAt: T0 + 60_000, requirements: b.requirements });
    });

    it('returns null for an unknown id', async () => {
      expect(await ctx.store().jobGet({ tenant: TENANT, id: newJob().id })).toBeNull();
    });

    it('accepts an empty batch', async () => {
      expect(await ctx.store().jobInsertMany({ jobs: [] })).toEqual({ jobs: [], existed: [] });
    });

    it('returns the existing job for a repeated idempotency key, across calls and within one batch', async () => {
      const first = newJob({ idempotencyKey: 'k1', name: 'first' });
      await insert(ctx.store(), first);
      const again = newJob({ idempotencyKey: 'k1', name: 'again' });
      const twiceA = newJob({ idempotencyKey: 'k2', name: 'a' });
      const twiceB = newJob({ idempotencyKey: 'k2', name: 'b' });
      const res = await ctx.store().jobInsertMany({ jobs: [again, twiceA, twiceB] });
      expect(res.existed).toEqual([true, false, true]);
      expect(res.jobs.map((j) => j.id)).toEqual([first.id, twiceA.id, twiceA.id]);
      expect(res.jobs[0].name).toBe('first');
      expect(await ctx.store().jobGet({ tenant: TENANT, id: again.id })).toBeNull();
      expect(await ctx.store().jobGet({ tenant: TENANT, id: twiceB.id })).toBeNull();
    });

    it('scopes idempotency keys to the tenant', async () => {
      const res = await ctx.store().jobInsertMany({ jobs: [newJob({ idempotencyKey: 'k' }), newJob({ tenant: OTHER, idempotencyKey: 'k' })] });
      expect(res.existed).toEqual([false, false]);
    });

    it('lands a batch all or nothing: a failing row leaves none of the batch behind', async () => {
      const taken = newJob();
      await insert(ctx.store(), taken);
      const batch = [newJob({ queue: 'fresh', tags: ['t'] }), newJob({ idempotencyKey: 'new-key' }), { ...newJob(), id: taken.id }, newJob()];
      await rejectsWith(ctx.store().jobInsertMany({ jobs: batch, audit: audit('job.create', 'job', null) }), 'BATON_E_CONFLICT');
      for (const j of batch) if (j.id !== taken.id) expect(await ctx.store().jobGet({ tenant: TENANT, id: j.id })).toBeNull();
      expect((await listAll(ctx)).map((j) => j.id)).toEqual([taken.id]);
      expect((await ctx.store().queueList({ tenant: TENANT })).map((q) => q.name)).not.toContain('fresh');
      expect((await ctx.store().auditList({ tenant: TENANT, limit: 10 })).items).toEqual([]);
      // The key of the failed batch is free again.
      expect((await ctx.store().jobInsertMany({ jobs: [newJob({ idempotencyKey: 'new-key' })] })).existed).toEqual([false]);
    });

    it('reads back default and near-default JSON fields exactly, each job with objects of its own', async () => {
      const none = { labels: {}, cpu: 0, memoryMb: 0 };
      const jobs = [
        newJob({ backoff: { ...DEFAULT_BACKOFF }, requirements: { ...none }, tags: [], metadata: {} }),
        newJob({ backoff: { ...DEFAULT_BACKOFF, jitter: 0.3 }, requirements: { ...none, cpu: 0.5 }, tags: ['a'], metadata: { k: {} } }),
        newJob({ backoff: { jitter: DEFAULT_BACKOFF.jitter, factor: DEFAULT_BACKOFF.factor, maxMs: DEFAULT_BACKOFF.maxMs, initialMs: DEFAULT_BACKOFF.initialMs } }),
        newJob({ requirements: { labels: { zone: 'a' }, cpu: 0, memoryMb: 0 }, metadata: { '': null } }),
        newJob({ backoff: { ...DEFAULT_BACKOFF }, requirements: { ...none } }),
      ];
      await insert(ctx.store(), ...jobs);
      const got = await Promise.all(jobs.map((j) => mustGet(ctx.store(), j.id)));
      const json = (j: Pick<Job, 'backoff' | 'requirements' | 'tags' | 'metadata'>) => ({ backoff: j.backoff, requirements: j.requirements, tags: j.tags, metadata: j.metadata });
      got.forEach((g, i) => expect(json(g)).toEqual(json(jobs[i])));
      // Changing one job's objects (as a caller may) changes no other job read.
      got[0].backoff.maxMs = 1;
      got[0].requirements.labels.x = 'y';
      got[0].tags.push('z');
      got[0].metadata.m = 1;
      const again = (await ctx.store().jobList({ tenant: TENANT, limit: 10 })).items.find((j) => j.id === jobs[4].id)!;
      expect(json(again)).toEqual({ backoff: DEFAULT_BACKOFF, requirements: none, tags: [], metadata: {} });
      expect(json(await mustGet(ctx.store(), jobs[0].id))).toEqual({ backoff: DEFAULT_BACKOFF, requirements: none, tags: [], metadata: {} });
    });

    it('lands a large batch all or nothing: a taken id far into it, or an id given twice in it', async () => {
      const taken = newJob();
      await insert(ctx.store(), taken);
      // Well past the first rows, so an engine writing many rows per statement fails in a later one.
      const late = Array.from({ length: 130 }, (_, i) => newJob({ tags: [`t${i % 3}`], ...(i === 5 ? { concurrencyKey: 'k' } : {}) }));
      late[117] = { ...late[117], id: taken.id };
      await rejectsWith(ctx.store().jobInsertMany({ jobs: late }), 'BATON_E_CONFLICT');
      const twice = Array.from({ length: 75 }, () => newJob());
      twice[60] = { ...twice[60], id: twice[3].id };
      await rejectsWith(ctx.store().jobInsertMany({ jobs: twice }), 'BATON_E_CONFLICT');
      expect((await listAll(ctx)).map((j) => j.id)).toEqual([taken.id]);
      const ok = await ctx.store().jobInsertMany({ jobs: late.filter((j) => j.id !== taken.id) });
      expect(ok.existed.every((e) => !e)).toBe(true);
      expect(await mustGet(ctx.store(), late[5].id)).toMatchObject({ id: late[5].id, concurrencyKey: 'k', concurrencyLimit: 1, tags: ['t2'] });
      expect(await listAll(ctx, { tag: 't1' })).toHaveLength(43);
    });

    it('lands a batch without idempotency keys all or nothing too: its tags, queues and audit rows go with it', async () => {
      const taken = newJob();
      await insert(ctx.store(), taken);
      const batch = [newJob({ queue: 'fresh', tags: ['t'] }), { ...newJob({ tags: ['u'] }), id: taken.id }, newJob({ queue: 'fresh2' })];
      await rejectsWith(ctx.store().jobInsertMany({ jobs: batch, audits: batch.map((j) => audit('job.submit', 'job', j.id)) }), 'BATON_E_CONFLICT');
      expect((await listAll(ctx)).map((j) => j.id)).toEqual([taken.id]);
      expect(await listAll(ctx, { tag: 't' })).toEqual([]);
      expect((await ctx.store().queueList({ tenant: TENANT })).map((q) => q.name).filter((n) => n.startsWith('fresh'))).toEqual([]);
      expect((await ctx.store().auditList({ tenant: TENANT, limit: 10 })).items).toEqual([]);
    });

    it('writes one audit row per call, stamped with the jobs creation time', async () => {
      await ctx.store().jobInsertMany({ jobs: [newJob(), newJob()], audit: audit('job.create', 'job', null, { count: 2 }) });
      const { items } = await ctx.store().auditList({ tenant: TENANT, limit: 10 });
      expect(items).toHaveLength(1);
      expect(items[0]).toMatchObject({ tenant: TENANT, action: 'job.create', targetType: 'job', at: T0, detail: { count: 2 } });
    });

    it('writes a per-job audit row in each job\'s tenant (group commit), also for a repeated key', async () => {
      const a = newJob({ idempotencyKey: 'ga' });
      const b = newJob({ tenant: OTHER });
      const again = newJob({ idempotencyKey: 'ga' });
      const res = await ctx.store().jobInsertMany({
        jobs: [a, b, again, newJob()],
        audits: [audit('job.submit', 'job', a.id), audit('job.submit', 'job', b.id), audit('job.submit', 'job', again.id), undefined],
      });
      expect(res.existed).toEqual([false, false, true, false]);
      const mine = (await ctx.store().auditList({ tenant: TENANT, limit: 10 })).items;
      expect(mine.map((e) => e.targetId).sort()).toEqual([a.id, again.id].sort());
      const other = (await ctx.store().auditList({ tenant: OTHER, limit: 10 })).items;
      expect(other).toHaveLength(1);
      expect(other[0]).toMatchObject({ tenant: OTHER, action: 'job.submit', targetId: b.id, at: b.createdAt });
    });

    it('writes the audit rows of a large group in the jobs\' order, each with its own detail', async () => {
      const jobs = Array.from({ length: 123 }, () => newJob());
      await ctx.store().jobInsertMany({ jobs, audits: jobs.map((j, i) => (i === 7 ? undefined : audit('job.submit', 'job', j.id, { n: i }))) });
      const items: { targetId: string | null; detail: unknown }[] = [];
      let cursor: string | null = null;
      do {
        const page: Awaited<ReturnType<ReturnType<typeof ctx.store>['auditList']>> = await ctx.store().auditList({ tenant: TENANT, limit: 50, cursor });
        items.push(...page.items);
        cursor = page.nextCursor;
      } while (cursor);
      // Newest first: the reverse of the order written.
      const expected = jobs.map((j, i) => ({ targetId: j.id, detail: { n: i } })).filter((_, i) => i !== 7).reverse();
      expect(items.map((e) => ({ targetId: e.targetId, detail: e.detail }))).toEqual(expected);
    });

    it('inserts 10,000 jobs in one call', async () => {
      const jobs = Array.from({ length: 10_000 }, (_, i) => newJob({ name: `j${i}`, tags: i % 2 ? ['odd'] : [] }));
      const res = await ctx.store().jobInsertMany({ jobs });
      expect(res.jobs).toHaveLength(10_000);
      const page = await ctx.store().jobList({ tenant: TENANT, tag: 'odd', limit: 1000 });
      expect(page.items).toHaveLength(1000);
      expect(page.nextCursor).not.toBeNull();
    });
  });

  describe('jobList', () => {
    it('lists newest first and pages with a cursor without gaps or repeats', async () => {
      const jobs = Array.from({ length: 7 }, () => newJob());
      await insert(ctx.store(), ...jobs);
      const page1 = await ctx.store().jobList({ tenant: TENANT, limit: 3 });
      expect(page1.items.map((j) => j.id)).toEqual([jobs[6].id, jobs[5].id, jobs[4].id]);
      expect(page1.nextCursor).not.toBeNull();
      expect((await listAll(ctx, {}, 3)).map((j) => j.id)).toEqual(jobs.map((j) => j.id).reverse());
      const exact = await ctx.store().jobList({ tenant: TENANT, limit: 7 });
      expect(exact.nextCursor).toBeNull();
    });

    it('filters by status, queue, type and tag, alone and together', async () => {
      const a = newJob({ queue: 'q1', tags: ['red'] });
      const b = newJob({ queue: 'q2', type: 'http', payload: { url: 'http://x' }, tags: ['red', 'blue'] });
      const c = newJob({ queue: 'q1', status: 'scheduled', runAt: T0 + 1000, tags: ['blue'] });
      await insert(ctx.store(), a, b, c);
      const ids = async (f: Record<string, unknown>) => (await listAll(ctx, f)).map((j) => j.id);
      expect(await ids({ status: 'pending' })).toEqual([b.id, a.id]);
      expect(await ids({ queue: 'q1' })).toEqual([c.id, a.id]);
      expect(await ids({ type: 'http' })).toEqual([b.id]);
      expect(await ids({ tag: 'red' })).toEqual([b.id, a.id]);
      expect(await ids({ tag: 'blue', queue: 'q1' })).toEqual([c.id]);
      expect(await ids({ tag: 'red', status: 'scheduled' })).toEqual([]);
      expect((await listAll(ctx, { tag: 'blue' }, 1)).map((j) => j.id)).toEqual([c.id, b.id]);
    });

    it('refuses a limit outside 1..1000 and a cursor it did not make', async () => {
      await rejectsWith(ctx.store().jobList({ tenant: TENANT, limit: 0 }), 'BATON_E_VALIDATION');
      await rejectsWith(ctx.store().jobList({ tenant: TENANT, limit: 1001 }), 'BATON_E_VALIDATION');
      await rejectsWith(ctx.store().jobList({ tenant: TENANT, limit: 10, cursor: '***' }), 'BATON_E_VALIDATION');
    });
  });

  describe('tenant isolation', () => {
    it('hides another tenant\'s jobs from get, list, apply, logs and queues', async () => {
      const theirs = newJob({ tenant: OTHER, queue: 'secret', tags: ['t'] });
      await insert(ctx.store(), theirs);
      expect(await ctx.store().jobGet({ tenant: TENANT, id: theirs.id })).toBeNull();
      expect((await ctx.store().jobList({ tenant: TENANT, limit: 10 })).items).toEqual([]);
      expect((await ctx.store().jobList({ tenant: TENANT, tag: 't', limit: 10 })).items).toEqual([]);
      await rejectsWith(ctx.store().jobApply({ tenant: TENANT, id: theirs.id, event: { type: 'cancel', reason: 'x' }, now: T0 }), 'BATON_E_NOT_FOUND');
      expect(await ctx.store().logList({ tenant: TENANT, jobId: theirs.id, afterSeq: 0, limit: 10 })).toEqual([]);
      expect(await ctx.store().queueList({ tenant: TENANT })).toEqual([]);
      expect(await ctx.store().jobListReady({ tenants: [TENANT], types: ['command'], limit: 10 })).toEqual([]);
      expect((await mustGet(ctx.store(), theirs.id, OTHER)).status).toBe('pending');
    });
  });

  describe('jobApply', () => {
    it('cancels a pending job and records the reason and an audit row', async () => {
      const [j] = await insert(ctx.store(), newJob());
      const { before, after } = await ctx.store().jobApply({
        tenant: TENANT, id: j.id, event: { type: 'cancel', reason: 'cancelled_by_user' }, now: T0 + 5, audit: audit('job.cancel', 'job', j.id),
      });
      expect(before.status).toBe('pending');
      expect(after).toMatchObject({ status: 'cancelled', reason: 'cancelled_by_user', completedAt: T0 + 5 });
      expect(await mustGet(ctx.store(), j.id)).toMatchObject({ status: 'cancelled', reason: 'cancelled_by_user' });
      expect((await ctx.store().auditList({ tenant: TENANT, limit: 5 })).items[0]).toMatchObject({ action: 'job.cancel', targetId: j.id, at: T0 + 5 });
    });

    it('refuses to cancel an ended job and to retry a pending one (409 codes), changing nothing', async () => {
      const [j] = await insert(ctx.store(), newJob());
      await rejectsWith(ctx.store().jobApply({ tenant: TENANT, id: j.id, event: { type: 'retry' }, now: T0 }), 'BATON_E_JOB_NOT_RETRYABLE');
      await ctx.store().jobApply({ tenant: TENANT, id: j.id, event: { type: 'cancel', reason: 'r' }, now: T0 });
      await rejectsWith(ctx.store().jobApply({ tenant: TENANT, id: j.id, event: { type: 'cancel', reason: 'r' }, now: T0 }), 'BATON_E_JOB_NOT_CANCELLABLE');
      await rejectsWith(ctx.store().jobApply({ tenant: TENANT, id: j.id, event: { type: 'modify', patch: { priority: 1 } }, now: T0 }), 'BATON_E_JOB_NOT_MODIFIABLE');
      expect((await mustGet(ctx.store(), j.id)).priority).toBe(5);
      await rejectsWith(ctx.store().jobApply({ tenant: TENANT, id: newJob().id, event: { type: 'retry' }, now: T0 }), 'BATON_E_NOT_FOUND');
    });

    it('modifies spec fields, moves the job to a new queue and tags, and reschedules it', async () => {
      const [j] = await insert(ctx.store(), newJob({ tags: ['old'] }));
      const { after } = await ctx.store().jobApply({
        tenant: TENANT, id: j.id, now: T0 + 1, event: { type: 'modify', patch: { priority: 8, queue: 'moved', tags: ['new'], runAt: T0 + 60_000 } },
      });
      expect(after).toMatchObject({ priority: 8, queue: 'moved', tags: ['new'], status: 'scheduled', runAt: T0 + 60_000 });
      expect(await mustGet(ctx.store(), j.id)).toMatchObject({ priority: 8, queue: 'moved', tags: ['new'], status: 'scheduled' });
      expect((await ctx.store().queueList({ tenant: TENANT })).map((q) => q.name)).toContain('moved');
      expect((await listAll(ctx, { tag: 'new' })).map((x) => x.id)).toEqual([j.id]);
      expect(await listAll(ctx, { tag: 'old' })).toEqual([]);
      expect(await ctx.store().jobNextRunAt()).toBe(T0 + 60_000);
    });

    it('retries a cancelled job into pending with a fresh retry budget', async () => {
      const [j] = await insert(ctx.store(), newJob());
      await ctx.store().jobApply({ tenant: TENANT, id: j.id, event: { type: 'cancel', reason: 'r' }, now: T0 });
      const { after } = await ctx.store().jobApply({ tenant: TENANT, id: j.id, event: { type: 'retry' }, now: T0 + 10 });
      expect(after).toMatchObject({ status: 'pending', runAt: T0 + 10, reason: null, completedAt: null, priority: 5 });
      expect((await mustGet(ctx.store(), j.id)).status).toBe('pending');
    });
  });

  describe('jobPromoteDue / jobNextRunAt', () => {
    it('promotes only the scheduled jobs that are due, at most `limit` per call', async () => {
      const due1 = newJob({ status: 'scheduled', runAt: T0 + 100 });
      const due2 = newJob({ status: 'scheduled', runAt: T0 + 200 });
      const later = newJob({ status: 'scheduled', runAt: T0 + 10_000 });
      await insert(ctx.store(), due1, due2, later);
      expect(await ctx.store().jobNextRunAt()).toBe(T0 + 100);
      expect(await ctx.store().jobPromoteDue({ now: T0 + 500, limit: 1 })).toBe(1);
      expect((await mustGet(ctx.store(), due1.id)).status).toBe('pending');
      expect(await ctx.store().jobPromoteDue({ now: T0 + 500, limit: 10 })).toBe(1);
      expect((await mustGet(ctx.store(), due2.id)).status).toBe('pending');
      expect((await mustGet(ctx.store(), later.id)).status).toBe('scheduled');
      expect(await ctx.store().jobPromoteDue({ now: T0 + 500, limit: 10 })).toBe(0);
      expect(await ctx.store().jobNextRunAt()).toBe(T0 + 10_000);
    });

    it('has no next run time without scheduled jobs', async () => {
      await insert(ctx.store(), newJob());
      expect(await ctx.store().jobNextRunAt()).toBeNull();
    });
  });
}

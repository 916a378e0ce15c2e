/**
 * Contract: job graphs (dependencies, releases in the transaction that ends the last parent,
 * upstream_failed cascades, compensation jobs once), priority inheritance in the ready order,
 * uniqueKey deduplication, idempotency retention, bulk operations and templates.
 */
import { v7 } from 'uuid';
import { describe, expect, it } from 'vitest';
import type { NewJob } from '../../core/spec.ts';
import type { JobSpec } from '../../core/types.ts';
import type { JobInsertExtra, Store } from '../types.ts';
import { assign, audit, mustGet, newJob, rejectsWith, rep, report, T0, TENANT, type ContractContext } from './fixtures.ts';

/** Inserts a graph: each entry is [ref, parents refs (success), extra]. */
async function graph(store: Store, spec: [string, string[], Partial<JobInsertExtra>?, Partial<NewJob>?][], graphOnFailure?: JobSpec) {
  const ids = new Map(spec.map(([ref]) => [ref, v7()]));
  const jobs = spec.map(([ref, parents, , over]) => newJob({ id: ids.get(ref)!, name: ref, status: parents.length > 0 ? 'blocked' : 'pending', ...over }));
  const extras = spec.map(([ref, parents, extra]): JobInsertExtra => ({ ref, dependsOn: parents.map((p) => ({ job: ids.get(p)!, on: 'success' as const, ref: p })), ...extra }));
  const res = await store.jobInsertMany({ jobs, extras, ...(graphOnFailure ? { graphOnFailure } : {}) });
  return Object.fromEntries(spec.map(([ref], i) => [ref, res.jobs[i]]));
}

async function complete(store: Store, id: string, result: unknown = { ok: true }) {
  const j = await assign(store, id);
  const [o] = await report(store, [rep.completed(j, result)]);
  expect(o.ok).toBe(true);
}

async function fail(store: Store, id: string) {
  const j = await assign(store, id);
  const [o] = await report(store, [rep.failed(j)]);
  expect(o.ok).toBe(true);
}

const COMPENSATE: JobSpec = { ...newJob({ name: 'rollback' }), payload: { argv: ['rollback'] } };

/** Registers the workflow contract tests. */
export function workflowsContract(ctx: ContractContext): void {
  describe('workflows', () => {
    it('a diamond releases each job in the transaction that ends its last parent, and children read their parents', async () => {
      const s = ctx.store();
      const g = await graph(s, [['a', []], ['b', ['a']], ['c', ['a']], ['d', ['b', 'c']]]);
      expect([g.a.status, g.b.status, g.c.status, g.d.status]).toEqual(['pending', 'blocked', 'blocked', 'blocked']);
      expect(g.a.graphId).toBeTruthy();
      expect(new Set(Object.values(g).map((j) => j.graphId)).size).toBe(1);
      await complete(s, g.a.id, { n: 1 });
      expect((await mustGet(s, g.b.id)).status).toBe('pending');
      expect((await mustGet(s, g.c.id)).status).toBe('pending');
      await complete(s, g.b.id, { from: 'b' });
      expect((await mustGet(s, g.d.id)).status).toBe('blocked');
      await complete(s, g.c.id, { from: 'c' });
      expect((await mustGet(s, g.d.id)).status).toBe('pending');
      const parents = (await s.jobParents({ jobIds: [g.d.id, g.a.id] })).get(g.d.id)!;
      expect(parents.map((p) => [p.ref, p.status, p.result]).sort()).toEqual([['b', 'completed', { from: 'b' }], ['c', 'completed', { from: 'c' }]]);
      const view = await s.jobGraph({ tenant: TENANT, id: g.b.id });
      expect(view.nodes).toHaveLength(4);
      expect(view.nodes.find((n) => n.id === g.d.id)!.dependsOn).toHaveLength(2);
      expect(view.nodes.find((n) => n.id === g.d.id)!.ref).toBe('d');
      await rejectsWith(s.jobGraph({ tenant: 'globex', id: g.b.id }), 'BATON_E_NOT_FOUND');
    });

    it('a failed parent cancels the descendants that can no longer run (upstream_failed) and fires compensation once', async () => {
      const s = ctx.store();
      const g = await graph(s, [['a', [], { onFailure: COMPENSATE }], ['b', ['a']], ['c', []], ['d', ['b', 'c']], ['e', ['c']]], COMPENSATE);
      await fail(s, g.a.id);
      for (const r of ['b', 'd']) expect(await mustGet(s, g[r].id)).toMatchObject({ status: 'cancelled', reason: 'upstream_failed' });
      expect((await mustGet(s, g.e.id)).status).toBe('blocked');
      const page = await s.jobList({ tenant: TENANT, limit: 100 });
      const rollbacks = page.items.filter((j) => j.name === 'rollback');
      // One for the job's own onFailure, one for the graph's.
      expect(rollbacks).toHaveLength(2);
      expect(rollbacks.every((j) => j.status === 'pending' && j.metadata.onFailureOf === g.a.id)).toBe(true);
      // A second failure in the same graph does not fire the graph's compensation again.
      await fail(s, g.c.id);
      expect((await mustGet(s, g.e.id)).status).toBe('cancelled');
      expect((await s.jobList({ tenant: TENANT, limit: 100 })).items.filter((j) => j.name === 'rollback')).toHaveLength(2);
    });

    it('releases a child added to a running parent later, when one report batch ends that parent and a job without dependents', async () => {
      const s = ctx.store();
      const [parent, loner] = (await s.jobInsertMany({ jobs: [newJob(), newJob()] })).jobs;
      const p = await assign(s, parent.id);
      const l = await assign(s, loner.id);
      const child = newJob({ status: 'blocked' });
      await s.jobInsertMany({ jobs: [child], extras: [{ dependsOn: [{ job: parent.id, on: 'success', ref: 'p' }] }] });
      expect((await mustGet(s, child.id)).status).toBe('blocked');
      const outcomes = await report(s, [rep.started(l), rep.completed(l), rep.started(p), rep.completed(p)]);
      expect(outcomes.every((o) => o.ok)).toBe(true);
      expect((await mustGet(s, child.id)).status).toBe('pending');
      expect((await mustGet(s, loner.id)).status).toBe('completed');
    });

    it('cancel and completion edges: a cancelled parent releases `completion` children and cancels `success` ones', async () => {
      const s = ctx.store();
      const p = (await s.jobInsertMany({ jobs: [newJob()] })).jobs[0];
      const kids = [newJob({ status: 'blocked' }), newJob({ status: 'blocked' })];
      const res = await s.jobInsertMany({
        jobs: kids,
        extras: [{ dependsOn: [{ job: p.id, on: 'completion', ref: null }] }, { dependsOn: [{ job: p.id, on: 'success', ref: null }] }],
      });
      expect(res.jobs.map((j) => j.status)).toEqual(['blocked', 'blocked']);
      await s.jobApply({ tenant: TENANT, id: p.id, event: { type: 'cancel', reason: 'x' }, now: T0 + 1, audit: audit('job.cancel', 'job', p.id) });
      expect((await mustGet(s, kids[0].id)).status).toBe('pending');
      expect(await mustGet(s, kids[1].id)).toMatchObject({ status: 'cancelled', reason: 'upstream_failed' });
      // Depending on a job that already ended decides at insert.
      const late = await s.jobInsertMany({ jobs: [newJob({ status: 'blocked' }), newJob({ status: 'blocked' })], extras: [{ dependsOn: [{ job: p.id, on: 'completion', ref: null }] }, { dependsOn: [{ job: p.id, on: 'failure', ref: null }] }] });
      expect(late.jobs.map((j) => j.status)).toEqual(['pending', 'cancelled']);
    });

    it('a blocked urgent child raises its unfinished parents in the ready order', async () => {
      const s = ctx.store();
      const other = (await s.jobInsertMany({ jobs: [newJob({ priority: 5 })] })).jobs[0];
      const g = await graph(s, [['slow', [], {}, { priority: 1 }], ['urgent', ['slow'], {}, { priority: 9 }]]);
      const ready = await s.jobListReady({ tenants: [TENANT], types: ['command'], limit: 10 });
      expect(ready.map((j) => j.id)).toEqual([g.slow.id, other.id]);
      expect(ready[0].priority).toBe(1);
    });

    it('an urgent child submitted later raises its existing parent and that parent\'s unfinished ancestors', async () => {
      const s = ctx.store();
      const other = (await s.jobInsertMany({ jobs: [newJob({ priority: 5 })] })).jobs[0];
      const g = await graph(s, [['root', [], {}, { priority: 1 }], ['mid', ['root'], {}, { priority: 1 }]]);
      let ready = await s.jobListReady({ tenants: [TENANT], types: ['command'], limit: 10 });
      expect(ready.map((j) => j.id)).toEqual([other.id, g.root.id]);
      // A later batch: the child names an existing blocked job, whose pending parent is raised too.
      const res = await s.jobInsertMany({ jobs: [newJob({ status: 'blocked', priority: 9 })], extras: [{ dependsOn: [{ job: g.mid.id, on: 'success', ref: null }] }] });
      expect(res.jobs[0].status).toBe('blocked');
      ready = await s.jobListReady({ tenants: [TENANT], types: ['command'], limit: 10 });
      expect(ready.map((j) => j.id)).toEqual([g.root.id, other.id]);
      // A second, less urgent child raises nothing.
      await s.jobInsertMany({ jobs: [newJob({ status: 'blocked', priority: 6 })], extras: [{ dependsOn: [{ job: g.mid.id, on: 'success', ref: null }] }] });
      expect((await s.jobListReady({ tenants: [TENANT], types: ['command'], limit: 10 })).map((j) => j.id)).toEqual([g.root.id, other.id]);
    });

    it('uniqueKey refuses (or returns) a second job while the first has not ended', async () => {
      const s = ctx.store();
      const first = (await s.jobInsertMany({ jobs: [newJob()], extras: [{ uniqueKey: 'k' }] })).jobs[0];
      expect(first.uniqueKey).toBe('k');
      await rejectsWith(s.jobInsertMany({ jobs: [newJob()], extras: [{ uniqueKey: 'k' }] }), 'BATON_E_DUPLICATE');
      const again = await s.jobInsertMany({ jobs: [newJob()], extras: [{ uniqueKey: 'k', onDuplicate: 'return' }] });
      expect(again.jobs[0].id).toBe(first.id);
      expect(again.existed).toEqual([true]);
      await complete(s, first.id);
      const next = await s.jobInsertMany({ jobs: [newJob()], extras: [{ uniqueKey: 'k' }] });
      expect(next.existed).toEqual([false]);
    });

    it('an idempotency key older than the retention window creates a new job', async () => {
      const s = ctx.store();
      const a = (await s.jobInsertMany({ jobs: [newJob({ idempotencyKey: 'i' })] })).jobs[0];
      const same = await s.jobInsertMany({ jobs: [newJob({ idempotencyKey: 'i', createdAt: T0 + 500 })], idempotencyRetentionMs: 1000 });
      expect(same.jobs[0].id).toBe(a.id);
      const later = await s.jobInsertMany({ jobs: [newJob({ idempotencyKey: 'i', createdAt: T0 + 5000 })], idempotencyRetentionMs: 1000 });
      expect(later.existed).toEqual([false]);
      expect(later.jobs[0].id).not.toBe(a.id);
    });

    it('bulk cancel, retry and delete by filter and by ids, in small batches', async () => {
      const s = ctx.store();
      const jobs = Array.from({ length: 25 }, (_, i) => newJob({ queue: i < 20 ? 'bulk' : 'other', tags: i % 2 === 0 ? ['even'] : [] }));
      await s.jobInsertMany({ jobs });
      const running = await assign(s, jobs[0].id);
      const c = await s.jobBulk({ tenant: TENANT, action: 'cancel', filter: { queue: 'bulk' }, now: T0 + 1, batchSize: 7, audit: audit('job.bulk_cancel', 'job', null) });
      expect(c).toMatchObject({ affected: 20, skipped: 0 });
      expect(c.stopped).toEqual([{ jobId: running.id, workerId: 'w1', attempt: 1 }]);
      expect((await s.jobBulk({ tenant: TENANT, action: 'cancel', filter: { queue: 'bulk' }, now: T0 + 2 })).affected).toBe(0);
      const r = await s.jobBulk({ tenant: TENANT, action: 'retry', filter: { tag: 'even', queue: 'bulk' }, now: T0 + 3, batchSize: 3 });
      expect(r).toMatchObject({ affected: 10, skipped: 0 });
      const d = await s.jobBulk({ tenant: TENANT, action: 'delete', ids: jobs.slice(0, 4).map((j) => j.id), now: T0 + 4 });
      // Jobs 0 and 2 were retried (pending again): skipped; 1 and 3 are cancelled: deleted.
      expect(d).toMatchObject({ affected: 2, skipped: 2 });
      expect(await s.jobGet({ tenant: TENANT, id: jobs[1].id })).toBeNull();
      expect((await s.jobBulk({ tenant: 'globex', action: 'cancel', filter: {}, now: T0 })).affected).toBe(0);
    });

    it('templates: versions, latest, list and an all-or-nothing import', async () => {
      const s = ctx.store();
      const base = { tenant: TENANT, name: 'etl', description: null, paramsSchema: { type: 'object' }, now: T0 };
      expect((await s.templateCreate({ ...base, spec: { type: 'command' } })).version).toBe(1);
      expect((await s.templateCreate({ ...base, spec: { type: 'http' }, audit: audit('template.create', 'template', 'etl') })).version).toBe(2);
      await s.templateCreate({ ...base, name: 'zz', spec: {} });
      expect((await s.templateGet({ tenant: TENANT, name: 'etl', version: null }))!.spec).toEqual({ type: 'http' });
      expect((await s.templateGet({ tenant: TENANT, name: 'etl', version: 1 }))!.spec).toEqual({ type: 'command' });
      expect(await s.templateGet({ tenant: 'globex', name: 'etl', version: null })).toBeNull();
      expect((await s.templateList({ tenant: TENANT })).map((t) => `${t.name}@${t.version}`)).toEqual(['etl@2', 'zz@1']);
      expect((await s.templateVersions({ tenant: TENANT, name: 'etl' })).map((t) => t.version)).toEqual([1, 2]);
      const all = await s.templateVersions({ tenant: TENANT });
      const r = await s.templateImport({ tenant: 'globex', templates: all, now: T0 });
      expect(r).toEqual({ created: 3, skipped: 0 });
      expect(await s.templateImport({ tenant: 'globex', templates: all, now: T0 })).toEqual({ created: 0, skipped: 3 });
      await rejectsWith(s.templateImport({ tenant: 'globex', templates: [{ ...all[0], spec: { other: 1 } }, { ...all[0], name: 'new' }], now: T0 }), 'BATON_E_CONFLICT');
      expect(await s.templateGet({ tenant: 'globex', name: 'new', version: null })).toBeNull();
    });
  });
}

/**
 * Contract: queues and their counts, workers, tenants, tokens and the audit log.
 */
import { describe, expect, it } from 'vitest';
import type { TokenRecord, WorkerInfo } from '../../core/types.ts';
import { ACTOR, assign, audit, insert, newJob, OTHER, rejectsWith, T0, TENANT, type ContractContext } from './fixtures.ts';

function worker(over: Partial<WorkerInfo> = {}): WorkerInfo {
  return {
    id: 'w1', tenant: TENANT, name: 'box-1', host: 'box-1.local', types: ['command'], handlers: [], queues: ['*'],
    labels: { zone: 'a' }, capacity: 4, cpu: 2, memoryMb: 2048, region: 'eu', zone: 'eu-1a', status: 'active',
    registeredAt: T0, lastSeenAt: T0, ...over,
  };
}

function token(over: Partial<TokenRecord> = {}): TokenRecord {
  return { id: 'tok1', tenant: TENANT, name: 'ci', role: 'submitter', system: false, secretHash: 'ab'.repeat(32), createdAt: T0, lastUsedAt: null, ...over };
}

/** Declares the queue, worker, tenant, token and audit contract tests. */
export function adminContract(ctx: ContractContext): void {
  describe('queues', () => {
    it('lists the queues of a tenant by name with counts per status', async () => {
      const [a] = await insert(ctx.store(), newJob({ queue: 'b-queue' }), newJob({ queue: 'b-queue' }), newJob({ queue: 'a-queue', status: 'scheduled', runAt: T0 + 1 }));
      await assign(ctx.store(), a.id);
      await insert(ctx.store(), newJob({ tenant: OTHER, queue: 'b-queue' }));
      const qs = await ctx.store().queueList({ tenant: TENANT });
      expect(qs.map((q) => [q.name, q.paused, q.counts])).toEqual([
        ['a-queue', false, { scheduled: 1 }],
        ['b-queue', false, { assigned: 1, pending: 1 }],
      ]);
      expect(qs[0]).toMatchObject({ tenant: TENANT, createdAt: T0 });
    });

    it('pauses and resumes a queue, creating it when missing, with an audit row', async () => {
      const q = await ctx.store().queueSetPaused({ tenant: TENANT, name: 'new', paused: true, now: T0 + 3, audit: audit('queue.pause', 'queue', 'new') });
      expect(q).toEqual({ tenant: TENANT, name: 'new', paused: true, createdAt: T0 + 3, counts: {} });
      await insert(ctx.store(), newJob({ queue: 'new' }));
      const resumed = await ctx.store().queueSetPaused({ tenant: TENANT, name: 'new', paused: false, now: T0 + 4 });
      expect(resumed).toMatchObject({ paused: false, createdAt: T0 + 3, counts: { pending: 1 } });
      expect((await ctx.store().auditList({ tenant: TENANT, limit: 10 })).items.map((e) => e.action)).toEqual(['queue.pause']);
    });
  });

  describe('workers', () => {
    it('upserts, reads, lists, touches and sets the status of workers, scoped by tenant', async () => {
      expect(await ctx.store().workerUpsert({ worker: worker() })).toEqual(worker());
      await ctx.store().workerUpsert({ worker: worker({ id: 'w2', name: 'box-2' }) });
      await ctx.store().workerUpsert({ worker: worker({ id: 'w3', tenant: OTHER }) });
      const again = await ctx.store().workerUpsert({ worker: worker({ capacity: 8, registeredAt: T0 + 50, lastSeenAt: T0 + 50 }) });
      expect(again).toMatchObject({ capacity: 8, registeredAt: T0, lastSeenAt: T0 + 50 });
      expect((await ctx.store().workerList({ tenant: TENANT })).map((w) => w.id)).toEqual(['w1', 'w2']);
      expect(await ctx.store().workerGet({ tenant: TENANT, id: 'w3' })).toBeNull();
      await ctx.store().workerTouch({ id: 'w1', now: T0 + 99 });
      await ctx.store().workerSetStatus({ id: 'w1', status: 'draining', now: T0 + 100, audit: audit('worker.drain', 'worker', 'w1') });
      expect(await ctx.store().workerGet({ tenant: TENANT, id: 'w1' })).toMatchObject({ status: 'draining', lastSeenAt: T0 + 99 });
      await rejectsWith(ctx.store().workerSetStatus({ id: 'nope', status: 'offline', now: T0 }), 'BATON_E_NOT_FOUND');
      await ctx.store().workerTouch({ id: 'nope', now: T0 });
    });
  });

  describe('tenants and tokens', () => {
    it('creates, reads and lists tenants; a second tenant with the same id conflicts', async () => {
      const t = { id: TENANT, name: 'Acme Inc', createdAt: T0 };
      expect(await ctx.store().tenantCreate({ tenant: t, audit: audit('tenant.create', 'tenant', TENANT) })).toEqual(t);
      await ctx.store().tenantCreate({ tenant: { id: OTHER, name: 'Globex', createdAt: T0 } });
      expect(await ctx.store().tenantGet({ id: TENANT })).toEqual(t);
      expect(await ctx.store().tenantGet({ id: 'none' })).toBeNull();
      expect((await ctx.store().tenantList()).map((x) => x.id)).toEqual([TENANT, OTHER]);
      await rejectsWith(ctx.store().tenantCreate({ tenant: t }), 'BATON_E_CONFLICT');
      expect((await ctx.store().auditList({ tenant: TENANT, limit: 10 })).items.map((e) => e.action)).toEqual(['tenant.create']);
    });

    it('creates, reads, lists and deletes tokens; names are unique per tenant', async () => {
      await ctx.store().tokenCreate({ token: token(), audit: audit('token.create', 'token', 'tok1') });
      await ctx.store().tokenCreate({ token: token({ id: 'tok2', name: 'ops', role: 'admin', system: true }) });
      await ctx.store().tokenCreate({ token: token({ id: 'tok3', tenant: OTHER }) });
      expect(await ctx.store().tokenGet({ id: 'tok1' })).toEqual(token());
      expect(await ctx.store().tokenGet({ id: 'none' })).toBeNull();
      expect((await ctx.store().tokenList({ tenant: TENANT })).map((t) => t.id)).toEqual(['tok1', 'tok2']);
      expect(await ctx.store().tokenCountSystem()).toBe(1);
      await rejectsWith(ctx.store().tokenCreate({ token: token({ id: 'tok4' }) }), 'BATON_E_CONFLICT');
      expect(await ctx.store().tokenDelete({ tenant: OTHER, id: 'tok1' })).toBe(false);
      expect(await ctx.store().tokenDelete({ tenant: TENANT, id: 'tok1', audit: audit('token.delete', 'token', 'tok1') })).toBe(true);
      expect(await ctx.store().tokenGet({ id: 'tok1' })).toBeNull();
      expect(await ctx.store().tokenDelete({ tenant: TENANT, id: 'tok1' })).toBe(false);
      expect((await ctx.store().auditList({ tenant: TENANT, limit: 10 })).items.map((e) => e.action)).toEqual(['token.delete', 'token.create']);
    });
  });

  describe('audit', () => {
    it('writes and lists audit rows newest first, one page at a time, per tenant', async () => {
      for (let i = 0; i < 5; i++) await ctx.store().auditWrite({ entry: audit(`act.${i}`, 'thing', `id${i}`, { i }), now: T0 + i });
      await ctx.store().auditWrite({ entry: { ...audit('other', 'thing', null), actor: { ...ACTOR, tenant: OTHER } }, now: T0 });
      const p1 = await ctx.store().auditList({ tenant: TENANT, limit: 2 });
      expect(p1.items.map((e) => e.action)).toEqual(['act.4', 'act.3']);
      expect(p1.items[0]).toMatchObject({ tenant: TENANT, actor: ACTOR.tokenId, targetType: 'thing', targetId: 'id4', at: T0 + 4, detail: { i: 4 } });
      const p2 = await ctx.store().auditList({ tenant: TENANT, limit: 2, cursor: p1.nextCursor });
      expect(p2.items.map((e) => e.action)).toEqual(['act.2', 'act.1']);
      const p3 = await ctx.store().auditList({ tenant: TENANT, limit: 2, cursor: p2.nextCursor });
      expect(p3.items.map((e) => e.action)).toEqual(['act.0']);
      expect(p3.nextCursor).toBeNull();
      expect((await ctx.store().auditList({ tenant: OTHER, limit: 10 })).items.map((e) => e.action)).toEqual(['other']);
    });
  });
}

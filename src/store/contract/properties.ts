/**
 * Contract laws checked with fast-check: the ready order is compareReady's, and a batch insert
 * lands whole or not at all. Each run uses a tenant of its own, so runs share one store.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compareReady } from '../../core/ordering.ts';
import { newJob, T0, type ContractContext } from './fixtures.ts';

let run = 0;
const nextTenant = () => `prop-${process.pid}-${run++}`;

/** Declares the property tests. */
export function propertiesContract(ctx: ContractContext): void {
  describe('laws', () => {
    it('jobListReady returns exactly the ready jobs, in compareReady order', async () => {
      const spec = fc.record({
        priority: fc.integer({ min: 1, max: 10 }),
        runAt: fc.integer({ min: -3, max: 3 }),
        createdAt: fc.integer({ min: -3, max: 0 }),
        status: fc.constantFrom('pending', 'pending', 'scheduled', 'blocked' as const),
        queue: fc.constantFrom('q1', 'q2', 'paused'),
      });
      await fc.assert(
        fc.asyncProperty(fc.array(spec, { maxLength: 30 }), fc.integer({ min: 1, max: 40 }), async (specs, limit) => {
          const tenant = nextTenant();
          const jobs = specs.map((s) =>
            newJob({ tenant, priority: s.priority, runAt: T0 + s.runAt, createdAt: T0 + s.createdAt, status: s.status as 'pending' | 'scheduled' | 'blocked', queue: s.queue }),
          );
          await ctx.store().jobInsertMany({ jobs });
          await ctx.store().queueSetPaused({ tenant, name: 'paused', paused: true, now: T0 });
          const got = await ctx.store().jobListReady({ tenants: [tenant], types: ['command'], limit });
          const want = jobs.filter((j) => j.status === 'pending' && j.queue !== 'paused').sort(compareReady).slice(0, limit);
          expect(got.map((j) => j.id)).toEqual(want.map((j) => j.id));
        }),
        { numRuns: 25 },
      );
    });

    it('a batch lands whole or not at all', async () => {
      await fc.assert(
        fc.asyncProperty(fc.integer({ min: 1, max: 20 }), fc.option(fc.nat(), { nil: undefined }), async (n, clashAt) => {
          const tenant = nextTenant();
          const [existing] = (await ctx.store().jobInsertMany({ jobs: [newJob({ tenant })] })).jobs;
          const batch = Array.from({ length: n }, (_, i) => newJob({ tenant, queue: `q${i % 3}`, tags: [`t${i % 2}`], idempotencyKey: i % 4 === 0 ? `k${i}` : null }));
          if (clashAt !== undefined) batch[clashAt % n] = { ...batch[clashAt % n], id: existing.id };
          const ok = await ctx.store().jobInsertMany({ jobs: batch }).then(() => true, () => false);
          expect(ok).toBe(clashAt === undefined);
          const page = await ctx.store().jobList({ tenant, limit: 1000 });
          expect(page.items.length).toBe(ok ? n + 1 : 1);
        }),
        { numRuns: 25 },
      );
    });
  });
}

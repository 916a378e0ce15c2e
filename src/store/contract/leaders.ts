/**
 * Contract: leadership of cluster-wide duties and fenced writes. Two servers asking at once get
 * one leader; an expired leadership passes to the next asker in a new term; a write fenced with a
 * stale term is refused and changes nothing.
 */
import { describe, expect, it } from 'vitest';
import { isBatonError } from '../../core/errors.ts';
import { assign, insert, mustGet, newJob, rep, report, T0, type ContractContext } from './fixtures.ts';

async function refusedCode(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
    return undefined;
  } catch (e) {
    return isBatonError(e) ? e.code : String(e);
  }
}

export function leadersContract(ctx: ContractContext): void {
  describe('leadership', () => {
    it('elects the first asker, renews it, and keeps others out until it expires', async () => {
      const s = ctx.store();
      const a = await s.leaderAcquire({ name: 'maintenance', holder: 'a', ttlMs: 1000, now: T0 });
      expect(a).toMatchObject({ name: 'maintenance', holder: 'a', term: 1, expiresAt: T0 + 1000 });
      const b = await s.leaderAcquire({ name: 'maintenance', holder: 'b', ttlMs: 1000, now: T0 + 500 });
      expect(b).toMatchObject({ holder: 'a', term: 1 });
      const renewed = await s.leaderAcquire({ name: 'maintenance', holder: 'a', ttlMs: 1000, now: T0 + 900 });
      expect(renewed).toMatchObject({ holder: 'a', term: 1, expiresAt: T0 + 1900 });
      // Past its expiry the next asker takes over in a new term.
      const taken = await s.leaderAcquire({ name: 'maintenance', holder: 'b', ttlMs: 1000, now: T0 + 2000 });
      expect(taken).toMatchObject({ holder: 'b', term: 2, expiresAt: T0 + 3000 });
      // Duties are independent.
      expect(await s.leaderAcquire({ name: 'cron', holder: 'a', ttlMs: 1000, now: T0 + 2000 })).toMatchObject({ holder: 'a', term: 1 });
    });

    it('hands the leadership over at once on release', async () => {
      const s = ctx.store();
      await s.leaderAcquire({ name: 'maintenance', holder: 'a', ttlMs: 10_000, now: T0 });
      await s.leaderRelease({ name: 'maintenance', holder: 'b', now: T0 + 1 }); // not b's to release
      expect(await s.leaderAcquire({ name: 'maintenance', holder: 'b', ttlMs: 10_000, now: T0 + 2 })).toMatchObject({ holder: 'a' });
      await s.leaderRelease({ name: 'maintenance', holder: 'a', now: T0 + 3 });
      expect(await s.leaderAcquire({ name: 'maintenance', holder: 'b', ttlMs: 10_000, now: T0 + 4 })).toMatchObject({ holder: 'b', term: 2 });
    });

    it('elects exactly one leader when many ask at once', async () => {
      const s = ctx.store();
      const results = await Promise.all(
        Array.from({ length: 8 }, (_, i) => s.leaderAcquire({ name: 'maintenance', holder: `s${i}`, ttlMs: 5000, now: T0 })),
      );
      const holders = new Set(results.map((r) => r.holder));
      expect(holders.size).toBe(1);
      expect(results.every((r) => r.term === 1)).toBe(true);
    });

    it('refuses fenced writes of a deposed leader and changes nothing', async () => {
      const s = ctx.store();
      const [j] = await insert(s, newJob({ status: 'scheduled', runAt: T0 + 10 }));
      const a = await s.leaderAcquire({ name: 'maintenance', holder: 'a', ttlMs: 100, now: T0 });
      const fenceA = { name: 'maintenance', holder: 'a', term: a.term };
      await s.leaderAcquire({ name: 'maintenance', holder: 'b', ttlMs: 100_000, now: T0 + 200 });
      expect(await refusedCode(s.jobPromoteDue({ now: T0 + 300, limit: 10, fence: fenceA }))).toBe('BATON_E_NOT_LEADER');
      expect((await mustGet(s, j.id)).status).toBe('scheduled');
      // An expired fence is refused too, even when nobody took over.
      const c = await s.leaderAcquire({ name: 'other', holder: 'c', ttlMs: 100, now: T0 });
      expect(await refusedCode(s.jobPromoteDue({ now: T0 + 300, limit: 10, fence: { name: 'other', holder: 'c', term: c.term } }))).toBe('BATON_E_NOT_LEADER');
      // The current leader's fence works.
      expect(await s.jobPromoteDue({ now: T0 + 300, limit: 10, fence: { name: 'maintenance', holder: 'b', term: 2 } })).toBe(1);
    });

    it('fences the reaper', async () => {
      const s = ctx.store();
      const [j] = await insert(s, newJob());
      const at = await assign(s, j.id, { leaseMs: 100 });
      await report(s, [rep.started(at)]);
      const a = await s.leaderAcquire({ name: 'maintenance', holder: 'a', ttlMs: 100, now: T0 });
      await s.leaderAcquire({ name: 'maintenance', holder: 'b', ttlMs: 100_000, now: T0 + 150 });
      const stale = { name: 'maintenance', holder: 'a', term: a.term };
      expect(await refusedCode(s.leaseReapExpired({ now: T0 + 200, limit: 10, random: () => 0, fence: stale }))).toBe('BATON_E_NOT_LEADER');
      expect((await mustGet(s, j.id)).status).toBe('running');
      const reaped = await s.leaseReapExpired({ now: T0 + 200, limit: 10, random: () => 0, fence: { name: 'maintenance', holder: 'b', term: 2 } });
      expect(reaped.map((r) => r.id)).toEqual([j.id]);
    });
  });
}

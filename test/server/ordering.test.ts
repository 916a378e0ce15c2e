/**
 * The dispatcher's ready order (FairOrder): tenants share picks by weight over many rounds,
 * queues of one tenant by queue weight, an aged low-priority job overtakes fresh urgent ones,
 * and jobs the fair picks leave out follow in aged order.
 */
import { describe, expect, it } from 'vitest';
import type { Job } from '../../src/core/types.ts';
import { FairOrder, queueKey } from '../../src/server/ordering.ts';
import type { FairnessSettings, ReadyHead } from '../../src/store/types.ts';

const T0 = 1_700_000_000_000;
let seq = 0;
function head(tenant: string, queue: string, priority = 5, runAt = T0): ReadyHead {
  const id = `j${String(++seq).padStart(6, '0')}`;
  return { job: { id, tenant, queue, priority, runAt, createdAt: runAt } as Job, rank: priority };
}
const none: FairnessSettings = { tenants: {}, queues: {} };

describe('FairOrder', () => {
  it('gives tenants picks in proportion to their weights, round after round', () => {
    const order = new FairOrder();
    const count: Record<string, number> = { a: 0, b: 0 };
    for (let round = 0; round < 200; round++) {
      const heads = [...Array.from({ length: 8 }, () => head('a', 'q')), ...Array.from({ length: 8 }, () => head('b', 'q'))];
      // One slot per round: the hardest case for carried state.
      const [first] = order.rank(heads, { tenants: { a: 3, b: 1 }, queues: {} }, { now: T0, agingIntervalMs: 60_000, take: 1 });
      count[first.tenant]++;
    }
    expect(count).toEqual({ a: 150, b: 50 });
  });

  it('splits a tenant between its queues by queue weight', () => {
    const order = new FairOrder();
    const heads = [...Array.from({ length: 20 }, () => head('a', 'fast')), ...Array.from({ length: 20 }, () => head('a', 'slow'))];
    const settings: FairnessSettings = { tenants: {}, queues: { [queueKey('a', 'fast')]: { weight: 4, concurrencyLimit: null } } };
    const picked = order.rank(heads, settings, { now: T0, agingIntervalMs: 60_000, take: 10 }).slice(0, 10);
    expect(picked.filter((j) => j.queue === 'fast')).toHaveLength(8);
  });

  it('ranks by aging inside a queue, and appends the rest in aged order', () => {
    const order = new FairOrder();
    const old = head('a', 'q', 1, T0 - 10 * 60_000);
    const fresh = Array.from({ length: 5 }, (_, i) => head('a', 'q', 10, T0 - i));
    const ranked = order.rank([...fresh, old], none, { now: T0, agingIntervalMs: 60_000, take: 2 });
    // Waited 10 intervals: 1 + 10 = 11, the cap, above any fresh priority-10 job.
    expect(ranked[0].id).toBe(old.job.id);
    expect(ranked).toHaveLength(6);
    // Without aging it waits behind them all.
    expect(new FairOrder().rank([...fresh, old], none, { now: T0, agingIntervalMs: 0, take: 2 }).at(-1)!.id).toBe(old.job.id);
  });
});

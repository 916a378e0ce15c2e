/**
 * Group commit of single submits: concurrent submits share transactions, each gets its own job
 * and audit row, idempotent repeats resolve to the first job, one member's bad data fails only
 * that member, and an unavailable store fails every member with its error.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BatonError } from '../../src/core/errors.ts';
import { audit, insert, newJob, TENANT } from '../../src/store/contract/fixtures.ts';
import { openSqliteStore } from '../../src/store/sqlite/index.ts';
import type { Store } from '../../src/store/types.ts';
import { SubmitBatcher } from '../../src/server/submit-batcher.ts';

const dir = mkdtempSync(join(tmpdir(), 'baton-batcher-'));
let store: Store;
beforeAll(async () => {
  store = await openSqliteStore({ path: join(dir, 'baton.db'), synchronous: 'NORMAL' });
});
afterAll(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

/** The real store, counting the transactions jobInsertMany opens. */
function counting(s: Store): { store: Pick<Store, 'jobInsertMany'>; calls: number[] } {
  const calls: number[] = [];
  return {
    calls,
    store: {
      jobInsertMany: (p) => {
        calls.push(p.jobs.length);
        return s.jobInsertMany(p);
      },
    },
  };
}

describe('SubmitBatcher', () => {
  it('writes concurrent submits in shared transactions, each with its job and audit row', async () => {
    const c = counting(store);
    const b = new SubmitBatcher(c.store);
    const jobs = Array.from({ length: 50 }, (_, i) => newJob({ name: `s${i}` }));
    const out = await Promise.all(jobs.map((j) => b.submit(j, audit('job.submit', 'job', j.id))));
    expect(out.map((o) => o.job.id)).toEqual(jobs.map((j) => j.id));
    expect(out.every((o) => !o.existed)).toBe(true);
    expect(c.calls.reduce((a, n) => a + n, 0)).toBe(50);
    expect(c.calls.length).toBeLessThan(50);
    const audits = (await store.auditList({ tenant: TENANT, limit: 1000 })).items.filter((e) => e.action === 'job.submit');
    expect(new Set(audits.map((e) => e.targetId))).toEqual(new Set(jobs.map((j) => j.id)));
  });

  it('resolves a repeated idempotency key in the same batch to the first job', async () => {
    const b = new SubmitBatcher(store);
    const first = newJob({ idempotencyKey: 'batch-key' });
    const again = newJob({ idempotencyKey: 'batch-key' });
    const [x, y] = await Promise.all([b.submit(first), b.submit(again)]);
    expect(x).toMatchObject({ existed: false, job: { id: first.id } });
    expect(y).toMatchObject({ existed: true, job: { id: first.id } });
  });

  it('fails only the member whose data breaks the shared transaction', async () => {
    const taken = newJob();
    await insert(store, taken);
    const c = counting(store);
    const b = new SubmitBatcher(c.store);
    const good = [newJob(), newJob()];
    const results = await Promise.allSettled([b.submit(good[0]), b.submit({ ...newJob(), id: taken.id }), b.submit(good[1])]);
    expect(results[0]).toMatchObject({ status: 'fulfilled', value: { existed: false, job: { id: good[0].id } } });
    expect(results[1]).toMatchObject({ status: 'rejected', reason: { code: 'BATON_E_CONFLICT' } });
    expect(results[2]).toMatchObject({ status: 'fulfilled', value: { existed: false, job: { id: good[1].id } } });
    expect(c.calls[0]).toBe(3);
    expect(await store.jobGet({ tenant: TENANT, id: good[1].id })).not.toBeNull();
  });

  it('fails every member at once when the store is unavailable', async () => {
    let calls = 0;
    const unavailableStoreStandIn: Pick<Store, 'jobInsertMany'> = {
      jobInsertMany: async () => {
        calls++;
        throw new BatonError('BATON_E_UNAVAILABLE', 'store down');
      },
    };
    const b = new SubmitBatcher(unavailableStoreStandIn);
    const results = await Promise.allSettled([b.submit(newJob()), b.submit(newJob()), b.submit(newJob())]);
    expect(results.every((r) => r.status === 'rejected' && (r.reason as BatonError).code === 'BATON_E_UNAVAILABLE')).toBe(true);
    expect(calls).toBe(1);
  });

  it('splits a burst larger than maxBatch into several transactions', async () => {
    const c = counting(store);
    const b = new SubmitBatcher(c.store, { maxBatch: 10 });
    const out = await Promise.all(Array.from({ length: 35 }, () => b.submit(newJob())));
    expect(out).toHaveLength(35);
    expect(Math.max(...c.calls)).toBeLessThanOrEqual(10);
    expect(c.calls.reduce((a, n) => a + n, 0)).toBe(35);
  });
});

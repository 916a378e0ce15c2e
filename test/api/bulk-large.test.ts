/**
 * Bulk cancel of 100,000 pending jobs in a paused queue, on each store: completes, reports the
 * count, and leaves no job of the queue pending. SQLite goes through the REST API; PostgreSQL
 * through the store method the route calls (the same code path below the route). The time each
 * took is printed (a figure for the report, not an assertion: timing belongs in benchmarks).
 */
import { v7 } from 'uuid';
import postgres from 'postgres';
import { afterAll, describe, expect, it } from 'vitest';
import { newJob } from '../../src/store/contract/fixtures.ts';
import { openPostgresStore } from '../../src/store/postgres/index.ts';
import type { Store } from '../../src/store/types.ts';
import { makeApiHarness } from '../helpers/api-context.ts';

const N = 100_000;
const PG_URL = 'postgres://postgres@127.0.0.1:5432/test';

async function fill(store: Store, tenant: string, queue: string): Promise<void> {
  await store.queueSetPaused({ tenant, name: queue, paused: true, now: Date.now() });
  for (let i = 0; i < N; i += 10_000) {
    await store.jobInsertMany({ jobs: Array.from({ length: 10_000 }, () => newJob({ id: v7(), tenant, queue })) });
  }
}

describe('bulk cancel of 100,000 pending jobs', () => {
  it('sqlite, through POST /v1/jobs/bulk/cancel', async () => {
    const h = await makeApiHarness();
    try {
      await fill(h.ctx.store, 'default', 'parked');
      const op = await h.token('operator');
      const t0 = performance.now();
      const res = await h.app.inject({ method: 'POST', url: '/v1/jobs/bulk/cancel', headers: h.auth(op), payload: { filter: { queue: 'parked', status: 'pending' } } });
      const ms = performance.now() - t0;
      expect(res.statusCode).toBe(200);
      expect(JSON.parse(res.body)).toEqual({ affected: N, skipped: 0 });
      console.log(`bulk cancel ${N} (sqlite, API): ${Math.round(ms)} ms`);
      const q = (await h.ctx.store.queueList({ tenant: 'default' })).find((x) => x.name === 'parked')!;
      expect(q.counts).toEqual({ cancelled: N });
    } finally {
      await h.close();
    }
  }, 120_000);

  const admin = postgres(PG_URL, { max: 1, onnotice: () => {} });
  const schema = `bulk_${v7().replace(/-/g, '').slice(-12)}`;
  afterAll(async () => {
    await admin.unsafe(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await admin.end();
  });

  it('postgres, through Store.jobBulk', async () => {
    const store = await openPostgresStore({ url: PG_URL, schema, max: 4 });
    try {
      await fill(store, 'acme', 'parked');
      const t0 = performance.now();
      const res = await store.jobBulk({ tenant: 'acme', action: 'cancel', filter: { queue: 'parked', status: 'pending' }, now: Date.now() });
      const ms = performance.now() - t0;
      expect(res).toMatchObject({ affected: N, skipped: 0 });
      console.log(`bulk cancel ${N} (postgres, store): ${Math.round(ms)} ms`);
      const q = (await store.queueList({ tenant: 'acme' })).find((x) => x.name === 'parked')!;
      expect(q.counts).toEqual({ cancelled: N });
    } finally {
      await store.close();
    }
  }, 120_000);
});

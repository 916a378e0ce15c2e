/**
 * Tenant fair shares end to end, with real server and worker processes: two tenants of weights
 * 3:1 (PATCH /v1/tenants/:id) flood one shared worker (connected with a system worker token) and
 * get 75 % and 25 % (± 5 %) of the completions made while both are backlogged. Also checks that
 * the shared worker stays invisible to the tenants' own GET /v1/workers.
 */
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BatonClient } from '../../src/client/index.ts';
import { freePort, killAll, startServerProcess, startWorkerProcess, tempDir, until } from './harness.ts';

const env = { BATON_LEASE_MS: '3000', BATON_HEARTBEAT_MS: '500', BATON_REAP_INTERVAL_MS: '200', BATON_LOG_LEVEL: 'warn' };
const HANDLERS = path.resolve('test/e2e/fixtures/record-handlers.ts');
/** Jobs each tenant submits; the test stops counting long before the heavier tenant runs out. */
const FLOOD = 800;
/** Completions to wait for; the heavier tenant then has done ~3/4 of these, well under FLOOD. */
const TARGET = 480;
/** Completions left out at the start of the window (the worker warming up). */
const WARMUP = 40;

const dirs: (() => Promise<void>)[] = [];
afterAll(async () => {
  await killAll();
  for (const d of dirs) await d();
}, 30_000);

describe('tenant fair shares on one shared worker pool', () => {
  it('gives two tenants of weights 3:1 75 % and 25 % of completions while both are backlogged', async () => {
    const tmp = await tempDir('e2e-tenant-fair');
    dirs.push(tmp.cleanup);
    const server = await startServerProcess({ dataDir: tmp.dir, port: await freePort(), env });
    const sys = server.client;
    // Two tenants through the API, each with its own (non-system) admin token.
    const tenants: Record<'alpha' | 'beta', BatonClient> = {} as Record<'alpha' | 'beta', BatonClient>;
    for (const [id, weight] of [['alpha', 3], ['beta', 1]] as const) {
      await sys.createTenant({ id, name: id });
      await sys.setTenantWeight(id, weight);
      const t = await new BatonClient({ url: server.url, token: server.token, tenant: id }).createToken({ name: `${id}-admin`, role: 'admin' });
      tenants[id] = new BatonClient({ url: server.url, token: t.token });
    }
    const work = { type: 'function' as const, payload: { handler: 'record', args: { sleepMs: 2 } } };
    await Promise.all(Object.values(tenants).map((c) => c.submitBatch(Array.from({ length: FLOOD }, () => work))));

    // One shared worker: a system worker token minted by the system admin.
    const shared = await sys.createToken({ name: 'shared-pool', role: 'worker', system: true });
    expect(shared.system).toBe(true);
    await startWorkerProcess({ ...server, token: shared.token }, { name: 'shared-pool', capacity: 2, queues: ['*'], handlers: HANDLERS });

    const done = async (c: BatonClient) => (await c.queues()).find((q) => q.name === 'default')?.counts.completed ?? 0;
    await until(`${TARGET} completions`, async () => (await done(tenants.alpha)) + (await done(tenants.beta)) >= TARGET, 25_000, 50);

    const completedAt = async (c: BatonClient): Promise<number[]> => {
      const out: number[] = [];
      for await (const j of c.iterateJobs({ status: 'completed', limit: 1000 })) out.push(Date.parse(j.completedAt!));
      return out;
    };
    const a = await completedAt(tenants.alpha);
    const b = await completedAt(tenants.beta);
    // Both tenants were backlogged the whole time: neither ran out of jobs.
    expect(a.length).toBeLessThan(FLOOD);
    expect(b.length).toBeLessThan(FLOOD);
    // The window: after the first WARMUP completions, to the last completion seen.
    const all = [...a, ...b].sort((x, y) => x - y);
    const from = all[WARMUP];
    const to = all[all.length - 1];
    const inWindow = (xs: number[]) => xs.filter((t) => t > from && t <= to).length;
    const na = inWindow(a);
    const nb = inWindow(b);
    const share = na / (na + nb);
    console.info(`tenant fair shares: alpha ${na}, beta ${nb} in ${to - from} ms (${(share * 100).toFixed(1)} % alpha)`);
    expect(na + nb).toBeGreaterThan(TARGET / 2);
    expect(share, JSON.stringify({ na, nb })).toBeGreaterThanOrEqual(0.7);
    expect(share, JSON.stringify({ na, nb })).toBeLessThanOrEqual(0.8);

    // The shared worker registered in the default tenant: the others do not see it.
    expect((await sys.workers()).some((w) => w.name === 'shared-pool')).toBe(true);
    expect(await tenants.alpha.workers()).toEqual([]);
    expect(await tenants.beta.workers()).toEqual([]);
  }, 60_000);
});

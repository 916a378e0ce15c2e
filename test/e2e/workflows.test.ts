/**
 * Workflows end to end on the embedded store: one real server, two real workers running
 * function handlers. A diamond runs in order and D sees B's and C's results (ctx.parents and
 * placeholders); a failing B cancels D (upstream_failed) and fires onFailure; a 1,000-node
 * layered graph completes with every edge respected, checked from the attempts' recorded times;
 * templates are versioned, validated, submitted by name and round-trip through export/import.
 */
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobView } from '../../src/core/api.ts';
import type { JobInput } from '../../src/core/spec.ts';
import { freePort, killAll, startServerProcess, startWorkerProcess, tempDir, until, type ServerProc } from './harness.ts';

const handlers = fileURLToPath(new URL('./fixtures/workflow-handlers.ts', import.meta.url));
let server: ServerProc;
let cleanup: () => Promise<void>;

beforeAll(async () => {
  const tmp = await tempDir('e2e-workflows');
  cleanup = tmp.cleanup;
  server = await startServerProcess({ dataDir: tmp.dir, port: await freePort() });
  await Promise.all([
    startWorkerProcess(server, { name: 'wf-a', capacity: 8, queues: ['*'], handlers }),
    startWorkerProcess(server, { name: 'wf-b', capacity: 8, queues: ['*'], handlers }),
  ]);
}, 90_000);

afterAll(async () => {
  await killAll();
  await cleanup?.();
});

const c = () => server.client;
const step = (ref: string, deps: string[] = [], extra: Partial<JobInput> = {}): JobInput => ({
  type: 'function',
  payload: { handler: 'step', args: { name: ref } },
  ref,
  ...(deps.length ? { dependsOn: deps.map((d) => ({ ref: d })) } : {}),
  ...extra,
});

async function ended(id: string): Promise<JobView> {
  return c().waitForJob(id, { timeoutMs: 30_000 });
}

describe('workflows on real workers', () => {
  it('runs a diamond in order and D sees the results of B and C', async () => {
    const res = await c().submitBatch([
      step('a'),
      step('b', ['a']),
      step('c', ['a']),
      step('d', ['b', 'c'], { payload: { handler: 'step', args: { name: 'd', fromPayload: '{{parents.b.result.name}}+{{parents.c.result.name}}' } } }),
    ]);
    const [a, b, cc, d] = res.jobs;
    const done = await ended(d.id);
    expect(done.status).toBe('completed');
    const r = (await c().result(d.id)).result as { parents: Record<string, { name: string }>; fromPayload: string };
    expect(r.parents.b.name).toBe('b');
    expect(r.parents.c.name).toBe('c');
    expect(r.fromPayload).toBe('b+c');
    const jobs = await Promise.all([a, b, cc, d].map((j) => c().getJob(j.id)));
    const t = (j: JobView, k: 'startedAt' | 'completedAt') => Date.parse(j[k]!);
    expect(t(jobs[1], 'startedAt')).toBeGreaterThanOrEqual(t(jobs[0], 'completedAt'));
    expect(t(jobs[2], 'startedAt')).toBeGreaterThanOrEqual(t(jobs[0], 'completedAt'));
    expect(t(jobs[3], 'startedAt')).toBeGreaterThanOrEqual(Math.max(t(jobs[1], 'completedAt'), t(jobs[2], 'completedAt')));
    const g = await c().jobGraph(a.id);
    expect(g.nodes.every((n) => n.status === 'completed')).toBe(true);
  });

  it('a failing B cancels D with upstream_failed and triggers onFailure', async () => {
    const res = await c().submitGraph(
      [step('a'), { type: 'function', payload: { handler: 'boom' }, ref: 'b', dependsOn: [{ ref: 'a' }], onFailure: { type: 'function', payload: { handler: 'step', args: { name: 'undo-b' } }, name: 'undo-b' } }, step('c', ['a']), step('d', ['b', 'c'])],
      { onFailure: { type: 'function', payload: { handler: 'step', args: { name: 'rollback' } }, name: 'rollback' } },
    );
    const [, b, cc, d] = res.jobs;
    expect((await ended(b.id)).status).toBe('failed');
    const dd = await ended(d.id);
    expect(dd).toMatchObject({ status: 'cancelled', reason: 'upstream_failed' });
    expect((await ended(cc.id)).status).toBe('completed');
    for (const name of ['undo-b', 'rollback']) {
      const comp = await until(`${name} job`, async () => (await c().listJobs({ limit: 200 })).jobs.find((j) => j.name === name));
      expect((await ended(comp.id)).status).toBe('completed');
      expect(comp.metadata.onFailureOf).toBe(b.id);
    }
  });

  it('a 1,000-node layered graph completes with every edge respected', async () => {
    const LAYERS = 10;
    const WIDTH = 100;
    const jobs: JobInput[] = [];
    for (let l = 0; l < LAYERS; l++) {
      for (let i = 0; i < WIDTH; i++) {
        // Each node waits on two nodes of the layer above.
        const deps = l === 0 ? [] : [`n${l - 1}_${i}`, `n${l - 1}_${(i * 7 + 3) % WIDTH}`];
        jobs.push(step(`n${l}_${i}`, [...new Set(deps)]));
      }
    }
    const t0 = Date.now();
    const res = await c().submitBatch(jobs);
    const last = res.jobs.slice(-WIDTH);
    for (const j of last) expect((await ended(j.id)).status).toBe('completed');
    const ms = Date.now() - t0;
    console.log(`1,000-node layered graph: ${ms} ms`);
    const all = new Map<string, JobView>();
    await Promise.all(res.jobs.map(async (j) => all.set(j.id, await c().getJob(j.id))));
    const idOf = new Map(jobs.map((j, i) => [j.ref!, res.jobs[i].id]));
    let edges = 0;
    jobs.forEach((j, i) => {
      const child = all.get(res.jobs[i].id)!;
      expect(child.status).toBe('completed');
      const start = Date.parse(child.attempts![0].startedAt!);
      for (const d of j.dependsOn ?? []) {
        const parent = all.get(idOf.get((d as { ref: string }).ref)!)!;
        expect(start).toBeGreaterThanOrEqual(Date.parse(parent.attempts!.at(-1)!.endedAt!));
        edges++;
      }
    });
    expect(edges).toBeGreaterThan(1000);
  }, 90_000);

  it('templates: versions, parameter validation, submit by name, export then import', async () => {
    const spec = { type: 'function', payload: { handler: 'step', args: { name: '{{who}}' } } };
    await c().createTemplate({ name: 'greet', spec, paramsSchema: { type: 'object', properties: { who: { type: 'string' } }, required: ['who'] } });
    const v2 = await c().createTemplate({ name: 'greet', spec: { ...spec, priority: 7 }, paramsSchema: { type: 'object', properties: { who: { type: 'string' } }, required: ['who'] } });
    expect(v2.version).toBe(2);
    const job = await c().submitTemplate('greet', { who: 'world' });
    expect(job).toMatchObject({ priority: 7, template: 'greet@2' });
    expect(((await c().result((await ended(job.id)).id)).result as { name: string }).name).toBe('world');
    await expect(c().submitTemplate('greet@1', { who: 42 })).rejects.toMatchObject({ code: 'BATON_E_VALIDATION', field: 'params.who' });
    const doc = await c().exportTemplates();
    expect(await c().importTemplates(doc)).toEqual({ created: 0, skipped: doc.templates.length });
    expect((await c().templateVersions('greet')).map((t) => t.version)).toEqual([1, 2]);
  });
});

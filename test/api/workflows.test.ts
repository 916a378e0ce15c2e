/**
 * Graph submission, the graph route, deduplication (uniqueKey) and idempotency retention through
 * the REST API: refs and ids in dependsOn, cycle and unknown-ref errors naming the field,
 * placeholder checks, roles, and the audit trail.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobGraphView, JobView } from '../../src/core/api.ts';
import { commandJob, makeApiHarness, registerWorker, report, startJob, type ApiHarness } from '../helpers/api-context.ts';

let h: ApiHarness;
let submitter: string;
let viewer: string;
let workerId: string;

beforeAll(async () => {
  h = await makeApiHarness({ idempotencyRetentionMs: 60_000 });
  submitter = await h.token('submitter');
  viewer = await h.token('viewer');
  workerId = await registerWorker(h);
});
afterAll(async () => h?.close());

async function call(method: 'GET' | 'POST', url: string, tok: string, payload?: unknown) {
  const res = await h.app.inject({ method, url, headers: h.auth(tok), ...(payload === undefined ? {} : { payload: payload as object }) });
  return { status: res.statusCode, body: res.body ? JSON.parse(res.body) : null };
}

async function complete(id: string, result: unknown) {
  const lease = await startJob(h, id, workerId);
  await report(h, lease, [{ kind: 'completed', result }]);
}

describe('graphs through the API', () => {
  it('submits a diamond by refs, blocks the children, and shows the graph with edge states', async () => {
    const res = await call('POST', '/v1/jobs/batch', submitter, {
      jobs: [
        commandJob({ ref: 'a' }),
        commandJob({ ref: 'b', dependsOn: [{ ref: 'a' }] }),
        commandJob({ ref: 'c', dependsOn: [{ ref: 'a', on: 'completion' }] }),
        commandJob({ ref: 'd', dependsOn: [{ ref: 'b' }, { ref: 'c' }], payload: { argv: ['echo', '{{parents.b.result.n}}'] } }),
      ],
    });
    expect(res.status).toBe(201);
    const [a, b, , d] = res.body.jobs as JobView[];
    expect(res.body.jobs.map((j: JobView) => j.status)).toEqual(['pending', 'blocked', 'blocked', 'blocked']);
    expect(a.graphId).toBeTruthy();
    const g = await call('GET', `/v1/jobs/${d.id}/graph`, viewer);
    expect(g.status).toBe(200);
    const view = g.body as JobGraphView;
    expect(view.nodes.map((n) => n.ref).sort()).toEqual(['a', 'b', 'c', 'd']);
    expect(view.edges).toHaveLength(4);
    expect(view.edges.find((e) => e.from === a.id && e.to === b.id)).toMatchObject({ on: 'success', state: 'unmet-yet' });
    await complete(a.id, { n: 1 });
    const after = (await call('GET', `/v1/jobs/${d.id}/graph`, viewer)).body as JobGraphView;
    expect(after.edges.filter((e) => e.from === a.id).every((e) => e.state === 'met')).toBe(true);
    expect((await call('GET', `/v1/jobs/${b.id}`, viewer)).body.status).toBe('pending');
    expect((await call('GET', '/v1/jobs/nope/graph', viewer)).status).toBe(404);
    expect((await call('GET', `/v1/jobs/${d.id}/graph`, await h.token('viewer', 'other'))).status).toBe(404);
  });

  it('refuses cycles, unknown refs and jobs, self-dependencies and stray placeholders, naming the field', async () => {
    const cycle = await call('POST', '/v1/jobs/batch', submitter, {
      jobs: [commandJob({ ref: 'x', dependsOn: [{ ref: 'y' }] }), commandJob({ ref: 'y', dependsOn: [{ ref: 'x' }] })],
    });
    expect(cycle.status).toBe(400);
    expect(cycle.body.error.message).toMatch(/cycle/);
    expect(cycle.body.error.details.cycle).toEqual(expect.arrayContaining(['x', 'y']));
    const unknown = await call('POST', '/v1/jobs/batch', submitter, { jobs: [commandJob({ ref: 'x', dependsOn: [{ ref: 'zz' }] })] });
    expect(unknown.body.error).toMatchObject({ code: 'BATON_E_VALIDATION', field: 'jobs[0].dependsOn[0].ref' });
    const noJob = await call('POST', '/v1/jobs', submitter, commandJob({ dependsOn: [{ job: 'missing' }] }));
    expect(noJob.body.error).toMatchObject({ code: 'BATON_E_VALIDATION', field: 'dependsOn[0].job' });
    const stray = await call('POST', '/v1/jobs', submitter, commandJob({ payload: { argv: ['echo', '{{parents.q.result}}'] } }));
    expect(stray.body.error).toMatchObject({ code: 'BATON_E_VALIDATION', field: 'payload.argv[1]' });
    const badOn = await call('POST', '/v1/jobs', submitter, commandJob({ dependsOn: [{ ref: 'a', on: 'maybe' }] }));
    expect(badOn.status).toBe(400);
  });

  it('a job submitted alone may depend on an existing job by id and joins its graph', async () => {
    const parent = (await call('POST', '/v1/jobs', submitter, commandJob())).body as JobView;
    const child = await call('POST', '/v1/jobs', submitter, commandJob({ dependsOn: [{ job: parent.id, on: 'failure' }], onFailure: commandJob() }));
    expect(child.status).toBe(201);
    expect(child.body).toMatchObject({ status: 'blocked', graphId: parent.id });
    expect((await call('GET', `/v1/jobs/${parent.id}`, viewer)).body.graphId).toBe(parent.id);
    await complete(parent.id, null);
    expect((await call('GET', `/v1/jobs/${child.body.id}`, viewer)).body).toMatchObject({ status: 'cancelled', reason: 'upstream_failed' });
  });

  it('uniqueKey: 409 BATON_E_DUPLICATE while the first is active, the same job with onDuplicate "return"', async () => {
    const first = await call('POST', '/v1/jobs', submitter, commandJob({ uniqueKey: 'nightly' }));
    expect(first.status).toBe(201);
    expect(first.body.uniqueKey).toBe('nightly');
    const dup = await call('POST', '/v1/jobs', submitter, commandJob({ uniqueKey: 'nightly' }));
    expect(dup.status).toBe(409);
    expect(dup.body.error).toMatchObject({ code: 'BATON_E_DUPLICATE', field: 'uniqueKey', details: { jobId: first.body.id } });
    const ret = await call('POST', '/v1/jobs', submitter, commandJob({ uniqueKey: 'nightly', onDuplicate: 'return' }));
    expect(ret.status).toBe(200);
    expect(ret.body.id).toBe(first.body.id);
    const inBatch = await call('POST', '/v1/jobs/batch', submitter, { jobs: [commandJob({ uniqueKey: 'u2' }), commandJob({ uniqueKey: 'u2' })] });
    expect(inBatch.body.error).toMatchObject({ code: 'BATON_E_DUPLICATE', field: 'jobs[1].uniqueKey' });
    expect((await call('POST', '/v1/jobs', submitter, commandJob({ onDuplicate: 'sometimes' }))).status).toBe(400);
  });

  it('an idempotency key matches within the retention window only', async () => {
    const a = await call('POST', '/v1/jobs', submitter, commandJob({ idempotencyKey: 'once' }));
    const b = await call('POST', '/v1/jobs', submitter, commandJob({ idempotencyKey: 'once' }));
    expect(b.status).toBe(200);
    expect(b.body.id).toBe(a.body.id);
    // The harness clock is real; a store insert stamped later than the window stands in for time passing.
    const later = await h.ctx.store.jobInsertMany({
      jobs: [{ ...(await h.ctx.store.jobGet({ tenant: 'default', id: a.body.id }))!, id: h.ctx.newId(), createdAt: Date.now() + 120_000, status: 'pending' }],
      idempotencyRetentionMs: 60_000,
    });
    expect(later.existed).toEqual([false]);
  });

  it('viewers cannot submit graphs; graph submissions are audited', async () => {
    expect((await call('POST', '/v1/jobs/batch', viewer, { jobs: [commandJob()] })).status).toBe(403);
    const audit = (await h.ctx.store.auditList({ tenant: 'default', limit: 100 })).items.map((a) => a.action);
    expect(audit).toContain('job.submit_batch');
  });
});

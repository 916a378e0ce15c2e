/**
 * Templates (versions, submit by name, parameter errors naming the parameter, export/import
 * round trip, roles) and bulk operations (filters, ids, roles, bad input, audit) through the API.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobView, TemplateView } from '../../src/core/api.ts';
import { commandJob, makeApiHarness, type ApiHarness } from '../helpers/api-context.ts';

let h: ApiHarness;
let operator: string;
let submitter: string;
let viewer: string;

beforeAll(async () => {
  h = await makeApiHarness();
  operator = await h.token('operator');
  submitter = await h.token('submitter');
  viewer = await h.token('viewer');
});
afterAll(async () => h?.close());

async function call(method: 'GET' | 'POST', url: string, tok: string, payload?: unknown) {
  const res = await h.app.inject({ method, url, headers: h.auth(tok), ...(payload === undefined ? {} : { payload: payload as object }) });
  return { status: res.statusCode, body: res.body ? JSON.parse(res.body) : null };
}

const ETL = {
  name: 'etl',
  description: 'nightly load',
  spec: { type: 'command', payload: { argv: ['load', '{{table}}'] }, maxRetries: '{{retries}}', tags: ['etl'] },
  paramsSchema: { type: 'object', properties: { table: { type: 'string' }, retries: { type: 'integer', minimum: 0, default: 1 } }, required: ['table'], additionalProperties: false },
};

describe('templates', () => {
  it('each post is a new version; get, versions and one version', async () => {
    const v1 = await call('POST', '/v1/templates', operator, ETL);
    expect(v1.status).toBe(201);
    expect(v1.body).toMatchObject({ name: 'etl', version: 1 });
    const v2 = await call('POST', '/v1/templates', operator, { ...ETL, description: 'v2' });
    expect(v2.body.version).toBe(2);
    expect((await call('GET', '/v1/templates/etl', viewer)).body).toMatchObject({ version: 2, description: 'v2' });
    expect((await call('GET', '/v1/templates/etl/versions', viewer)).body.versions.map((t: TemplateView) => t.version)).toEqual([1, 2]);
    expect((await call('GET', '/v1/templates/etl/versions/1', viewer)).body.description).toBe('nightly load');
    expect((await call('GET', '/v1/templates', viewer)).body.templates.map((t: TemplateView) => `${t.name}@${t.version}`)).toContain('etl@2');
    expect((await call('GET', '/v1/templates/etl/versions/9', viewer)).status).toBe(404);
    expect((await call('GET', '/v1/templates/nope', viewer)).status).toBe(404);
    expect((await call('GET', '/v1/templates/nope/versions', viewer)).status).toBe(404);
  });

  it('refuses bad templates naming the field, and templates are for operators to write', async () => {
    expect((await call('POST', '/v1/templates', submitter, ETL)).status).toBe(403);
    const undeclared = await call('POST', '/v1/templates', operator, { ...ETL, name: 'bad', spec: { type: 'command', payload: { argv: ['{{nope}}'] } } });
    expect(undeclared.body.error).toMatchObject({ code: 'BATON_E_VALIDATION', field: 'spec.payload.argv[0]' });
    const badKey = await call('POST', '/v1/templates', operator, { ...ETL, name: 'bad', spec: { type: 'command', colour: 1 } });
    expect(badKey.body.error.field).toBe('spec.colour');
    expect((await call('POST', '/v1/templates', operator, { ...ETL, name: 'has@at' })).status).toBe(400);
  });

  it('submits by name and by name@version; parameter errors name the parameter', async () => {
    const job = await call('POST', '/v1/jobs', submitter, { template: 'etl', params: { table: 'users' }, priority: 8 });
    expect(job.status).toBe(201);
    expect(job.body).toMatchObject({ payload: { argv: ['load', 'users'] }, maxRetries: 1, priority: 8, template: 'etl@2' });
    const v1 = await call('POST', '/v1/jobs', submitter, { template: 'etl@1', params: { table: 't', retries: 3 } });
    expect(v1.body).toMatchObject({ maxRetries: 3, template: 'etl@1' });
    const missing = await call('POST', '/v1/jobs', submitter, { template: 'etl', params: {} });
    expect(missing.body.error).toMatchObject({ code: 'BATON_E_VALIDATION', field: 'params.table' });
    const wrongType = await call('POST', '/v1/jobs', submitter, { template: 'etl', params: { table: 'x', retries: 'many' } });
    expect(wrongType.body.error.field).toBe('params.retries');
    const batch = await call('POST', '/v1/jobs/batch', submitter, { jobs: [commandJob(), { template: 'etl', params: { table: 1 } }] });
    expect(batch.body.error).toMatchObject({ code: 'BATON_E_VALIDATION', field: 'jobs[1].params.table' });
    expect((await call('POST', '/v1/jobs', submitter, { template: 'ghost', params: {} })).status).toBe(404);
    expect((await call('POST', '/v1/jobs', submitter, { template: 'etl@x', params: {} })).body.error.field).toBe('template');
    const ok = await call('POST', '/v1/jobs/batch', submitter, { jobs: [{ template: 'etl', params: { table: 'a' }, ref: 'a' }, commandJob({ dependsOn: [{ ref: 'a' }] })] });
    expect(ok.status).toBe(201);
    expect(ok.body.jobs[0].template).toBe('etl@2');
  });

  it('export then import into another tenant round-trips every version; a conflicting import changes nothing', async () => {
    const doc = await call('GET', '/v1/templates/export', viewer);
    expect(doc.body.baton).toBe('templates/v1');
    const otherOp = await h.token('operator', 'other');
    const imp = await call('POST', '/v1/templates/import', otherOp, doc.body);
    expect(imp.body).toEqual({ created: doc.body.templates.length, skipped: 0 });
    const again = await call('GET', '/v1/templates/export', otherOp);
    expect(again.body.templates.map((t: { name: string; version: number; spec: unknown }) => [t.name, t.version, t.spec])).toEqual(
      doc.body.templates.map((t: { name: string; version: number; spec: unknown }) => [t.name, t.version, t.spec]),
    );
    const conflict = { ...doc.body, templates: [{ ...doc.body.templates[0], description: 'changed' }] };
    expect((await call('POST', '/v1/templates/import', otherOp, conflict)).status).toBe(409);
    expect((await call('POST', '/v1/templates/import', otherOp, { baton: 'nope', templates: [] })).body.error.field).toBe('baton');
    expect((await call('POST', '/v1/templates/import', viewer, doc.body)).status).toBe(403);
    const audit = (await h.ctx.store.auditList({ tenant: 'default', limit: 200 })).items.map((a) => a.action);
    expect(audit).toEqual(expect.arrayContaining(['template.create']));
  });
});

describe('bulk operations', () => {
  it('cancels, retries and deletes by filter or ids and reports affected and skipped', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) ids.push(((await call('POST', '/v1/jobs', submitter, commandJob({ queue: 'bulkq', tags: i < 3 ? ['x'] : [] }))).body as JobView).id);
    const c = await call('POST', '/v1/jobs/bulk/cancel', operator, { filter: { queue: 'bulkq', tag: 'x' } });
    expect(c.body).toEqual({ affected: 3, skipped: 0 });
    const again = await call('POST', '/v1/jobs/bulk/cancel', operator, { ids });
    expect(again.body).toEqual({ affected: 3, skipped: 3 });
    const del = await call('POST', '/v1/jobs/bulk/delete', operator, { filter: { queue: 'bulkq', status: 'cancelled', createdAfter: '2000-01-01T00:00:00Z' } });
    expect(del.body).toEqual({ affected: 6, skipped: 0 });
    expect((await call('GET', `/v1/jobs/${ids[0]}`, viewer)).status).toBe(404);
    const tpl = await call('POST', '/v1/jobs/bulk/cancel', operator, { filter: { template: 'etl' } });
    expect(tpl.body.affected).toBeGreaterThan(0);
    const retry = await call('POST', '/v1/jobs/bulk/retry', operator, { filter: { template: 'etl@1' } });
    expect(retry.body).toEqual({ affected: 1, skipped: 0 });
  });

  it('refuses bad input and other roles', async () => {
    expect((await call('POST', '/v1/jobs/bulk/cancel', submitter, { ids: ['a'] })).status).toBe(403);
    expect((await call('POST', '/v1/jobs/bulk/cancel', operator, {})).body.error.field).toBe('filter');
    expect((await call('POST', '/v1/jobs/bulk/cancel', operator, { filter: {}, ids: ['a'] })).status).toBe(400);
    expect((await call('POST', '/v1/jobs/bulk/cancel', operator, { filter: { status: 'nope' } })).status).toBe(400);
    expect((await call('POST', '/v1/jobs/bulk/retry', operator, { filter: {}, reason: 'x' })).body.error.field).toBe('reason');
    const audit = (await h.ctx.store.auditList({ tenant: 'default', limit: 200 })).items.map((a) => a.action);
    expect(audit).toEqual(expect.arrayContaining(['job.bulk_cancel', 'job.bulk_delete', 'job.bulk_retry']));
  });
});

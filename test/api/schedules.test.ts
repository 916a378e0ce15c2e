/**
 * Schedules through the API: create/read/list/patch/pause/resume/trigger/delete with audit rows,
 * roles, 400s naming the field (bad expression, unknown zone, never-firing expression, bad job),
 * runs, the cron preview (ISO 8601 with offsets, DST), and queue/tenant weights and limits.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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

async function call(method: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE', url: string, tok: string, payload?: unknown) {
  const res = await h.app.inject({ method, url, headers: h.auth(tok), ...(payload === undefined ? {} : { payload: payload as object }) });
  return { status: res.statusCode, body: res.body ? JSON.parse(res.body) : null };
}

const nightly = (over: Record<string, unknown> = {}) => ({ name: 'nightly', cron: '30 2 * * *', timezone: 'America/New_York', job: commandJob(), ...over });

describe('schedules', () => {
  it('creates, reads, lists, patches, pauses, resumes and deletes, each mutation audited', async () => {
    const c = await call('POST', '/v1/schedules', operator, nightly());
    expect(c.status).toBe(201);
    expect(c.body).toMatchObject({ name: 'nightly', cron: '30 2 * * *', timezone: 'America/New_York', overlap: 'allow', catchUp: 'latest', maxCatchUp: 100, paused: false, executions: 0 });
    expect(c.body.nextFireAt).toMatch(/T02:30:00-0[45]:00$/);
    const id = c.body.id;
    expect((await call('GET', `/v1/schedules/${id}`, viewer)).body).toEqual(c.body);
    expect((await call('GET', '/v1/schedules', viewer)).body.schedules.map((s: { id: string }) => s.id)).toContain(id);
    const p = await call('PATCH', `/v1/schedules/${id}`, operator, { cron: '0 * * * *', overlap: 'skip', catchUp: 'all' });
    expect(p.status).toBe(200);
    expect(p.body).toMatchObject({ cron: '0 * * * *', overlap: 'skip', catchUp: 'all' });
    expect(p.body.nextFireAt).toMatch(/T\d\d:00:00-0[45]:00$/);
    const paused = await call('POST', `/v1/schedules/${id}/pause`, operator);
    expect(paused.body).toMatchObject({ paused: true, nextFireAt: null });
    const resumed = await call('POST', `/v1/schedules/${id}/resume`, operator);
    expect(resumed.body.paused).toBe(false);
    expect(resumed.body.nextFireAt).not.toBeNull();
    expect((await call('DELETE', `/v1/schedules/${id}`, operator)).status).toBe(204);
    expect((await call('GET', `/v1/schedules/${id}`, viewer)).status).toBe(404);
    expect((await call('DELETE', `/v1/schedules/${id}`, operator)).status).toBe(404);
    const audit = (await call('GET', '/v1/audit?limit=20', h.adminToken)).body;
    const actions = (audit.entries ?? audit.items ?? audit.audit).map((e: { action: string }) => e.action);
    for (const a of ['schedule.create', 'schedule.update', 'schedule.pause', 'schedule.resume', 'schedule.delete']) expect(actions).toContain(a);
  });

  it('refuses bad input with the field named', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [nightly({ name: 'bad-1', cron: 'not a cron' }), 'cron'],
      [nightly({ name: 'bad-2', cron: '0 0 30 2 *' }), 'cron'],
      [nightly({ name: 'bad-3', timezone: 'Mars/Olympus' }), 'timezone'],
      [nightly({ name: 'bad-4', job: commandJob({ runAt: '2030-01-01T00:00:00Z' }) }), 'job.runAt'],
      [nightly({ name: 'bad-5', startAt: '2030-01-02T00:00:00Z', endAt: '2030-01-01T00:00:00Z' }), 'endAt'],
    ];
    for (const [body, field] of cases) {
      const r = await call('POST', '/v1/schedules', operator, body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body.error).toMatchObject({ code: 'BATON_E_VALIDATION', field });
    }
    const unknownField = await call('POST', '/v1/schedules', operator, nightly({ name: 'bad-6', every: 5 }));
    expect(unknownField.status).toBe(400);
    const dup = await call('POST', '/v1/schedules', operator, nightly({ name: 'dup' }));
    expect(dup.status).toBe(201);
    expect((await call('POST', '/v1/schedules', operator, nightly({ name: 'dup' }))).status).toBe(409);
    expect((await call('PATCH', `/v1/schedules/${dup.body.id}`, operator, { timezone: 'Nowhere/Else' })).body.error.field).toBe('timezone');
  });

  it('is for operators to manage and viewers to read', async () => {
    expect((await call('POST', '/v1/schedules', submitter, nightly({ name: 'by-submitter' }))).status).toBe(403);
    expect((await call('POST', '/v1/schedules', viewer, nightly({ name: 'by-viewer' }))).status).toBe(403);
    const c = await call('POST', '/v1/schedules', operator, nightly({ name: 'roles' }));
    for (const a of ['pause', 'resume', 'trigger']) expect((await call('POST', `/v1/schedules/${c.body.id}/${a}`, viewer)).status).toBe(403);
    expect((await call('DELETE', `/v1/schedules/${c.body.id}`, viewer)).status).toBe(403);
    expect((await call('GET', `/v1/schedules/${c.body.id}/runs`, viewer)).status).toBe(200);
    // Other tenants do not see it.
    const other = await h.token('operator', 'globex');
    expect((await call('GET', `/v1/schedules/${c.body.id}`, other)).status).toBe(404);
  });

  it('trigger fires once now without advancing the schedule; runs list it with its job', async () => {
    const c = await call('POST', '/v1/schedules', operator, nightly({ name: 'manual', paused: true }));
    const t = await call('POST', `/v1/schedules/${c.body.id}/trigger`, operator);
    expect(t.status).toBe(201);
    expect(t.body.run).toMatchObject({ decision: 'triggered', jobId: t.body.job.id });
    expect(t.body.run.fireAt).toMatch(/-0[45]:00$/);
    expect(t.body.job).toMatchObject({ status: 'pending', type: 'command' });
    expect(h.services.calls.wake).toBeGreaterThan(0);
    const runs = await call('GET', `/v1/schedules/${c.body.id}/runs`, viewer);
    expect(runs.body.runs).toEqual([expect.objectContaining({ jobId: t.body.job.id, decision: 'triggered', jobStatus: 'pending' })]);
    expect((await call('GET', `/v1/schedules/${c.body.id}`, viewer)).body).toMatchObject({ executions: 0, lastFireAt: null });
  });
});

describe('cron preview', () => {
  it('gives the next instants with their offsets, through a DST change', async () => {
    const r = await call('GET', `/v1/cron/preview?expr=${encodeURIComponent('30 2 * * *')}&timezone=America/New_York&from=2026-03-07T00:00:00Z&count=3`, viewer);
    expect(r.status).toBe(200);
    // 02:30 does not exist on 8 March: it fires once, at the end of the gap (03:00 EDT).
    expect(r.body).toEqual({ expr: '30 2 * * *', timezone: 'America/New_York', fires: ['2026-03-07T02:30:00-05:00', '2026-03-08T03:00:00-04:00', '2026-03-09T02:30:00-04:00'] });
  });

  it('refuses a bad expression, an unknown zone and a never-firing expression, naming the parameter', async () => {
    const q = (s: string) => call('GET', `/v1/cron/preview?${s}`, viewer);
    expect((await q('expr=bad')).body.error).toMatchObject({ code: 'BATON_E_VALIDATION', field: 'expr' });
    expect((await q(`expr=${encodeURIComponent('0 0 30 2 *')}`)).body.error.field).toBe('expr');
    expect((await q(`expr=${encodeURIComponent('* * * * *')}&timezone=Mars/Olympus`)).body.error.field).toBe('timezone');
    expect((await q('timezone=UTC')).body.error.field).toBe('expr');
    expect((await q(`expr=${encodeURIComponent('* * * * *')}&count=0`)).body.error.field).toBe('count');
    expect((await q(`expr=${encodeURIComponent('* * * * *')}&from=yesterday`)).body.error.field).toBe('from');
  });
});

describe('weights and limits', () => {
  it('sets a queue weight and cap (operator) and a tenant weight (system admin)', async () => {
    const q = await call('PUT', '/v1/queues/reports', operator, { weight: 3, concurrencyLimit: 2 });
    expect(q.status).toBe(200);
    expect(q.body).toMatchObject({ name: 'reports', weight: 3, concurrencyLimit: 2 });
    expect((await call('PUT', '/v1/queues/reports', operator, { concurrencyLimit: null })).body.concurrencyLimit).toBeNull();
    expect((await call('PUT', '/v1/queues/reports', operator, { weight: 0 })).status).toBe(400);
    expect((await call('PUT', '/v1/queues/reports', viewer, { weight: 2 })).status).toBe(403);
    const t = await call('PATCH', '/v1/tenants/default', h.adminToken, { weight: 3 });
    expect(t.status).toBe(200);
    expect(t.body).toMatchObject({ id: 'default', weight: 3 });
    expect((await call('PATCH', '/v1/tenants/default', operator, { weight: 3 })).status).toBe(403);
    expect((await call('PATCH', '/v1/tenants/nobody', h.adminToken, { weight: 3 })).status).toBe(404);
  });

  it('accepts deadline and concurrencyKey on a job and shows them', async () => {
    const deadline = new Date(Date.now() + 60_000).toISOString();
    const r = await call('POST', '/v1/jobs', submitter, commandJob({ deadline, concurrencyKey: 'customer-7', concurrencyLimit: 2 }));
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({ deadline, concurrencyKey: 'customer-7', concurrencyLimit: 2 });
    const bad = await call('POST', '/v1/jobs', submitter, commandJob({ deadline: '2000-01-01T00:00:00Z' }));
    expect(bad.body.error).toMatchObject({ field: 'deadline' });
  });
});

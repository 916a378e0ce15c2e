/**
 * Queues, workers, audit, health probes and the OpenAPI document.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditView, QueueView, WorkerView } from '../../src/core/api.ts';
import { commandJob, makeApiHarness, registerWorker, type ApiHarness } from '../helpers/api-context.ts';

let h: ApiHarness;
let operator: string;
let viewer: string;

beforeAll(async () => {
  h = await makeApiHarness();
  operator = await h.token('operator');
  viewer = await h.token('viewer');
});
afterAll(async () => h?.close());

async function call(method: 'GET' | 'POST', url: string, tok: string, payload?: unknown) {
  const res = await h.app.inject({ method, url, headers: h.auth(tok), ...(payload === undefined ? {} : { payload: payload as object }) });
  return { status: res.statusCode, body: res.body ? JSON.parse(res.body) : null, headers: res.headers };
}

describe('queues', () => {
  it('lists queues with counts and pauses and resumes them', async () => {
    for (let i = 0; i < 3; i++) await call('POST', '/v1/jobs', operator, commandJob({ queue: 'mail' }));
    const list = await call('GET', '/v1/queues', viewer);
    expect(list.status).toBe(200);
    const mail = list.body.queues.find((q: QueueView) => q.name === 'mail');
    expect(mail).toMatchObject({ paused: false, counts: { pending: 3 } });

    const paused = await call('POST', '/v1/queues/mail/pause', operator);
    expect(paused.status).toBe(200);
    expect(paused.body).toMatchObject({ name: 'mail', paused: true });
    const wakes = h.services.calls.wake;
    const resumed = await call('POST', '/v1/queues/mail/resume', operator, {});
    expect(resumed.body.paused).toBe(false);
    expect(h.services.calls.wake).toBe(wakes + 1);

    const audit = (await h.ctx.store.auditList({ tenant: 'default', limit: 20 })).items.map((a) => `${a.action}:${a.targetId}`);
    expect(audit).toEqual(expect.arrayContaining(['queue.pause:mail', 'queue.resume:mail']));
  });

  it('refuses a queue name that is not a name', async () => {
    const r = await call('POST', '/v1/queues/bad%20name/pause', operator);
    expect(r.status).toBe(400);
    expect(r.body.error).toMatchObject({ code: 'BATON_E_VALIDATION', field: 'name' });
  });
});

describe('workers', () => {
  it('lists workers with their connected flag and reads one', async () => {
    const a = await registerWorker(h, 'default', 'alpha');
    const b = await registerWorker(h, 'default', 'beta');
    h.services.connected.add(a);
    const list = await call('GET', '/v1/workers', viewer);
    const byId = new Map<string, WorkerView>(list.body.workers.map((w: WorkerView) => [w.id, w]));
    expect(byId.get(a)).toMatchObject({ name: 'alpha', connected: true, status: 'active', capacity: 4 });
    expect(byId.get(b)?.connected).toBe(false);
    const one = await call('GET', `/v1/workers/${b}`, viewer);
    expect(one.body).toMatchObject({ id: b, name: 'beta', host: 'test-host' });
    expect((await call('GET', '/v1/workers/nope', viewer)).status).toBe(404);
  });

  it('drains a worker: durable status, a message to it, an audit row', async () => {
    const w = await registerWorker(h, 'default', 'gamma');
    h.services.connected.add(w);
    const r = await call('POST', `/v1/workers/${w}/drain`, operator);
    expect(r.status).toBe(202);
    expect(r.body).toMatchObject({ id: w, status: 'draining', notified: true });
    expect(h.services.calls.drain).toContain(w);
    expect((await h.ctx.store.workerGet({ tenant: 'default', id: w }))?.status).toBe('draining');
    const audit = (await h.ctx.store.auditList({ tenant: 'default', limit: 20 })).items;
    expect(audit.find((a) => a.action === 'worker.drain' && a.targetId === w)).toBeDefined();
  });

  it("does not drain another tenant's worker", async () => {
    await h.token('viewer', 'other');
    const foreign = await registerWorker(h, 'other', 'delta');
    const r = await call('POST', `/v1/workers/${foreign}/drain`, operator);
    expect(r.status).toBe(404);
    expect((await h.ctx.store.workerGet({ tenant: 'other', id: foreign }))?.status).toBe('active');
  });
});

describe('audit', () => {
  it('pages through the audit log newest first', async () => {
    const seen: AuditView[] = [];
    let cursor: string | null = null;
    do {
      const r = await call('GET', `/v1/audit?limit=3${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, operator);
      expect(r.status).toBe(200);
      seen.push(...r.body.entries);
      cursor = r.body.nextCursor;
    } while (cursor);
    expect(seen.length).toBeGreaterThan(3);
    const ids = seen.map((e) => e.id);
    expect([...ids].sort((x, y) => y - x)).toEqual(ids);
    expect(seen.every((e) => e.tenant === 'default' && typeof e.at === 'string')).toBe(true);
  });

  it('refuses a bad cursor and a bad limit', async () => {
    expect((await call('GET', '/v1/audit?cursor=zzz', operator)).body.error).toMatchObject({ code: 'BATON_E_VALIDATION', field: 'cursor' });
    expect((await call('GET', '/v1/audit?limit=-5', operator)).body.error).toMatchObject({ code: 'BATON_E_VALIDATION', field: 'limit' });
  });
});

describe('health', () => {
  it('answers /healthz and /readyz', async () => {
    expect((await h.app.inject({ method: 'GET', url: '/healthz' })).json()).toEqual({ status: 'ok' });
    expect((await h.app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
  });

  it('answers /readyz with 503 and Retry-After when the store is gone', async () => {
    const other = await makeApiHarness();
    try {
      await other.ctx.store.close();
      const res = await other.app.inject({ method: 'GET', url: '/readyz' });
      expect(res.statusCode).toBe(503);
      expect(res.headers['retry-after']).toBe('5');
      expect(res.json().error.code).toBe('BATON_E_UNAVAILABLE');
      expect((await other.app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    } finally {
      await other.close();
    }
  });
});

describe('GET /openapi.json', () => {
  it('is an OpenAPI 3 document listing every route with its methods', async () => {
    const res = await h.app.inject({ method: 'GET', url: '/openapi.json' });
    expect(res.statusCode).toBe(200);
    const doc = res.json() as { openapi: string; paths: Record<string, Record<string, unknown>>; components: { securitySchemes: object } };
    expect(doc.openapi).toMatch(/^3\./);
    const expected: [string, string][] = [
      ['/v1/jobs', 'post'], ['/v1/jobs', 'get'], ['/v1/jobs/batch', 'post'], ['/v1/jobs/{id}', 'get'], ['/v1/jobs/{id}', 'patch'],
      ['/v1/jobs/{id}/cancel', 'post'], ['/v1/jobs/{id}/retry', 'post'], ['/v1/jobs/{id}/clone', 'post'], ['/v1/jobs/{id}/logs', 'get'],
      ['/v1/jobs/{id}/result', 'get'], ['/v1/queues', 'get'], ['/v1/queues/{name}/pause', 'post'], ['/v1/queues/{name}/resume', 'post'],
      ['/v1/workers', 'get'], ['/v1/workers/{id}', 'get'], ['/v1/workers/{id}/drain', 'post'], ['/v1/tokens', 'post'], ['/v1/tokens', 'get'],
      ['/v1/tokens/{id}', 'delete'], ['/v1/tenants', 'post'], ['/v1/tenants', 'get'], ['/v1/audit', 'get'], ['/healthz', 'get'], ['/readyz', 'get'],
    ];
    for (const [p, m] of expected) expect(doc.paths[p]?.[m], `${m.toUpperCase()} ${p}`).toBeDefined();
    expect(doc.components.securitySchemes).toHaveProperty('bearerAuth');
    const submit = doc.paths['/v1/jobs'].post as { requestBody: { content: Record<string, { schema: { properties: object } }> } };
    expect(submit.requestBody.content['application/json'].schema.properties).toHaveProperty('priority');
  });
});

/**
 * Authentication, roles per route class, tenant isolation, tokens and tenants.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Role } from '../../src/core/types.ts';
import { authenticate, formatToken, parseToken } from '../../src/server/auth.ts';
import { bootstrap } from '../../src/server/tokens.ts';
import { commandJob, makeApiHarness, registerWorker, type ApiHarness } from '../helpers/api-context.ts';

let h: ApiHarness;
const tokens = {} as Record<Role | 'system', string>;

beforeAll(async () => {
  h = await makeApiHarness();
  for (const role of ['viewer', 'submitter', 'operator', 'admin', 'worker'] as const) tokens[role] = await h.token(role);
  tokens.system = h.adminToken;
});
afterAll(async () => h?.close());

async function call(method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, headers: Record<string, string>, payload?: unknown) {
  const res = await h.app.inject({ method, url, headers, ...(payload === undefined ? {} : { payload: payload as object }) });
  return { status: res.statusCode, body: res.body ? JSON.parse(res.body) : null };
}

describe('roles per route class', () => {
  type Who = keyof typeof tokens;
  const routes: { name: string; method: 'GET' | 'POST'; url: string; body?: unknown; ok: number; allowed: Who[] }[] = [
    { name: 'read', method: 'GET', url: '/v1/jobs', ok: 200, allowed: ['viewer', 'submitter', 'operator', 'admin', 'system'] },
    { name: 'read workers', method: 'GET', url: '/v1/workers', ok: 200, allowed: ['viewer', 'submitter', 'operator', 'admin', 'system'] },
    { name: 'submit', method: 'POST', url: '/v1/jobs', body: commandJob(), ok: 201, allowed: ['submitter', 'operator', 'admin', 'system'] },
    { name: 'operate', method: 'POST', url: '/v1/queues/roles/pause', ok: 200, allowed: ['operator', 'admin', 'system'] },
    { name: 'audit', method: 'GET', url: '/v1/audit', ok: 200, allowed: ['operator', 'admin', 'system'] },
    { name: 'admin', method: 'GET', url: '/v1/tokens', ok: 200, allowed: ['admin', 'system'] },
    { name: 'system', method: 'GET', url: '/v1/tenants', ok: 200, allowed: ['system'] },
    { name: 'health', method: 'GET', url: '/healthz', ok: 200, allowed: ['viewer', 'submitter', 'operator', 'admin', 'worker', 'system'] },
  ];
  const cases = routes.flatMap((r) =>
    (Object.keys({ viewer: 0, submitter: 0, operator: 0, admin: 0, worker: 0, system: 0 }) as Who[]).map((who) => [r.name, who, r] as const),
  );
  it.each(cases)('%s route as %s', async (_n, who, r) => {
    const res = await call(r.method, r.url, h.auth(tokens[who]), r.body);
    if (r.allowed.includes(who)) expect(res.status, JSON.stringify(res.body)).toBe(r.ok);
    else {
      expect(res.status).toBe(403);
      expect(res.body.error.code).toBe('BATON_E_FORBIDDEN');
    }
  });
});

describe('authentication', () => {
  it.each([
    ['no header', {}],
    ['not bearer', { authorization: 'Basic abc' }],
    ['not a baton token', { authorization: 'Bearer abc' }],
    ['an unknown token id', { authorization: `Bearer ${formatToken('01900000-0000-7000-8000-000000000000', 'secret')}` }],
  ])('refuses %s with 401', async (_n, headers) => {
    const r = await call('GET', '/v1/jobs', headers as Record<string, string>);
    expect(r.status).toBe(401);
    expect(r.body.error.code).toBe('BATON_E_UNAUTHENTICATED');
  });

  it('refuses a known id with the wrong secret', async () => {
    const { tokenId } = parseToken(tokens.viewer)!;
    const r = await call('GET', '/v1/jobs', h.auth(formatToken(tokenId, 'guess')));
    expect(r.status).toBe(401);
  });

  it('checks the token before the body', async () => {
    const res = await h.app.inject({ method: 'POST', url: '/v1/jobs', headers: { 'content-type': 'application/json' }, payload: '{bad' });
    expect(res.statusCode).toBe(401);
  });

  it('needs no token for health, readiness and the OpenAPI document', async () => {
    expect((await call('GET', '/healthz', {})).status).toBe(200);
    expect((await call('GET', '/readyz', {})).status).toBe(200);
    expect((await call('GET', '/openapi.json', {})).status).toBe(200);
  });

  it('gives the gateway a principal for a worker token', async () => {
    const p = await authenticate(h.ctx, `Bearer ${tokens.worker}`);
    expect(p).toMatchObject({ tenant: 'default', role: 'worker', system: false });
  });
});

describe('tenants and isolation', () => {
  let tokB: string;
  let jobA: string;

  beforeAll(async () => {
    const r = await call('POST', '/v1/tenants', h.auth(tokens.system), { id: 'acme', name: 'Acme' });
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({ id: 'acme', name: 'Acme' });
    tokB = await h.token('admin', 'acme');
    jobA = (await call('POST', '/v1/jobs', h.auth(tokens.submitter), commandJob())).body.id;
  });

  it('lists tenants and refuses a duplicate', async () => {
    const list = await call('GET', '/v1/tenants', h.auth(tokens.system));
    expect(list.body.tenants.map((t: { id: string }) => t.id)).toEqual(expect.arrayContaining(['default', 'acme']));
    const dup = await call('POST', '/v1/tenants', h.auth(tokens.system), { id: 'acme', name: 'Again' });
    expect(dup.status).toBe(409);
    expect(dup.body.error).toMatchObject({ code: 'BATON_E_CONFLICT', field: 'id' });
  });

  it("reports another tenant's job as not found, never forbidden", async () => {
    for (const [m, url] of [['GET', `/v1/jobs/${jobA}`], ['GET', `/v1/jobs/${jobA}/logs`], ['GET', `/v1/jobs/${jobA}/result`], ['POST', `/v1/jobs/${jobA}/cancel`], ['POST', `/v1/jobs/${jobA}/clone`]] as const) {
      const r = await call(m, url, h.auth(tokB));
      expect(r.status, url).toBe(404);
      expect(r.body.error.code).toBe('BATON_E_NOT_FOUND');
    }
    const p = await call('PATCH', `/v1/jobs/${jobA}`, h.auth(tokB), { priority: 2 });
    expect(p.status).toBe(404);
    expect((await call('GET', `/v1/jobs/${jobA}`, h.auth(tokens.viewer))).body.status).toBe('pending');
  });

  it('shows empty lists to another tenant', async () => {
    await registerWorker(h, 'default');
    expect((await call('GET', '/v1/jobs', h.auth(tokB))).body).toEqual({ jobs: [], nextCursor: null });
    expect((await call('GET', '/v1/queues', h.auth(tokB))).body).toEqual({ queues: [] });
    expect((await call('GET', '/v1/workers', h.auth(tokB))).body).toEqual({ workers: [] });
    const tokList = (await call('GET', '/v1/tokens', h.auth(tokB))).body.tokens;
    expect(tokList.every((t: { tenant: string }) => t.tenant === 'acme')).toBe(true);
  });

  it('lets a system token act in another tenant with X-Baton-Tenant', async () => {
    const r = await call('POST', '/v1/jobs', { ...h.auth(tokens.system), 'x-baton-tenant': 'acme' }, commandJob());
    expect(r.status).toBe(201);
    expect(r.body.tenant).toBe('acme');
    expect((await call('GET', `/v1/jobs/${r.body.id}`, h.auth(tokB))).status).toBe(200);
    const unknown = await call('GET', '/v1/jobs', { ...h.auth(tokens.system), 'x-baton-tenant': 'nope' });
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe('BATON_E_NOT_FOUND');
  });

  it('refuses X-Baton-Tenant from a token that is not a system token', async () => {
    const r = await call('GET', '/v1/jobs', { ...h.auth(tokB), 'x-baton-tenant': 'default' });
    expect(r.status).toBe(403);
    const own = await call('GET', '/v1/jobs', { ...h.auth(tokB), 'x-baton-tenant': 'acme' });
    expect(own.status).toBe(200);
  });

  it('refuses tenant creation to a tenant admin', async () => {
    const r = await call('POST', '/v1/tenants', h.auth(tokB), { id: 'evil', name: 'Evil' });
    expect(r.status).toBe(403);
  });
});

describe('token routes', () => {
  it('creates a token shown once, lists it without secrets, and revokes it at once', async () => {
    const created = await call('POST', '/v1/tokens', h.auth(tokens.admin), { name: 'ci', role: 'submitter' });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ name: 'ci', role: 'submitter', system: false, tenant: 'default', lastUsedAt: null });
    expect(created.body.token).toMatch(/^baton_[0-9a-f-]+_[A-Za-z0-9_-]{43}$/);
    const secret = created.body.token as string;
    expect((await call('POST', '/v1/jobs', h.auth(secret), commandJob())).status).toBe(201);

    const list = await call('GET', '/v1/tokens', h.auth(tokens.admin));
    const row = list.body.tokens.find((t: { id: string }) => t.id === created.body.id);
    expect(row).toBeDefined();
    expect(row.token).toBeUndefined();
    expect(JSON.stringify(list.body)).not.toContain('secretHash');

    const del = await h.app.inject({ method: 'DELETE', url: `/v1/tokens/${created.body.id}`, headers: h.auth(tokens.admin) });
    expect(del.statusCode).toBe(204);
    expect((await call('GET', '/v1/jobs', h.auth(secret))).status).toBe(401);
    expect((await call('DELETE', `/v1/tokens/${created.body.id}`, h.auth(tokens.admin))).status).toBe(404);

    const audit = (await h.ctx.store.auditList({ tenant: 'default', limit: 100 })).items;
    expect(audit.find((a) => a.action === 'token.create' && a.targetId === created.body.id)).toBeDefined();
    expect(audit.find((a) => a.action === 'token.delete' && a.targetId === created.body.id)).toBeDefined();
  });

  it('refuses a token without a role, with an unknown role, or with a name in use', async () => {
    const missing = await call('POST', '/v1/tokens', h.auth(tokens.admin), { name: 'x' });
    expect(missing.body.error).toMatchObject({ code: 'BATON_E_VALIDATION', field: 'role' });
    const bad = await call('POST', '/v1/tokens', h.auth(tokens.admin), { name: 'x', role: 'root' });
    expect(bad.body.error).toMatchObject({ code: 'BATON_E_VALIDATION', field: 'role' });
    await call('POST', '/v1/tokens', h.auth(tokens.admin), { name: 'dup', role: 'viewer' });
    const dup = await call('POST', '/v1/tokens', h.auth(tokens.admin), { name: 'dup', role: 'viewer' });
    expect(dup.status).toBe(409);
  });

  it('lets only a system admin create a system token, and only with role worker', async () => {
    const made = await call('POST', '/v1/tokens', h.auth(tokens.system), { name: 'shared-pool', role: 'worker', system: true });
    expect(made.status).toBe(201);
    expect(made.body).toMatchObject({ role: 'worker', system: true, tenant: 'default' });
    expect(await authenticate(h.ctx, `Bearer ${made.body.token}`)).toMatchObject({ role: 'worker', system: true });
    const byTenantAdmin = await call('POST', '/v1/tokens', h.auth(tokens.admin), { name: 'sneaky', role: 'worker', system: true });
    expect(byTenantAdmin.status).toBe(403);
    const asAdmin = await call('POST', '/v1/tokens', h.auth(tokens.system), { name: 'second-root', role: 'admin', system: true });
    expect(asAdmin.body.error).toMatchObject({ code: 'BATON_E_VALIDATION', field: 'system' });
    expect((await call('DELETE', `/v1/tokens/${made.body.id}`, h.auth(tokens.system))).status).toBe(204);
  });

  it("does not let a tenant admin revoke the system token or another tenant's token", async () => {
    const sysId = parseToken(tokens.system)!.tokenId;
    expect((await call('DELETE', `/v1/tokens/${sysId}`, h.auth(tokens.admin))).status).toBe(403);
    const other = parseToken(await h.token('viewer', 'acme'))!.tokenId;
    expect((await call('DELETE', `/v1/tokens/${other}`, h.auth(tokens.admin))).status).toBe(404);
  });
});

describe('bootstrap', () => {
  it('creates no second system token on the next start', async () => {
    expect(await bootstrap(h.ctx)).toEqual({ adminToken: null });
    expect(await h.ctx.store.tokenCountSystem()).toBe(1);
  });

  it('makes a new system admin when only system worker tokens are left', async () => {
    const own = await makeApiHarness();
    try {
      const res = await own.app.inject({ method: 'POST', url: '/v1/tokens', headers: own.auth(own.adminToken), payload: { name: 'shared-pool', role: 'worker', system: true } });
      expect(res.statusCode).toBe(201);
      const adminId = parseToken(own.adminToken)!.tokenId;
      expect((await own.app.inject({ method: 'DELETE', url: `/v1/tokens/${adminId}`, headers: own.auth(own.adminToken) })).statusCode).toBe(204);
      const again = await bootstrap(own.ctx);
      expect(again.adminToken).toMatch(/^baton_/);
      expect(await authenticate(own.ctx, `Bearer ${again.adminToken}`)).toMatchObject({ role: 'admin', system: true });
    } finally {
      await own.close();
    }
  });
});

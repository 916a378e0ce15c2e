/**
 * Bad input is refused at the boundary with a code and the field named, and nothing of a bad
 * request is written.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commandJob, makeApiHarness, type ApiHarness } from '../helpers/api-context.ts';

let h: ApiHarness;
let token: string;
// Small, so the body-limit test stays cheap; the batch-size test makes its own harness with the
// default limit.
const BODY_LIMIT = 64 * 1024;

beforeAll(async () => {
  h = await makeApiHarness({ bodyLimitBytes: BODY_LIMIT });
  token = await h.token('submitter');
});
afterAll(async () => h?.close());

async function send(method: 'GET' | 'POST' | 'PATCH', url: string, payload?: unknown, headers: Record<string, string> = {}) {
  const body = payload === undefined ? undefined : typeof payload === 'string' ? payload : JSON.stringify(payload);
  const res = await h.app.inject({
    method,
    url,
    headers: { ...h.auth(token), ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    ...(body === undefined ? {} : { payload: body }),
  });
  return { status: res.statusCode, body: res.body ? JSON.parse(res.body) : null };
}

async function jobCount(): Promise<number> {
  return (await h.ctx.store.jobList({ tenant: 'default', limit: 1000 })).items.length;
}

function expectError(r: { status: number; body: { error: { code: string; field?: string } } }, status: number, code: string, field?: string) {
  expect(r.status, JSON.stringify(r.body)).toBe(status);
  expect(r.body.error.code).toBe(code);
  if (field !== undefined) expect(r.body.error.field).toBe(field);
}

describe('POST /v1/jobs bad input', () => {
  const cases: [string, unknown, string][] = [
    ['a wrong type (priority "high")', commandJob({ priority: 'high' }), 'priority'],
    ['a number as a string is not coerced', commandJob({ priority: '5' }), 'priority'],
    ['priority 0', commandJob({ priority: 0 }), 'priority'],
    ['priority 11', commandJob({ priority: 11 }), 'priority'],
    ['an unknown top-level field', commandJob({ colour: 'red' }), 'colour'],
    ['an unknown field in backoff', commandJob({ backoff: { initialMs: 10, steps: 3 } }), 'backoff.steps'],
    ['a missing type', { payload: { argv: ['x'] } }, 'type'],
    ['an unknown type', commandJob({ type: 'shell' }), 'type'],
    ['runAt and delayMs together', commandJob({ runAt: new Date().toISOString(), delayMs: 10 }), 'delayMs'],
    ['a runAt that is not a date-time', commandJob({ runAt: 'tomorrow' }), 'runAt'],
    ['a command without argv or script', { type: 'command', payload: {} }, 'payload.argv'],
    ['an argv that is not strings', { type: 'command', payload: { argv: [1, 2] } }, 'payload.argv'],
    ['an http job without url', { type: 'http', payload: { method: 'GET' } }, 'payload.url'],
    ['an http job with a ftp url', { type: 'http', payload: { url: 'ftp://x' } }, 'payload.url'],
    ['a function job without handler', { type: 'function', payload: { args: [] } }, 'payload.handler'],
    ['an unknown payload field', { type: 'command', payload: { argv: ['x'], sudo: true } }, 'payload.sudo'],
    ['backoff.maxMs below initialMs', commandJob({ backoff: { initialMs: 5000, maxMs: 10 } }), 'backoff.maxMs'],
    ['a tag that is not a string', commandJob({ tags: ['ok', 3] }), 'tags[1]'],
  ];
  it.each(cases)('refuses %s naming the field', async (_name, body, field) => {
    const before = await jobCount();
    expectError(await send('POST', '/v1/jobs', body), 400, 'BATON_E_VALIDATION', field);
    expect(await jobCount()).toBe(before);
  });

  it('refuses a body that is not an object', async () => {
    expectError(await send('POST', '/v1/jobs', [commandJob()]), 400, 'BATON_E_VALIDATION', 'body');
    expectError(await send('POST', '/v1/jobs'), 400, 'BATON_E_VALIDATION');
  });

  it('refuses malformed JSON', async () => {
    expectError(await send('POST', '/v1/jobs', '{"type": "command", '), 400, 'BATON_E_MALFORMED_JSON');
  });

  it('refuses __proto__ and constructor.prototype keys, spelled plainly or with \\u escapes, and writes nothing', async () => {
    const before = await jobCount();
    const bodies = [
      '{"type": "command", "payload": {"argv": ["x"]}, "__proto__": {"admin": true}}',
      '{"type": "command", "payload": {"argv": ["x"]}, "metadata": {"\\u005f_proto__": {"admin": true}}}',
      '{"type": "command", "payload": {"argv": ["x"]}, "metadata": {"constructor": {"prototype": {"admin": true}}}}',
    ];
    for (const b of bodies) {
      const r = await send('POST', '/v1/jobs', b);
      expect(r.status, b).toBe(400);
    }
    expect(await jobCount()).toBe(before);
    // A payload that merely mentions the words (or uses \u escapes) is ordinary JSON.
    const ok = await send('POST', '/v1/jobs', '{"type": "command", "payload": {"argv": ["prototype", "constructor", "\\u00e9"]}}');
    expect(ok.status, JSON.stringify(ok.body)).toBe(201);
    expect((ok.body as { payload: { argv: string[] } }).payload.argv).toEqual(['prototype', 'constructor', 'é']);
  });

  it('refuses a body that is not JSON with 415', async () => {
    const res = await h.app.inject({ method: 'POST', url: '/v1/jobs', headers: { ...h.auth(token), 'content-type': 'text/plain' }, payload: 'type=command' });
    expect(res.statusCode).toBe(415);
    expect(JSON.parse(res.body).error.code).toBe('BATON_E_UNSUPPORTED_MEDIA_TYPE');
  });

  it('refuses a body over the limit with 413', async () => {
    const big = commandJob({ metadata: { blob: 'x'.repeat(BODY_LIMIT) } });
    expectError(await send('POST', '/v1/jobs', big), 413, 'BATON_E_BODY_TOO_LARGE');
  });
});

describe('POST /v1/jobs/batch bad input', () => {
  it('names the index of a bad item and inserts nothing', async () => {
    const before = await jobCount();
    const jobs = [commandJob(), commandJob(), commandJob(), commandJob({ priority: 'high' }), commandJob()];
    expectError(await send('POST', '/v1/jobs/batch', { jobs }), 400, 'BATON_E_VALIDATION', 'jobs[3].priority');
    expect(await jobCount()).toBe(before);
  });

  it('names the index of a semantically bad item and inserts nothing', async () => {
    const before = await jobCount();
    const jobs = [commandJob(), { type: 'http', payload: { url: 'not a url' } }];
    expectError(await send('POST', '/v1/jobs/batch', { jobs }), 400, 'BATON_E_VALIDATION', 'jobs[1].payload.url');
    expect(await jobCount()).toBe(before);
  });

  it('refuses an empty batch and unknown fields', async () => {
    expectError(await send('POST', '/v1/jobs/batch', { jobs: [] }), 400, 'BATON_E_VALIDATION', 'jobs');
    expectError(await send('POST', '/v1/jobs/batch', { jobs: [commandJob()], atomic: true }), 400, 'BATON_E_VALIDATION', 'atomic');
  });

  it('refuses a batch of 10,001 jobs before validating items', async () => {
    const big = await makeApiHarness();
    try {
      const tok = await big.token('submitter');
      // Items are deliberately invalid: the size must be refused first.
      const jobs = Array.from({ length: 10_001 }, () => ({ type: 'command', payload: {} }));
      const res = await big.app.inject({ method: 'POST', url: '/v1/jobs/batch', headers: big.auth(tok), payload: { jobs } });
      expect(res.statusCode).toBe(400);
      expect(JSON.parse(res.body).error).toMatchObject({ code: 'BATON_E_BATCH_TOO_LARGE', field: 'jobs' });
      expect((await big.ctx.store.jobList({ tenant: 'default', limit: 10 })).items).toHaveLength(0);
    } finally {
      await big.close();
    }
  });
});

describe('query and path parameters', () => {
  it.each([
    ['/v1/jobs?limit=abc', 'limit'],
    ['/v1/jobs?limit=0', 'limit'],
    ['/v1/jobs?limit=1001', 'limit'],
    ['/v1/jobs?limit=1.5', 'limit'],
    ['/v1/jobs?status=done', 'status'],
    ['/v1/jobs?type=shell', 'type'],
    ['/v1/jobs?cursor=not-a-cursor', 'cursor'],
    ['/v1/jobs?status=pending&status=failed', 'status'],
  ])('GET %s names %s', async (url, field) => {
    expectError(await send('GET', url), 400, 'BATON_E_VALIDATION', field);
  });

  it('reports an unknown job id as not found', async () => {
    for (const url of ['/v1/jobs/nope', '/v1/jobs/nope/logs', '/v1/jobs/nope/result']) expectError(await send('GET', url), 404, 'BATON_E_NOT_FOUND');
    expectError(await send('POST', '/v1/jobs/nope/cancel', {}), 404, 'BATON_E_NOT_FOUND');
    expectError(await send('PATCH', '/v1/jobs/nope', { priority: 3 }), 404, 'BATON_E_NOT_FOUND');
  });

  it('reports an unknown route with its own code', async () => {
    expectError(await send('GET', '/v1/nothing'), 404, 'BATON_E_ROUTE_NOT_FOUND');
  });
});

describe('PATCH, cancel and retry bodies', () => {
  it('refuses an empty patch, unknown fields and fields that cannot change', async () => {
    const job = (await send('POST', '/v1/jobs', commandJob())).body;
    expectError(await send('PATCH', `/v1/jobs/${job.id}`, {}), 400, 'BATON_E_VALIDATION');
    expectError(await send('PATCH', `/v1/jobs/${job.id}`, { type: 'http' }), 400, 'BATON_E_VALIDATION', 'type');
    expectError(await send('PATCH', `/v1/jobs/${job.id}`, { priority: 11 }), 400, 'BATON_E_VALIDATION', 'priority');
    expectError(await send('PATCH', `/v1/jobs/${job.id}`, { payload: { url: 'http://x' } }), 400, 'BATON_E_VALIDATION', 'payload.url');
    expectError(await send('POST', `/v1/jobs/${job.id}/cancel`, { reason: 5 }), 400, 'BATON_E_VALIDATION', 'reason');
    expect((await send('GET', `/v1/jobs/${job.id}`)).body.priority).toBe(5);
  });

  it('accepts an empty JSON body on routes whose body is optional', async () => {
    const job = (await send('POST', '/v1/jobs', commandJob())).body;
    const r = await send('POST', `/v1/jobs/${job.id}/cancel`, '');
    expect(r.status).toBe(200);
  });
});

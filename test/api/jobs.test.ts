/**
 * Job routes, happy paths and state rules: submit, batch, read, list, cancel, modify, retry,
 * clone, result; the services each route pokes; one audit row per mutation.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobView } from '../../src/core/api.ts';
import { commandJob, makeApiHarness, registerWorker, report, startJob, type ApiHarness } from '../helpers/api-context.ts';

let h: ApiHarness;
let token: string;

beforeAll(async () => {
  h = await makeApiHarness();
  token = await h.token('submitter');
});
afterAll(async () => h?.close());

async function call(method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, payload?: unknown, tok = token) {
  const res = await h.app.inject({ method, url, headers: h.auth(tok), ...(payload === undefined ? {} : { payload: payload as object }) });
  return { status: res.statusCode, body: res.body ? JSON.parse(res.body) : null };
}

async function submit(extra: Record<string, unknown> = {}): Promise<JobView> {
  const r = await call('POST', '/v1/jobs', commandJob(extra));
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body as JobView;
}

async function lastAudit(action: string) {
  const page = await h.ctx.store.auditList({ tenant: 'default', limit: 50 });
  return page.items.find((e) => e.action === action);
}

describe('POST /v1/jobs', () => {
  it('creates a pending job with defaults and wakes the dispatcher', async () => {
    const wakes = h.services.calls.wake;
    const job = await submit({ name: 'hello', tags: ['a', 'a', 'b'] });
    expect(job).toMatchObject({ type: 'command', status: 'pending', queue: 'default', priority: 5, name: 'hello', tags: ['a', 'b'], attempt: 0, attempts: [] });
    expect(new Date(job.runAt).toISOString()).toBe(job.runAt);
    expect(h.services.calls.wake).toBe(wakes + 1);
    const audit = await lastAudit('job.submit');
    expect(audit).toMatchObject({ targetType: 'job' });
  });

  it('schedules a delayed job and tells the promoter', async () => {
    const job = await submit({ delayMs: 60_000 });
    expect(job.status).toBe('scheduled');
    expect(h.services.calls.scheduledAt).toContain(Date.parse(job.runAt));
  });

  it('returns the existing job with 200 for a known idempotencyKey', async () => {
    const first = await submit({ idempotencyKey: 'idem-1' });
    const again = await call('POST', '/v1/jobs', commandJob({ idempotencyKey: 'idem-1', priority: 9 }));
    expect(again.status).toBe(200);
    expect(again.body.id).toBe(first.id);
    expect(again.body.priority).toBe(5);
  });
});

describe('POST /v1/jobs/batch', () => {
  it('inserts all jobs in order and reports which existed', async () => {
    const known = await submit({ idempotencyKey: 'batch-known' });
    const r = await call('POST', '/v1/jobs/batch', { jobs: [commandJob({ name: 'b0' }), commandJob({ idempotencyKey: 'batch-known' }), commandJob({ name: 'b2', delayMs: 5000 })] });
    expect(r.status).toBe(201);
    expect(r.body.existed).toEqual([false, true, false]);
    expect(r.body.jobs.map((j: JobView) => j.name)).toEqual(['b0', null, 'b2']);
    expect(r.body.jobs[1].id).toBe(known.id);
    expect(r.body.jobs[2].status).toBe('scheduled');
    expect(await lastAudit('job.submit_batch')).toMatchObject({ detail: { count: 3 } });
  });
});

describe('large answers', () => {
  it('answers a batch and a list page of 1,000 jobs as JSON, the same as their views would stringify to', async () => {
    const jobs = Array.from({ length: 1000 }, (_, i) => commandJob({ queue: 'large', name: `l${i}`, metadata: { note: 'µ ✓' } }));
    const res = await h.app.inject({ method: 'POST', url: '/v1/jobs/batch', headers: h.auth(token), payload: { jobs } });
    expect(res.statusCode).toBe(201);
    expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(Number(res.headers['content-length'])).toBe(res.rawPayload.length);
    const body = JSON.parse(res.body);
    expect(body.jobs.map((j: JobView) => j.name)).toEqual(jobs.map((j) => j.name));
    expect(body.existed).toHaveLength(1000);
    expect(body.jobs[999].metadata).toEqual({ note: 'µ ✓' });
    const page = await h.app.inject({ method: 'GET', url: '/v1/jobs?queue=large&limit=1000', headers: h.auth(token) });
    expect(page.headers['content-type']).toBe('application/json; charset=utf-8');
    const listed = JSON.parse(page.body);
    expect(listed.jobs).toHaveLength(1000);
    expect(listed).toHaveProperty('nextCursor');
    expect(new Set(listed.jobs.map((j: JobView) => j.id))).toEqual(new Set(body.jobs.map((j: JobView) => j.id)));
  });
});

describe('Prefer: return=minimal', () => {
  async function post(url: string, payload: unknown, prefer: string | string[]) {
    const res = await h.app.inject({ method: 'POST', url, headers: { ...h.auth(token), prefer }, payload: payload as object });
    return { status: res.statusCode, body: JSON.parse(res.body), applied: res.headers['preference-applied'] };
  }

  it('answers a single submit with {id, status}, and the same job again for a known idempotencyKey', async () => {
    const r = await post('/v1/jobs', commandJob({ name: 'short', idempotencyKey: 'min-1' }), 'return=minimal');
    expect(r.status).toBe(201);
    expect(r.applied).toBe('return=minimal');
    expect(Object.keys(r.body).sort()).toEqual(['id', 'status']);
    expect(r.body.status).toBe('pending');
    const full = await call('GET', `/v1/jobs/${r.body.id}`);
    expect(full.body).toMatchObject({ name: 'short', status: 'pending' });
    const again = await post('/v1/jobs', commandJob({ idempotencyKey: 'min-1' }), 'return=minimal');
    expect(again.status).toBe(200);
    expect(again.body).toEqual({ id: r.body.id, status: 'pending' });
  });

  it('answers a batch with {id, status} per job and the existed flags, in order', async () => {
    const known = await submit({ idempotencyKey: 'min-known' });
    const r = await post('/v1/jobs/batch', { jobs: [commandJob({ name: 'm0' }), commandJob({ idempotencyKey: 'min-known' }), commandJob({ delayMs: 5000 })] }, 'respond-async, return="minimal"; foo=bar');
    expect(r.status).toBe(201);
    expect(r.applied).toBe('return=minimal');
    expect(r.body.existed).toEqual([false, true, false]);
    expect(r.body.jobs).toHaveLength(3);
    for (const j of r.body.jobs) expect(Object.keys(j).sort()).toEqual(['id', 'status']);
    expect(r.body.jobs[1]).toEqual({ id: known.id, status: 'pending' });
    expect(r.body.jobs.map((j: { status: string }) => j.status)).toEqual(['pending', 'pending', 'scheduled']);
    const page = await call('GET', '/v1/jobs?limit=10');
    expect(page.body.jobs.map((j: JobView) => j.id)).toEqual(expect.arrayContaining([r.body.jobs[0].id, r.body.jobs[2].id]));
  });

  it('gives the whole job for any other preference, and leaves errors as they are', async () => {
    for (const prefer of ['return=representation', 'handling=lenient', 'returnminimal', 'x-return=minimal']) {
      const r = await post('/v1/jobs', commandJob(), prefer);
      expect(r.status, prefer).toBe(201);
      expect(r.applied, prefer).toBeUndefined();
      expect(r.body.type, prefer).toBe('command');
    }
    const many = await post('/v1/jobs', commandJob(), ['handling=lenient', 'RETURN = Minimal']);
    expect(many.applied).toBe('return=minimal');
    const bad = await post('/v1/jobs/batch', { jobs: [commandJob(), commandJob({ priority: 11 })] }, 'return=minimal');
    expect(bad.status).toBe(400);
    expect(bad.applied).toBeUndefined();
    expect(bad.body.error).toMatchObject({ code: 'BATON_E_VALIDATION', field: 'jobs[1].priority' });
  });
});

describe('GET /v1/jobs/:id and GET /v1/jobs', () => {
  it('reads a job with its attempts', async () => {
    const job = await submit();
    const w = await registerWorker(h);
    await startJob(h, job.id, w);
    const r = await call('GET', `/v1/jobs/${job.id}`);
    expect(r.status).toBe(200);
    expect(r.body.status).toBe('running');
    expect(r.body.attempts).toHaveLength(1);
    expect(r.body.attempts[0]).toMatchObject({ attempt: 1, workerId: w, status: 'running' });
  });

  it('returns 404 for an unknown id', async () => {
    const r = await call('GET', '/v1/jobs/01900000-0000-7000-8000-000000000000');
    expect(r.status).toBe(404);
    expect(r.body.error.code).toBe('BATON_E_NOT_FOUND');
  });

  it('lists newest first with filters and pages through with the cursor', async () => {
    const tag = `t-${Date.now()}`;
    const made: string[] = [];
    for (let i = 0; i < 5; i++) made.push((await submit({ tags: [tag], queue: i % 2 ? 'odd' : 'even' })).id);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const r = await call('GET', `/v1/jobs?tag=${tag}&limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      expect(r.status).toBe(200);
      expect(r.body.jobs.length).toBeLessThanOrEqual(2);
      seen.push(...r.body.jobs.map((j: JobView) => j.id));
      cursor = r.body.nextCursor;
    } while (cursor);
    expect(seen).toEqual([...made].reverse());
    const odd = await call('GET', `/v1/jobs?tag=${tag}&queue=odd`);
    expect(odd.body.jobs.map((j: JobView) => j.id)).toEqual([made[3], made[1]]);
    const scheduled = await call('GET', `/v1/jobs?tag=${tag}&status=scheduled&type=command`);
    expect(scheduled.body).toEqual({ jobs: [], nextCursor: null });
    expect(odd.body.jobs[0].attempts).toBeUndefined();
  });
});

describe('POST /v1/jobs/:id/cancel', () => {
  it('cancels a pending job with the default reason', async () => {
    const job = await submit();
    const r = await call('POST', `/v1/jobs/${job.id}/cancel`);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ status: 'cancelled', reason: 'cancelled_by_user' });
    expect(await lastAudit('job.cancel')).toMatchObject({ targetId: job.id });
  });

  it('cancels a running job and asks its worker to stop the attempt', async () => {
    const job = await submit();
    const w = await registerWorker(h);
    const lease = await startJob(h, job.id, w);
    const r = await call('POST', `/v1/jobs/${job.id}/cancel`, { reason: 'wrong input' });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ status: 'cancelled', reason: 'wrong input' });
    expect(h.services.calls.cancel).toContainEqual({ workerId: w, jobId: job.id, attempt: lease.attempt, reason: 'wrong input' });
  });

  it('refuses to cancel an ended job with 409', async () => {
    const job = await submit();
    await call('POST', `/v1/jobs/${job.id}/cancel`);
    const r = await call('POST', `/v1/jobs/${job.id}/cancel`);
    expect(r.status).toBe(409);
    expect(r.body.error.code).toBe('BATON_E_JOB_NOT_CANCELLABLE');
  });
});

describe('PATCH /v1/jobs/:id', () => {
  it('modifies a job that has not started', async () => {
    const job = await submit();
    const r = await call('PATCH', `/v1/jobs/${job.id}`, { priority: 9, payload: { script: 'echo changed' }, backoff: { initialMs: 10 } });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ priority: 9, payload: { script: 'echo changed' }, backoff: { initialMs: 10, maxMs: 300_000 } });
    expect(await lastAudit('job.modify')).toMatchObject({ targetId: job.id });
  });

  it('moves a job to scheduled when given a later runAt', async () => {
    const job = await submit();
    const runAt = new Date(Date.now() + 3_600_000).toISOString();
    const r = await call('PATCH', `/v1/jobs/${job.id}`, { runAt });
    expect(r.body).toMatchObject({ status: 'scheduled', runAt });
    expect(h.services.calls.scheduledAt).toContain(Date.parse(runAt));
  });

  it('refuses with 409 once the job has started', async () => {
    const job = await submit();
    await startJob(h, job.id, await registerWorker(h));
    const r = await call('PATCH', `/v1/jobs/${job.id}`, { priority: 1 });
    expect(r.status).toBe(409);
    expect(r.body.error.code).toBe('BATON_E_JOB_NOT_MODIFIABLE');
  });
});

describe('POST /v1/jobs/:id/retry', () => {
  it('retries a failed job with overrides', async () => {
    const job = await submit();
    const lease = await startJob(h, job.id, await registerWorker(h));
    await report(h, lease, [{ kind: 'failed', error: { code: 'exit_code', message: 'exit 1' }, exitCode: 1 }]);
    expect((await call('GET', `/v1/jobs/${job.id}`)).body.status).toBe('failed');
    const r = await call('POST', `/v1/jobs/${job.id}/retry`, { priority: 8, maxRetries: 2 });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ status: 'pending', priority: 8, maxRetries: 2, error: null });
    expect(await lastAudit('job.retry')).toMatchObject({ targetId: job.id });
  });

  it('retries a cancelled job without a body', async () => {
    const job = await submit();
    await call('POST', `/v1/jobs/${job.id}/cancel`);
    const r = await call('POST', `/v1/jobs/${job.id}/retry`);
    expect(r.status).toBe(200);
    expect(r.body.status).toBe('pending');
  });

  it('refuses pending, running and completed jobs with 409', async () => {
    const pending = await submit();
    expect((await call('POST', `/v1/jobs/${pending.id}/retry`)).body.error.code).toBe('BATON_E_JOB_NOT_RETRYABLE');
    const done = await submit();
    const lease = await startJob(h, done.id, await registerWorker(h));
    expect((await call('POST', `/v1/jobs/${done.id}/retry`)).status).toBe(409);
    await report(h, lease, [{ kind: 'completed', result: { ok: true } }]);
    const r = await call('POST', `/v1/jobs/${done.id}/retry`);
    expect(r.status).toBe(409);
    expect(r.body.error.code).toBe('BATON_E_JOB_NOT_RETRYABLE');
  });

  it('checks a new payload against the job type', async () => {
    const job = await submit();
    await call('POST', `/v1/jobs/${job.id}/cancel`);
    const r = await call('POST', `/v1/jobs/${job.id}/retry`, { payload: { url: 'http://x' } });
    expect(r.status).toBe(400);
    expect(r.body.error.field).toBe('payload.url');
  });
});

describe('POST /v1/jobs/:id/clone', () => {
  it('submits a copy with a new id and no idempotencyKey, with overrides', async () => {
    const job = await submit({ idempotencyKey: 'clone-src', name: 'orig', tags: ['x'], requirements: { labels: { gpu: 'yes' } } });
    const r = await call('POST', `/v1/jobs/${job.id}/clone`, { priority: 2 });
    expect(r.status).toBe(201);
    expect(r.body.id).not.toBe(job.id);
    expect(r.body).toMatchObject({ name: 'orig', tags: ['x'], priority: 2, idempotencyKey: null, status: 'pending', requirements: { labels: { gpu: 'yes' } } });
    expect(await lastAudit('job.clone')).toMatchObject({ targetId: r.body.id, detail: { from: job.id } });
  });
});

describe('GET /v1/jobs/:id/result', () => {
  it('returns the result of a completed job and 404 before that', async () => {
    const job = await submit();
    const before = await call('GET', `/v1/jobs/${job.id}/result`);
    expect(before.status).toBe(404);
    expect(before.body.error.code).toBe('BATON_E_NO_RESULT');
    expect(before.body.error.message).toContain('pending');
    const lease = await startJob(h, job.id, await registerWorker(h));
    await report(h, lease, [{ kind: 'completed', result: { answer: 42 }, exitCode: 0 }]);
    const r = await call('GET', `/v1/jobs/${job.id}/result`);
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ jobId: job.id, status: 'completed', result: { answer: 42 } });
  });
});

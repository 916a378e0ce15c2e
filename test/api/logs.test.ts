/**
 * Job logs: pages, and the Server-Sent Events stream of `follow=true` (over inject for a job that
 * has ended, and over real HTTP on loopback for one that is still running).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readSse, type SseEvent } from '../../src/client/sse.ts';
import type { LogEntryView } from '../../src/core/api.ts';
import { commandJob, makeApiHarness, registerWorker, report, startJob, type ApiHarness, type TestLease } from '../helpers/api-context.ts';

let h: ApiHarness;
let token: string;
let workerId: string;
let baseUrl: string;

beforeAll(async () => {
  h = await makeApiHarness();
  token = await h.token('viewer');
  workerId = await registerWorker(h);
  baseUrl = await h.app.listen({ host: '127.0.0.1', port: 0 });
});
afterAll(async () => h?.close());

async function runningJob(): Promise<TestLease> {
  const res = await h.app.inject({ method: 'POST', url: '/v1/jobs', headers: h.auth(h.adminToken), payload: commandJob() });
  return startJob(h, JSON.parse(res.body).id, workerId);
}

function line(seq: number, data: string) {
  return { kind: 'log' as const, seq, stream: 'stdout' as const, data };
}

/** Parses a complete SSE body into events. */
function parseSse(body: string): { event: string; data: unknown }[] {
  return body
    .split('\n\n')
    .filter((block) => block.trim() !== '' && !block.startsWith(':'))
    .map((block) => {
      const ev = /^event: (.*)$/m.exec(block)?.[1] ?? 'message';
      const data = block.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n');
      return { event: ev, data: JSON.parse(data) };
    });
}

/** Polls `cond` until it holds or `ms` pass. */
async function until(cond: () => boolean, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('GET /v1/jobs/:id/logs (pages)', () => {
  it('pages through the log with afterSeq and nextSeq', async () => {
    const lease = await runningJob();
    await report(h, lease, [line(1, 'a\n'), line(2, 'b\n'), line(3, 'c\n'), { kind: 'log', seq: 4, stream: 'stderr', data: 'd\n' }, line(5, 'e\n')]);
    const got: LogEntryView[] = [];
    let afterSeq = 0;
    for (;;) {
      const res = await h.app.inject({ method: 'GET', url: `/v1/jobs/${lease.jobId}/logs?afterSeq=${afterSeq}&limit=2`, headers: h.auth(token) });
      expect(res.statusCode).toBe(200);
      const page = JSON.parse(res.body) as { logs: LogEntryView[]; nextSeq: number };
      if (page.logs.length === 0) {
        expect(page.nextSeq).toBe(afterSeq);
        break;
      }
      expect(page.logs.length).toBeLessThanOrEqual(2);
      got.push(...page.logs);
      afterSeq = page.nextSeq;
    }
    expect(got.map((l) => l.data).join('')).toBe('a\nb\nc\nd\ne\n');
    expect(got[3]).toMatchObject({ stream: 'stderr', attempt: 1 });
    expect(new Date(got[0].at).toISOString()).toBe(got[0].at);
  });

  it('refuses a bad afterSeq, limit or follow', async () => {
    const lease = await runningJob();
    for (const [q, field] of [['afterSeq=-1', 'afterSeq'], ['limit=abc', 'limit'], ['follow=maybe', 'follow']]) {
      const res = await h.app.inject({ method: 'GET', url: `/v1/jobs/${lease.jobId}/logs?${q}`, headers: h.auth(token) });
      expect(res.statusCode).toBe(400);
      expect(JSON.parse(res.body).error.field).toBe(field);
    }
  });
});

describe('GET /v1/jobs/:id/logs?follow=true', () => {
  it('streams every log and then the end of a job that has ended', async () => {
    const lease = await runningJob();
    await report(h, lease, [line(1, 'one\n'), line(2, 'two\n'), { kind: 'completed', result: null, exitCode: 0 }]);
    const res = await h.app.inject({ method: 'GET', url: `/v1/jobs/${lease.jobId}/logs?follow=true`, headers: h.auth(token) });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toContain('text/event-stream');
    const events = parseSse(res.body);
    expect(events.map((e) => e.event)).toEqual(['log', 'log', 'end']);
    expect((events[1].data as LogEntryView).data).toBe('two\n');
    expect(events[2].data).toMatchObject({ jobId: lease.jobId, status: 'completed' });
  });

  it('streams new lines as they arrive and ends when the job ends (real HTTP)', async () => {
    const lease = await runningJob();
    await report(h, lease, [line(1, 'first\n')]);
    const abort = new AbortController();
    const res = await fetch(`${baseUrl}/v1/jobs/${lease.jobId}/logs?follow=true`, { headers: h.auth(token), signal: abort.signal });
    expect(res.status).toBe(200);
    const events = readSse(res.body!);
    const next = async (): Promise<SseEvent> => {
      const r = await events.next();
      if (r.done) throw new Error('stream ended early');
      return r.value;
    };
    const e1 = await next();
    expect(e1.event).toBe('log');
    expect(JSON.parse(e1.data).data).toBe('first\n');

    await report(h, lease, [line(2, 'second\n')]);
    const e2 = await next();
    expect(JSON.parse(e2.data).data).toBe('second\n');
    expect(Number(e2.id)).toBe(JSON.parse(e2.data).seq);

    await report(h, lease, [line(3, 'last\n'), { kind: 'failed', error: { code: 'exit_code', message: 'exit 3' }, exitCode: 3 }]);
    const e3 = await next();
    expect(JSON.parse(e3.data).data).toBe('last\n');
    const end = await next();
    expect(end.event).toBe('end');
    expect(JSON.parse(end.data)).toMatchObject({ status: 'failed', error: { code: 'exit_code' } });
    expect((await events.next()).done).toBe(true);
  });

  it('falls back to polling the store when no event is emitted (another server wrote the logs)', async () => {
    const lease = await runningJob();
    const res = await fetch(`${baseUrl}/v1/jobs/${lease.jobId}/logs?follow=true`, { headers: h.auth(token) });
    const events = readSse(res.body!);
    // Written straight to the store, without ctx.events: only the 500 ms poll can see it.
    const now = Date.now();
    await h.ctx.store.reportApplyMany({
      workerId: lease.workerId,
      reports: [
        { kind: 'log', seq: 1, stream: 'stdout', data: 'quiet\n', jobId: lease.jobId, attempt: lease.attempt, leaseToken: lease.leaseToken, at: now },
        { kind: 'completed', result: 1, jobId: lease.jobId, attempt: lease.attempt, leaseToken: lease.leaseToken, at: now },
      ],
      now,
      random: () => 0.5,
    });
    const got: string[] = [];
    for await (const ev of events) got.push(ev.event);
    expect(got).toEqual(['log', 'end']);
  });

  it('removes its listeners when the client goes away', async () => {
    const baseline = h.ctx.events.listenerCount('log');
    const lease = await runningJob();
    const abort = new AbortController();
    const res = await fetch(`${baseUrl}/v1/jobs/${lease.jobId}/logs?follow=true`, { headers: h.auth(token), signal: abort.signal });
    expect(res.status).toBe(200);
    await until(() => h.ctx.events.listenerCount('log') === baseline + 1);
    abort.abort();
    await until(() => h.ctx.events.listenerCount('log') === baseline && h.ctx.events.listenerCount('job') === 0);
  });

  it('answers 404 as JSON for an unknown job instead of opening a stream', async () => {
    const res = await h.app.inject({ method: 'GET', url: '/v1/jobs/nope/logs?follow=true', headers: h.auth(token) });
    expect(res.statusCode).toBe(404);
    expect(JSON.parse(res.body).error.code).toBe('BATON_E_NOT_FOUND');
  });
});

/**
 * The typed REST client of Baton: one method per route of the v1 API, shared by the CLI, the
 * tests and the dashboard. It imports only types from the core, so it runs anywhere fetch does.
 *
 * @example
 * const baton = new BatonClient({ url: 'http://127.0.0.1:7070', token: process.env.BATON_TOKEN });
 * const job = await baton.submit({ type: 'command', payload: { argv: ['echo', 'hi'] } });
 * const done = await baton.waitForJob(job.id);
 */
import type {
  AuditView,
  BatchRefResultView,
  BatchResultView,
  JobRefView,
  CreatedTokenView,
  JobListView,
  JobView,
  LogEntryView,
  QueueView,
  ResultView,
  TenantView,
  TokenView,
  WorkerView,
} from '../core/api.ts';
import type { BulkResultView, JobGraphView, TemplateView } from '../core/api.ts';
import type { CronPreviewView, ScheduleRunView, ScheduleView } from '../core/api.ts';
import type { JobInput, JobPatchInput } from '../core/spec.ts';
import type { JobError, JobStatus, JobType, Role } from '../core/types.ts';
import { BatonClientError, Transport, isBatonClientError, type BatonClientOptions } from './http.ts';
import { readSse } from './sse.ts';

export { BatonClientError, isBatonClientError, type BatonClientOptions } from './http.ts';
export type { JobInput, JobPatchInput } from '../core/spec.ts';

/** Statuses a job never leaves on its own; the default end of waitForJob. */
export const FINAL_STATUSES: readonly JobStatus[] = ['completed', 'failed', 'cancelled'];

/** Filter of GET /v1/jobs. */
export interface JobFilter {
  status?: JobStatus;
  queue?: string;
  type?: JobType;
  tag?: string;
  /** Page size, 1–1000. Default: the server's (50). */
  limit?: number;
  /** Cursor from a previous page's `nextCursor`. */
  cursor?: string;
}

/** Fields a retry may change for the new round of attempts. */
export type RetryOverrides = Pick<JobPatchInput, 'priority' | 'maxRetries' | 'queue' | 'timeoutMs' | 'runAt' | 'delayMs' | 'payload'>;

/** Fields a clone may change; everything else is copied from the original job. */
export type CloneOverrides = Partial<Omit<JobInput, 'type'>>;

/** Reply of GET /healthz. */
export interface HealthView {
  status: string;
  [key: string]: unknown;
}

/** Reply of GET /v1/jobs/:id/logs. */
export interface LogPageView {
  logs: LogEntryView[];
  /** Pass as `afterSeq` to read on. */
  nextSeq: number;
}

/** How a followed log stream ended: the job's final status, or null when stopped by the signal. */
export interface FollowEnd {
  status: JobStatus | null;
  /** Why the job ended, when not a plain outcome (e.g. `cancelled_by_user`). */
  reason: string | null;
  /** The error of a failed job. */
  error: JobError | null;
}

/** Options of BatonClient.waitForJob. */
export interface WaitOptions {
  /** Statuses that end the wait. Default: completed, failed, cancelled. */
  statuses?: readonly JobStatus[];
  /** Give up after this long with BATON_E_WAIT_TIMEOUT. Default: wait forever. */
  timeoutMs?: number;
  /** Longest pause between polls, ms. Polls start at 50 ms and double up to this. Default 1000. */
  maxPollMs?: number;
  signal?: AbortSignal;
}

/** A client of one Baton server. Every method throws BatonClientError on failure. */
/** Filter of bulk operations: every field given must match; times are ISO 8601. */
export interface BulkFilterInput {
  status?: JobStatus;
  queue?: string;
  type?: JobType;
  tag?: string;
  createdAfter?: string;
  createdBefore?: string;
  /** `name` (any version) or `name@version`. */
  template?: string;
}

/** The request header asking for the short answer of a submit. */
const MINIMAL = { prefer: 'return=minimal' };

export class BatonClient {
  private readonly http: Transport;

  constructor(opts: BatonClientOptions) {
    this.http = new Transport(opts);
  }

  /** Base URL of the server this client talks to. */
  get url(): string {
    return this.http.url;
  }

  /**
   * POST /v1/jobs — submits one job (or returns the existing one for its idempotencyKey). With
   * `{minimal: true}` the answer is `{id, status}` (`Prefer: return=minimal`).
   */
  submit(job: JobInput): Promise<JobView>;
  submit(job: JobInput, opts: { minimal: true }): Promise<JobRefView>;
  submit(job: JobInput, opts: { minimal?: boolean } = {}): Promise<JobView | JobRefView> {
    return this.http.json({ method: 'POST', path: '/v1/jobs', body: job, ...(opts.minimal ? { headers: MINIMAL } : {}) });
  }

  /**
   * POST /v1/jobs/batch — submits up to 10,000 jobs in one transaction. With `{minimal: true}`
   * the answer holds each job as `{id, status}` (`Prefer: return=minimal`), which is cheaper for
   * the server to build and for this client to parse.
   */
  submitBatch(jobs: JobInput[]): Promise<BatchResultView>;
  submitBatch(jobs: JobInput[], opts: { minimal: true }): Promise<BatchRefResultView>;
  submitBatch(jobs: JobInput[], opts: { minimal?: boolean } = {}): Promise<BatchResultView | BatchRefResultView> {
    return this.http.json({ method: 'POST', path: '/v1/jobs/batch', body: { jobs }, ...(opts.minimal ? { headers: MINIMAL } : {}) });
  }

  /** GET /v1/jobs/:id — one job with its attempts. */
  getJob(id: string): Promise<JobView> {
    return this.http.json({ method: 'GET', path: `/v1/jobs/${seg(id)}` });
  }

  /** GET /v1/jobs — one page of jobs, newest first. */
  listJobs(filter: JobFilter = {}): Promise<JobListView> {
    return this.http.json({
      method: 'GET',
      path: '/v1/jobs',
      query: { status: filter.status, queue: filter.queue, type: filter.type, tag: filter.tag, limit: filter.limit, cursor: filter.cursor },
    });
  }

  /** Every job matching `filter`, page after page, following `nextCursor`. */
  async *iterateJobs(filter: JobFilter = {}): AsyncGenerator<JobView> {
    let cursor = filter.cursor;
    for (;;) {
      const page = await this.listJobs({ ...filter, cursor });
      yield* page.jobs;
      if (!page.nextCursor || page.jobs.length === 0) return;
      cursor = page.nextCursor;
    }
  }

  /** POST /v1/jobs/:id/cancel — cancels a job that has not ended; a running attempt is killed. */
  cancel(id: string, reason?: string): Promise<JobView> {
    return this.http.json({ method: 'POST', path: `/v1/jobs/${seg(id)}/cancel`, body: reason === undefined ? {} : { reason } });
  }

  /** PATCH /v1/jobs/:id — changes a job that has not started yet. */
  modify(id: string, patch: JobPatchInput): Promise<JobView> {
    return this.http.json({ method: 'PATCH', path: `/v1/jobs/${seg(id)}`, body: patch });
  }

  /** POST /v1/jobs/:id/retry — runs a failed or cancelled job again, with optional changes. */
  retry(id: string, overrides: RetryOverrides = {}): Promise<JobView> {
    return this.http.json({ method: 'POST', path: `/v1/jobs/${seg(id)}/retry`, body: overrides });
  }

  /** POST /v1/jobs/:id/clone — submits a new job with the same spec, with optional changes. */
  clone(id: string, overrides: CloneOverrides = {}): Promise<JobView> {
    return this.http.json({ method: 'POST', path: `/v1/jobs/${seg(id)}/clone`, body: overrides });
  }

  /** GET /v1/jobs/:id/logs — one page of log lines after `afterSeq`. */
  logs(id: string, opts: { afterSeq?: number; limit?: number } = {}): Promise<LogPageView> {
    return this.http.json({ method: 'GET', path: `/v1/jobs/${seg(id)}/logs`, query: { afterSeq: opts.afterSeq, limit: opts.limit } });
  }

  /**
   * GET /v1/jobs/:id/logs?follow=true — yields log lines as the job writes them, from the first
   * (or after `afterSeq`) until the job ends; the generator's return value says how it ended.
   * A dropped connection is resumed after the last line seen. Aborting `signal` ends the
   * iteration quietly with status null.
   */
  async *followLogs(id: string, opts: { signal?: AbortSignal; afterSeq?: number } = {}): AsyncGenerator<LogEntryView, FollowEnd> {
    let afterSeq = opts.afterSeq;
    let failures = 0;
    while (!opts.signal?.aborted) {
      let res: Response;
      try {
        res = await this.http.send({
          method: 'GET',
          path: `/v1/jobs/${seg(id)}/logs`,
          query: { follow: true, afterSeq },
          headers: { accept: 'text/event-stream' },
          signal: opts.signal,
        });
      } catch (e) {
        if (opts.signal?.aborted) break;
        throw e;
      }
      if (!res.body) throw new BatonClientError('BATON_E_INTERNAL', 'the log stream has no body', { status: res.status });
      try {
        for await (const ev of readSse(res.body)) {
          if (ev.event === 'log') {
            const entry = JSON.parse(ev.data) as LogEntryView;
            afterSeq = entry.seq;
            failures = 0;
            yield entry;
          } else if (ev.event === 'end') {
            const end = JSON.parse(ev.data) as Partial<FollowEnd>;
            return { status: end.status ?? null, reason: end.reason ?? null, error: end.error ?? null };
          } else if (ev.event === 'error') {
            const body = JSON.parse(ev.data) as { error?: { code?: string; message?: string } };
            throw new BatonClientError(body.error?.code ?? 'BATON_E_INTERNAL', body.error?.message ?? 'log stream error', { status: res.status });
          }
        }
      } catch (e) {
        if (opts.signal?.aborted) break;
        if (isBatonClientError(e)) throw e;
        // The connection broke mid-stream: reconnect below, after the last line seen.
      }
      // Three drops in a row with no new line means the server is gone, not a blip.
      if (++failures >= 3) {
        throw new BatonClientError('BATON_E_UNAVAILABLE', `the log stream of job ${id} kept closing before the job ended`, { status: 0 });
      }
      try {
        await pauseFor(100 * 2 ** failures, opts.signal);
      } catch {
        break;
      }
    }
    return { status: null, reason: null, error: null };
  }

  /** GET /v1/jobs/:id/result — the result of a completed job (BATON_E_NO_RESULT before that). */
  result(id: string): Promise<ResultView> {
    return this.http.json({ method: 'GET', path: `/v1/jobs/${seg(id)}/result` });
  }

  /** POST /v1/jobs from a template: `ref` is `name` (latest) or `name@version`; `overrides` are job fields laid over the rendered job. */
  submitTemplate(ref: string, params: Record<string, unknown> = {}, overrides: Partial<JobInput> = {}): Promise<JobView> {
    return this.http.json({ method: 'POST', path: '/v1/jobs', body: { ...overrides, template: ref, params } });
  }

  /** POST /v1/jobs/batch with a graph-level compensation job, created once when any job of the graph fails. */
  submitGraph(jobs: (JobInput | ({ template: string; params?: Record<string, unknown> } & Partial<JobInput>))[], opts: { onFailure?: JobInput } = {}): Promise<BatchResultView> {
    return this.http.json({ method: 'POST', path: '/v1/jobs/batch', body: { jobs, ...(opts.onFailure ? { onFailure: opts.onFailure } : {}) } });
  }

  /** GET /v1/jobs/:id/graph — the jobs joined to this one by dependencies, and the edges. */
  jobGraph(id: string): Promise<JobGraphView> {
    return this.http.json({ method: 'GET', path: `/v1/jobs/${seg(id)}/graph` });
  }

  /** POST /v1/jobs/bulk/:action — cancel, retry or delete every job matching `filter`, or the jobs listed in `ids`. */
  bulk(action: 'cancel' | 'retry' | 'delete', target: { filter?: BulkFilterInput; ids?: string[]; reason?: string }): Promise<BulkResultView> {
    return this.http.json({ method: 'POST', path: `/v1/jobs/bulk/${action}`, body: target });
  }

  /** POST /v1/templates — saves the next version of a template. */
  createTemplate(t: { name: string; spec: Record<string, unknown>; paramsSchema?: Record<string, unknown>; description?: string }): Promise<TemplateView> {
    return this.http.json({ method: 'POST', path: '/v1/templates', body: t });
  }

  /** GET /v1/templates — the latest version of every template. */
  async listTemplates(): Promise<TemplateView[]> {
    return (await this.http.json<{ templates: TemplateView[] }>({ method: 'GET', path: '/v1/templates' })).templates;
  }

  /** GET /v1/templates/:name (latest) or /v1/templates/:name/versions/:version. */
  getTemplate(name: string, version?: number): Promise<TemplateView> {
    const path = version === undefined ? `/v1/templates/${seg(name)}` : `/v1/templates/${seg(name)}/versions/${version}`;
    return this.http.json({ method: 'GET', path });
  }

  /** GET /v1/templates/:name/versions — every version, oldest first. */
  async templateVersions(name: string): Promise<TemplateView[]> {
    return (await this.http.json<{ versions: TemplateView[] }>({ method: 'GET', path: `/v1/templates/${seg(name)}/versions` })).versions;
  }

  /** GET /v1/templates/export — every version of every template as a `templates/v1` document. */
  exportTemplates(): Promise<{ baton: string; templates: unknown[] }> {
    return this.http.json({ method: 'GET', path: '/v1/templates/export' });
  }

  /** POST /v1/templates/import — imports a `templates/v1` document, all or nothing. */
  importTemplates(doc: unknown): Promise<{ created: number; skipped: number }> {
    return this.http.json({ method: 'POST', path: '/v1/templates/import', body: doc });
  }

  /** POST /v1/schedules — creates a cron schedule (see ScheduleInput in src/core/schedule.ts). */
  createSchedule(input: Record<string, unknown>): Promise<ScheduleView> {
    return this.http.json({ method: 'POST', path: '/v1/schedules', body: input });
  }

  /** GET /v1/schedules — the tenant's schedules by name (every page). */
  async listSchedules(): Promise<ScheduleView[]> {
    const out: ScheduleView[] = [];
    let cursor: string | null = null;
    do {
      const q: string = cursor ? `?cursor=${encodeURIComponent(cursor)}` : '';
      const page: { schedules: ScheduleView[]; nextCursor: string | null } = await this.http.json({ method: 'GET', path: `/v1/schedules${q}` });
      out.push(...page.schedules);
      cursor = page.nextCursor;
    } while (cursor);
    return out;
  }

  /** GET /v1/schedules/:id. */
  getSchedule(id: string): Promise<ScheduleView> {
    return this.http.json({ method: 'GET', path: `/v1/schedules/${seg(id)}` });
  }

  /** PATCH /v1/schedules/:id — changes fields; null clears startAt, endAt or maxExecutions. */
  updateSchedule(id: string, patch: Record<string, unknown>): Promise<ScheduleView> {
    return this.http.json({ method: 'PATCH', path: `/v1/schedules/${seg(id)}`, body: patch });
  }

  /** DELETE /v1/schedules/:id — deletes a schedule and its run history (its jobs stay). */
  async deleteSchedule(id: string): Promise<void> {
    await this.http.json({ method: 'DELETE', path: `/v1/schedules/${seg(id)}` });
  }

  /** POST /v1/schedules/:id/pause or /resume. */
  setSchedulePaused(id: string, paused: boolean): Promise<ScheduleView> {
    return this.http.json({ method: 'POST', path: `/v1/schedules/${seg(id)}/${paused ? 'pause' : 'resume'}`, body: {} });
  }

  /** POST /v1/schedules/:id/trigger — fires once now; the schedule does not advance. */
  triggerSchedule(id: string): Promise<{ run: ScheduleRunView; job: JobView }> {
    return this.http.json({ method: 'POST', path: `/v1/schedules/${seg(id)}/trigger`, body: {} });
  }

  /** GET /v1/schedules/:id/runs — fires, newest first, one page of up to `limit`. */
  async scheduleRuns(id: string, opts: { limit?: number; cursor?: string } = {}): Promise<{ runs: ScheduleRunView[]; nextCursor: string | null }> {
    const q = new URLSearchParams();
    if (opts.limit !== undefined) q.set('limit', String(opts.limit));
    if (opts.cursor !== undefined) q.set('cursor', opts.cursor);
    const qs = q.toString();
    return this.http.json({ method: 'GET', path: `/v1/schedules/${seg(id)}/runs${qs ? `?${qs}` : ''}` });
  }

  /** GET /v1/cron/preview — the next `count` fires of `expr` in `timezone` after `from` (default now). */
  cronPreview(expr: string, opts: { timezone?: string; from?: string; count?: number } = {}): Promise<CronPreviewView> {
    const q = new URLSearchParams({ expr });
    if (opts.timezone !== undefined) q.set('timezone', opts.timezone);
    if (opts.from !== undefined) q.set('from', opts.from);
    if (opts.count !== undefined) q.set('count', String(opts.count));
    return this.http.json({ method: 'GET', path: `/v1/cron/preview?${q.toString()}` });
  }

  /** PUT /v1/queues/:name — sets a queue's weight and/or concurrency cap (null clears it). */
  setQueueSettings(name: string, settings: { weight?: number; concurrencyLimit?: number | null }): Promise<QueueView> {
    return this.http.json({ method: 'PUT', path: `/v1/queues/${seg(name)}`, body: settings });
  }

  /** PATCH /v1/tenants/:id — sets a tenant's weight (system admin). */
  setTenantWeight(id: string, weight: number): Promise<TenantView> {
    return this.http.json({ method: 'PATCH', path: `/v1/tenants/${seg(id)}`, body: { weight } });
  }

  /** GET /v1/queues — every queue of the tenant with its counts by status. */
  async queues(): Promise<QueueView[]> {
    return (await this.http.json<{ queues: QueueView[] }>({ method: 'GET', path: '/v1/queues' })).queues;
  }

  /** POST /v1/queues/:name/pause — stops dispatching from a queue; running jobs go on. */
  pauseQueue(name: string): Promise<QueueView> {
    return this.http.json({ method: 'POST', path: `/v1/queues/${seg(name)}/pause`, body: {} });
  }

  /** POST /v1/queues/:name/resume — dispatches from a paused queue again. */
  resumeQueue(name: string): Promise<QueueView> {
    return this.http.json({ method: 'POST', path: `/v1/queues/${seg(name)}/resume`, body: {} });
  }

  /** GET /v1/workers — registered workers of the tenant. */
  async workers(): Promise<WorkerView[]> {
    return (await this.http.json<{ workers: WorkerView[] }>({ method: 'GET', path: '/v1/workers' })).workers;
  }

  /** GET /v1/workers/:id — one worker. */
  getWorker(id: string): Promise<WorkerView> {
    return this.http.json({ method: 'GET', path: `/v1/workers/${seg(id)}` });
  }

  /**
   * POST /v1/workers/:id/drain — the worker finishes its running jobs, takes no more, and exits.
   * `notified` is false when the worker is not connected to the server that answered (it is
   * still marked draining, so no dispatcher gives it new work).
   */
  drainWorker(id: string): Promise<WorkerView & { notified: boolean }> {
    return this.http.json({ method: 'POST', path: `/v1/workers/${seg(id)}/drain`, body: {} });
  }

  /** POST /v1/tokens — creates a token; the reply is the only time its secret is shown. */
  createToken(p: { name: string; role: Role; system?: boolean }): Promise<CreatedTokenView> {
    return this.http.json({ method: 'POST', path: '/v1/tokens', body: p });
  }

  /** GET /v1/tokens — tokens of the tenant, without secrets. */
  async listTokens(): Promise<TokenView[]> {
    return (await this.http.json<{ tokens: TokenView[] }>({ method: 'GET', path: '/v1/tokens' })).tokens;
  }

  /** DELETE /v1/tokens/:id — revokes a token at once. */
  async deleteToken(id: string): Promise<void> {
    await this.http.json({ method: 'DELETE', path: `/v1/tokens/${seg(id)}` });
  }

  /** POST /v1/tenants — creates a tenant (system admin tokens only). */
  createTenant(p: { id: string; name: string }): Promise<TenantView> {
    return this.http.json({ method: 'POST', path: '/v1/tenants', body: p });
  }

  /** GET /v1/tenants — every tenant (system admin tokens only). */
  async listTenants(): Promise<TenantView[]> {
    return (await this.http.json<{ tenants: TenantView[] }>({ method: 'GET', path: '/v1/tenants' })).tenants;
  }

  /** GET /v1/audit — one page of the tenant's audit log, newest first. */
  audit(opts: { limit?: number; cursor?: string } = {}): Promise<{ entries: AuditView[]; nextCursor: string | null }> {
    return this.http.json({ method: 'GET', path: '/v1/audit', query: { limit: opts.limit, cursor: opts.cursor } });
  }

  /** GET /healthz — the server process is up. */
  health(): Promise<HealthView> {
    return this.http.json({ method: 'GET', path: '/healthz' });
  }

  /** GET /readyz — the server can reach its store (BATON_E_UNAVAILABLE when not). */
  ready(): Promise<HealthView> {
    return this.http.json({ method: 'GET', path: '/readyz' });
  }

  /**
   * Polls a job until its status is one of `statuses` (default: a final status) and returns it.
   * Throws BATON_E_WAIT_TIMEOUT after `timeoutMs`.
   */
  async waitForJob(id: string, opts: WaitOptions = {}): Promise<JobView> {
    const statuses = opts.statuses ?? FINAL_STATUSES;
    const deadline = opts.timeoutMs === undefined ? Infinity : Date.now() + opts.timeoutMs;
    const maxPoll = opts.maxPollMs ?? 1000;
    let pause = 50;
    for (;;) {
      const job = await this.getJob(id);
      if (statuses.includes(job.status)) return job;
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new BatonClientError('BATON_E_WAIT_TIMEOUT', `job ${id} is still ${job.status} after ${opts.timeoutMs} ms (waiting for ${statuses.join('/')})`, { status: 0 });
      }
      await pauseFor(Math.min(pause, left), opts.signal);
      pause = Math.min(pause * 2, maxPoll);
    }
  }
}

/** Escapes one path segment (ids are UUIDs, but queue names may carry `:` or `.`). */
function seg(s: string): string {
  return encodeURIComponent(s);
}

/** Waits `ms`, or rejects with the signal's reason when it is aborted first. */
function pauseFor(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

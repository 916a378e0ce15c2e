/**
 * Load generators of the benchmark, all against one server on loopback:
 * one job per request with N connections (autocannon: its request loop costs the least CPU,
 * which matters when client and server share two cores), closed-loop batches, and open-loop
 * paced submits for pickup latency.
 */
import http from 'node:http';
import autocannon from 'autocannon';
import type { BatchRefResultView, BatchResultView, JobView } from '../core/api.ts';
import { BatonError } from '../core/errors.ts';
import type { Progress } from './progress.ts';
import type { ServerProcess } from './procs.ts';
import { percentiles, type Percentiles } from './stats.ts';

/** A no-op function job (the fair comparison with other queues' no-op jobs). */
export function noopJob(queue = 'default'): Record<string, unknown> {
  return { type: 'function', payload: { handler: 'noop', args: {} }, queue };
}

/** `minimal`: ask for the short answer (`Prefer: return=minimal`, each job as `{id, status}`). */
function headers(srv: ServerProcess, minimal = false): Record<string, string> {
  const h: Record<string, string> = { authorization: `Bearer ${srv.token}`, 'content-type': 'application/json' };
  if (minimal) h.prefer = 'return=minimal';
  return h;
}

/** Result of a submit run. */
export interface SubmitResult {
  /** Jobs accepted (2xx). */
  jobs: number;
  /** Requests answered with something other than 2xx, or failed. */
  errors: number;
  seconds: number;
  jobsPerSec: number;
  /** Request latency, ms. */
  latency: { p50: number; p99: number; max: number };
}

/** `total` single-job POST /v1/jobs requests over `connections` keep-alive connections. */
export async function submitSingle(srv: ServerProcess, o: { total: number; connections: number; progress: Progress; queue?: string; minimal?: boolean }): Promise<SubmitResult> {
  const started = performance.now();
  let ended = started;
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const inst = autocannon(
      {
        url: `${srv.url}/v1/jobs`,
        method: 'POST',
        headers: headers(srv, o.minimal),
        body: JSON.stringify(noopJob(o.queue)),
        connections: o.connections,
        amount: o.total,
        timeout: 30,
      },
      (err, res) => (err ? reject(err) : resolve(res)),
    );
    inst.on('response', () => {
      ended = performance.now();
      o.progress.tick();
    });
  });
  const ok = result['2xx'];
  // First request to last answer on our own clock: autocannon ends a run bounded by `amount`
  // at its next whole-second tick, so its `duration` made the figure jump between few values.
  const seconds = (ended - started) / 1000;
  return {
    jobs: ok,
    errors: result.non2xx + result.errors + result.timeouts,
    seconds,
    jobsPerSec: ok / seconds,
    latency: { p50: result.latency.p50, p99: result.latency.p99, max: result.latency.max },
  };
}

/** `total` jobs in POST /v1/jobs/batch requests of `batchSize`, `concurrency` requests in flight. */
export async function submitBatches(
  srv: ServerProcess,
  o: { total: number; batchSize: number; concurrency: number; progress: Progress; queue?: string; minimal?: boolean },
): Promise<SubmitResult> {
  // One body reused: the server gives each job its own id, so identical specs are fine.
  const body = JSON.stringify({ jobs: Array.from({ length: o.batchSize }, () => noopJob(o.queue)) });
  let left = Math.ceil(o.total / o.batchSize);
  let jobs = 0;
  let errors = 0;
  const lat: number[] = [];
  const start = performance.now();
  const client = async () => {
    while (left > 0) {
      left--;
      const t0 = performance.now();
      const r = await fetch(`${srv.url}/v1/jobs/batch`, { method: 'POST', headers: headers(srv, o.minimal), body });
      const text = await r.text();
      lat.push(performance.now() - t0);
      if (r.ok) {
        const n = (JSON.parse(text) as BatchResultView | BatchRefResultView).jobs.length;
        jobs += n;
        o.progress.tick(n);
      } else {
        errors++;
        if (errors === 1) process.stderr.write(`\nbatch submit refused: ${r.status} ${text.slice(0, 300)}\n`);
      }
    }
  };
  await Promise.all(Array.from({ length: o.concurrency }, client));
  const seconds = (performance.now() - start) / 1000;
  const p = percentiles(lat);
  return { jobs, errors, seconds, jobsPerSec: jobs / seconds, latency: { p50: p.p50, p99: p.p99, max: p.max } };
}

/** POSTs `body` on `agent`'s sockets; the status and the whole answer as text. */
function post(agent: http.Agent, url: URL, hdrs: Record<string, string>, body: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', agent, headers: { ...hdrs, 'content-length': Buffer.byteLength(body) } }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => parts.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(parts).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** One job submitted by {@link pacedSubmits}. */
export interface PacedJob {
  id: string;
  /** Client clock when the request was sent (ms since epoch, also in the job's args.t). */
  sentAt: number;
  /** The job's createdAt as the server wrote it. */
  createdAt: number;
  /** The answer showed the job assigned: the submit fast path placed it in its insert. */
  assigned: boolean;
}

/**
 * Open-loop submits of `stamp` jobs at `rate` per second for `durationMs`: each request goes out
 * at its planned time whether or not earlier ones were answered, so a slow server shows up as
 * latency instead of silently lowering the rate (coordinated omission).
 */
export async function pacedSubmits(
  srv: ServerProcess,
  o: { rate: number; durationMs: number; progress: Progress },
): Promise<{ jobs: PacedJob[]; errors: number; submitLatency: Percentiles; achievedRate: number }> {
  const total = Math.round((o.rate * o.durationMs) / 1000);
  // node:http on keep-alive sockets rather than fetch: fetch cost the load generator ~360 µs of
  // CPU per request at 1,000/s, on the two cores the server, workers and PostgreSQL share.
  const agent = new http.Agent({ keepAlive: true });
  const url = new URL(`${srv.url}/v1/jobs`);
  const hdrs = headers(srv);
  const jobs: PacedJob[] = [];
  const inflight = new Set<Promise<void>>();
  const submitLat: number[] = [];
  let errors = 0;
  const start = Date.now();
  const send = (): void => {
    const sentAt = Date.now();
    const t0 = performance.now();
    const body = JSON.stringify({ type: 'function', payload: { handler: 'stamp', args: { t: sentAt } } });
    const p = post(agent, url, hdrs, body)
      .then(({ status, text }) => {
        submitLat.push(performance.now() - t0);
        if (status < 200 || status > 299) {
          errors++;
          return;
        }
        const job = JSON.parse(text) as JobView;
        jobs.push({ id: job.id, sentAt, createdAt: Date.parse(job.createdAt), assigned: job.status === 'assigned' });
        o.progress.tick();
      })
      .catch(() => {
        errors++;
      })
      .finally(() => inflight.delete(p));
    inflight.add(p);
  };
  let sent = 0;
  while (sent < total) {
    const due = Math.min(total, Math.floor(((Date.now() - start) * o.rate) / 1000) + 1);
    while (sent < due) {
      send();
      sent++;
    }
    const nextAt = start + (sent * 1000) / o.rate;
    await new Promise((r) => setTimeout(r, Math.max(0, nextAt - Date.now())));
  }
  const achievedRate = (sent * 1000) / Math.max(1, Date.now() - start);
  await Promise.all(inflight);
  agent.destroy();
  if (jobs.length === 0 && errors > 0) throw new BatonError('BATON_E_INTERNAL', `benchmark: every paced submit failed (${errors})`);
  return { jobs, errors, submitLatency: percentiles(submitLat), achievedRate };
}

/** Cancels every job of `queue`, then deletes them (bulk cancel, then bulk delete of the ended). */
export async function clearQueue(srv: ServerProcess, queue: string): Promise<void> {
  for (const action of ['cancel', 'delete']) {
    const r = await fetch(`${srv.url}/v1/jobs/bulk/${action}`, { method: 'POST', headers: headers(srv), body: JSON.stringify({ filter: { queue } }) });
    if (!r.ok) throw new Error(`bulk ${action} of queue ${queue}: ${r.status} ${await r.text()}`);
  }
}

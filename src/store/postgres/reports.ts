/**
 * Worker-facing methods of the PostgreSQL store: reports (group commit), lease extension, reaping
 * of expired leases, and logs. Every report is fenced by (attempt, leaseToken). A batch loads and
 * locks its jobs in one query, applies the reports in order in memory (one job may get several),
 * and writes the outcome back with a fixed number of batched statements. A batch costs two round
 * trips: BEGIN with its reads, then its writes with the COMMIT; three or more only when a job it
 * ends belongs to a graph or failed (children and compensation jobs are read and written between).
 */
import { isBatonError } from '../../core/errors.ts';
import type { Report } from '../../core/protocol.ts';
import { isTerminal, transition, type TransitionResult } from '../../core/transition.ts';
import { onJobsEnded } from './graph.ts';
import type { Job, LogEntry } from '../../core/types.ts';
import type { Fence, ReportOutcome } from '../types.ts';
import { eventOf, stale } from '../report-events.ts';
import { allInOrder, inTx, type Db } from './db.ts';
import { checkFence } from './leaders.ts';
import { jobFromRow, type JobRow } from './rows.ts';
import { lockJobs, notifyWake, wakes, writeResults, type Ctx } from './write.ts';

type LogReport = Extract<Report, { kind: 'log' }>;
type AttemptLease = { leaseToken: string; workerId: string };

/** The lease of each attempt that a log report of the batch names, by `jobId\0attempt` (sent at once). */
function loadAttemptLeases(tx: Db, logs: LogReport[]): Promise<Map<string, AttemptLease>> {
  if (logs.length === 0) return Promise.resolve(new Map());
  return tx`SELECT job_id, attempt, lease_token, worker_id FROM job_attempts
    WHERE (job_id, attempt) IN (SELECT * FROM unnest(${logs.map((l) => l.jobId)}::text[], ${logs.map((l) => l.attempt)}::int4[]))`.then(
    (rows) => new Map(rows.map((r) => [`${r.job_id}\u0000${r.attempt}`, { leaseToken: r.lease_token, workerId: r.worker_id }])),
  );
}

/** Everything one batch will write, gathered while its reports are applied in memory. */
interface BatchWrites {
  results: TransitionResult[];
  logs: { jobId: string; tenant: string; attempt: number; seq: number; stream: string; data: string }[];
  wake: string[];
}

function applyOne(
  jobs: Map<string, Job>,
  leases: Map<string, AttemptLease>,
  out: BatchWrites,
  p: { workerId: string; now: number; random: () => number },
  r: Report,
  capped: Set<string>,
): ReportOutcome {
  const job = jobs.get(r.jobId);
  if (job === undefined) return { ok: false, code: 'BATON_E_NOT_FOUND', message: `job ${r.jobId} not found` };
  if (r.kind === 'log') {
    // Kept when it belongs to the job's current attempt with that attempt's lease token, even
    // after the attempt ended (its last lines may arrive after the outcome).
    if (r.attempt !== job.attempt) return stale(`log for attempt ${r.attempt} of job ${job.id} refused: the current attempt is ${job.attempt}`);
    const lease = leases.get(`${job.id}\u0000${r.attempt}`);
    if (lease === undefined || lease.leaseToken !== r.leaseToken || lease.workerId !== p.workerId) {
      return stale(`log for attempt ${r.attempt} of job ${job.id} refused: wrong lease`);
    }
    out.logs.push({ jobId: job.id, tenant: job.tenant, attempt: r.attempt, seq: r.seq, stream: r.stream, data: r.data });
    return { ok: true, job: null };
  }
  // A current attempt held by another worker cannot be this worker's (tokens are unique anyway).
  if (job.workerId !== null && job.workerId !== p.workerId) {
    return stale(`report for job ${job.id} refused: the attempt belongs to worker ${job.workerId}`);
  }
  if (r.kind === 'started' && job.status === 'running' && r.attempt === job.attempt && r.leaseToken === job.leaseToken) {
    // A resent `started` (the ack was lost): the job is already where the report would put it.
    return { ok: true, job };
  }
  const res = transition(job, eventOf(r, p.random), p.now);
  jobs.set(job.id, res.job);
  out.results.push(res);
  if (wakes(job.status, res.job.status, job.concurrencyKey != null || capped.has(`${job.tenant}\u0000${job.queue}`))) out.wake.push(job.tenant);
  return { ok: true, job: res.job };
}

/** Applies a batch of reports in one transaction; see Store.reportApplyMany. */
export async function reportApplyMany(c: Ctx, p: { workerId: string; reports: Report[]; now: number; random: () => number }): Promise<ReportOutcome[]> {
  if (p.reports.length === 0) return [];
  return inTx(c.sql, async (tx, defer) => {
    const ids = [...new Set(p.reports.map((r) => r.jobId))];
    // One round trip, with the BEGIN: the reads are pipelined, the lock first.
    const [{ jobs, capped }, leases] = await allInOrder([
      lockJobs(tx, ids, { caps: true }),
      loadAttemptLeases(tx, p.reports.filter((r): r is LogReport => r.kind === 'log')),
    ]);
    // The jobs as read: the UPDATE then sets only the columns the batch changed.
    const before = new Map(jobs);
    const out: BatchWrites = { results: [], logs: [], wake: [] };
    const outcomes = p.reports.map((r): ReportOutcome => {
      try {
        return applyOne(jobs, leases, out, p, r, capped);
      } catch (e) {
        // transition throws before anything is recorded, so a refused report leaves no trace.
        if (isBatonError(e)) return { ok: false, code: e.code, message: e.message };
        throw e;
      }
    });
    // The writes go out now; whatever follows on the connection sees them.
    defer(writeResults(tx, out.results, before));
    // Jobs this batch ended that may have dependents (released or cancelled here, in this same
    // transaction) or failed (compensation jobs): only these need the extra round trips. Only a
    // graph's jobs have dependents: an insert that makes a job a parent puts it in the child's
    // graph (graph-plan.ts, `adopt`), under a lock this batch's lock waits for, so the locked row
    // shows it. The dependents are read after the lock, and none can be added until this commits.
    const ended = [...new Set(out.results.map((r) => r.job.id))]
      .map((id) => jobs.get(id)!)
      .filter((j) => isTerminal(j.status) && (j.graphId != null || j.status === 'failed'));
    if (ended.length > 0) out.wake.push(...(await onJobsEnded(tx, ended, p.now)).filter((j) => j.status === 'pending').map((j) => j.tenant));
    if (out.logs.length > 0) {
      const l = out.logs;
      // ORDER BY ord: log ids (the seq clients page by) follow the order the worker sent.
      defer(tx`INSERT INTO job_logs (job_id, tenant, attempt, seq, stream, at, data)
        SELECT job_id, tenant, attempt, seq, stream, ${p.now}::int8, data
        FROM unnest(${l.map((x) => x.jobId)}::text[], ${l.map((x) => x.tenant)}::text[], ${l.map((x) => x.attempt)}::int4[],
          ${l.map((x) => x.seq)}::int8[], ${l.map((x) => x.stream)}::text[], ${l.map((x) => x.data)}::text[])
          WITH ORDINALITY AS v(job_id, tenant, attempt, seq, stream, data, ord)
        ORDER BY ord
        ON CONFLICT (job_id, attempt, seq) DO NOTHING`);
    }
    defer(notifyWake(tx, c, out.wake));
    return outcomes;
  });
}

type LeaseRef = { jobId: string; attempt: number; leaseToken: string };

/** Extends valid leases and names the lost ones; see Store.leaseExtend. */
export async function leaseExtend(
  c: Ctx,
  p: { workerId: string; leases: LeaseRef[]; leaseExpiresAt: number; now: number },
): Promise<{ lost: LeaseRef[] }> {
  if (p.leases.length === 0) return { lost: [] };
  return inTx(c.sql, async (tx, defer) => {
    const { jobs } = await lockJobs(tx, [...new Set(p.leases.map((l) => l.jobId))]);
    const before = new Map(jobs);
    const lost: LeaseRef[] = [];
    const results: TransitionResult[] = [];
    for (const l of p.leases) {
      const job = jobs.get(l.jobId);
      const valid =
        job !== undefined &&
        (job.status === 'assigned' || job.status === 'running') &&
        job.attempt === l.attempt &&
        job.leaseToken === l.leaseToken &&
        job.workerId === p.workerId;
      if (!valid) {
        lost.push({ jobId: l.jobId, attempt: l.attempt, leaseToken: l.leaseToken });
        continue;
      }
      const r = transition(job, { type: 'extend', attempt: l.attempt, leaseToken: l.leaseToken, leaseExpiresAt: p.leaseExpiresAt }, p.now);
      jobs.set(job.id, r.job);
      results.push(r);
    }
    // Sent with the COMMIT: two round trips in all.
    defer(writeResults(tx, results, before));
    return { lost };
  });
}

/** Returns jobs whose lease lapsed to pending (or failed); see Store.leaseReapExpired. */
export async function leaseReapExpired(c: Ctx, p: { now: number; limit: number; random: () => number; fence?: Fence }): Promise<Job[]> {
  return inTx(c.sql, async (tx) => {
    await checkFence(tx, p.fence, p.now);
    // SKIP LOCKED: a job a worker is reporting on right now is left for the next sweep, and two
    // reapers (overlapping leaders) split the rows instead of waiting on each other.
    const rows = await tx`SELECT * FROM jobs WHERE status IN ('assigned', 'running') AND lease_expires_at < ${p.now}::int8
      ORDER BY lease_expires_at LIMIT ${p.limit} FOR UPDATE SKIP LOCKED`;
    const results = rows.map((row) => transition(jobFromRow(row as JobRow), { type: 'lease_expired', random: p.random() }, p.now));
    await writeResults(tx, results);
    await onJobsEnded(tx, results.map((r) => r.job).filter((j) => isTerminal(j.status)), p.now);
    await notifyWake(tx, c, results.map((r) => r.job.tenant));
    return results.map((r) => r.job);
  });
}

/**
 * Log chunks of a job in the order they were stored. `seq` is the store-wide log row id, so
 * `afterSeq` pages across attempts; a job of another tenant (or none) yields an empty list.
 */
export async function logList(sql: Db, p: { tenant: string; jobId: string; afterSeq: number; limit: number }): Promise<LogEntry[]> {
  if (p.limit <= 0) return [];
  const rows = await sql`SELECT id, job_id, attempt, stream, at, data FROM job_logs
    WHERE job_id = ${p.jobId} AND tenant = ${p.tenant} AND id > ${p.afterSeq}::int8 ORDER BY id LIMIT ${p.limit}`;
  return rows.map((r) => ({ seq: r.id, jobId: r.job_id, attempt: r.attempt, stream: r.stream, at: r.at, data: r.data }));
}

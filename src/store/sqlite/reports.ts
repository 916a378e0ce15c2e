/**
 * Worker-facing methods of the SQLite store: reports (group commit), lease extension, reaping
 * of expired leases, and logs. Every report is fenced by (attempt, leaseToken).
 */
import { isBatonError } from '../../core/errors.ts';
import type { Report } from '../../core/protocol.ts';
import { isTerminal, transition, type TransitionResult } from '../../core/transition.ts';
import { onJobsEnded } from './graph.ts';
import type { Job, LogEntry } from '../../core/types.ts';
import type { Fence, ReportOutcome } from '../types.ts';
import { eventOf, stale } from '../report-events.ts';
import type { Sql } from './db.ts';
import { jobFromValues, selectJobs } from './rows.ts';
import { checkFence } from './leaders.ts';
import { loadJobsCached, writeTransition } from './write.ts';

const SELECT_ATTEMPT_LEASE = 'SELECT lease_token, worker_id FROM job_attempts WHERE job_id = ? AND attempt = ?';
const INSERT_LOG = `INSERT OR IGNORE INTO job_logs (job_id, tenant, attempt, seq, stream, at, data)
  VALUES (?, ?, ?, ?, ?, ?, ?)`;

/**
 * A log chunk is kept when it belongs to the job's current attempt and carries that attempt's
 * lease token, even after the attempt ended (its last lines may arrive after the outcome).
 */
function applyLog(sql: Sql, workerId: string, job: Job, r: Extract<Report, { kind: 'log' }>, now: number): ReportOutcome {
  if (r.attempt !== job.attempt) return stale(`log for attempt ${r.attempt} of job ${job.id} refused: the current attempt is ${job.attempt}`);
  const lease = sql.stmt(SELECT_ATTEMPT_LEASE).get(job.id, r.attempt) as { lease_token: string; worker_id: string } | undefined;
  if (lease === undefined || lease.lease_token !== r.leaseToken || lease.worker_id !== workerId) {
    return stale(`log for attempt ${r.attempt} of job ${job.id} refused: wrong lease`);
  }
  sql.stmt(INSERT_LOG).run(job.id, job.tenant, r.attempt, r.seq, r.stream, now, r.data);
  return { ok: true, job: null };
}

/**
 * Applies one report. `jobs` holds the batch's jobs as they stand in this transaction (loaded
 * with one statement, then kept up to date with every transition written), so a batch reads
 * each job once however many of its reports name it.
 */
function applyOne(sql: Sql, workerId: string, r: Report, now: number, random: () => number, jobs: Map<string, Job>, held: Map<string, TransitionResult>): ReportOutcome {
  const job = jobs.get(r.jobId) ?? null;
  if (job === null) return { ok: false, code: 'BATON_E_NOT_FOUND', message: `job ${r.jobId} not found` };
  if (r.kind === 'log') return applyLog(sql, workerId, job, r, now);
  // A current attempt held by another worker cannot be this worker's (tokens are unique anyway).
  if (job.workerId !== null && job.workerId !== workerId) {
    return stale(`report for job ${job.id} refused: the attempt belongs to worker ${job.workerId}`);
  }
  if (r.kind === 'started' && job.status === 'running' && r.attempt === job.attempt && r.leaseToken === job.leaseToken) {
    // A resent `started` (the ack was lost): the job is already where the report would put it.
    return { ok: true, job };
  }
  const res = transition(job, eventOf(r, random), now);
  jobs.set(res.job.id, res.job);
  const prior = held.get(job.id);
  const merged = prior === undefined ? res : mergeResults(sql, prior, res);
  if (!isTerminal(res.job.status)) {
    // Held until the batch ends (same transaction): a `completed` of the same attempt later in
    // the batch then writes the job row and the attempt row once instead of twice.
    held.set(job.id, merged);
    return { ok: true, job: res.job };
  }
  held.delete(job.id);
  // Written before onJobsEnded, which reads the parent's status from the table.
  writeTransition(sql, merged);
  // Releases and cascades change other jobs: keep the batch's view of them current too.
  for (const c of onJobsEnded(sql, [res.job], now)) if (jobs.has(c.id)) jobs.set(c.id, c);
  return { ok: true, job: res.job };
}

/**
 * Two transitions of one job in a row as one write: the later state, and the attempt changes of
 * the same attempt merged in order. Anything else (a new attempt row) writes `a` now.
 */
function mergeResults(sql: Sql, a: TransitionResult, b: TransitionResult): TransitionResult {
  const x = a.attemptChange;
  const y = b.attemptChange;
  if (x === null) return b;
  if (y === null) return { job: b.job, attemptChange: x };
  if (x.attempt === y.attempt && !x.insert && !y.insert) return { job: b.job, attemptChange: { ...x, fields: { ...x.fields, ...y.fields } } };
  writeTransition(sql, a);
  return b;
}

/** Applies a batch of reports in one transaction; see Store.reportApplyMany. */
export function reportApplyMany(sql: Sql, p: { workerId: string; reports: Report[]; now: number; random: () => number }): ReportOutcome[] {
  const run = () => sql.write(() => {
    const jobs = loadJobsCached(sql, [...new Set(p.reports.map((r) => r.jobId))]);
    const held = new Map<string, TransitionResult>();
    const outcomes = p.reports.map((r): ReportOutcome => {
      try {
        return applyOne(sql, p.workerId, r, p.now, p.random, jobs, held);
      } catch (e) {
        // transition throws before anything is written, so a refused report leaves no trace.
        if (isBatonError(e)) return { ok: false, code: e.code, message: e.message };
        throw e;
      }
    });
    for (const r of held.values()) writeTransition(sql, r);
    return outcomes;
  });
  return run();
}

/** Extends valid leases and names the lost ones; see Store.leaseExtend. */
export function leaseExtend(
  sql: Sql,
  p: { workerId: string; leases: { jobId: string; attempt: number; leaseToken: string }[]; leaseExpiresAt: number; now: number },
): { lost: { jobId: string; attempt: number; leaseToken: string }[] } {
  const run = () => sql.write(() => {
    const lost: { jobId: string; attempt: number; leaseToken: string }[] = [];
    const jobs = loadJobsCached(sql, p.leases.map((l) => l.jobId));
    for (const l of p.leases) {
      const job = jobs.get(l.jobId) ?? null;
      const valid =
        job !== null &&
        (job.status === 'assigned' || job.status === 'running') &&
        job.attempt === l.attempt &&
        job.leaseToken === l.leaseToken &&
        job.workerId === p.workerId;
      if (!valid) {
        lost.push({ jobId: l.jobId, attempt: l.attempt, leaseToken: l.leaseToken });
        continue;
      }
      const r = transition(job, { type: 'extend', attempt: l.attempt, leaseToken: l.leaseToken, leaseExpiresAt: p.leaseExpiresAt }, p.now);
      writeTransition(sql, r);
      // The same lease may be named twice.
      jobs.set(job.id, r.job);
    }
    return { lost };
  });
  return run();
}

/** Returns jobs whose lease lapsed to pending (or failed); see Store.leaseReapExpired. */
export function leaseReapExpired(sql: Sql, p: { now: number; limit: number; random: () => number; fence?: Fence }): Job[] {
  const run = () => sql.write(() => {
    checkFence(sql, p.fence, p.now);
    // The leased jobs (as many as the workers' slots) from their partial index, sorted: cheaper
    // than an index on lease_expires_at that every assignment, end and extension would write.
    const rows = sql
      .rawStmt(`${selectJobs()} INDEXED BY jobs_leased_queue WHERE status IN ('assigned', 'running') AND lease_expires_at < ? ORDER BY lease_expires_at LIMIT ?`)
      .all(p.now, p.limit) as unknown[][];
    return rows.map((row) => {
      const res = transition(jobFromValues(row), { type: 'lease_expired', random: p.random() }, p.now);
      writeTransition(sql, res);
      if (isTerminal(res.job.status)) onJobsEnded(sql, [res.job], p.now);
      return res.job;
    });
  });
  return run();
}

/**
 * Log chunks of a job in the order they were stored. `seq` is the store-wide log row id, so
 * `afterSeq` pages across attempts; a job of another tenant (or none) yields an empty list.
 */
export function logList(sql: Sql, p: { tenant: string; jobId: string; afterSeq: number; limit: number }): LogEntry[] {
  if (p.limit <= 0) return [];
  const rows = sql
    .stmt('SELECT id, job_id, attempt, stream, at, data FROM job_logs WHERE job_id = ? AND tenant = ? AND id > ? ORDER BY id LIMIT ?')
    .all(p.jobId, p.tenant, p.afterSeq, p.limit) as { id: number; job_id: string; attempt: number; stream: LogEntry['stream']; at: number; data: string }[];
  return rows.map((r) => ({ seq: r.id, jobId: r.job_id, attempt: r.attempt, stream: r.stream, at: r.at, data: r.data }));
}

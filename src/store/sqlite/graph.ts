/**
 * Job graphs in the SQLite store: dependencies written with their batch, first statuses decided
 * inside the insert's transaction, releases and `upstream_failed` cancellations in the same
 * transaction that ends a parent (every path that ends a job calls `onJobsEnded`), compensation
 * jobs fired once by compare-and-set, parents' outcomes for placeholders, and the graph view.
 */
import { v7 } from 'uuid';
import { BatonError } from '../../core/errors.ts';
import { onParentEnded, type DependencyCondition } from '../../core/graph.ts';
import type { ParentRecord } from '../../core/placeholders.ts';
import type { NewJob } from '../../core/spec.ts';
import { transition } from '../../core/transition.ts';
import { TERMINAL_STATUSES, type Job, type JobSpec, type JobStatus } from '../../core/types.ts';
import { applyPlan, onFailureJob, planInsert, UPSTREAM_FAILED, type ExistingParent } from '../graph-plan.ts';
import type { GraphNodeRecord, InsertResult, JobInsertExtra, JobInsertOptions } from '../types.ts';
import { holderKey, keyedJobs, standIns } from '../unique-keys.ts';
import type { Sql } from './db.ts';
import { insertJobRows } from './jobs.ts';
import { jobFromNew } from './rows.ts';
import { ensureQueue, loadJob, writeTransition } from './write.ts';

const ACTIVE = "('blocked', 'scheduled', 'pending', 'assigned', 'running')";
const SELECT_UNIQUE = `SELECT id FROM jobs WHERE tenant = ? AND unique_key = ? AND status IN ${ACTIVE} LIMIT 1`;
const INSERT_DEP = 'INSERT OR IGNORE INTO job_deps (child_id, parent_id, on_cond, parent_ref, tenant) VALUES (?, ?, ?, ?, ?)';
const SELECT_BLOCKED_CHILDREN = `SELECT DISTINCT d.child_id AS id FROM job_deps d JOIN jobs c ON c.id = d.child_id
  WHERE d.parent_id = ? AND c.status = 'blocked'`;
const SELECT_DEP_STATES = `SELECT d.parent_id, d.on_cond, p.status FROM job_deps d LEFT JOIN jobs p ON p.id = d.parent_id WHERE d.child_id = ?`;

/**
 * Jobs of the batch whose uniqueKey is held by a job that has not ended: with onDuplicate
 * `return` that job stands in for it (by index); otherwise throws BATON_E_DUPLICATE.
 */
export function checkUniqueKeys(sql: Sql, jobs: NewJob[], extras: JobInsertOptions['extras']): Map<number, Job> {
  const keyed = keyedJobs(jobs, extras);
  const held = new Map<string, Job>();
  for (const k of keyed) {
    const row = sql.stmt(SELECT_UNIQUE).get(k.tenant, k.key) as { id: string } | undefined;
    if (row !== undefined) held.set(holderKey(k.tenant, k.key), loadJob(sql, row.id)!);
  }
  return standIns(keyed, extras, held);
}

/**
 * After a batch's rows are inserted (same transaction): writes dependencies, first statuses,
 * graph ids, inherited priorities, uniqueKey/template columns and compensation specs, and
 * updates `result`'s jobs to match what was written.
 */
export function applyInsertExtras(sql: Sql, p: { jobs: NewJob[] } & JobInsertOptions, result: InsertResult): void {
  if (!p.extras && !p.graphOnFailure) return;
  // A parent named by the id of a batch job that turned out to exist (idempotency) is that job.
  const idMap = new Map<string, string>();
  p.jobs.forEach((n, i) => idMap.set(n.id, result.jobs[i].id));
  const batch: { job: Job; extra: JobInsertExtra | undefined; index: number }[] = [];
  p.jobs.forEach((_, i) => {
    if (result.existed[i]) return;
    const e = p.extras?.[i];
    const extra = e && { ...e, dependsOn: e.dependsOn?.map((d) => ({ ...d, job: idMap.get(d.job) ?? d.job })) };
    batch.push({ job: result.jobs[i], extra, index: i });
  });
  if (batch.length === 0) return;
  const inBatch = new Set(batch.map((b) => b.job.id));
  const existing = new Map<string, ExistingParent>();
  for (const b of batch) {
    for (const d of b.extra?.dependsOn ?? []) {
      if (inBatch.has(d.job) || existing.has(d.job)) continue;
      const j = loadJob(sql, d.job);
      if (j !== null) existing.set(d.job, { status: j.status, graphId: j.graphId ?? null, priority: Math.max(j.priority, inheritedOf(sql, j.id)) });
    }
  }
  const plan = planInsert(batch, existing, Boolean(p.graphOnFailure));
  const members = new Set(plan.members);
  for (const b of batch) {
    const j = b.job;
    const e = b.extra;
    for (const d of e?.dependsOn ?? []) sql.stmt(INSERT_DEP).run(j.id, d.job, d.on, d.ref, j.tenant);
    if (e?.onFailure) sql.stmt('INSERT INTO job_on_failure (job_id, tenant, spec) VALUES (?, ?, ?)').run(j.id, j.tenant, JSON.stringify(e.onFailure));
    const { inherited, write } = applyPlan(b, plan, members);
    if (write) {
      sql.rowCache.drop(j.id);
      sql
        .stmt('UPDATE jobs SET graph_id = ?, unique_key = ?, template = ?, ref = ?, inherited_priority = ?, status = ?, reason = ?, completed_at = ? WHERE id = ?')
        .run(j.graphId, j.uniqueKey, j.template, e?.ref ?? null, inherited, j.status, j.reason, j.completedAt, j.id);
    }
  }
  if (plan.graphId !== null) {
    for (const id of plan.adopt) {
      sql.rowCache.drop(id);
      sql.stmt('UPDATE jobs SET graph_id = ? WHERE id = ? AND graph_id IS NULL').run(plan.graphId, id);
    }
    if (p.graphOnFailure) {
      sql.stmt('INSERT OR IGNORE INTO graph_on_failure (graph_id, tenant, spec) VALUES (?, ?, ?)').run(plan.graphId, batch[0].job.tenant, JSON.stringify(p.graphOnFailure));
    }
  }
  for (const [id, prio] of plan.raise) raiseInherited(sql, id, prio, new Set());
  // A job cancelled at insert (its parent had already failed) dooms its own children in turn.
  const cancelled = batch.filter((b) => b.job.status === 'cancelled').map((b) => b.job);
  if (cancelled.length > 0) onJobsEnded(sql, cancelled, batch[0].job.createdAt);
}

function inheritedOf(sql: Sql, id: string): number {
  return (sql.stmt('SELECT inherited_priority AS p FROM jobs WHERE id = ?').get(id) as { p: number } | undefined)?.p ?? 0;
}

/** Raises an unfinished job's inherited priority, and its blocked ancestors' after it. */
function raiseInherited(sql: Sql, id: string, prio: number, seen: Set<string>): void {
  if (seen.has(id)) return;
  seen.add(id);
  sql.rowCache.drop(id);
  const n = sql.stmt(`UPDATE jobs SET inherited_priority = ? WHERE id = ? AND inherited_priority < ? AND priority < ? AND status IN ${ACTIVE}`).run(prio, id, prio, prio).changes;
  if (n === 0) return;
  for (const r of sql.stmt('SELECT parent_id FROM job_deps WHERE child_id = ?').all(id) as { parent_id: string }[]) raiseInherited(sql, r.parent_id, prio, seen);
}

/**
 * Runs in the transaction that ended `ended` (any path: reports, cancel, reap, bulk): releases
 * the blocked children whose dependencies are now all met, cancels (`upstream_failed`) those
 * that can never run, cascading down, and fires the compensation jobs of failed ones. Returns
 * the jobs it changed or created. One indexed lookup per ended job when it has no children.
 */
export function onJobsEnded(sql: Sql, ended: readonly Job[], now: number): Job[] {
  const changed: Job[] = [];
  const queue = ended.filter((j) => TERMINAL_STATUSES.has(j.status));
  for (let i = 0; i < queue.length; i++) {
    const parent = queue[i];
    if (parent.status === 'failed') changed.push(...fireOnFailure(sql, parent, now));
    for (const { id } of sql.stmt(SELECT_BLOCKED_CHILDREN).all(parent.id) as { id: string }[]) {
      const deps = sql.stmt(SELECT_DEP_STATES).all(id) as { parent_id: string; on_cond: DependencyCondition; status: JobStatus | null }[];
      const statuses = new Map<string, JobStatus>();
      for (const d of deps) if (d.status !== null) statuses.set(d.parent_id, d.status);
      const decision = onParentEnded(deps.map((d) => ({ job: d.parent_id, on: d.on_cond })), statuses);
      if (decision === 'stay') continue;
      const child = loadJob(sql, id)!;
      const r = transition(child, decision === 'release' ? { type: 'release' } : { type: 'cancel', reason: UPSTREAM_FAILED }, now);
      writeTransition(sql, r);
      changed.push(r.job);
      if (r.job.status === 'cancelled') queue.push(r.job);
    }
  }
  return changed;
}

/** Creates the compensation jobs `failed` triggers, each at most once (compare-and-set). */
function fireOnFailure(sql: Sql, failed: Job, now: number): Job[] {
  const out: Job[] = [];
  const fire = (table: 'job_on_failure' | 'graph_on_failure', keyCol: 'job_id' | 'graph_id', key: string) => {
    const row = sql.stmt(`SELECT spec FROM ${table} WHERE ${keyCol} = ? AND created_job_id IS NULL`).get(key) as { spec: string } | undefined;
    if (row === undefined) return;
    const id = v7();
    if (sql.stmt(`UPDATE ${table} SET created_job_id = ? WHERE ${keyCol} = ? AND created_job_id IS NULL`).run(id, key).changes === 0) return;
    const job = jobFromNew(onFailureJob(JSON.parse(row.spec) as JobSpec, { id, tenant: failed.tenant, failed, now }));
    insertJobRows(sql, [job]);
    ensureQueue(sql, job.tenant, job.queue, now);
    out.push(job);
  };
  fire('job_on_failure', 'job_id', failed.id);
  if (failed.graphId) fire('graph_on_failure', 'graph_id', failed.graphId);
  return out;
}


/** Parents' outcomes of each job; see Store.jobParents. */
export function jobParents(sql: Sql, p: { jobIds: string[] }): Map<string, ParentRecord[]> {
  const out = new Map<string, ParentRecord[]>();
  if (p.jobIds.length === 0) return out;
  const rows = sql
    .stmt(`SELECT d.child_id, d.parent_id, d.parent_ref, p.status, p.result, p.error FROM job_deps d JOIN jobs p ON p.id = d.parent_id
      WHERE d.child_id IN (SELECT value FROM json_each(?))`)
    .all(JSON.stringify(p.jobIds)) as { child_id: string; parent_id: string; parent_ref: string | null; status: JobStatus; result: string | null; error: string | null }[];
  for (const r of rows) {
    let list = out.get(r.child_id);
    if (!list) out.set(r.child_id, (list = []));
    list.push({ id: r.parent_id, ref: r.parent_ref, status: r.status, result: r.result === null ? null : JSON.parse(r.result), error: r.error === null ? null : JSON.parse(r.error) });
  }
  return out;
}

/** The connected graph of a job; see Store.jobGraph. */
export function jobGraph(sql: Sql, p: { tenant: string; id: string; limit?: number }): { graphId: string | null; nodes: GraphNodeRecord[]; truncated: boolean } {
  const limit = p.limit ?? 10_000;
  const start = sql.stmt('SELECT id, graph_id FROM jobs WHERE id = ? AND tenant = ?').get(p.id, p.tenant) as { id: string; graph_id: string | null } | undefined;
  if (start === undefined) throw new BatonError('BATON_E_NOT_FOUND', `no job ${p.id}`);
  // Walk edges both ways from the job: its graph is everything connected to it.
  const seen = new Set<string>([p.id]);
  const queue = [p.id];
  let truncated = false;
  for (let i = 0; i < queue.length; i++) {
    const rows = sql.stmt('SELECT parent_id AS n FROM job_deps WHERE child_id = ? UNION SELECT child_id FROM job_deps WHERE parent_id = ?').all(queue[i], queue[i]) as { n: string }[];
    for (const { n } of rows) {
      if (seen.has(n)) continue;
      if (seen.size >= limit) {
        truncated = true;
        break;
      }
      seen.add(n);
      queue.push(n);
    }
  }
  const ids = JSON.stringify([...seen]);
  const jobs = sql.stmt(`SELECT id, name, status, ref FROM jobs WHERE tenant = ? AND id IN (SELECT value FROM json_each(?)) ORDER BY id`).all(p.tenant, ids) as { id: string; name: string | null; status: JobStatus; ref: string | null }[];
  const deps = sql.stmt('SELECT child_id, parent_id, on_cond, parent_ref FROM job_deps WHERE child_id IN (SELECT value FROM json_each(?))').all(ids) as { child_id: string; parent_id: string; on_cond: DependencyCondition; parent_ref: string | null }[];
  const refs = new Map<string, string>();
  const byChild = new Map<string, { job: string; on: DependencyCondition }[]>();
  for (const d of deps) {
    if (d.parent_ref !== null) refs.set(d.parent_id, d.parent_ref);
    let l = byChild.get(d.child_id);
    if (!l) byChild.set(d.child_id, (l = []));
    l.push({ job: d.parent_id, on: d.on_cond });
  }
  const nodes = jobs.map((j) => ({ id: j.id, name: j.name, status: j.status, ref: j.ref ?? refs.get(j.id) ?? null, dependsOn: byChild.get(j.id) ?? [] }));
  return { graphId: start.graph_id, nodes, truncated };
}

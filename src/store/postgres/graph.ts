/**
 * Job graphs in the PostgreSQL store: dependencies written with their batch, first statuses
 * decided inside the insert's transaction (existing parents read FOR SHARE, so a parent cannot
 * end unseen while its child is being inserted), releases and `upstream_failed` cancellations in
 * the transaction that ends a parent (blocked children locked FOR UPDATE in id order, so two
 * parents ending at once cannot both leave a child blocked), compensation jobs fired once by
 * compare-and-set, parents' outcomes for placeholders, and the graph view.
 */
import { v7 } from 'uuid';
import { BatonError } from '../../core/errors.ts';
import { onParentEnded, type DependencyCondition } from '../../core/graph.ts';
import type { ParentRecord } from '../../core/placeholders.ts';
import type { NewJob } from '../../core/spec.ts';
import { transition, type TransitionResult } from '../../core/transition.ts';
import { TERMINAL_STATUSES, type Job, type JobSpec, type JobStatus } from '../../core/types.ts';
import { applyPlan, onFailureJob, planInsert, UPSTREAM_FAILED, type ExistingParent } from '../graph-plan.ts';
import type { GraphNodeRecord, InsertResult, JobInsertExtra, JobInsertOptions } from '../types.ts';
import { holderKey, keyedJobs, standIns } from '../unique-keys.ts';
import { allInOrder, type Db } from './db.ts';
import { insertJobRows, insertTags } from './jobs.ts';
import { jobFromNew, jobFromRow, jsonbText, type JobRow } from './rows.ts';
import { ensureQueues, writeResults } from './write.ts';

const ACTIVE = ['blocked', 'scheduled', 'pending', 'assigned', 'running'];

/**
 * Jobs of the batch whose uniqueKey is held by a job that has not ended (see the SQLite
 * twin). A transaction-scoped advisory lock per key makes two racing inserts take turns.
 */
export async function checkUniqueKeys(tx: Db, jobs: NewJob[], extras: JobInsertOptions['extras']): Promise<Map<number, Job>> {
  const keyed = keyedJobs(jobs, extras);
  if (keyed.length === 0) return new Map();
  // Sorted, so two batches lock their keys in one order and cannot deadlock. The read is
  // pipelined behind the locks: PostgreSQL runs it once they are granted, in the same round trip.
  const locks = [...new Set(keyed.map((k) => JSON.stringify([k.tenant, k.key])))].sort();
  const [, rows] = await allInOrder([
    tx`SELECT pg_advisory_xact_lock(hashtextextended(k, 0)) FROM unnest(${locks}::text[]) AS k`.execute(),
    tx`SELECT * FROM jobs WHERE (tenant, unique_key) IN (SELECT * FROM unnest(${keyed.map((k) => k.tenant)}::text[], ${keyed.map((k) => k.key)}::text[]))
      AND status = ANY(${ACTIVE}::text[])`.execute(),
  ]);
  const held = new Map<string, Job>();
  for (const r of rows) held.set(holderKey(r.tenant, r.unique_key), jobFromRow(r as JobRow));
  return standIns(keyed, extras, held);
}

/**
 * After a batch's rows are inserted (same transaction); see the SQLite twin. Returns the jobs it
 * changed (released or cancelled at insert) and the tenants of pending jobs whose inherited
 * priority it raised: a dispatcher holding ready heads ranks those by their old priority until
 * it is woken (the caller's NOTIFY wakes other servers; the route wakes its own).
 */
export async function applyInsertExtras(tx: Db, p: { jobs: NewJob[] } & JobInsertOptions, result: InsertResult): Promise<{ changed: Job[]; raised: string[] }> {
  const none = { changed: [], raised: [] };
  if (!p.extras && !p.graphOnFailure) return none;
  const idMap = new Map<string, string>();
  p.jobs.forEach((n, i) => idMap.set(n.id, result.jobs[i].id));
  const batch: { job: Job; extra: JobInsertExtra | undefined }[] = [];
  p.jobs.forEach((_, i) => {
    if (result.existed[i]) return;
    const e = p.extras?.[i];
    const extra = e && { ...e, dependsOn: e.dependsOn?.map((d) => ({ ...d, job: idMap.get(d.job) ?? d.job })) };
    batch.push({ job: result.jobs[i], extra });
  });
  if (batch.length === 0) return none;
  const inBatch = new Set(batch.map((b) => b.job.id));
  const outside = [...new Set(batch.flatMap((b) => (b.extra?.dependsOn ?? []).map((d) => d.job)).filter((id) => !inBatch.has(id)))].sort();
  const existing = new Map<string, ExistingParent>();
  if (outside.length > 0) {
    const rows = await tx`SELECT id, status, graph_id, GREATEST(priority, inherited_priority) AS p FROM jobs WHERE id = ANY(${outside}::text[]) ORDER BY id FOR SHARE`;
    for (const r of rows) existing.set(r.id, { status: r.status, graphId: r.graph_id, priority: r.p });
  }
  const plan = planInsert(batch, existing, Boolean(p.graphOnFailure));
  const members = new Set(plan.members);
  const deps: { child: string; parent: string; on: string; ref: string | null; tenant: string }[] = [];
  const failures: { id: string; tenant: string; spec: string }[] = [];
  const updates: { j: Job; ref: string | null; inherited: number }[] = [];
  for (const b of batch) {
    const j = b.job;
    const e = b.extra;
    for (const d of e?.dependsOn ?? []) deps.push({ child: j.id, parent: d.job, on: d.on, ref: d.ref, tenant: j.tenant });
    if (e?.onFailure) failures.push({ id: j.id, tenant: j.tenant, spec: jsonbText(e.onFailure) });
    const { inherited, write } = applyPlan(b, plan, members);
    if (write) {
      updates.push({ j, ref: e?.ref ?? null, inherited });
    }
  }
  // The writes below need no answer from each other: pipelined, one round trip.
  const writes: Promise<unknown>[] = [];
  if (deps.length > 0) {
    writes.push(tx`INSERT INTO job_deps (child_id, parent_id, on_cond, parent_ref, tenant)
      SELECT * FROM unnest(${deps.map((d) => d.child)}::text[], ${deps.map((d) => d.parent)}::text[], ${deps.map((d) => d.on)}::text[],
        ${deps.map((d) => d.ref)}::text[], ${deps.map((d) => d.tenant)}::text[]) ON CONFLICT DO NOTHING`.execute());
  }
  if (failures.length > 0) {
    writes.push(tx`INSERT INTO job_on_failure (job_id, tenant, spec)
      SELECT id, t, s::jsonb FROM unnest(${failures.map((f) => f.id)}::text[], ${failures.map((f) => f.tenant)}::text[], ${failures.map((f) => f.spec)}::text[]) AS v(id, t, s)`.execute());
  }
  if (updates.length > 0) {
    const u = updates;
    writes.push(tx`UPDATE jobs AS j SET graph_id = v.g, unique_key = v.k, template = v.t, ref = v.r, inherited_priority = v.ip, status = v.s, reason = v.reason, completed_at = v.c
      FROM unnest(${u.map((x) => x.j.id)}::text[], ${u.map((x) => x.j.graphId ?? null)}::text[], ${u.map((x) => x.j.uniqueKey ?? null)}::text[],
        ${u.map((x) => x.j.template ?? null)}::text[], ${u.map((x) => x.ref)}::text[], ${u.map((x) => x.inherited)}::int4[],
        ${u.map((x) => x.j.status)}::text[], ${u.map((x) => x.j.reason)}::text[], ${u.map((x) => x.j.completedAt)}::int8[])
        AS v(id, g, k, t, r, ip, s, reason, c)
      WHERE j.id = v.id`.execute());
  }
  if (plan.graphId !== null) {
    if (plan.adopt.length > 0) writes.push(tx`UPDATE jobs SET graph_id = ${plan.graphId} WHERE id = ANY(${plan.adopt}::text[]) AND graph_id IS NULL`.execute());
    if (p.graphOnFailure) {
      writes.push(tx`INSERT INTO graph_on_failure (graph_id, tenant, spec) VALUES (${plan.graphId}, ${batch[0].job.tenant}, ${jsonbText(p.graphOnFailure)}::text::jsonb)
        ON CONFLICT DO NOTHING`.execute());
    }
  }
  // After the dependencies on the wire: the walk up reads them. Raises only ever go up, so their
  // order among themselves does not matter.
  const raises = [...plan.raise].map(([id, prio]) => raiseInherited(tx, id, prio));
  await allInOrder([...writes, ...raises]);
  const raised = (await Promise.all(raises)).flat();
  const cancelled = batch.filter((b) => b.job.status === 'cancelled').map((b) => b.job);
  const changed = cancelled.length > 0 ? await onJobsEnded(tx, cancelled, batch[0].job.createdAt) : [];
  return { changed, raised };
}

/**
 * Raises an unfinished job's inherited priority, and its blocked ancestors' (one statement, sent
 * at once); resolves to the tenants of the pending jobs it raised.
 */
function raiseInherited(tx: Db, id: string, prio: number): Promise<string[]> {
  // COLLATE "C": the recursive term's ids (job_deps.parent_id) are "C", and PostgreSQL refuses
  // a recursive query whose terms differ in collation.
  return tx`WITH RECURSIVE up(id) AS (
      SELECT ${id}::text COLLATE "C"
      UNION SELECT d.parent_id FROM job_deps d JOIN up ON d.child_id = up.id JOIN jobs c ON c.id = up.id WHERE c.status = 'blocked')
    UPDATE jobs SET inherited_priority = ${prio} FROM up
    WHERE jobs.id = up.id AND jobs.inherited_priority < ${prio} AND jobs.priority < ${prio} AND jobs.status = ANY(${ACTIVE}::text[])
    RETURNING jobs.tenant, jobs.status`.execute().then((rows) => rows.filter((r) => r.status === 'pending').map((r) => r.tenant as string));
}

/**
 * Runs in the transaction that ended `ended`, after their new status was written (reports,
 * cancel, reap, bulk): releases children whose dependencies are all met, cancels
 * (`upstream_failed`) those that can never run, level by level down the graph, and fires the
 * compensation jobs of failed ones. Returns the jobs it changed or created.
 */
export async function onJobsEnded(tx: Db, ended: readonly Job[], now: number): Promise<Job[]> {
  const changed: Job[] = [];
  let frontier = ended.filter((j) => TERMINAL_STATUSES.has(j.status));
  while (frontier.length > 0) {
    for (const f of frontier) if (f.status === 'failed') changed.push(...(await fireOnFailure(tx, f, now)));
    // The children's dependencies are read in the same round trip, behind the lock: by then the
    // children found are locked, and no blocked child can appear (a job is blocked only at insert,
    // and an insert reads its existing parents FOR SHARE, which waits for this transaction).
    const frontierIds = frontier.map((j) => j.id);
    const [rows, deps] = await allInOrder([
      tx`SELECT c.* FROM jobs c WHERE c.status = 'blocked' AND c.id IN
          (SELECT d.child_id FROM job_deps d WHERE d.parent_id = ANY(${frontierIds}::text[]))
        ORDER BY c.id FOR UPDATE`.execute(),
      tx`SELECT d.child_id, d.parent_id, d.on_cond, p.status FROM job_deps d LEFT JOIN jobs p ON p.id = d.parent_id
        WHERE d.child_id IN (SELECT c.id FROM jobs c WHERE c.status = 'blocked' AND c.id IN
          (SELECT d2.child_id FROM job_deps d2 WHERE d2.parent_id = ANY(${frontierIds}::text[])))`.execute(),
    ]);
    if (rows.length === 0) break;
    const children = rows.map((r) => jobFromRow(r as JobRow));
    const byChild = new Map<string, { parent: string; on: DependencyCondition; status: JobStatus | null }[]>();
    for (const d of deps) {
      let l = byChild.get(d.child_id);
      if (!l) byChild.set(d.child_id, (l = []));
      l.push({ parent: d.parent_id, on: d.on_cond, status: d.status });
    }
    const results: TransitionResult[] = [];
    for (const child of children) {
      const list = byChild.get(child.id) ?? [];
      const statuses = new Map<string, JobStatus>();
      for (const d of list) if (d.status !== null) statuses.set(d.parent, d.status);
      const decision = onParentEnded(list.map((d) => ({ job: d.parent, on: d.on })), statuses);
      if (decision === 'stay') continue;
      results.push(transition(child, decision === 'release' ? { type: 'release' } : { type: 'cancel', reason: UPSTREAM_FAILED }, now));
    }
    await writeResults(tx, results);
    for (const r of results) changed.push(r.job);
    frontier = results.map((r) => r.job).filter((j) => j.status === 'cancelled');
  }
  return changed;
}

/** Creates the compensation jobs `failed` triggers, each at most once (compare-and-set). */
async function fireOnFailure(tx: Db, failed: Job, now: number): Promise<Job[]> {
  const out: Job[] = [];
  const make = async (spec: JobSpec) => {
    const job = jobFromNew(onFailureJob(spec, { id: v7(), tenant: failed.tenant, failed, now }));
    await insertJobRows(tx, [job]);
    await insertTags(tx, [job]);
    await ensureQueues(tx, [{ tenant: job.tenant, name: job.queue, at: now }]);
    out.push(job);
  };
  const id1 = v7();
  const [own] = await tx`UPDATE job_on_failure SET created_job_id = ${id1} WHERE job_id = ${failed.id} AND created_job_id IS NULL RETURNING spec`;
  if (own) await make(own.spec as JobSpec);
  if (failed.graphId) {
    const [g] = await tx`UPDATE graph_on_failure SET created_job_id = ${v7()} WHERE graph_id = ${failed.graphId} AND created_job_id IS NULL RETURNING spec`;
    if (g) await make(g.spec as JobSpec);
  }
  return out;
}

/** Parents' outcomes of each job; see Store.jobParents. */
export async function jobParents(sql: Db, p: { jobIds: string[] }): Promise<Map<string, ParentRecord[]>> {
  const out = new Map<string, ParentRecord[]>();
  if (p.jobIds.length === 0) return out;
  const rows = await sql`SELECT d.child_id, d.parent_id, d.parent_ref, p.status, p.result, p.error FROM job_deps d JOIN jobs p ON p.id = d.parent_id
    WHERE d.child_id = ANY(${p.jobIds}::text[])`;
  for (const r of rows) {
    let list = out.get(r.child_id);
    if (!list) out.set(r.child_id, (list = []));
    list.push({ id: r.parent_id, ref: r.parent_ref, status: r.status, result: r.result ?? null, error: r.error ?? null });
  }
  return out;
}

/** The connected graph of a job; see Store.jobGraph. */
export async function jobGraph(sql: Db, p: { tenant: string; id: string; limit?: number }): Promise<{ graphId: string | null; nodes: GraphNodeRecord[]; truncated: boolean }> {
  const limit = p.limit ?? 10_000;
  const [start] = await sql`SELECT id, graph_id FROM jobs WHERE id = ${p.id} AND tenant = ${p.tenant}`;
  if (start === undefined) throw new BatonError('BATON_E_NOT_FOUND', `no job ${p.id}`);
  const seen = new Set<string>([p.id]);
  let frontier = [p.id];
  let truncated = false;
  // Breadth first, both directions, one query per level.
  while (frontier.length > 0 && !truncated) {
    const rows = await sql`SELECT parent_id AS n FROM job_deps WHERE child_id = ANY(${frontier}::text[])
      UNION SELECT child_id FROM job_deps WHERE parent_id = ANY(${frontier}::text[])`;
    const next: string[] = [];
    for (const { n } of rows) {
      if (seen.has(n)) continue;
      if (seen.size >= limit) {
        truncated = true;
        break;
      }
      seen.add(n);
      next.push(n);
    }
    frontier = next;
  }
  const ids = [...seen];
  const jobs = await sql`SELECT id, name, status, ref FROM jobs WHERE tenant = ${p.tenant} AND id = ANY(${ids}::text[]) ORDER BY id`;
  const deps = await sql`SELECT child_id, parent_id, on_cond, parent_ref FROM job_deps WHERE child_id = ANY(${ids}::text[])`;
  const refs = new Map<string, string>();
  const byChild = new Map<string, { job: string; on: DependencyCondition }[]>();
  for (const d of deps) {
    if (d.parent_ref !== null) refs.set(d.parent_id, d.parent_ref);
    let l = byChild.get(d.child_id);
    if (!l) byChild.set(d.child_id, (l = []));
    l.push({ job: d.parent_id, on: d.on_cond });
  }
  const nodes = jobs.map((j) => ({ id: j.id as string, name: j.name as string | null, status: j.status as JobStatus, ref: (j.ref as string | null) ?? refs.get(j.id) ?? null, dependsOn: byChild.get(j.id) ?? [] }));
  return { graphId: start.graph_id ?? null, nodes, truncated };
}


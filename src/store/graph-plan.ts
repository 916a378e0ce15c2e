/**
 * The engine-independent part of inserting a batch with dependencies: given the freshly inserted
 * jobs, their resolved dependencies and what the store read of the parents that existed before,
 * decides each job's first status (blocked, ready, or cancelled `upstream_failed`), the batch's
 * graph id, and the priorities inherited from blocked children. Pure; both engines apply its
 * answer inside the insert's transaction, after reading the existing parents under lock.
 */
import { initialStatus, priorityInheritance, releaseOrder, type DependencyState, type GraphNode } from '../core/graph.ts';
import { readyStatus } from '../core/transition.ts';
import type { NewJob } from '../core/spec.ts';
import type { Job, JobSpec, JobStatus } from '../core/types.ts';
import type { JobInsertExtra } from './types.ts';

/** Reason recorded on a job cancelled because a parent can no longer satisfy it. */
export const UPSTREAM_FAILED = 'upstream_failed';

/** A parent that existed before the batch, as the store read it. */
export interface ExistingParent {
  status: JobStatus;
  graphId: string | null;
  priority: number;
}

/** What the store must write for a batch's graph. */
export interface InsertPlan {
  /** First status of each new job with dependencies (others keep the status they were inserted with). */
  status: Map<string, JobStatus>;
  /** The batch's graph id, or null when the batch has no graph. */
  graphId: string | null;
  /** New jobs that belong to the graph. */
  members: string[];
  /** Existing parents without a graph id that join this batch's graph. */
  adopt: string[];
  /** New jobs whose effective priority is above their own. */
  inherited: Map<string, number>;
  /** Existing unfinished parents whose effective priority must rise to at least this. */
  raise: Map<string, number>;
}

/** A new job of the batch with its dependencies, ids already mapped to the stored jobs. */
export interface PlannedJob {
  job: Job;
  extra: JobInsertExtra | undefined;
}

/**
 * Plans the graph of a batch. `existing` holds every parent named by id that is not in the
 * batch; `hasGraphOnFailure` makes the whole batch one graph even without edges.
 */
export function planInsert(batch: readonly PlannedJob[], existing: ReadonlyMap<string, ExistingParent>, hasGraphOnFailure: boolean): InsertPlan {
  const byId = new Map(batch.map((b) => [b.job.id, b]));
  const nodes: GraphNode[] = batch.map((b) => ({ id: b.job.id, status: b.job.status, dependsOn: (b.extra?.dependsOn ?? []).map((d) => ({ job: d.job, on: d.on })) }));
  const status = new Map<string, JobStatus>();
  // Parents before children, so a child sees its batch parents' first status (one cancelled
  // at insert dooms its `success` children too).
  for (const id of releaseOrder(nodes)) {
    const b = byId.get(id)!;
    const deps = b.extra?.dependsOn ?? [];
    if (deps.length === 0) continue;
    const states: DependencyState[] = deps.map((d) => ({
      on: d.on,
      status: byId.has(d.job) ? (status.get(d.job) ?? byId.get(d.job)!.job.status) : existing.get(d.job)?.status,
    }));
    const decision = initialStatus(states);
    status.set(id, decision === 'blocked' ? 'blocked' : decision === 'cancel' ? 'cancelled' : readyStatus(b.job.runAt, b.job.createdAt));
  }

  const inGraph = new Set<string>();
  const parentsOutside: string[] = [];
  for (const b of batch) {
    for (const d of b.extra?.dependsOn ?? []) {
      inGraph.add(b.job.id);
      if (byId.has(d.job)) inGraph.add(d.job);
      else parentsOutside.push(d.job);
    }
  }
  if (hasGraphOnFailure) for (const b of batch) inGraph.add(b.job.id);
  const members = batch.map((b) => b.job.id).filter((id) => inGraph.has(id));
  let graphId: string | null = null;
  const adopt: string[] = [];
  if (members.length > 0) {
    // Joining an existing graph keeps its id; a graph grown from a lone job is named after it.
    graphId = parentsOutside.map((id) => existing.get(id)?.graphId).find((g) => g != null) ?? parentsOutside.find((id) => existing.has(id)) ?? members[0];
    for (const id of new Set(parentsOutside)) if (existing.get(id)?.graphId == null && existing.has(id)) adopt.push(id);
  }

  // Inheritance over the batch plus its outside parents (as leaves): a blocked urgent child
  // pulls every unfinished ancestor in the batch, and its direct outside parents, forward.
  const priorities = new Map<string, number>();
  const all: GraphNode[] = nodes.map((n) => ({ ...n, status: status.get(n.id) ?? n.status }));
  for (const b of batch) priorities.set(b.job.id, b.job.priority);
  for (const id of new Set(parentsOutside)) {
    const e = existing.get(id);
    if (e === undefined) continue;
    all.push({ id, status: e.status, dependsOn: [] });
    priorities.set(id, e.priority);
  }
  const eff = priorityInheritance(all, priorities);
  const inherited = new Map<string, number>();
  const raise = new Map<string, number>();
  for (const [id, p] of eff) {
    if (p <= (priorities.get(id) ?? 5)) continue;
    if (byId.has(id)) inherited.set(id, p);
    else raise.set(id, p);
  }
  return { status, graphId, members, adopt, inherited, raise };
}

/**
 * Applies an insert plan to one job of the batch, in memory: its graph id, unique key, template
 * and planned first status (blocked, or cancelled `upstream_failed` when a parent can never
 * satisfy it). Returns the inherited priority and whether the inserted row needs these columns
 * written (most jobs of a plain batch do not).
 */
export function applyPlan(b: PlannedJob, plan: InsertPlan, members: ReadonlySet<string>): { inherited: number; write: boolean } {
  const j = b.job;
  const e = b.extra;
  const status = plan.status.get(j.id) ?? j.status;
  j.graphId = members.has(j.id) ? plan.graphId : null;
  j.uniqueKey = e?.uniqueKey ?? null;
  j.template = e?.template ?? null;
  if (status !== j.status) {
    j.status = status;
    if (status === 'cancelled') {
      j.reason = UPSTREAM_FAILED;
      j.completedAt = j.createdAt;
    }
  }
  const inherited = plan.inherited.get(j.id) ?? 0;
  const write = j.graphId !== null || j.uniqueKey !== null || j.template !== null || Boolean(e?.ref) || inherited > 0 || plan.status.has(j.id);
  return { inherited, write };
}

/** The job a compensation spec becomes when it fires: pending now, tagged with what failed. */
export function onFailureJob(spec: JobSpec, p: { id: string; tenant: string; failed: Job; now: number }): NewJob {
  return {
    ...spec,
    id: p.id,
    tenant: p.tenant,
    status: 'pending' as const,
    runAt: p.now,
    createdAt: p.now,
    idempotencyKey: null,
    metadata: { ...spec.metadata, onFailureOf: p.failed.id, graphId: p.failed.graphId ?? null },
  };
}

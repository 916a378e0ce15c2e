/**
 * Job graphs: dependencies between jobs and the rules that decide when a blocked job is
 * released, when it can never run (cancelled with reason `upstream_failed`), in which order a
 * graph runs and which priority an unfinished job inherits from the blocked jobs behind it.
 * Pure functions of their arguments; the store applies their answers inside its transactions.
 *
 * An edge `child → parent` with condition `on` is:
 * - `success` (default): met when the parent completed; never met once it failed or was cancelled.
 * - `completion`: met when the parent ended in any way.
 * - `failure`: met when the parent failed; never met once it completed or was cancelled (a
 *   cancelled parent did not fail — cancelling a graph does not start its compensation jobs).
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { BatonError, invalid } from './errors.ts';
import { TERMINAL_STATUSES, type JobStatus } from './types.ts';

/** The conditions an edge can wait for. */
export const DEPENDENCY_CONDITIONS = ['success', 'completion', 'failure'] as const;
/** When a dependency counts as met; see the module comment. */
export type DependencyCondition = (typeof DEPENDENCY_CONDITIONS)[number];

/** A resolved dependency: the child waits for job `job` (an id) to end as `on` says. */
export interface Dependency {
  job: string;
  on: DependencyCondition;
}

/** Most dependencies one job may list. */
export const MAX_DEPENDENCIES = 100;

/**
 * A local reference naming a job inside one batch. No dots, so `{{parents.<ref>.result}}` is
 * unambiguous; job ids (uuid v7) fit the same pattern, so a parent named by id can be addressed
 * by its id in placeholders.
 */
export const RefInput = Type.String({ minLength: 1, maxLength: 100, pattern: '^[A-Za-z0-9_][A-Za-z0-9_-]*$' });

const OnInput = Type.Union(DEPENDENCY_CONDITIONS.map((c) => Type.Literal(c)));

/** One `dependsOn` entry as a client writes it: an existing job by id, or a job of the same batch by ref. */
export const DependencyInput = Type.Union([
  Type.Object({ job: Type.String({ minLength: 1, maxLength: 100 }), on: Type.Optional(OnInput) }, { additionalProperties: false }),
  Type.Object({ ref: RefInput, on: Type.Optional(OnInput) }, { additionalProperties: false }),
]);
export type DependencyInput = Static<typeof DependencyInput>;

/** The `dependsOn` field of a job input. */
export const DependsOnInput = Type.Array(DependencyInput, { maxItems: MAX_DEPENDENCIES });

/**
 * The graph fields to add to a job input: `ref`, `dependsOn` and `onFailure` (the compensation
 * job created when a job of the graph fails). `onFailureSpec` is the schema of that job — the
 * plain job input without graph fields; it is a parameter so this file needs nothing from
 * spec.ts (spec.ts can then import this one without an import cycle).
 */
export function graphInputProperties<T extends TSchema>(onFailureSpec: T) {
  return {
    ref: Type.Optional(RefInput),
    dependsOn: Type.Optional(DependsOnInput),
    onFailure: Type.Optional(onFailureSpec),
  };
}

/** Whether an edge is met now, may still be met later, or can never be met. */
export type EdgeState = 'met' | 'unmet-yet' | 'never';

/**
 * The state of one edge given its parent's status. A parent that is not terminal is
 * `unmet-yet`; `undefined` (the parent no longer exists) can never satisfy an edge.
 */
export function edgeSatisfied(on: DependencyCondition, parentStatus: JobStatus | undefined): EdgeState {
  if (parentStatus === undefined) return 'never';
  if (!TERMINAL_STATUSES.has(parentStatus)) return 'unmet-yet';
  switch (on) {
    case 'completion':
      return 'met';
    case 'success':
      return parentStatus === 'completed' ? 'met' : 'never';
    case 'failure':
      return parentStatus === 'failed' ? 'met' : 'never';
  }
}

/** A dependency together with its parent's current status (undefined: the parent is gone). */
export interface DependencyState {
  on: DependencyCondition;
  status: JobStatus | undefined;
}

/** Folds edge states: any `never` wins, then any `unmet-yet`, else `met` (also for no edges). */
function combine(deps: readonly DependencyState[]): EdgeState {
  let state: EdgeState = 'met';
  for (const d of deps) {
    const e = edgeSatisfied(d.on, d.status);
    if (e === 'never') return 'never';
    if (e === 'unmet-yet') state = 'unmet-yet';
  }
  return state;
}

/** What a new job starts as: `ready` (pending or scheduled, by its runAt), `blocked`, or `cancel` (upstream_failed). */
export type InitialDecision = 'blocked' | 'ready' | 'cancel';

/**
 * The first status of a job with these dependencies: `cancel` when one of them can already
 * never be met (e.g. it depends on the success of a job that failed), `ready` when all are met
 * (or there are none), else `blocked`.
 */
export function initialStatus(deps: readonly DependencyState[]): InitialDecision {
  const s = combine(deps);
  return s === 'met' ? 'ready' : s === 'never' ? 'cancel' : 'blocked';
}

/** What to do with a blocked child when one of its parents ends. */
export type ParentEndedDecision = 'release' | 'stay' | 'cancel-upstream-failed';

/**
 * Decides a blocked child's fate after a parent ended: `release` when every dependency is met,
 * `cancel-upstream-failed` when one can never be met, else `stay` blocked.
 * `parentStatus` gives each parent's current status, as a lookup function or a map by id
 * (undefined or absent: the parent is gone).
 */
export function onParentEnded(
  childDeps: readonly Dependency[],
  parentStatus: ((id: string) => JobStatus | undefined) | ReadonlyMap<string, JobStatus>,
): ParentEndedDecision {
  const look = typeof parentStatus === 'function' ? parentStatus : (id: string) => parentStatus.get(id);
  const s = combine(childDeps.map((d) => ({ on: d.on, status: look(d.job) })));
  return s === 'met' ? 'release' : s === 'never' ? 'cancel-upstream-failed' : 'stay';
}

/** A job as the graph functions see it. */
export interface GraphNode {
  id: string;
  status: JobStatus;
  dependsOn: readonly Dependency[];
}

/** Children of every node: parent id → edges to its children that are in `nodes`. */
function childrenOf(nodes: ReadonlyMap<string, GraphNode>): Map<string, { child: string; on: DependencyCondition }[]> {
  const out = new Map<string, { child: string; on: DependencyCondition }[]>();
  for (const n of nodes.values()) {
    for (const d of n.dependsOn) {
      if (!nodes.has(d.job)) continue;
      let list = out.get(d.job);
      if (!list) out.set(d.job, (list = []));
      list.push({ child: n.id, on: d.on });
    }
  }
  return out;
}

function indexNodes(graph: Iterable<GraphNode>): Map<string, GraphNode> {
  const m = new Map<string, GraphNode>();
  for (const n of graph) m.set(n.id, n);
  return m;
}

/**
 * The blocked descendants of `endedId` that can no longer run once it has ended with the status
 * it has in `graph`: exactly those with a dependency that can never be met, transitively (each
 * one is cancelled, which may make its own children impossible in turn). A child waiting on the
 * `completion` of a cancelled job is not in the set; one waiting on its `failure` or `success`
 * is. Returned in cascade order (parents before their children). Assumes, as holds when this
 * runs on every end, that no blocked job had an impossible dependency before. O(V + E).
 */
export function propagateCancellation(graph: Iterable<GraphNode>, endedId: string): Set<string> {
  const nodes = indexNodes(graph);
  const children = childrenOf(nodes);
  const doomed = new Set<string>();
  const statusOf = (id: string): JobStatus | undefined => (doomed.has(id) ? 'cancelled' : nodes.get(id)?.status);
  const queue = [endedId];
  for (let i = 0; i < queue.length; i++) {
    const parentStatus = statusOf(queue[i]);
    for (const { child, on } of children.get(queue[i]) ?? []) {
      if (doomed.has(child) || nodes.get(child)!.status !== 'blocked') continue;
      // Only this parent's edges changed state, so this edge alone decides (each edge is looked at once: O(V + E)).
      if (edgeSatisfied(on, parentStatus) === 'never') {
        doomed.add(child);
        queue.push(child);
      }
    }
  }
  return doomed;
}

/** One edge of a graph view: `from` is the parent, `to` the child that waits on it. */
export interface GraphEdge {
  from: string;
  to: string;
  on: DependencyCondition;
  /** Whether the condition is met, may still be, or never can be, by the parent's status now. */
  state: EdgeState;
}

/**
 * The edges of `graph` (for GET /v1/jobs/:id/graph and the CLI), each with its state. Edges to
 * parents outside `graph` are left out. In node order, then dependency order.
 */
export function graphEdges(graph: Iterable<GraphNode>): GraphEdge[] {
  const nodes = indexNodes(graph);
  const out: GraphEdge[] = [];
  for (const n of nodes.values()) {
    for (const d of n.dependsOn) {
      const parent = nodes.get(d.job);
      if (parent) out.push({ from: d.job, to: n.id, on: d.on, state: edgeSatisfied(d.on, parent.status) });
    }
  }
  return out;
}

/** One cycle through `nodes` (ids, first repeated at the end), found among the nodes Kahn's algorithm could not order. */
function findCycle(left: ReadonlySet<string>, parentsOf: (id: string) => string[]): string[] {
  // Every node left over has a parent that is left over too, so walking parents must repeat.
  const start = left.values().next().value as string;
  const seenAt = new Map<string, number>();
  const path: string[] = [];
  let cur = start;
  while (!seenAt.has(cur)) {
    seenAt.set(cur, path.length);
    path.push(cur);
    cur = parentsOf(cur).find((p) => left.has(p))!;
  }
  // The walk went child → parent; reverse so the cycle reads in edge order parent → child.
  return [...path.slice(seenAt.get(cur)!), cur].reverse();
}

/**
 * Kahn's algorithm over `ids`: an order in which every parent comes before its children,
 * stable with respect to the input order; or the leftover nodes when there is a cycle.
 */
function kahn(ids: readonly string[], parentsOf: (id: string) => string[]): { order: string[]; left: Set<string> } {
  const idSet = new Set(ids);
  const indegree = new Map<string, number>();
  const children = new Map<string, string[]>();
  for (const id of ids) {
    let n = 0;
    for (const p of parentsOf(id)) {
      if (!idSet.has(p)) continue;
      n++;
      let list = children.get(p);
      if (!list) children.set(p, (list = []));
      list.push(id);
    }
    indegree.set(id, n);
  }
  const order = ids.filter((id) => indegree.get(id) === 0);
  for (let i = 0; i < order.length; i++) {
    for (const c of children.get(order[i]) ?? []) {
      const d = indegree.get(c)! - 1;
      indegree.set(c, d);
      if (d === 0) order.push(c);
    }
  }
  const placed = new Set(order);
  return { order, left: new Set(ids.filter((id) => !placed.has(id))) };
}

/**
 * All node ids in an order where every parent comes before its children (the order in which a
 * graph can be released). Edges to jobs outside `graph` are ignored. Throws BATON_E_VALIDATION
 * naming a cycle if there is one. O(V + E).
 */
export function releaseOrder(graph: Iterable<GraphNode>): string[] {
  const nodes = indexNodes(graph);
  const parentsOf = (id: string) => nodes.get(id)!.dependsOn.map((d) => d.job);
  const { order, left } = kahn([...nodes.keys()], parentsOf);
  if (left.size > 0) {
    const cycle = findCycle(left, parentsOf);
    throw new BatonError('BATON_E_VALIDATION', `dependency cycle: ${cycle.join(' → ')}`, { details: { cycle } });
  }
  return order;
}

/**
 * Effective priority of every unfinished job: the highest of its own priority and that of every
 * blocked job that waits on it, directly or through other blocked jobs — so a blocked urgent job
 * pulls its parents forward. `priorities` gives each job's own priority (jobs missing from it
 * count as the default 5). Terminal jobs are left out of the result. O(V + E).
 */
export function priorityInheritance(graph: Iterable<GraphNode>, priorities: ReadonlyMap<string, number>): Map<string, number> {
  const nodes = indexNodes(graph);
  const order = releaseOrder(nodes.values());
  const children = childrenOf(nodes);
  const eff = new Map<string, number>();
  // Children before parents, so each child's effective priority is final when its parents read it.
  for (let i = order.length - 1; i >= 0; i--) {
    const id = order[i];
    if (TERMINAL_STATUSES.has(nodes.get(id)!.status)) continue;
    let p = priorities.get(id) ?? 5;
    for (const { child } of children.get(id) ?? []) {
      if (nodes.get(child)!.status === 'blocked') p = Math.max(p, eff.get(child)!);
    }
    eff.set(id, p);
  }
  return eff;
}

/** One job of a batch, as far as the graph is concerned. */
export interface BatchGraphItem {
  ref?: string;
  dependsOn?: readonly DependencyInput[];
}

/** A batch job with its dependencies resolved to ids. */
export interface ResolvedBatchItem {
  /** The id the job will be inserted with (from `newIds`). */
  id: string;
  ref: string | null;
  /** Dependencies with ids and defaulted conditions, in the order given. */
  dependsOn: Dependency[];
  /** Its first status, judged from the statuses of parents that exist already (batch parents are new, so unmet). */
  initial: InitialDecision;
}

/** The result of resolving a batch: its items, and their indexes with every parent before its children. */
export interface ResolvedBatch {
  items: ResolvedBatchItem[];
  order: number[];
}

/**
 * Resolves the dependencies of a batch of new jobs: refs become the ids in `newIds` (same index
 * as `items`), `on` defaults to `success`, and `existingJobs` gives the status of a job named by
 * id (undefined: no such job in the tenant). Throws BATON_E_VALIDATION naming the field (with
 * `at` as prefix, `jobs` by default, e.g. `jobs[3].dependsOn[1].ref`) for a duplicate ref, an
 * unknown ref or job, a job listed twice, a self-dependency, or a cycle (its refs in the message
 * and in `details.cycle`). O(V + E).
 */
export function resolveBatchGraph(
  items: readonly BatchGraphItem[],
  newIds: readonly string[],
  existingJobs: (id: string) => JobStatus | undefined,
  at = 'jobs',
): ResolvedBatch {
  if (newIds.length !== items.length) throw new BatonError('BATON_E_INTERNAL', `resolveBatchGraph: ${items.length} items but ${newIds.length} ids`);
  const byRef = new Map<string, number>();
  items.forEach((item, i) => {
    if (item.ref === undefined) return;
    const first = byRef.get(item.ref);
    if (first !== undefined) throw invalid(`${at}[${i}].ref`, `ref "${item.ref}" is already used by ${at}[${first}]`);
    byRef.set(item.ref, i);
  });
  const parentIdx: number[][] = items.map(() => []);
  const out: ResolvedBatchItem[] = items.map((item, i) => {
    const deps: Dependency[] = [];
    const states: DependencyState[] = [];
    const seen = new Map<string, number>();
    (item.dependsOn ?? []).forEach((d, k) => {
      const field = `${at}[${i}].dependsOn[${k}]`;
      const on = d.on ?? 'success';
      let id: string;
      if ('ref' in d) {
        const j = byRef.get(d.ref);
        if (j === undefined) throw invalid(`${field}.ref`, `no job in this batch has ref "${d.ref}"`);
        if (j === i) throw invalid(`${field}.ref`, `a job cannot depend on itself ("${d.ref}")`);
        id = newIds[j];
        parentIdx[i].push(j);
        states.push({ on, status: 'blocked' });
      } else {
        const status = existingJobs(d.job);
        if (status === undefined) throw invalid(`${field}.job`, `no such job: ${d.job}`);
        id = d.job;
        states.push({ on, status });
      }
      const dup = seen.get(id);
      if (dup !== undefined) throw invalid(field, `names the same job as dependsOn[${dup}]; list each parent once`);
      seen.set(id, k);
      deps.push({ job: id, on });
    });
    return { id: newIds[i], ref: item.ref ?? null, dependsOn: deps, initial: initialStatus(states) };
  });
  const keys = items.map((_, i) => String(i));
  const parentsOf = (k: string) => parentIdx[Number(k)].map(String);
  const { order, left } = kahn(keys, parentsOf);
  if (left.size > 0) {
    const cycle = findCycle(left, parentsOf).map(Number);
    const refs = cycle.map((i) => items[i].ref!);
    // Name the edge that closes the cycle: the last job's dependency on the one before it.
    const child = cycle[cycle.length - 1];
    const k = (items[child].dependsOn ?? []).findIndex((d) => 'ref' in d && d.ref === items[cycle[cycle.length - 2]].ref);
    throw new BatonError('BATON_E_VALIDATION', `${at}[${child}].dependsOn[${k}].ref: dependency cycle: ${refs.join(' → ')}`, {
      field: `${at}[${child}].dependsOn[${k}].ref`,
      details: { cycle: refs },
    });
  }
  return { items: out, order: order.map(Number) };
}

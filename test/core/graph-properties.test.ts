/**
 * Laws of the job graph over random DAGs of up to 200 jobs (fast-check): a run driven only by
 * these functions never starts a child before its parents ended as required and leaves no job
 * stuck; failure propagation reaches exactly the jobs that can no longer run; cycles are always
 * found; release order respects every edge; inheritance never lowers a priority.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isBatonError } from '../../src/core/errors.ts';
import {
  edgeSatisfied,
  onParentEnded,
  priorityInheritance,
  propagateCancellation,
  releaseOrder,
  resolveBatchGraph,
  type BatchGraphItem,
  type Dependency,
  type DependencyCondition,
  type GraphNode,
} from '../../src/core/graph.ts';
import { JOB_STATUSES, TERMINAL_STATUSES, type JobStatus } from '../../src/core/types.ts';

const ON: DependencyCondition[] = ['success', 'success', 'completion', 'failure'];

/** A DAG as a batch: node i may depend only on nodes < i, listed in a shuffled order. */
interface Dag {
  n: number;
  /** parents[i]: node i's dependencies on earlier nodes. */
  parents: { p: number; on: DependencyCondition }[][];
  /** The order in which nodes are listed in the batch (so input order is not topological). */
  listing: number[];
}

const dagArb = (maxN = 200): fc.Arbitrary<Dag> =>
  fc.integer({ min: 1, max: maxN }).chain((n) =>
    fc
      .record({
        raw: fc.array(fc.array(fc.record({ p: fc.nat(), on: fc.constantFrom(...ON) }), { maxLength: 3 }), { minLength: n, maxLength: n }),
        keys: fc.array(fc.nat(), { minLength: n, maxLength: n }),
      })
      .map(({ raw, keys }) => {
        const parents = raw.map((list, i) => {
          if (i === 0) return [];
          const seen = new Set<number>();
          return list.map((e) => ({ p: e.p % i, on: e.on })).filter((e) => !seen.has(e.p) && seen.add(e.p));
        });
        const listing = keys.map((k, i) => [k, i]).sort((a, b) => a[0] - b[0] || a[1] - b[1]).map(([, i]) => i);
        return { n, parents, listing };
      }),
  );

const ref = (i: number) => `r${i}`;

/** A plain assertion for hot loops (vitest's expect is too slow to call a million times). */
function ok(cond: boolean, message: string): void {
  if (!cond) throw new Error(message);
}
const id = (i: number) => `job-${i}`;

/** The batch items for a DAG, in its listing order, and the node index of each item. */
function batchOf(dag: Dag): { items: BatchGraphItem[]; nodeOf: number[] } {
  const items = dag.listing.map((i) => ({ ref: ref(i), dependsOn: dag.parents[i].map((e) => ({ ref: ref(e.p), on: e.on })) }));
  return { items, nodeOf: dag.listing };
}

/** Graph nodes (resolved by resolveBatchGraph) with the given statuses. */
function nodesOf(dag: Dag, status: (i: number) => JobStatus): GraphNode[] {
  return dag.listing.map((i) => ({ id: id(i), status: status(i), dependsOn: dag.parents[i].map((e) => ({ job: id(e.p), on: e.on })) }));
}

function sameSet(a: ReadonlySet<string>, b: ReadonlySet<string>): boolean {
  return a.size === b.size && [...a].every((x) => b.has(x));
}

/** A small seeded generator, so a simulation's choices replay with fast-check's seed. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Reference for the cascade, computed differently: a naive fixpoint over every blocked job. */
function naiveDoomed(nodes: ReadonlyMap<string, GraphNode>): Set<string> {
  const doomed = new Set<string>();
  const eff = (j: string) => (doomed.has(j) ? 'cancelled' : nodes.get(j)?.status);
  for (let changed = true; changed; ) {
    changed = false;
    for (const n of nodes.values()) {
      if (n.status !== 'blocked' || doomed.has(n.id)) continue;
      if (n.dependsOn.some((d) => edgeSatisfied(d.on, eff(d.job)) === 'never')) {
        doomed.add(n.id);
        changed = true;
      }
    }
  }
  return doomed;
}

describe('graph laws', () => {
  it('a run released only by these functions respects every edge, cancels exactly the impossible jobs and leaves none stuck', () => {
    fc.assert(
      fc.property(dagArb(), fc.integer(), fc.double({ min: 0, max: 0.6, noNaN: true }), (dag, seed, failRate) => {
        const random = rng(seed);
        const { items, nodeOf } = batchOf(dag);
        const resolved = resolveBatchGraph(items, nodeOf.map(id), () => undefined);
        const nodes = new Map<string, GraphNode & { status: JobStatus }>();
        const children = new Map<string, string[]>();
        resolved.items.forEach((it) => {
          expect(it.initial).not.toBe('cancel');
          nodes.set(it.id, { id: it.id, status: it.initial === 'ready' ? 'pending' : 'blocked', dependsOn: it.dependsOn });
          for (const d of it.dependsOn) children.set(d.job, [...(children.get(d.job) ?? []), it.id]);
        });
        const startedAt = new Map<string, number>();
        const endedAt = new Map<string, number>();
        let clock = 0;
        const running: string[] = [];
        const statusOf = (j: string) => nodes.get(j)?.status;

        const end = (j: string, status: JobStatus) => {
          nodes.get(j)!.status = status;
          endedAt.set(j, ++clock);
          const predicted = propagateCancellation(nodes.values(), j);
          ok(sameSet(naiveDoomed(nodes), predicted), `cascade after ${j} differs from the fixpoint reference`);
          // What the store does: look at the ended job's children, cancel or release them, and go on down.
          const cancelled = new Set<string>();
          const queue = [j];
          for (let q = 0; q < queue.length; q++) {
            for (const c of children.get(queue[q]) ?? []) {
              const child = nodes.get(c)!;
              if (child.status !== 'blocked') continue;
              const decision = onParentEnded(child.dependsOn, statusOf);
              if (decision === 'release') child.status = 'pending';
              if (decision === 'cancel-upstream-failed') {
                child.status = 'cancelled';
                endedAt.set(c, ++clock);
                cancelled.add(c);
                queue.push(c);
              }
            }
          }
          ok(sameSet(cancelled, predicted), `cascade after ${j} differs from propagateCancellation`);
        };

        for (;;) {
          const pending = [...nodes.values()].filter((x) => x.status === 'pending');
          if (pending.length === 0 && running.length === 0) break;
          // Start a job or end a running one, so several run at once.
          if (pending.length > 0 && (running.length === 0 || random() < 0.5)) {
            const x = pending[Math.floor(random() * pending.length)];
            for (const d of x.dependsOn) ok(edgeSatisfied(d.on, statusOf(d.job)) === 'met', `${x.id} started before ${d.job} ended as required`);
            x.status = 'running';
            startedAt.set(x.id, ++clock);
            running.push(x.id);
          } else {
            const j = running.splice(Math.floor(random() * running.length), 1)[0];
            end(j, random() < failRate ? 'failed' : 'completed');
          }
        }

        for (const x of nodes.values()) {
          ok(TERMINAL_STATUSES.has(x.status), `${x.id} is stuck ${x.status}`);
          const states = x.dependsOn.map((d) => edgeSatisfied(d.on, statusOf(d.job)));
          if (startedAt.has(x.id)) {
            ok(states.every((s) => s === 'met'), `${x.id} ran with an unmet edge`);
            for (const d of x.dependsOn) ok(endedAt.get(d.job)! < startedAt.get(x.id)!, `${x.id} started before ${d.job} ended`);
          } else {
            ok(x.status === 'cancelled' && states.includes('never'), `${x.id} never ran yet could have`);
            // Only success and failure edges can doom a job: completion is met by any end.
            ok(x.dependsOn.some((d) => d.on !== 'completion'), `${x.id} cancelled with only completion edges`);
          }
        }
      }),
      { numRuns: 120 },
    );
  });

  it('random cycles are always found and named correctly; DAGs never are', () => {
    fc.assert(
      fc.property(dagArb(120), fc.array(fc.nat(), { minLength: 2, maxLength: 8 }), fc.boolean(), (dag, picks, addCycle) => {
        const { items, nodeOf } = batchOf(dag);
        const cycleNodes = [...new Set(picks.map((p) => p % dag.n))];
        if (addCycle && cycleNodes.length >= 2) {
          // c0 → c1 → … → c0: each depends on the one before it (if it does not already).
          cycleNodes.forEach((c, k) => {
            const prev = cycleNodes[(k + cycleNodes.length - 1) % cycleNodes.length];
            const item = items[nodeOf.indexOf(c)];
            if (!item.dependsOn!.some((d) => 'ref' in d && d.ref === ref(prev))) item.dependsOn = [...item.dependsOn!, { ref: ref(prev) }];
          });
        } else {
          expect(() => resolveBatchGraph(items, nodeOf.map(id), () => undefined)).not.toThrow();
          return;
        }
        let error: unknown;
        try {
          resolveBatchGraph(items, nodeOf.map(id), () => undefined);
        } catch (e) {
          error = e;
        }
        expect(isBatonError(error)).toBe(true);
        if (!isBatonError(error)) return;
        expect(error.code).toBe('BATON_E_VALIDATION');
        const cycle = (error.details as { cycle: string[] }).cycle;
        expect(cycle.length).toBeGreaterThanOrEqual(3);
        expect(cycle[0]).toBe(cycle[cycle.length - 1]);
        const byRef = new Map(items.map((it) => [it.ref!, it]));
        for (let k = 1; k < cycle.length; k++) {
          const deps = byRef.get(cycle[k])!.dependsOn!;
          expect(deps.some((d) => 'ref' in d && d.ref === cycle[k - 1]), `${cycle[k]} depends on ${cycle[k - 1]}`).toBe(true);
        }
        const m = /^jobs\[(\d+)\]\.dependsOn\[(\d+)\]\.ref$/.exec(error.field!)!;
        const named = items[Number(m[1])].dependsOn![Number(m[2])] as { ref: string };
        expect(cycle).toContain(named.ref);
        expect(cycle).toContain(items[Number(m[1])].ref);
      }),
      { numRuns: 150 },
    );
  });

  it('release order and batch order respect every edge', () => {
    fc.assert(
      fc.property(dagArb(), (dag) => {
        const nodes = nodesOf(dag, () => 'blocked');
        const order = releaseOrder(nodes);
        expect([...order].sort()).toEqual(nodes.map((x) => x.id).sort());
        const pos = new Map(order.map((x, i) => [x, i]));
        for (const x of nodes) for (const d of x.dependsOn) ok(pos.get(d.job)! < pos.get(x.id)!, `${d.job} after ${x.id}`);

        const { items, nodeOf } = batchOf(dag);
        const batch = resolveBatchGraph(items, nodeOf.map(id), () => undefined);
        const at = new Map(batch.order.map((itemIdx, i) => [batch.items[itemIdx].id, i]));
        expect(at.size).toBe(dag.n);
        for (const it of batch.items) for (const d of it.dependsOn) ok(at.get(d.job)! < at.get(it.id)!, `${d.job} after ${it.id}`);
      }),
      { numRuns: 150 },
    );
  });

  it('inheritance never lowers a priority and equals the highest blocked job waiting on each unfinished one', () => {
    fc.assert(
      fc.property(
        dagArb(),
        fc.array(fc.constantFrom(...JOB_STATUSES, 'blocked', 'blocked'), { minLength: 200, maxLength: 200 }),
        fc.array(fc.integer({ min: 1, max: 10 }), { minLength: 200, maxLength: 200 }),
        (dag, statuses, prios) => {
          const nodes = nodesOf(dag, (i) => statuses[i]);
          const own = new Map(nodes.map((x, k) => [x.id, prios[k]]));
          const eff = priorityInheritance(nodes, own);
          const byId = new Map(nodes.map((x) => [x.id, x]));
          const kids = new Map<string, string[]>();
          for (const x of nodes) for (const d of x.dependsOn) kids.set(d.job, [...(kids.get(d.job) ?? []), x.id]);
          for (const x of nodes) {
            if (TERMINAL_STATUSES.has(x.status)) {
              ok(!eff.has(x.id), `terminal ${x.id} has an effective priority`);
              continue;
            }
            ok(eff.get(x.id)! >= own.get(x.id)!, `${x.id} lowered`);
            // Reference: walk down through blocked children only.
            let want = own.get(x.id)!;
            const stack = [...(kids.get(x.id) ?? [])];
            const seen = new Set<string>();
            while (stack.length) {
              const c = stack.pop()!;
              if (seen.has(c) || byId.get(c)!.status !== 'blocked') continue;
              seen.add(c);
              want = Math.max(want, own.get(c)!);
              stack.push(...(kids.get(c) ?? []));
            }
            ok(eff.get(x.id) === want, `${x.id}: effective ${eff.get(x.id)}, want ${want}`);
          }
        },
      ),
      { numRuns: 150 },
    );
  });

  it('a failed job cancels no child that waits on its failure or completion', () => {
    fc.assert(
      fc.property(dagArb(60), fc.nat(), (dag, pick) => {
        const failed = pick % dag.n;
        const nodes = nodesOf(dag, (i) => (i === failed ? 'failed' : 'blocked'));
        const doomed = propagateCancellation(nodes, id(failed));
        for (const x of nodes) {
          const d = x.dependsOn.find((e: Dependency) => e.job === id(failed));
          if (d && d.on !== 'success') ok(!(doomed.has(x.id) && x.dependsOn.length === 1), `${x.id} waits on ${d.on} yet was cancelled`);
          if (d && d.on === 'success') ok(doomed.has(x.id), `${x.id} waits on success of a failed job yet was kept`);
        }
      }),
      { numRuns: 150 },
    );
  });
});

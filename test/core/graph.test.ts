/**
 * Job graph rules, case by case: edge conditions, first status, release decisions, the
 * upstream_failed cascade, release order, priority inheritance, and batch resolution with the
 * field named on every kind of bad input.
 */
import { Type } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { describe, expect, it } from 'vitest';
import {
  DependencyInput,
  DependsOnInput,
  MAX_DEPENDENCIES,
  edgeSatisfied,
  graphEdges,
  graphInputProperties,
  initialStatus,
  onParentEnded,
  priorityInheritance,
  propagateCancellation,
  releaseOrder,
  resolveBatchGraph,
  type Dependency,
  type GraphNode,
} from '../../src/core/graph.ts';
import { JOB_STATUSES, type JobStatus } from '../../src/core/types.ts';
import { thrown } from './fixtures.ts';

const node = (id: string, status: JobStatus, dependsOn: Dependency[] = []): GraphNode => ({ id, status, dependsOn });
const dep = (job: string, on: Dependency['on'] = 'success'): Dependency => ({ job, on });
const none = () => undefined;

describe('edgeSatisfied', () => {
  it('waits while the parent has not ended', () => {
    for (const s of ['blocked', 'scheduled', 'pending', 'assigned', 'running'] as const) {
      for (const on of ['success', 'completion', 'failure'] as const) expect(edgeSatisfied(on, s)).toBe('unmet-yet');
    }
  });

  it('follows the table for ended parents', () => {
    const table: Record<string, Record<string, string>> = {
      success: { completed: 'met', failed: 'never', cancelled: 'never' },
      completion: { completed: 'met', failed: 'met', cancelled: 'met' },
      failure: { completed: 'never', failed: 'met', cancelled: 'never' },
    };
    for (const [on, row] of Object.entries(table)) {
      for (const [status, want] of Object.entries(row)) expect(edgeSatisfied(on as Dependency['on'], status as JobStatus), `${on}/${status}`).toBe(want);
    }
  });

  it('a parent that is gone can never satisfy an edge', () => {
    for (const on of ['success', 'completion', 'failure'] as const) expect(edgeSatisfied(on, undefined)).toBe('never');
  });
});

describe('initialStatus and onParentEnded', () => {
  it('a job without dependencies is ready', () => {
    expect(initialStatus([])).toBe('ready');
    expect(onParentEnded([], none)).toBe('release');
  });

  it('is ready when all are met, blocked when some wait, cancelled when one never can be', () => {
    expect(initialStatus([{ on: 'success', status: 'completed' }, { on: 'failure', status: 'failed' }])).toBe('ready');
    expect(initialStatus([{ on: 'success', status: 'completed' }, { on: 'success', status: 'running' }])).toBe('blocked');
    expect(initialStatus([{ on: 'success', status: 'running' }, { on: 'success', status: 'failed' }])).toBe('cancel');
    expect(initialStatus([{ on: 'completion', status: 'cancelled' }])).toBe('ready');
  });

  it('releases, keeps or cancels a child by its parents’ statuses', () => {
    const statuses = new Map<string, JobStatus>([['a', 'completed'], ['b', 'running'], ['c', 'failed']]);
    const look = (id: string) => statuses.get(id);
    expect(onParentEnded([dep('a')], look)).toBe('release');
    expect(onParentEnded([dep('a'), dep('b')], look)).toBe('stay');
    expect(onParentEnded([dep('b'), dep('c')], look)).toBe('cancel-upstream-failed');
    expect(onParentEnded([dep('c', 'failure'), dep('a', 'completion')], look)).toBe('release');
    expect(onParentEnded([dep('gone', 'completion')], look)).toBe('cancel-upstream-failed');
    expect(onParentEnded([dep('a'), dep('c', 'failure')], statuses)).toBe('release');
    expect(onParentEnded([dep('b')], statuses)).toBe('stay');
  });
});

describe('schemas', () => {
  it('accepts job or ref dependencies with an optional condition', () => {
    expect(Value.Check(DependencyInput, { job: '0190-abc' })).toBe(true);
    expect(Value.Check(DependencyInput, { ref: 'extract', on: 'failure' })).toBe(true);
    expect(Value.Check(DependencyInput, { ref: 'a.b' })).toBe(false);
    expect(Value.Check(DependencyInput, { ref: 'a', on: 'maybe' })).toBe(false);
    expect(Value.Check(DependencyInput, { ref: 'a', job: 'b' })).toBe(false);
    expect(Value.Check(DependencyInput, {})).toBe(false);
    expect(Value.Check(DependsOnInput, Array.from({ length: MAX_DEPENDENCIES + 1 }, (_, i) => ({ ref: `r${i}` })))).toBe(false);
  });

  it('graphInputProperties adds optional ref, dependsOn and onFailure', () => {
    const spec = Type.Object({ type: Type.String() }, { additionalProperties: false });
    const schema = Type.Object({ type: Type.String(), ...graphInputProperties(spec) }, { additionalProperties: false });
    expect(Value.Check(schema, { type: 'command' })).toBe(true);
    expect(Value.Check(schema, { type: 'command', ref: 'b', dependsOn: [{ ref: 'a' }], onFailure: { type: 'command' } })).toBe(true);
    expect(Value.Check(schema, { type: 'command', onFailure: { type: 'command', dependsOn: [] } })).toBe(false);
  });
});

describe('resolveBatchGraph', () => {
  const ids = (n: number) => Array.from({ length: n }, (_, i) => `id${i}`);

  it('resolves a diamond: refs become ids, on defaults to success, parents come first', () => {
    const items = [
      { ref: 'd', dependsOn: [{ ref: 'b' }, { ref: 'c', on: 'completion' as const }] },
      { ref: 'b', dependsOn: [{ ref: 'a' }] },
      { ref: 'c', dependsOn: [{ ref: 'a' }] },
      { ref: 'a' },
    ];
    const r = resolveBatchGraph(items, ids(4), none);
    expect(r.items[0]).toEqual({ id: 'id0', ref: 'd', dependsOn: [dep('id1'), dep('id2', 'completion')], initial: 'blocked' });
    expect(r.items[3]).toEqual({ id: 'id3', ref: 'a', dependsOn: [], initial: 'ready' });
    expect(r.order[0]).toBe(3);
    expect(r.order.indexOf(0)).toBe(3);
  });

  it('judges the first status from existing parents', () => {
    const statuses: Record<string, JobStatus> = { done: 'completed', bad: 'failed', busy: 'running' };
    const look = (id: string) => statuses[id];
    const r = resolveBatchGraph(
      [{ dependsOn: [{ job: 'done' }] }, { dependsOn: [{ job: 'bad' }] }, { dependsOn: [{ job: 'bad', on: 'failure' }] }, { dependsOn: [{ job: 'busy' }] }],
      ids(4),
      look,
    );
    expect(r.items.map((i) => i.initial)).toEqual(['ready', 'cancel', 'ready', 'blocked']);
  });

  it('names the field of each kind of bad reference', () => {
    const cases: [unknown[], string, RegExp][] = [
      [[{ ref: 'a' }, { ref: 'a' }], 'jobs[1].ref', /already used by jobs\[0\]/],
      [[{ ref: 'a' }, { dependsOn: [{ ref: 'a' }, { ref: 'x' }] }], 'jobs[1].dependsOn[1].ref', /no job in this batch has ref "x"/],
      [[{ ref: 'a', dependsOn: [{ ref: 'a' }] }], 'jobs[0].dependsOn[0].ref', /cannot depend on itself/],
      [[{ dependsOn: [{ job: 'nope' }] }], 'jobs[0].dependsOn[0].job', /no such job: nope/],
      [[{ ref: 'a' }, { dependsOn: [{ ref: 'a' }, { ref: 'a', on: 'failure' }] }], 'jobs[1].dependsOn[1]', /same job as dependsOn\[0\]/],
    ];
    for (const [items, field, message] of cases) {
      const e = thrown(() => resolveBatchGraph(items as never, ids(items.length), none));
      expect(e.code).toBe('BATON_E_VALIDATION');
      expect(e.field).toBe(field);
      expect(e.message).toMatch(message);
    }
  });

  it('names a cycle’s refs in order and the edge that closes it', () => {
    const items = [
      { ref: 'a', dependsOn: [{ ref: 'c' }] },
      { ref: 'b', dependsOn: [{ ref: 'a' }] },
      { ref: 'c', dependsOn: [{ ref: 'b' }] },
      { ref: 'd', dependsOn: [{ ref: 'a' }] },
    ];
    const e = thrown(() => resolveBatchGraph(items, ids(4), none));
    expect(e.code).toBe('BATON_E_VALIDATION');
    const cycle = (e.details as { cycle: string[] }).cycle;
    expect(cycle[0]).toBe(cycle[cycle.length - 1]);
    expect(new Set(cycle)).toEqual(new Set(['a', 'b', 'c']));
    expect(e.message).toContain(cycle.join(' → '));
    expect(e.field).toMatch(/^jobs\[[0-2]\]\.dependsOn\[0\]\.ref$/);
  });

  it('uses the given prefix and refuses mismatched ids', () => {
    expect(thrown(() => resolveBatchGraph([{ dependsOn: [{ job: 'x' }] }], ['i'], none, 'graph.jobs')).field).toBe('graph.jobs[0].dependsOn[0].job');
    expect(thrown(() => resolveBatchGraph([{}], [], none)).code).toBe('BATON_E_INTERNAL');
  });
});

describe('propagateCancellation', () => {
  it('cancels down a success chain but not past a completion edge', () => {
    const g = [
      node('a', 'failed'),
      node('b', 'blocked', [dep('a')]),
      node('c', 'blocked', [dep('b')]),
      node('d', 'blocked', [dep('c', 'completion')]),
      node('e', 'blocked', [dep('d')]),
    ];
    expect([...propagateCancellation(g, 'a')]).toEqual(['b', 'c']);
  });

  it('runs the compensation of a failed parent, and cancels the one of a cancelled parent', () => {
    const g = [
      node('a', 'failed'),
      node('undo', 'blocked', [dep('a', 'failure')]),
      node('b', 'blocked', [dep('a')]),
      node('undoB', 'blocked', [dep('b', 'failure')]),
    ];
    expect(propagateCancellation(g, 'a')).toEqual(new Set(['b', 'undoB']));
  });

  it('a completed parent cancels the children waiting on its failure', () => {
    const g = [node('a', 'completed'), node('onFail', 'blocked', [dep('a', 'failure')]), node('next', 'blocked', [dep('a')])];
    expect(propagateCancellation(g, 'a')).toEqual(new Set(['onFail']));
  });

  it('leaves children that are not blocked alone', () => {
    const g = [node('a', 'failed'), node('b', 'pending', [dep('a')]), node('c', 'cancelled', [dep('a')])];
    expect(propagateCancellation(g, 'a').size).toBe(0);
  });
});

describe('releaseOrder and priorityInheritance', () => {
  it('orders parents first and ignores parents outside the graph', () => {
    const g = [node('c', 'blocked', [dep('b'), dep('outside')]), node('b', 'blocked', [dep('a')]), node('a', 'pending')];
    expect(releaseOrder(g)).toEqual(['a', 'b', 'c']);
  });

  it('refuses a cycle, naming it', () => {
    const e = thrown(() => releaseOrder([node('a', 'blocked', [dep('b')]), node('b', 'blocked', [dep('a')])]));
    expect(e.code).toBe('BATON_E_VALIDATION');
    expect(e.message).toMatch(/cycle: (a → b → a|b → a → b)/);
  });

  it('a blocked urgent job raises its unfinished ancestors, not the finished ones or the siblings', () => {
    const g = [
      node('done', 'completed'),
      node('a', 'pending', [dep('done')]),
      node('b', 'blocked', [dep('a')]),
      node('urgent', 'blocked', [dep('b')]),
      node('sibling', 'pending'),
      node('running', 'running'),
      node('afterRunning', 'pending', [dep('running', 'completion')]),
    ];
    const own = new Map([['done', 1], ['a', 2], ['b', 3], ['urgent', 9], ['sibling', 4], ['running', 1], ['afterRunning', 10]]);
    const eff = priorityInheritance(g, own);
    expect(Object.fromEntries(eff)).toEqual({ a: 9, b: 9, urgent: 9, sibling: 4, running: 1, afterRunning: 10 });
  });

  it('uses the default priority 5 for a job without one', () => {
    expect(priorityInheritance([node('x', 'pending')], new Map()).get('x')).toBe(5);
  });
});

describe('graphEdges', () => {
  it('lists parent → child edges with their state, leaving out parents outside the graph', () => {
    const g = [
      node('a', 'failed'),
      node('b', 'blocked', [dep('a'), dep('outside')]),
      node('c', 'blocked', [dep('a', 'failure'), dep('b', 'completion')]),
    ];
    expect(graphEdges(g)).toEqual([
      { from: 'a', to: 'b', on: 'success', state: 'never' },
      { from: 'a', to: 'c', on: 'failure', state: 'met' },
      { from: 'b', to: 'c', on: 'completion', state: 'unmet-yet' },
    ]);
  });
});

describe('large inputs', () => {
  it('resolves a 10,000-job chain and finds a cycle closing it, without recursion limits', () => {
    const n = 10_000;
    const items = Array.from({ length: n }, (_, i) => ({ ref: `r${i}`, dependsOn: i === 0 ? [] : [{ ref: `r${i - 1}` }] }));
    const ids = items.map((_, i) => `id${i}`);
    const r = resolveBatchGraph(items, ids, none);
    expect(r.order).toEqual(items.map((_, i) => i));
    expect(propagateCancellation(ids.map((id, i) => node(id, i === 0 ? 'failed' : 'blocked', i === 0 ? [] : [dep(ids[i - 1])])), 'id0').size).toBe(n - 1);
    items[0].dependsOn = [{ ref: `r${n - 1}` }];
    const e = thrown(() => resolveBatchGraph(items, ids, none));
    expect((e.details as { cycle: string[] }).cycle).toHaveLength(n + 1);
  });
});

it('every status is covered by edgeSatisfied', () => {
  for (const s of JOB_STATUSES) expect(['met', 'unmet-yet', 'never']).toContain(edgeSatisfied('completion', s));
});

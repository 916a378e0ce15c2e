/**
 * Worker selection: each hard rule excludes on its own, the least loaded worker wins, and the
 * plan never over-commits a worker, never lets an unplaceable job block the queue, and is
 * deterministic.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canTake, planPlacements, score, type PlaceableJob, type WorkerView } from '../../src/core/placement.ts';
import type { JobType } from '../../src/core/types.ts';
import { deepFreeze } from './fixtures.ts';

function worker(over: Partial<WorkerView> = {}): WorkerView {
  return {
    id: 'w1', tenant: 'acme', status: 'active', types: ['command', 'http', 'function'], handlers: ['resize'],
    queues: ['*'], labels: { gpu: 'a100', region: 'eu' }, capacity: 4, running: 0,
    cpuFree: 4, memoryFreeMb: 4096, region: 'eu', zone: 'eu-1', ...over,
  };
}

function job(over: Partial<PlaceableJob> = {}): PlaceableJob {
  return { id: 'j1', tenant: 'acme', type: 'command', payload: { argv: ['true'] }, queue: 'default', requirements: { labels: {}, cpu: 0, memoryMb: 0 }, ...over };
}

describe('canTake: each hard rule excludes', () => {
  const cases: [string, Partial<WorkerView>, Partial<PlaceableJob>][] = [
    ['another tenant', { tenant: 'other' }, {}],
    ['a draining worker', { status: 'draining' }, {}],
    ['an offline worker', { status: 'offline' }, {}],
    ['a type the worker does not run', { types: ['http'] }, {}],
    ['a function handler the worker lacks', {}, { type: 'function', payload: { handler: 'thumbnail' } }],
    ['a function job without a handler name', {}, { type: 'function', payload: {} }],
    ['a function job whose handler is not a string', {}, { type: 'function', payload: { handler: 7 } }],
    ['a queue the worker does not serve', { queues: ['emails'] }, { queue: 'reports' }],
    ['a missing label', {}, { requirements: { labels: { ssd: 'yes' }, cpu: 0, memoryMb: 0 } }],
    ['a label with another value', {}, { requirements: { labels: { gpu: 'h100' }, cpu: 0, memoryMb: 0 } }],
    ['a label named like an Object method', {}, { requirements: { labels: { toString: 'x' }, cpu: 0, memoryMb: 0 } }],
    ['no free slot', { running: 4 }, {}],
    ['more than full', { running: 9 }, {}],
    ['zero capacity', { capacity: 0 }, {}],
    ['too little cpu', { cpuFree: 1.5 }, { requirements: { labels: {}, cpu: 2, memoryMb: 0 } }],
    ['too little memory', { memoryFreeMb: 512 }, { requirements: { labels: {}, cpu: 0, memoryMb: 1024 } }],
  ];
  it('the baseline worker takes the baseline job', () => {
    expect(canTake(worker(), job())).toBe(true);
    expect(canTake(worker(), job({ type: 'function', payload: { handler: 'resize' } }))).toBe(true);
  });
  for (const [name, w, j] of cases) {
    it(`refuses ${name}`, () => expect(canTake(worker(w), job(j))).toBe(false));
  }

  it('a shared worker (system token) takes jobs of every tenant; others only their own', () => {
    expect(canTake(worker({ shared: true }), job({ tenant: 'globex' }))).toBe(true);
    expect(canTake(worker({ shared: true }), job())).toBe(true);
    expect(canTake(worker({ shared: false }), job({ tenant: 'globex' }))).toBe(false);
    expect(canTake(worker(), job({ tenant: 'globex' }))).toBe(false);
  });

  it('a shared worker still obeys every other hard rule', () => {
    for (const [name, w, j] of cases) {
      if (name === 'another tenant') continue;
      expect(canTake(worker({ ...w, shared: true }), job({ ...j, tenant: 'globex' })), name).toBe(false);
    }
  });

  it('serves a listed queue, and every queue with *', () => {
    expect(canTake(worker({ queues: ['emails', 'reports'] }), job({ queue: 'reports' }))).toBe(true);
    expect(canTake(worker({ queues: ['*'] }), job({ queue: 'anything' }))).toBe(true);
  });

  it('matches every required label exactly, and takes jobs that need fewer labels than it has', () => {
    expect(canTake(worker(), job({ requirements: { labels: { gpu: 'a100', region: 'eu' }, cpu: 0, memoryMb: 0 } }))).toBe(true);
    expect(canTake(worker(), job({ requirements: { labels: { gpu: 'a100', region: 'us' }, cpu: 0, memoryMb: 0 } }))).toBe(false);
  });

  it('takes a job that fits the resources exactly, and any job on a worker that declares none', () => {
    expect(canTake(worker({ cpuFree: 2, memoryFreeMb: 1024 }), job({ requirements: { labels: {}, cpu: 2, memoryMb: 1024 } }))).toBe(true);
    const undeclared = worker({ cpuFree: Number.POSITIVE_INFINITY, memoryFreeMb: Number.POSITIVE_INFINITY });
    expect(canTake(undeclared, job({ requirements: { labels: {}, cpu: 64, memoryMb: 1_000_000 } }))).toBe(true);
  });
});

describe('planPlacements', () => {
  it('prefers the least loaded worker (by share of free slots), then the smaller id', () => {
    const ws = [worker({ id: 'busy', capacity: 4, running: 3 }), worker({ id: 'idle', capacity: 4, running: 1 })];
    expect(planPlacements([job()], ws)).toEqual([{ jobId: 'j1', workerId: 'idle' }]);
    // Share, not count: 4 of 8 free (0.5) loses to 2 of 2 free (1.0).
    const big = [worker({ id: 'big', capacity: 8, running: 4 }), worker({ id: 'small', capacity: 2, running: 0 })];
    expect(planPlacements([job()], big)).toEqual([{ jobId: 'j1', workerId: 'small' }]);
    const tie = [worker({ id: 'w9' }), worker({ id: 'w2' }), worker({ id: 'w5' })];
    expect(planPlacements([job()], tie)).toEqual([{ jobId: 'j1', workerId: 'w2' }]);
    expect(score(worker({ capacity: 4, running: 1 }), job())).toBe(0.75);
  });

  it('spreads jobs as load changes within one plan', () => {
    const ws = [worker({ id: 'a', capacity: 2 }), worker({ id: 'b', capacity: 2 })];
    const jobs = ['j1', 'j2', 'j3', 'j4', 'j5'].map((id) => job({ id }));
    expect(planPlacements(jobs, ws)).toEqual([
      { jobId: 'j1', workerId: 'a' }, { jobId: 'j2', workerId: 'b' }, { jobId: 'j3', workerId: 'a' }, { jobId: 'j4', workerId: 'b' },
    ]);
  });

  it('fills fractional cores exactly despite binary rounding (0.3 - 0.1 - 0.1 < 0.1 in floating point)', () => {
    const fill = (cpuFree: number, cpu: number, n: number) =>
      planPlacements(Array.from({ length: n }, (_, i) => job({ id: `j${i}`, requirements: { labels: {}, cpu, memoryMb: 0 } })), [worker({ capacity: 100, cpuFree })]).length;
    expect(fill(0.3, 0.1, 4)).toBe(3);
    expect(fill(0.6, 0.2, 4)).toBe(3);
    expect(fill(2.4, 0.3, 9)).toBe(8);
    expect(fill(1, 0.1, 11)).toBe(10);
  });

  it('does not mutate the worker views', () => {
    const ws = deepFreeze([worker({ id: 'a' }), worker({ id: 'b' })]);
    expect(() => planPlacements([job({ id: 'x', requirements: { labels: {}, cpu: 1, memoryMb: 10 } })], ws)).not.toThrow();
    expect(ws[0].running + ws[1].running).toBe(0);
  });
});

// ---- properties over random fleets and queues -----------------------------------------------

const TYPES: JobType[] = ['command', 'http', 'function'];
const cpuArb = fc.constantFrom(0, 0.5, 1, 2); // multiples of 1/2 are exact in binary, so sums are exact
const workerArb = (id: string): fc.Arbitrary<WorkerView> =>
  fc.record({
    id: fc.constant(id),
    tenant: fc.constantFrom('acme', 'acme', 'globex'),
    shared: fc.constantFrom(false, false, true),
    status: fc.constantFrom('active' as const, 'active' as const, 'active' as const, 'draining' as const),
    types: fc.subarray(TYPES, { minLength: 1 }),
    handlers: fc.subarray(['resize', 'email']),
    queues: fc.constantFrom<string[]>(['*'], ['default'], ['default', 'reports'], ['reports']),
    labels: fc.constantFrom<Record<string, string>>({}, { gpu: 'yes' }, { gpu: 'no' }),
    capacity: fc.integer({ min: 0, max: 4 }),
    running: fc.integer({ min: 0, max: 3 }),
    cpuFree: fc.oneof(fc.constant(Number.POSITIVE_INFINITY), fc.constantFrom(0, 1, 2.5, 4)),
    memoryFreeMb: fc.oneof(fc.constant(Number.POSITIVE_INFINITY), fc.constantFrom(0, 256, 1024)),
    region: fc.constant(null),
    zone: fc.constant(null),
  });
const jobArb = (id: string): fc.Arbitrary<PlaceableJob> =>
  fc.record({
    id: fc.constant(id),
    tenant: fc.constantFrom('acme', 'acme', 'globex'),
    type: fc.constantFrom(...TYPES),
    payload: fc.constantFrom<Record<string, unknown>>({ argv: ['x'] }, { handler: 'resize' }, { handler: 'email' }),
    queue: fc.constantFrom('default', 'reports'),
    requirements: fc.record({
      labels: fc.constantFrom<Record<string, string>>({}, {}, { gpu: 'yes' }),
      cpu: cpuArb,
      memoryMb: fc.constantFrom(0, 0, 128, 512),
    }),
  });
const fleetArb = fc.integer({ min: 0, max: 6 }).chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => workerArb(`w${i}`))));
const queueArb = fc.integer({ min: 0, max: 25 }).chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => jobArb(`j${i}`))));

describe('planPlacements properties', () => {
  it('never exceeds any worker’s free slots, cpu or memory, and only places where canTake holds', () => {
    fc.assert(
      fc.property(fleetArb, queueArb, (workers, jobs) => {
        const plan = planPlacements(jobs, workers);
        const byId = new Map(jobs.map((j) => [j.id, j]));
        expect(new Set(plan.map((p) => p.jobId)).size).toBe(plan.length);
        for (const w of workers) {
          const mine = plan.filter((p) => p.workerId === w.id).map((p) => byId.get(p.jobId)!);
          for (const j of mine) expect(canTake(w, j)).toBe(true);
          expect(mine.length).toBeLessThanOrEqual(Math.max(0, w.capacity - w.running));
          expect(mine.reduce((s, j) => s + j.requirements.cpu, 0)).toBeLessThanOrEqual(w.cpuFree);
          expect(mine.reduce((s, j) => s + j.requirements.memoryMb, 0)).toBeLessThanOrEqual(w.memoryFreeMb);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('gives each job the best worker free at its turn, and skips it only when none could take it', () => {
    fc.assert(
      fc.property(fleetArb, queueArb, (workers, jobs) => {
        const plan = planPlacements(jobs, workers);
        const pool = new Map(workers.map((w) => [w.id, { ...w }]));
        const placed = new Map(plan.map((p) => [p.jobId, p.workerId]));
        for (const j of jobs) {
          const to = placed.get(j.id);
          if (to === undefined) {
            for (const w of pool.values()) expect(canTake(w, j)).toBe(false);
            continue;
          }
          const w = pool.get(to)!;
          expect(canTake(w, j)).toBe(true);
          // The chosen worker is the least loaded that could take it, ties to the smaller id.
          for (const o of pool.values()) {
            if (o.id === w.id || !canTake(o, j)) continue;
            expect(score(o, j)).toBeLessThanOrEqual(score(w, j));
            if (score(o, j) === score(w, j)) expect(w.id < o.id).toBe(true);
          }
          w.running += 1;
          w.cpuFree -= j.requirements.cpu;
          w.memoryFreeMb -= j.requirements.memoryMb;
        }
      }),
      { numRuns: 300 },
    );
  });

  it('a job no worker can take changes nothing for the jobs around it', () => {
    fc.assert(
      fc.property(fleetArb, queueArb, fc.nat(), (workers, jobs, at) => {
        // A handler no worker has: even a shared worker (any tenant) cannot take it.
        const orphan = job({ id: 'orphan', tenant: 'nobody', type: 'function', payload: { handler: 'nobody' } });
        const i = jobs.length === 0 ? 0 : at % (jobs.length + 1);
        const withOrphan = [...jobs.slice(0, i), orphan, ...jobs.slice(i)];
        expect(planPlacements(withOrphan, workers)).toEqual(planPlacements(jobs, workers));
      }),
      { numRuns: 200 },
    );
  });

  it('is deterministic, whatever order the workers come in', () => {
    fc.assert(
      fc.property(fleetArb, queueArb, fc.infiniteStream(fc.nat()), (workers, jobs, noise) => {
        const plan = planPlacements(jobs, workers);
        expect(planPlacements(jobs, workers)).toEqual(plan);
        const shuffled = workers.map((w) => ({ w, r: noise.next().value })).sort((a, b) => a.r - b.r).map((x) => x.w);
        expect(planPlacements(jobs, shuffled)).toEqual(plan);
      }),
      { numRuns: 200 },
    );
  });
});

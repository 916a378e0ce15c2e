/**
 * Combining several benchmark runs (`baton bench --runs N`): the median of each figure, the
 * worst run's error counts, and the table's column of every run's value. Pure functions, no
 * processes.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { formatTable, type StoreResults } from '../../src/bench/report.ts';
import { median, medianOfRuns } from '../../src/bench/stats.ts';

const submitRun = (jobsPerSec: number, errors: number, peakMiB: number): StoreResults => ({
  store: 'sqlite',
  submit: {
    result: { jobs: 1000, errors, seconds: 1000 / jobsPerSec, jobsPerSec, latency: { p50: 1, p99: 2, max: 3 } },
    memoryAtStart: null,
    memory: { peakMiB, rssMiB: peakMiB - 1 },
    profile: { file: `run-${jobsPerSec}.cpuprofile`, totalMs: jobsPerSec, busyPct: 50, topFunctions: [], bySource: [] },
  },
});

describe('median', () => {
  it('is the middle value, or the mean of the middle two', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([7])).toBe(7);
    expect(median([])).toBeNaN();
  });

  it('lies between the smallest and the largest value and ignores order', () => {
    fc.assert(
      fc.property(fc.array(fc.double({ noNaN: true, min: -1e9, max: 1e9 }), { minLength: 1, maxLength: 30 }), (xs) => {
        const m = median(xs);
        expect(m).toBeGreaterThanOrEqual(Math.min(...xs));
        expect(m).toBeLessThanOrEqual(Math.max(...xs));
        expect(median([...xs].reverse())).toBe(m);
      }),
    );
  });
});

describe('medianOfRuns', () => {
  it('takes the median of every figure, the worst error count, and the first run for the rest', () => {
    const runs = [[submitRun(9000, 0, 160)], [submitRun(7000, 3, 170)], [submitRun(8000, 1, 150)]];
    const [r] = medianOfRuns(runs);
    expect(r!.store).toBe('sqlite');
    expect(r!.submit!.result.jobsPerSec).toBe(8000);
    expect(r!.submit!.result.errors).toBe(3);
    expect(r!.submit!.memory).toEqual({ peakMiB: 160, rssMiB: 159 });
    // A profile summary is one run's, never a blend of several runs' frames.
    expect(r!.submit!.profile).toEqual(runs[0]![0]!.submit!.profile);
    // The runs themselves are left as they were.
    expect(runs[1]![0]!.submit!.result.errors).toBe(3);
  });

  it('combines arrays element by element and skips places a run lacks', () => {
    expect(medianOfRuns([{ a: [1, 10], b: 5 }, { a: [3, 30, 99] }, { a: [2, 20], b: 7 }])).toEqual({ a: [2, 20], b: 6 });
    expect(medianOfRuns([{ x: null }, { x: null }])).toEqual({ x: null });
  });

  it('keeps an own key named __proto__ as a key (found by the property below)', () => {
    const run = JSON.parse('{"__proto__": false, "x": 1}') as Record<string, unknown>;
    expect(medianOfRuns([run])).toEqual(run);
    expect(Object.keys(medianOfRuns([run, run]))).toEqual(['__proto__', 'x']);
  });

  it('of one run is that run', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        expect(medianOfRuns([v])).toEqual(v);
      }),
    );
  });
});

describe('formatTable', () => {
  it('shows the median and every run of each row, labelled with the options of the run', () => {
    const runs = [[submitRun(9000, 0, 160)], [submitRun(7000, 0, 170)], [submitRun(8000, 0, 150)]];
    const table = formatTable(medianOfRuns(runs), { connections: 50, batchSize: 500 }, runs);
    expect(table).toContain('figure (median of 3 runs)');
    expect(table).toMatch(/sqlite: submit, 1 job\/request, 50 clients\s+8,000 jobs\/s \(0 errors\).*9,000 \/ 7,000 \/ 8,000/);
  });

  it('has no run column for a single run', () => {
    const one = [submitRun(9000, 0, 160)];
    const table = formatTable(one, { connections: 10, batchSize: 1000 }, [one]);
    expect(table).not.toContain('each run');
    expect(table.split('\n')[0]).toMatch(/^measure\s+figure\s+target\s+server peak RSS$/);
  });
});

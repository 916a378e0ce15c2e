/**
 * Smoke test of the benchmark suite: every scenario at tiny sizes (about 12 s alone; the generous
 * timeout is for a loaded machine running the whole test suite) against real server and worker
 * processes on the embedded store, so the suite cannot rot. Figures are not judged here — a
 * benchmark is a script, never a timed unit test — only that each scenario measured something.
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBench, type BenchReport } from '../../src/bench/index.ts';

describe('benchmark suite (smoke, tiny sizes)', () => {
  let dir: string;
  let report: BenchReport;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'baton-bench-smoke-'));
    report = await runBench({
      stores: ['sqlite'],
      pgUrl: 'postgres://postgres@127.0.0.1:5432/test',
      scenarios: ['submit', 'minimal', 'drain', 'pickup', 'big'],
      singleJobs: 200,
      connections: 10,
      submitWarmup: 50,
      batchSize: 100,
      batchConcurrency: 2,
      drainJobs: 300,
      workers: 1,
      capacity: 16,
      prefetch: 8,
      pickupRates: [100],
      pickupSeconds: 2,
      pickupWarmupSeconds: 1,
      big: 600,
      bigBase: 100,
      bigDrain: 100,
      claimRounds: 5,
      profile: false,
      runs: 1,
      outDir: dir,
      quiet: true,
    });
  }, 90_000);

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('measures every scenario and writes the JSON report', () => {
    const r = report.results[0]!;
    expect(r.submit!.result.jobs).toBe(200);
    expect(r.submit!.result.errors).toBe(0);
    expect(r.submitMinimal!.result.single.jobs).toBe(200);
    expect(r.submitMinimal!.result.batch.jobs).toBe(300);
    expect(r.submitMinimal!.result.batch.errors).toBe(0);
    expect(r.drain!.batch.result.jobs).toBe(300);
    // Exactly the measured jobs: the warm-up submits before the batches were cancelled and deleted.
    expect(r.drain!.drain.result.completed).toBe(300);
    expect(r.drain!.drain.result.jobsPerSec).toBeGreaterThan(0);
    expect(r.drain!.drain.memory!.peakMiB).toBeGreaterThan(10);
    const pickup = r.pickup!.result[0]!;
    expect(pickup.jobs).toBeGreaterThan(50);
    expect(pickup.missing).toBe(0);
    expect(pickup.fromSubmit.p99).toBeGreaterThanOrEqual(0);
    expect(r.backlog!.map((b) => b.pending)).toEqual([100, 600]);
    for (const b of r.backlog!) {
      expect(b.claims.claim.n).toBe(5);
      expect(b.drain.result.completed).toBeGreaterThanOrEqual(100);
    }
    expect(existsSync(report.file)).toBe(true);
    expect(JSON.parse(readFileSync(report.file, 'utf8')).results[0].store).toBe('sqlite');
    expect(report.table).toContain('sqlite: drain 300 no-op jobs');
    expect(report.table).toContain('sqlite: submit, batches of 100, minimal answer');
    expect(report.runs).toEqual([report.results]);
  });
});

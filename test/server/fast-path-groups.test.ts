/**
 * The submit fast path (Dispatcher.planInsert, SubmitBatcher, jobInsertMany's `assign`) as
 * clients see it, found in review: a real server on loopback per store, raw WebSocket workers.
 * Both tests failed before their fixes (see their comments).
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BatonClient } from '../../src/client/index.ts';
import type { ServerMessage } from '../../src/core/protocol.ts';
import { startServer, type RunningServer } from '../../src/server/app.ts';
import { RawWorker } from '../helpers/raw-worker.ts';

const PG_URL = process.env.BATON_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

for (const kind of ['sqlite', 'postgres'] as const) {
  describe(`submit fast path, groups and waits (${kind})`, () => {
    let server: RunningServer;
    let dir: string;
    let admin: BatonClient;
    const schema = `baton_test_fastgroups_${randomBytes(6).toString('hex')}`;

    beforeAll(async () => {
      dir = await mkdtemp(path.join(os.tmpdir(), 'baton-fast-groups-'));
      server = await startServer({
        port: 0,
        dataDir: dir,
        ...(kind === 'postgres' ? { store: `${PG_URL}?schema=${schema}` } : {}),
        logLevel: 'silent',
        // No safety tick: every assignment comes from a fast path or a wake-up.
        dispatchTickMs: 600_000,
      });
      admin = new BatonClient({ url: server.url, token: server.adminToken! });
    });

    afterAll(async () => {
      await server?.close();
      await rm(dir, { recursive: true, force: true });
      if (kind === 'postgres') {
        const sql = postgres(PG_URL, { max: 1, onnotice: () => {} });
        await sql.unsafe(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
        await sql.end({ timeout: 5 });
      }
    });

    // jobInsertMany swapped in the assigned version of a new job only at the index that created
    // it (existed false); a repeat of its idempotency key in the same group kept the pending
    // object, and the repeat's answer (200) showed status pending, attempt 0, no worker, for a job
    // that was assigned.
    it('answers a repeated idempotency key of the same submit group with the job as stored', async () => {
      const w = new RawWorker(server.url, server.adminToken!);
      await w.hello(['idem'], { capacity: 50 });
      // One job run through: the dispatcher has its settings and ends drained (fast path on).
      const first = await admin.submit({ type: 'command', queue: 'idem', payload: { argv: ['true'] } });
      const a0 = (await w.next('assign', (m) => m.jobs.some((j) => j.jobId === first.id))).jobs.find((j) => j.jobId === first.id)!;
      await w.complete(1, a0);
      await new Promise((r) => setTimeout(r, 100));
      // Two submits with one key, sent together: they usually share one group (one insert), whose
      // fast path assigns the job. Both answers name one job and should show it as stored.
      let sameGroup = 0;
      for (let i = 0; i < 20 && sameGroup < 3; i++) {
        const input = { type: 'command' as const, queue: 'idem', idempotencyKey: `k-${i}`, payload: { argv: ['true'] } };
        const [a, b] = await Promise.all([admin.submit(input), admin.submit(input)]);
        expect(b.id).toBe(a.id);
        // The worker is given the job once.
        expect(w.assigned().filter((x) => x.jobId === a.id).length).toBeLessThanOrEqual(1);
        const stored = await admin.getJob(a.id);
        if (stored.status !== 'assigned') continue;
        sameGroup++;
        expect({ first: a.status, repeat: b.status }).toEqual({ first: 'assigned', repeat: 'assigned' });
      }
      w.ws.close();
    });

    // Dispatcher.planInsert: a submit group that met a dispatch loop started right after a
    // drained one waited for the whole loop (`do { round } while (roundDue())`), not for the round
    // in progress, and then got no fast path anyway (the loop did not end drained). While a
    // backlog drains the loop goes on as long as slots free during each round, so the submit's
    // answer waited for the drain, and the group held the batcher's in-flight slot (one on SQLite,
    // two on PostgreSQL), so every later single submit queued behind it. Run on SQLite, where it
    // is deterministic (the loop's rounds always see the slots freed during their assignment's
    // group commit); on PostgreSQL the same wait was seen at 130 ms-1.9 s, as long as the loop lasted.
    // Defined for SQLite only (above): no PostgreSQL twin is shown as skipped.
    if (kind === 'sqlite') it('answers single submits within a round or two while a drain that followed a drained round goes on', async () => {
      // Two workers for jobs labelled pool=a, and one of the same queue without the label (its
      // free slots take none of them).
      const pool = [new RawWorker(server.url, server.adminToken!), new RawWorker(server.url, server.adminToken!)];
      for (const w of pool) await w.hello(['drain'], { capacity: 100, labels: { pool: 'a' } });
      const other = new RawWorker(server.url, server.adminToken!);
      await other.hello(['drain'], { capacity: 4 });
      const labelled = { type: 'command' as const, queue: 'drain', requirements: { labels: { pool: 'a' } }, payload: { argv: ['true'] } };
      let done = 0;
      let batch = 1000;
      let phase: 'warm' | 'busy' | 'drain' = 'warm';
      for (const w of pool) {
        w.ws.on('message', (d) => {
          const m = JSON.parse(d.toString()) as ServerMessage;
          if (m.t !== 'assign' || phase === 'warm') return;
          done += m.jobs.length;
          // Jobs of the busy phase run 50-400 ms, the backlog's end within 3 ms.
          const ms = () => (phase === 'busy' ? 50 + Math.random() * 350 : Math.random() * 3);
          for (const a of m.jobs) {
            setTimeout(() => w.ws.send(JSON.stringify({ t: 'reports', batch: batch++, reports: [{ kind: 'completed', jobId: a.jobId, attempt: a.attempt, leaseToken: a.leaseToken, at: Date.now(), result: null }] })), ms());
          }
        });
      }
      // One job run through: the dispatcher has its settings.
      const first = await admin.submit(labelled);
      const holder = await Promise.any(pool.map((w) => w.next('assign', (m) => m.jobs.some((a) => a.jobId === first.id)).then(() => w)));
      await holder.complete(1, holder.assigned().find((a) => a.jobId === first.id)!);
      await new Promise((r) => setTimeout(r, 100));
      // Every slot busy, nothing pending: the last dispatch loop ended drained, and the slots the
      // busy jobs free cost no round.
      phase = 'busy';
      await admin.submitBatch(Array.from({ length: 200 }, () => labelled), { minimal: true });
      for (let i = 0; i < 1000 && done < 200; i++) await new Promise((r) => setTimeout(r, 1));
      phase = 'drain';
      // A backlog: its wake-up starts a dispatch loop right after the drained one, which goes on
      // round after round while the workers end jobs.
      const N = 3000;
      await admin.submitBatch(Array.from({ length: N }, () => labelled), { minimal: true });
      // Plain submits of jobs for another queue, which have nothing to do with the drain.
      const timed = async (delayMs: number) => {
        await new Promise((r) => setTimeout(r, delayMs));
        const at = done;
        const t0 = Date.now();
        const j = await admin.submit({ type: 'command', queue: 'elsewhere', payload: { argv: ['true'] } }, { minimal: true });
        return { status: j.status, ms: Date.now() - t0, dispatchedMeanwhile: done - at };
      };
      const [s1, s2] = await Promise.all([timed(0), timed(30)]);
      for (let i = 0; i < 3000 && done < N + 200; i++) await new Promise((r) => setTimeout(r, 10));
      expect(s1.status).toBe('pending');
      // A round here dispatches at most the ~200 slots; waiting for one or two rounds is fine.
      const seen = `first submit ${JSON.stringify(s1)}, second ${JSON.stringify(s2)}`;
      expect(Math.max(s1.dispatchedMeanwhile, s2.dispatchedMeanwhile), seen).toBeLessThan(600);
      for (const w of [...pool, other]) w.ws.close();
    });
  });
}

import { describe, expect, it } from 'vitest';
import type { Report, WorkerMessage } from '../../src/core/protocol.ts';
import { attemptKey, LOG_CHUNK_BYTES, MAX_BATCH_REPORTS, ReportQueue } from '../../src/worker/reports.ts';

function queue(connected = true, maxLogBytes?: number): { q: ReportQueue; sent: Array<Extract<WorkerMessage, { t: 'reports' }>>; setConnected(v: boolean): void } {
  const sent: Array<Extract<WorkerMessage, { t: 'reports' }>> = [];
  let up = connected;
  const q = new ReportQueue({
    flushMs: 1000, // the tests flush by hand
    send: (json) => {
      if (!up) return false;
      sent.push(JSON.parse(json));
      return true;
    },
    now: () => 1,
    maxLogBytes,
  });
  return { q, sent, setConnected: (v) => (up = v) };
}

const lease = (n: number) => ({ jobId: `j${n}`, attempt: 1, leaseToken: `t${n}` });

describe('report queue', () => {
  it('coalesces small writes into one log report per stream run, in order, with seq from 1', () => {
    const { q, sent } = queue();
    q.started(lease(1));
    const k = attemptKey(lease(1));
    q.log(k, 'stdout', 'a');
    q.log(k, 'stdout', 'b');
    q.log(k, 'stderr', 'c');
    q.log(k, 'stdout', 'd');
    q.progress(k, 50);
    q.finish(k, { ...lease(1), at: 1, kind: 'failed', error: { code: 'x', message: 'y' } });
    q.flush();
    expect(sent).toHaveLength(1);
    const rs = sent[0].reports;
    expect(rs.map((r) => (r.kind === 'log' ? `${r.seq}:${r.stream}:${r.data}` : r.kind))).toEqual(['started', '1:stdout:ab', '2:stderr:c', '3:stdout:d', 'progress', 'failed']);
  });

  it('drops a started still unsent when its attempt completes, keeps it before a failure or once sent', () => {
    const { q, sent } = queue();
    q.started(lease(1));
    q.started(lease(2));
    q.started(lease(3));
    q.log(attemptKey(lease(1)), 'stdout', 'out');
    q.finish(attemptKey(lease(1)), { ...lease(1), at: 1, kind: 'completed', result: 1 });
    q.finish(attemptKey(lease(2)), { ...lease(2), at: 1, kind: 'failed', error: { code: 'x', message: 'y' } });
    q.flush();
    expect(sent[0].reports.map((r) => `${r.jobId}:${r.kind}`)).toEqual(['j2:started', 'j3:started', 'j1:log', 'j1:completed', 'j2:failed']);
    q.finish(attemptKey(lease(3)), { ...lease(3), at: 1, kind: 'completed', result: 3 });
    q.flush();
    expect(sent[1].reports.map((r) => `${r.jobId}:${r.kind}`)).toEqual(['j3:completed']);
    expect(q.ack(1, sent[0].reports.map(() => ({ ok: true })))!.map((v) => v.key)).toEqual(['j2#1', 'j3#1', 'j1#1', 'j1#1', 'j2#1']);
  });

  it('keeps a coalesced started out of the queue when the attempt is dropped or the link is down', () => {
    const { q, sent, setConnected } = queue(false);
    q.started(lease(1));
    q.started(lease(2));
    q.finish(attemptKey(lease(1)), { ...lease(1), at: 1, kind: 'completed', result: null });
    q.drop(attemptKey(lease(2)));
    q.flush();
    expect(sent).toHaveLength(0);
    setConnected(true);
    q.flush();
    expect(sent.map((b) => b.reports.map((r) => `${r.jobId}:${r.kind}`))).toEqual([['j1:completed']]);
    q.ack(1, [{ ok: true }]);
    expect(q.idle()).toBe(true);
  });

  it('sends at the end of the turn when no batch is in flight, else waits for the ack', async () => {
    const { q, sent } = queue();
    const turn = () => new Promise((r) => setImmediate(r));
    q.started(lease(1));
    q.started(lease(2));
    expect(sent).toHaveLength(0); // not before this turn ends: the turn's reports go together
    await turn();
    expect(sent.map((b) => b.reports.length)).toEqual([2]);
    q.started(lease(3));
    await turn();
    await turn();
    expect(sent).toHaveLength(1); // batch 1 awaits its ack; the flush interval (1 s) has not passed
    q.ack(1, [{ ok: true }, { ok: true }]);
    await turn();
    expect(sent.map((b) => b.reports.map((r) => r.jobId))).toEqual([['j1', 'j2'], ['j3']]);
    q.ack(2, [{ ok: true }]);
    await turn();
    expect(sent).toHaveLength(2);
    expect(q.idle()).toBe(true);
  });

  it('splits batches at 500 reports and keeps each in the outbox until acked', () => {
    const { q, sent } = queue();
    for (let i = 0; i < MAX_BATCH_REPORTS + 20; i++) q.started(lease(i));
    q.flush();
    expect(sent.map((b) => b.reports.length)).toEqual([MAX_BATCH_REPORTS, 20]);
    expect(sent.map((b) => b.batch)).toEqual([1, 2]);
    expect(q.unacked()).toBe(2);
    expect(q.ack(1, sent[0].reports.map(() => ({ ok: true })))).toHaveLength(MAX_BATCH_REPORTS);
    expect(q.ack(1, [])).toBeNull(); // a duplicate ack is ignored
    expect(q.idle()).toBe(false);
    q.ack(2, []);
    expect(q.idle()).toBe(true);
  });

  it('holds reports while disconnected and re-sends unacked batches in order after a reconnect', () => {
    const { q, sent, setConnected } = queue();
    q.started(lease(1));
    q.flush();
    q.started(lease(2));
    q.flush();
    setConnected(false);
    q.started(lease(3));
    q.flush();
    expect(sent).toHaveLength(2);
    setConnected(true);
    q.resend();
    q.flush();
    expect(sent.map((b) => b.batch)).toEqual([1, 2, 1, 2, 3]);
    expect(sent[2]).toEqual(sent[0]);
    const v = q.ack(1, [{ ok: false, code: 'BATON_E_STALE_ATTEMPT', message: 'old' }]);
    expect(v).toEqual([{ key: 'j1#1', report: sent[0].reports[0], verdict: { ok: false, code: 'BATON_E_STALE_ATTEMPT', message: 'old' }, resent: true }]);
  });

  it('drops what a lost attempt has not sent, and nothing of the others', () => {
    const { q, sent } = queue();
    q.started(lease(1));
    q.started(lease(2));
    q.log(attemptKey(lease(1)), 'stdout', 'x');
    q.drop(attemptKey(lease(1)));
    q.log(attemptKey(lease(1)), 'stdout', 'ignored after drop');
    q.flush();
    expect(sent[0].reports.map((r: Report) => r.jobId)).toEqual(['j2']);
  });

  it('cuts large output into ≤ 64 KiB chunks without splitting a UTF-8 character', () => {
    const { q, sent } = queue();
    q.started(lease(1));
    const text = `a${'€'.repeat(50_000)}`; // 150,001 bytes; '€' is 3 bytes, so cuts fall inside characters
    q.log(attemptKey(lease(1)), 'stdout', text);
    q.flush();
    const logs = sent.flatMap((b) => b.reports).filter((r) => r.kind === 'log') as Array<Extract<Report, { kind: 'log' }>>;
    expect(logs.length).toBe(3);
    for (const l of logs) {
      expect(Buffer.byteLength(l.data)).toBeLessThanOrEqual(LOG_CHUNK_BYTES);
      expect(l.data).not.toContain('\uFFFD');
    }
    expect(logs.map((l) => l.data).join('')).toBe(text);
  });

  it('resolves whenIdle when the last batch is acked, or when stopped', async () => {
    const { q, sent } = queue();
    q.started(lease(1));
    q.flush();
    let idle = false;
    const p = q.whenIdle().then(() => (idle = true));
    await Promise.resolve();
    expect(idle).toBe(false);
    q.ack(sent[0].batch, [{ ok: true }]);
    await p;
    expect(idle).toBe(true);

    q.started(lease(2));
    q.flush();
    const stopped = q.whenIdle();
    q.stop();
    await stopped;
  });

  it('keeps at most maxLogBytes of output per attempt and says that the rest was dropped', () => {
    const { q, sent } = queue(true, 10);
    q.started(lease(1));
    const k = attemptKey(lease(1));
    q.log(k, 'stdout', '12345');
    q.log(k, 'stdout', '67890');
    q.log(k, 'stdout', 'overflow');
    q.log(k, 'stderr', 'more');
    q.flush();
    const logs = sent.flatMap((b) => b.reports).filter((r) => r.kind === 'log') as Array<Extract<Report, { kind: 'log' }>>;
    expect(logs.map((l) => [l.seq, l.stream, l.data.slice(0, 30)])).toEqual([
      [1, 'stdout', '1234567890'],
      [2, 'system', '[baton] output truncated: this'],
    ]);
  });
});

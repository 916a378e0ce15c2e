/**
 * Helpers shared by the worker tests: assignments as the server would send them, an executor
 * context that records what the executor reports, and process liveness that treats zombies
 * (killed but not yet reaped by a non-reaping PID 1) as dead.
 */
import { readFileSync } from 'node:fs';
import type { Assignment } from '../../src/core/protocol.ts';
import type { JobType } from '../../src/core/types.ts';
import type { ExecContext, LogStream } from '../../src/worker/executors/types.ts';

let counter = 0;

/** An assignment of `type` with `payload`, as the server would push it. */
export function assignmentForTest(type: JobType, payload: Record<string, unknown>, over: Partial<Assignment> = {}): Assignment {
  counter++;
  return {
    jobId: `job-${process.pid}-${counter}`,
    attempt: 1,
    leaseToken: `lease-${counter}`,
    tenant: 'acme',
    type,
    name: `test-${counter}`,
    queue: 'default',
    payload,
    timeoutMs: null,
    metadata: { purpose: 'test' },
    leaseExpiresAt: Date.now() + 60_000,
    ...over,
  };
}

/** An ExecContext that records logs and progress; `abort` plays the agent's cancel. */
export function recordingContext(): ExecContext & {
  logs: Array<{ stream: LogStream; data: string }>;
  progressSeen: number[];
  text(stream?: LogStream): string;
  abort(reason?: string): void;
  waitForText(pred: (text: string) => boolean, timeoutMs?: number): Promise<string>;
} {
  const ctl = new AbortController();
  const logs: Array<{ stream: LogStream; data: string }> = [];
  const waiters: Array<() => void> = [];
  const text = (stream?: LogStream): string => logs.filter((l) => stream === undefined || l.stream === stream).map((l) => l.data).join('');
  return {
    logs,
    progressSeen: [],
    log(stream, data) {
      logs.push({ stream, data });
      for (const w of waiters.splice(0)) w();
    },
    progress(pct) {
      this.progressSeen.push(pct);
    },
    signal: ctl.signal,
    onStop(fn) {
      const onAbort = (): void => fn(ctl.signal.reason);
      if (ctl.signal.aborted) {
        onAbort();
        return () => {};
      }
      ctl.signal.addEventListener('abort', onAbort, { once: true });
      return () => ctl.signal.removeEventListener('abort', onAbort);
    },
    text,
    abort: (reason = 'cancelled') => ctl.abort(reason),
    async waitForText(pred, timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      while (!pred(text())) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for log text; got ${JSON.stringify(text())}`);
        await new Promise<void>((resolve) => {
          waiters.push(resolve);
          setTimeout(resolve, 50);
        });
      }
      return text();
    },
  };
}

/** True when `pid` is a live process (not gone, not a zombie). */
export function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  }
}

/** Polls `cond` until it holds or `timeoutMs` passes; returns whether it held. */
export async function eventually(cond: () => boolean, timeoutMs = 2000, everyMs = 20): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  return true;
}

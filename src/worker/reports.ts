/**
 * The worker's side of report delivery. Logs are staged per attempt and coalesced (small
 * writes) or chunked (large ones, ≤ 64 KiB of UTF-8 per chunk) with a per-attempt `seq` from 1;
 * reports go out in numbered batches — at once when no batch awaits an ack, else when the ack
 * arrives or the flush interval passes (or at once when 500 are waiting);
 * a batch stays in the outbox until the server's `ack` arrives, and the whole outbox is sent
 * again, in order, after a reconnect. The server de-duplicates, so re-sending is always safe.
 *
 * A `started` still waiting to be sent when its attempt's `completed` is queued is dropped: the
 * server takes `completed` straight from `assigned` (and stamps the start then), so a short job
 * costs one report instead of two. A failure keeps its `started`, so the attempt records when
 * it began running.
 */
import type { LeaseHeld, Report, ReportVerdict } from '../core/protocol.ts';
import type { LogStream } from './executors/types.ts';

/** Largest log chunk, in UTF-8 bytes. */
export const LOG_CHUNK_BYTES = 64 * 1024;
/** Most reports in one batch. */
export const MAX_BATCH_REPORTS = 500;
/** Output kept per attempt; beyond it the rest is dropped with one note, so a runaway job cannot exhaust the worker's memory. */
export const MAX_LOG_BYTES_PER_ATTEMPT = 64 * 1024 * 1024;
/** Soft cap of one batch's JSON size; a single larger report still goes, alone. */
const MAX_BATCH_BYTES = 1024 * 1024;

/** Key of one attempt: job id and attempt number. */
export function attemptKey(l: { jobId: string; attempt: number }): string {
  return `${l.jobId}#${l.attempt}`;
}

/** A report outcome: the last report of an attempt (`returned`: given back unstarted). */
export type OutcomeReport = Extract<Report, { kind: 'completed' | 'failed' | 'returned' }>;

interface Staged {
  lease: LeaseHeld;
  /** The attempt's `started` report, while it may still be waiting in `pending`. */
  startedEntry: Pending | null;
  seq: number;
  stream: LogStream | null;
  pieces: string[];
  bytes: number;
  /** Output bytes accepted so far, against MAX_LOG_BYTES_PER_ATTEMPT. */
  total: number;
  truncated: boolean;
  progress: number | null;
}

interface Pending {
  key: string;
  report: Report;
  /**
   * The report's JSON, made when it is queued (a result the handler mutates later must not
   * change what is sent); null for a `started`, ours and immutable, serialised only if it goes.
   */
  json: string | null;
  /** Queued to go; sent (in the outbox); or superseded before it went (a coalesced `started`). */
  state: 'queued' | 'sent' | 'dropped';
}

interface OutboxBatch {
  batch: number;
  reports: Report[];
  keys: string[];
  json: string;
  resent: boolean;
}

/** One report of an acknowledged batch with the server's verdict on it. */
export interface Verdicted {
  /** The attempt's key ({@link attemptKey}). */
  key: string;
  report: Report;
  verdict: ReportVerdict;
  /** True when the batch had been sent more than once (a refusal may just be a duplicate). */
  resent: boolean;
}

/** Options of a ReportQueue. */
export interface ReportQueueOptions {
  /** Longest a report waits while an earlier batch awaits its ack, ms (with none in flight it goes at once). */
  flushMs: number;
  /** Sends one serialised message; returns false when there is no usable connection. */
  send(json: string): boolean;
  /** Clock for the informational `at` of reports. Default Date.now. */
  now?: () => number;
  /** Output kept per attempt, bytes. Default {@link MAX_LOG_BYTES_PER_ATTEMPT}. */
  maxLogBytes?: number;
}

/** Stages, batches, sends and re-sends the reports of every attempt on this worker. */
export class ReportQueue {
  private readonly staged = new Map<string, Staged>();
  private pending: Pending[] = [];
  /** Entries of `pending` marked dropped, skipped when sending. */
  private droppedCount = 0;
  private readonly outbox = new Map<number, OutboxBatch>();
  private nextBatch = 1;
  private timer: NodeJS.Timeout | null = null;
  /** A flush at the end of this turn of the event loop (nothing was awaiting an ack). */
  private immediate: NodeJS.Immediate | null = null;
  private idleWaiters: Array<() => void> = [];
  private readonly now: () => number;
  private stopped = false;
  private readonly maxLogBytes: number;

  constructor(private readonly opts: ReportQueueOptions) {
    this.now = opts.now ?? Date.now;
    this.maxLogBytes = opts.maxLogBytes ?? MAX_LOG_BYTES_PER_ATTEMPT;
  }

  /** Starts tracking an attempt and queues its `started` report. */
  started(lease: LeaseHeld): void {
    const key = attemptKey(lease);
    const l = pick(lease);
    const entry: Pending = { key, report: { jobId: l.jobId, attempt: l.attempt, leaseToken: l.leaseToken, at: this.now(), kind: 'started' }, json: null, state: 'queued' };
    this.staged.set(key, { lease: l, startedEntry: entry, seq: 0, stream: null, pieces: [], bytes: 0, total: 0, truncated: false, progress: null });
    this.pending.push(entry);
    this.schedule();
  }

  /** Appends output of an attempt; ignored when the attempt is not tracked (ended or dropped). */
  log(key: string, stream: LogStream, data: string): void {
    const s = this.staged.get(key);
    if (!s || data.length === 0 || s.truncated) return;
    const size = Buffer.byteLength(data);
    if (s.total + size > this.maxLogBytes) {
      s.truncated = true;
      this.cut(key, s, false);
      s.stream = 'system';
      s.pieces = [`[baton] output truncated: this attempt wrote more than ${this.maxLogBytes} bytes; the rest was dropped\n`];
      s.bytes = Buffer.byteLength(s.pieces[0]);
      this.schedule();
      return;
    }
    s.total += size;
    if (s.stream !== null && s.stream !== stream) this.cut(key, s, false);
    s.stream = stream;
    s.pieces.push(data);
    s.bytes += size;
    if (s.bytes >= LOG_CHUNK_BYTES) this.cut(key, s, true);
    this.schedule();
  }

  /** Records an attempt's progress; only the latest value per flush is sent. */
  progress(key: string, pct: number): void {
    const s = this.staged.get(key);
    if (!s || !Number.isFinite(pct)) return;
    s.progress = Math.min(100, Math.max(0, pct));
    this.schedule();
  }

  /** Queues an attempt's outcome after its remaining logs and progress (if any), and stops tracking it. */
  finish(key: string, outcome: OutcomeReport): void {
    const s = this.staged.get(key);
    if (s) {
      this.drainStaged(key, s);
      this.staged.delete(key);
      if (outcome.kind === 'completed' && s.startedEntry?.state === 'queued') {
        s.startedEntry.state = 'dropped';
        this.droppedCount++;
      }
    }
    this.push(key, outcome);
  }

  /** Forgets an attempt: its staged and not-yet-sent reports are dropped (it is no longer ours). */
  drop(key: string): void {
    this.staged.delete(key);
    this.pending = this.pending.filter((p) => p.key !== key);
    this.droppedCount = 0;
    for (const p of this.pending) if (p.state === 'dropped') this.droppedCount++;
    this.checkIdle();
  }

  /** Sends everything staged now, in batches; keeps it queued when there is no connection. */
  flush(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.immediate) {
      clearImmediate(this.immediate);
      this.immediate = null;
    }
    for (const [key, s] of this.staged) if (s.pieces.length > 0 || s.progress !== null) this.drainStaged(key, s);
    if (this.droppedCount > 0) {
      this.pending = this.pending.filter((p) => p.state !== 'dropped');
      this.droppedCount = 0;
    }
    let from = 0;
    while (from < this.pending.length) {
      const reports: Report[] = [];
      const keys: string[] = [];
      let json = '';
      let n = from;
      while (n < this.pending.length && reports.length < MAX_BATCH_REPORTS) {
        const p = this.pending[n];
        const one = (p.json ??= JSON.stringify(p.report));
        if (reports.length > 0 && json.length + one.length + 1 > MAX_BATCH_BYTES) break;
        json = reports.length > 0 ? `${json},${one}` : one;
        reports.push(p.report);
        keys.push(p.key);
        n++;
      }
      const batch = this.nextBatch;
      const msg = `{"t":"reports","batch":${batch},"reports":[${json}]}`;
      if (!this.opts.send(msg)) break;
      for (let i = from; i < n; i++) this.pending[i].state = 'sent';
      this.nextBatch++;
      from = n;
      this.outbox.set(batch, { batch, reports, keys, json: msg, resent: false });
    }
    this.pending = from === this.pending.length ? [] : this.pending.slice(from);
  }

  /** Sends every unacknowledged batch again, oldest first (after a reconnect). */
  resend(): void {
    for (const b of this.outbox.values()) {
      if (!this.opts.send(b.json)) return;
      b.resent = true;
    }
  }

  /** Takes a batch out of the outbox and pairs its reports with the server's verdicts. */
  ack(batch: number, verdicts: ReportVerdict[]): Verdicted[] | null {
    const b = this.outbox.get(batch);
    if (!b) return null;
    this.outbox.delete(batch);
    const out = b.reports.map((report, i) => ({ key: b.keys[i], report, verdict: verdicts[i] ?? OK, resent: b.resent }));
    // What gathered while this batch was on its way goes now rather than at the timer.
    if (this.outbox.size === 0 && this.timer !== null) this.schedule();
    this.checkIdle();
    return out;
  }

  /** Number of batches sent and not yet acknowledged. */
  unacked(): number {
    return this.outbox.size;
  }

  /** True when nothing is staged, queued or waiting for an ack. */
  idle(): boolean {
    return this.pending.length === 0 && this.outbox.size === 0 && [...this.staged.values()].every((s) => s.pieces.length === 0 && s.progress === null);
  }

  /** Resolves once {@link idle} is true, or at once after {@link stop}. */
  whenIdle(): Promise<void> {
    if (this.idle() || this.stopped) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Stops the flush timer and releases {@link whenIdle} waiters: the worker is closing. */
  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.immediate) clearImmediate(this.immediate);
    this.immediate = null;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  private schedule(): void {
    if (this.stopped) return;
    if (this.pending.length >= MAX_BATCH_REPORTS) {
      this.flush();
      return;
    }
    // Nothing awaits an ack: send at the end of this turn (what the same turn produced goes in
    // one batch), so an idle server hears of a finished attempt at once. While a batch is on
    // its way, reports gather until its ack (see `ack`) or the flush interval, whichever is
    // first: batches grow with the server's latency, and each costs the server one commit.
    if (this.outbox.size === 0) {
      this.immediate ??= setImmediate(() => {
        this.immediate = null;
        this.flush();
      });
      return;
    }
    if (this.timer === null) this.timer = setTimeout(() => this.flush(), this.opts.flushMs);
  }

  private push(key: string, report: Report): void {
    this.pending.push(entry(key, report));
    this.schedule();
  }

  private drainStaged(key: string, s: Staged): void {
    this.cut(key, s, false);
    if (s.progress !== null) {
      this.pending.push(entry(key, { ...s.lease, at: this.now(), kind: 'progress', progress: s.progress }));
      s.progress = null;
    }
  }

  /** Turns staged output into log reports: only full chunks when `fullOnly`, else all of it. */
  private cut(key: string, s: Staged, fullOnly: boolean): void {
    if (s.pieces.length === 0 || s.stream === null) return;
    let buf = Buffer.from(s.pieces.join(''), 'utf8');
    while (buf.length > 0 && (!fullOnly || buf.length >= LOG_CHUNK_BYTES)) {
      let end = Math.min(buf.length, LOG_CHUNK_BYTES);
      // Never split a UTF-8 sequence: back up to the start of the character at the cut.
      if (end < buf.length) while (end > 0 && (buf[end] & 0xc0) === 0x80) end--;
      const data = buf.subarray(0, end).toString('utf8');
      buf = buf.subarray(end);
      s.seq++;
      this.pending.push(entry(key, { ...s.lease, at: this.now(), kind: 'log', seq: s.seq, stream: s.stream, data }));
    }
    const rest = buf.toString('utf8');
    s.pieces = rest.length > 0 ? [rest] : [];
    s.bytes = buf.length;
  }

  private checkIdle(): void {
    if (this.idleWaiters.length === 0 || !this.idle()) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }
}

const OK: ReportVerdict = { ok: true };

function entry(key: string, report: Report): Pending {
  return { key, report, json: JSON.stringify(report), state: 'queued' };
}

function pick(l: LeaseHeld): LeaseHeld {
  return { jobId: l.jobId, attempt: l.attempt, leaseToken: l.leaseToken };
}

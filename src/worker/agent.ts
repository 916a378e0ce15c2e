/**
 * The worker agent: connects to a server over the worker protocol, runs the attempts it is
 * assigned in their executors (up to `capacity` at once), streams their logs, progress and
 * outcomes back in acknowledged batches, heartbeats its leases, and survives reconnects without
 * stopping its jobs. It never touches the database.
 */
import { EventEmitter } from 'node:events';
import type { Assignment, LeaseHeld, ServerMessage, WorkerMessage } from '../core/protocol.ts';
import type { JobType } from '../core/types.ts';
import { Connection } from './connection.ts';
import type { WorkerEventName, WorkerEvents } from './events.ts';
import { CommandExecutor } from './executors/command.ts';
import { ContainerUnsupportedExecutor } from './executors/container.ts';
import { abortedOutcome } from './executors/deadline.ts';
import { FunctionExecutor, isThenable } from './executors/function.ts';
import { HttpExecutor } from './executors/http.ts';
import type { AbortReason, ExecContext, ExecOutcome, Executor, LogStream } from './executors/types.ts';
import { helloFor, resolveWorkerOptions, type ResolvedWorkerOptions, type WorkerOptions } from './options.ts';
import { DEFAULT_MAX_RESULT_BYTES, lease, limitResult, toReport } from './outcomes.ts';
import { attemptKey, ReportQueue, type Verdicted } from './reports.ts';

/** A started worker. */
export interface RunningWorker {
  /** The id the server gave this worker, or null before the first welcome. */
  id(): string | null;
  /** Attempts executing right now. */
  running(): number;
  /** Resolves at the next welcome (at once when connected). */
  whenConnected(): Promise<void>;
  /**
   * Stops taking work, lets running attempts finish, delivers every report and waits for its
   * acknowledgement, then closes. Also triggered by the server's `drain`.
   */
  drain(): Promise<void>;
  /** Stops now: kills running attempts (whole process trees) and closes the connection. */
  close(): Promise<void>;
  /** Listens to a worker event. */
  on<E extends WorkerEventName>(event: E, fn: (value: WorkerEvents[E]) => void): RunningWorker;
  /** Stops listening. */
  off<E extends WorkerEventName>(event: E, fn: (value: WorkerEvents[E]) => void): RunningWorker;
}

/**
 * One attempt on this worker, and the context its executor runs with. The stop signal is made
 * only when an executor or handler reads it; a stop before that is remembered and handed to
 * whoever asks later (see `onStop` and `signal`).
 */
class AttemptRecord implements ExecContext {
  /** queued: waiting for a slot; running: in its executor; reporting: outcome not yet acked. */
  state: 'queued' | 'running' | 'reporting' = 'queued';
  /** Set once the attempt stopped being ours to report on. */
  fate: 'cancelled' | 'lost' | null = null;
  private ctl: AbortController | null = null;
  private stopReason: AbortReason | null = null;
  private stopFns: Array<(reason: unknown) => void> | null = null;

  constructor(
    readonly a: Assignment,
    readonly key: string,
    private readonly reports: ReportQueue,
  ) {}

  log(stream: LogStream, data: string): void {
    if (this.fate === null) this.reports.log(this.key, stream, data);
  }

  progress(pct: number): void {
    if (this.fate === null) this.reports.progress(this.key, pct);
  }

  get signal(): AbortSignal {
    if (this.ctl === null) {
      this.ctl = new AbortController();
      if (this.stopReason !== null) this.ctl.abort(this.stopReason);
    }
    return this.ctl.signal;
  }

  onStop(fn: (reason: unknown) => void): () => void {
    if (this.stopReason !== null) {
      fn(this.stopReason);
      return noop;
    }
    (this.stopFns ??= []).push(fn);
    return unhookFrom(this, fn);
  }

  unhook(fn: (reason: unknown) => void): void {
    const i = this.stopFns?.indexOf(fn) ?? -1;
    if (i >= 0) this.stopFns!.splice(i, 1);
  }

  /** Stops the attempt: aborts its signal (if made) and tells its onStop listeners, once. */
  stop(reason: AbortReason): void {
    if (this.stopReason !== null) return;
    this.stopReason = reason;
    this.ctl?.abort(reason);
    const fns = this.stopFns;
    this.stopFns = null;
    if (fns) for (const fn of fns) fn(reason);
  }
}

function noop(): void {}


// A factory, so the closure is anonymous (tsx pays a defineProperty per named closure made).
function unhookFrom(rec: AttemptRecord, fn: (reason: unknown) => void): () => void {
  return () => rec.unhook(fn);
}

/** Starts a worker agent; it connects in the background (see `whenConnected` and events). */
export async function startWorker(opts: WorkerOptions): Promise<RunningWorker> {
  const agent = new WorkerAgent(resolveWorkerOptions(opts));
  agent.start();
  return agent;
}

class WorkerAgent implements RunningWorker {
  private readonly log;
  private readonly events = new EventEmitter();
  private readonly conn: Connection;
  private readonly reports: ReportQueue;
  private readonly executors: Record<JobType, Executor>;
  private readonly attempts = new Map<string, AttemptRecord>();
  private readonly waiting: string[] = [];
  /** Attempts in their executor (state running), and waiters for when none is. */
  private active = 0;
  private pumping = false;
  private idleRunWaiters: Array<() => void> = [];
  private workerId: string | null = null;
  private welcomed = false;
  private heartbeatMs = 2000;
  private leaseMs = 8000;
  private maxResultBytes = DEFAULT_MAX_RESULT_BYTES;
  private url = '';
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private lastHeard = 0;
  private draining: Promise<void> | null = null;
  private closing: Promise<void> | null = null;
  private workWaiters: Array<() => void> = [];

  constructor(private readonly o: ResolvedWorkerOptions) {
    this.log = o.logger;
    this.events.setMaxListeners(0);
    this.executors = {
      command: new CommandExecutor(),
      http: new HttpExecutor(),
      function: new FunctionExecutor(o.handlers),
      container: new ContainerUnsupportedExecutor(),
    };
    this.reports = new ReportQueue({ flushMs: o.reportFlushMs, send: (json) => this.welcomed && this.conn.send(json) });
    this.conn = new Connection(
      { urls: o.urls, token: o.token, reconnectMinMs: o.reconnectMinMs, reconnectMaxMs: o.reconnectMaxMs, logger: o.logger },
      {
        onOpen: (url) => this.onOpen(url),
        onMessage: (text) => this.onMessage(text),
        onClose: (info) => this.onClose(info),
      },
    );
  }

  start(): void {
    this.conn.start();
  }

  id(): string | null {
    return this.workerId;
  }

  running(): number {
    return this.active;
  }

  whenConnected(): Promise<void> {
    if (this.welcomed) return Promise.resolve();
    return new Promise((resolve) => this.events.once('connected', () => resolve()));
  }

  on<E extends WorkerEventName>(event: E, fn: (value: WorkerEvents[E]) => void): RunningWorker {
    this.events.on(event, fn);
    return this;
  }

  off<E extends WorkerEventName>(event: E, fn: (value: WorkerEvents[E]) => void): RunningWorker {
    this.events.off(event, fn);
    return this;
  }

  private emit<E extends WorkerEventName>(event: E, value: WorkerEvents[E]): void {
    this.events.emit(event, value);
  }

  drain(): Promise<void> {
    if (this.closing) return this.closing;
    if (this.draining) return this.draining;
    this.log.info({ running: this.running() }, 'worker draining: no new work, finishing running attempts');
    this.sendMessage({ t: 'draining' });
    this.returnQueued();
    this.emit('draining', {});
    this.draining = (async () => {
      await this.whenNoWork();
      this.reports.flush();
      await this.reports.whenIdle();
      await this.close();
    })();
    return this.draining;
  }

  close(): Promise<void> {
    if (this.closing) return this.closing;
    this.closing = (async () => {
      this.returnQueued();
      this.reports.flush();
      for (const r of this.attempts.values()) if (r.state === 'running') r.stop('closing');
      this.waiting.length = 0;
      for (const [key, r] of this.attempts) if (r.state === 'queued') this.attempts.delete(key);
      this.checkNoWork();
      this.stopHeartbeat();
      await this.whenNoRuns();
      this.reports.stop();
      await this.conn.stop();
      this.log.info({ workerId: this.workerId }, 'worker closed');
      this.emit('closed', {});
    })();
    return this.closing;
  }

  // ---- connection and protocol ----

  private sendMessage(m: WorkerMessage): boolean {
    return this.welcomed && this.conn.send(JSON.stringify(m));
  }

  private leases(): LeaseHeld[] {
    // A lost attempt may still be dying; it is no longer ours to keep alive.
    return [...this.attempts.values()].filter((r) => r.fate !== 'lost').map((r) => lease(r.a));
  }

  private onOpen(url: string): void {
    this.url = url;
    const hello = helloFor(this.o, { workerId: this.workerId, running: this.leases(), draining: this.draining !== null });
    this.log.debug({ url }, 'worker connected, sending hello');
    this.conn.send(JSON.stringify(hello));
  }

  private onClose(info: { url: string; code: number; reason: string; wasOpen: boolean }): void {
    const was = this.welcomed;
    this.welcomed = false;
    this.stopHeartbeat();
    // Closing on purpose is not news; a drop while running is.
    if (was && !this.closing) this.log.warn({ url: info.url, code: info.code, reason: info.reason }, 'worker connection lost; reconnecting');
    else this.log.debug({ url: info.url, code: info.code }, 'worker connection attempt failed');
    this.emit('disconnected', { url: info.url, code: info.code, reason: info.reason });
  }

  private onMessage(text: string): void {
    this.lastHeard = Date.now();
    let m: ServerMessage;
    try {
      m = JSON.parse(text) as ServerMessage;
    } catch {
      this.log.warn({ text: text.slice(0, 200) }, 'server sent a message that is not JSON; ignored');
      return;
    }
    switch (m.t) {
      case 'welcome':
        return this.onWelcome(m);
      case 'assign':
        for (const a of m.jobs) this.accept(a);
        return;
      case 'cancel':
        return this.cancel(m.jobId, m.attempt, m.reason);
      case 'ack':
        return this.onAck(m.batch, m.verdicts);
      case 'heartbeat_ack':
        for (const l of m.lost) this.lose(l, 'the server no longer holds this lease for us (heartbeat)');
        return;
      case 'drain':
        void this.drain();
        return;
      case 'error':
        this.log.error({ code: m.code }, `server error: ${m.message}`);
        this.emit('serverError', { code: m.code, message: m.message });
        return;
      default:
        this.log.warn({ t: (m as { t?: unknown }).t }, 'server sent an unknown message type; ignored');
    }
  }

  private onWelcome(m: Extract<ServerMessage, { t: 'welcome' }>): void {
    this.workerId = m.workerId;
    this.heartbeatMs = m.heartbeatMs;
    this.leaseMs = m.leaseMs;
    this.maxResultBytes = m.maxResultBytes;
    this.welcomed = true;
    this.conn.healthy();
    for (const l of m.lost) this.lose(l, 'the server no longer holds this lease for us (reconnect)');
    // Unacknowledged batches first, in order, so logs keep their order on the server.
    this.reports.resend();
    this.reports.flush();
    this.startHeartbeat();
    this.log.info({ workerId: m.workerId, running: this.running() }, 'worker registered with the server');
    this.emit('connected', { workerId: m.workerId, url: this.url });
  }

  private startHeartbeat(): void {
    this.stopHeartbeat();
    // A server that stops talking (half-open TCP) is dropped once a lease would have lapsed.
    const silenceMs = Math.max(3 * this.heartbeatMs, this.leaseMs);
    this.heartbeatTimer = setInterval(() => {
      if (Date.now() - this.lastHeard > silenceMs) {
        this.log.warn({ silenceMs }, 'server went silent; reconnecting');
        this.conn.drop();
        return;
      }
      this.sendMessage({ t: 'heartbeat', running: this.leases() });
    }, this.heartbeatMs);
  }

  private stopHeartbeat(): void {
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = null;
  }

  private onAck(batch: number, verdicts: Extract<ServerMessage, { t: 'ack' }>['verdicts']): void {
    const acked = this.reports.ack(batch, verdicts);
    if (acked === null) return;
    for (const v of acked) this.onVerdict(v);
    this.emit('acked', { batch });
  }

  private onVerdict({ key, report, verdict, resent }: Verdicted): void {
    const rec = this.attempts.get(key);
    const ours = rec !== undefined && rec.a.leaseToken === report.leaseToken;
    const isOutcome = report.kind === 'completed' || report.kind === 'failed' || report.kind === 'returned';
    if (verdict.ok) {
      if (ours && isOutcome) this.attempts.delete(key);
      return;
    }
    this.emit('refused', { report, code: verdict.code, message: verdict.message });
    if (verdict.code === 'BATON_E_STALE_ATTEMPT') {
      // Expected after a cancel, or for an outcome the server already took before a reconnect.
      const expected = (ours && rec.fate !== null) || (resent && isOutcome);
      this.log[expected ? 'debug' : 'warn'](
        { jobId: report.jobId, attempt: report.attempt, kind: report.kind },
        `server refused a ${report.kind} report: this attempt is no longer this worker's; stopping it`,
      );
      this.lose(report, 'a report was refused as stale');
      if (ours && isOutcome) this.attempts.delete(key);
      return;
    }
    this.log.warn({ jobId: report.jobId, attempt: report.attempt, kind: report.kind, code: verdict.code }, `server refused a report: ${verdict.message}`);
    if (!ours || !isOutcome) return;
    if (report.kind === 'completed') {
      // The attempt must still end: turn a refused result into a failure the server can record.
      this.reports.finish(key, {
        ...lease(rec.a),
        at: Date.now(),
        kind: 'failed',
        error: { code: verdict.code, message: `the server refused the result: ${verdict.message}` },
        exitCode: report.exitCode ?? null,
      });
    } else {
      this.attempts.delete(key);
    }
  }

  // ---- attempts ----

  private accept(a: Assignment): void {
    const key = attemptKey(a);
    if (this.closing) return;
    if (this.attempts.has(key)) return; // a re-sent assignment we already hold
    this.attempts.set(key, new AttemptRecord(a, key, this.reports));
    this.waiting.push(key);
    if (this.log.isLevelEnabled('info')) this.log.info({ jobId: a.jobId, attempt: a.attempt, type: a.type, name: a.name }, 'attempt assigned');
    this.emit('assigned', a);
    this.pump();
  }

  /**
   * Gives back every assignment not started yet (prefetched) with a `returned` report, so another
   * worker can take it now rather than when its lease expires. The record stays until the ack.
   */
  private returnQueued(): void {
    for (const key of this.waiting.splice(0)) {
      const rec = this.attempts.get(key);
      if (!rec || rec.state !== 'queued') continue;
      rec.state = 'reporting';
      this.reports.finish(key, { ...lease(rec.a), at: Date.now(), kind: 'returned' });
      this.log.info({ jobId: rec.a.jobId, attempt: rec.a.attempt }, 'attempt returned unstarted');
    }
  }

  private pump(): void {
    // An attempt that ends synchronously (a handler that returned at once) calls pump again from
    // inside this loop; the loop itself goes on starting attempts.
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (this.waiting.length > 0 && this.active < this.o.capacity && !this.closing) {
        const rec = this.attempts.get(this.waiting.shift()!);
        if (!rec || rec.state !== 'queued') continue;
        rec.state = 'running';
        this.active++;
        this.reports.started(rec.a);
        this.launch(rec);
      }
    } finally {
      this.pumping = false;
    }
  }

  /**
   * Hands an attempt to its executor. An outcome returned synchronously is reported at once:
   * a short job then costs no promise, async frame or microtask of the agent's.
   */
  private launch(rec: AttemptRecord): void {
    const { a } = rec;
    let result: ExecOutcome | Promise<ExecOutcome>;
    try {
      const executor: Executor | undefined = Object.hasOwn(this.executors, a.type) ? this.executors[a.type] : undefined;
      if (!executor) throw new Error(`job type "${String(a.type)}" is not supported by this worker`);
      result = executor.execute(a, rec);
    } catch (e) {
      result = this.crashed(rec, e);
    }
    if (isThenable(result)) {
      result.then(
        (outcome) => this.ended(rec, outcome),
        (e: unknown) => this.ended(rec, this.crashed(rec, e)),
      );
    } else {
      this.ended(rec, result);
    }
  }

  private crashed(rec: AttemptRecord, e: unknown): ExecOutcome {
    this.log.error({ err: e, jobId: rec.a.jobId }, 'executor crashed');
    return { ok: false, error: { code: 'BATON_E_EXECUTION_FAILED', message: `the worker could not run the attempt: ${(e as Error).message}` } };
  }

  /** The attempt left its executor: free its slot, report it, and start what waits. */
  private ended(rec: AttemptRecord, outcome: ExecOutcome): void {
    this.active--;
    if (this.active === 0 && this.idleRunWaiters.length > 0) {
      const ws = this.idleRunWaiters;
      this.idleRunWaiters = [];
      for (const w of ws) w();
    }
    try {
      this.report(rec, outcome);
    } catch (e) {
      // Only a bug of the agent's own reporting path gets here; the slot is free already.
      this.log.error({ err: e, jobId: rec.a.jobId }, 'worker failed to finish an attempt');
    }
    this.pump();
    this.checkNoWork();
  }

  private whenNoRuns(): Promise<void> {
    if (this.active === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleRunWaiters.push(resolve));
  }

  private report(rec: AttemptRecord, outcome: ExecOutcome): void {
    const { a, key } = rec;
    if (rec.fate === 'lost' || this.closing) {
      this.attempts.delete(key);
      this.reports.drop(key);
      if (this.events.listenerCount('finished') > 0) this.emit('finished', { jobId: a.jobId, attempt: a.attempt, outcome, reported: false });
      return;
    }
    if (rec.fate === 'cancelled') outcome = abortedOutcome('cancelled');
    outcome = limitResult(outcome, this.maxResultBytes);
    rec.state = 'reporting';
    this.reports.finish(key, toReport(a, outcome));
    if (this.log.isLevelEnabled('info')) this.log.info({ jobId: a.jobId, attempt: a.attempt, ok: outcome.ok, code: outcome.ok ? undefined : outcome.error.code }, 'attempt finished');
    if (this.events.listenerCount('finished') > 0) this.emit('finished', { jobId: a.jobId, attempt: a.attempt, outcome, reported: true });
  }

  private cancel(jobId: string, attempt: number, reason: string): void {
    const key = attemptKey({ jobId, attempt });
    const rec = this.attempts.get(key);
    if (!rec) return;
    this.log.info({ jobId, attempt, reason }, 'attempt cancelled by the server');
    this.emit('cancelled', { jobId, attempt, reason });
    if (rec.state === 'queued') {
      this.attempts.delete(key);
      this.checkNoWork();
    } else if (rec.state === 'running' && rec.fate === null) {
      rec.fate = 'cancelled';
      rec.stop('cancelled');
    }
  }

  /** The attempt is no longer ours: stop it and drop whatever it has not sent. */
  private lose(l: LeaseHeld, why: string): void {
    const key = attemptKey(l);
    const rec = this.attempts.get(key);
    if (!rec || rec.a.leaseToken !== l.leaseToken) return;
    this.reports.drop(key);
    if (rec.fate !== 'lost') this.emit('lost', { ...lease(rec.a), why });
    if (rec.state === 'running') {
      this.log.warn({ jobId: l.jobId, attempt: l.attempt, why }, 'attempt lost; stopping it');
      rec.fate = 'lost';
      rec.stop('lost');
    } else {
      this.attempts.delete(key);
      this.checkNoWork();
    }
  }

  private hasWork(): boolean {
    for (const r of this.attempts.values()) if (r.state !== 'reporting') return true;
    return false;
  }

  private whenNoWork(): Promise<void> {
    if (!this.hasWork()) return Promise.resolve();
    return new Promise((resolve) => this.workWaiters.push(resolve));
  }

  private checkNoWork(): void {
    if (this.workWaiters.length === 0 || this.hasWork()) return;
    const ws = this.workWaiters;
    this.workWaiters = [];
    for (const w of ws) w();
  }
}

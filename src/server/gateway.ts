/**
 * The worker gateway: one WebSocket per worker at GET /v1/worker/connect (src/core/protocol.ts).
 * It registers workers, extends their leases on heartbeat, applies their report batches through
 * the store (fenced by attempt and lease token), and pushes assignments and cancels to them.
 * It keeps the live view of each connected worker's free slots that the dispatcher plans with.
 */
import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { WebSocket } from 'ws';
import { BatonError, isBatonError } from '../core/errors.ts';
import type { WorkerView } from '../core/placement.ts';
import {
  type Assignment,
  type LeaseHeld,
  type Report,
  type ReportVerdict,
  type ServerMessage,
  type WorkerHello,
  type WorkerMessage,
} from '../core/protocol.ts';
import { isTerminal } from '../core/transition.ts';
import type { Job, WorkerInfo } from '../core/types.ts';
import { authenticate, type Principal } from './auth.ts';
import type { ServerContext } from './context.ts';
import type { AssignmentExtra } from './parents.ts';
import { checkHello, checkWorkerMessage } from './protocol-check.ts';

/** One connected worker. */
interface Connection {
  socket: WebSocket;
  principal: Principal;
  info: WorkerInfo;
  /** Attempts this worker holds, by job id. */
  leases: Map<string, LeaseHeld & { cpu: number; memoryMb: number }>;
  draining: boolean;
  /** Assignments the worker queues beyond its capacity (hello.prefetch). */
  prefetch: number;
}

const HELLO_TIMEOUT_MS = 10_000;

export class Gateway {
  private readonly connections = new Map<string, Connection>();
  /** Called when slots were freed (a job ended, a lease was lost, an attempt was cancelled). */
  onCapacity: () => void = () => {};
  /** Called when work may have been made or new capacity added (a report's commit made a job ready, a worker joined). */
  onWork: () => void = () => {};

  constructor(private readonly ctx: ServerContext) {}

  /** Declares the WebSocket route. @fastify/websocket must be registered on `app` first. */
  register(app: FastifyInstance): void {
    app.register(async (scope) => {
      // Authenticate before the upgrade so a bad token gets a plain 401/403 HTTP answer.
      scope.addHook('preValidation', async (req: FastifyRequest) => {
        const principal = await authenticate(this.ctx, req.headers.authorization, headerValue(req.headers['x-baton-tenant']));
        if (principal.role !== 'worker' && principal.role !== 'admin') {
          throw new BatonError('BATON_E_FORBIDDEN', `role ${principal.role} may not connect as a worker (needs worker or admin)`);
        }
        (req as FastifyRequest & { principal?: Principal }).principal = principal;
      });
      scope.get('/v1/worker/connect', { websocket: true, schema: { hide: true } as Record<string, unknown> }, (socket, req) => {
        this.accept(socket, (req as FastifyRequest & { principal: Principal }).principal);
      });
    });
  }

  /** Live placement view of every connected worker. */
  views(): WorkerView[] {
    const out: WorkerView[] = [];
    for (const c of this.connections.values()) {
      let cpu = 0;
      let mem = 0;
      for (const l of c.leases.values()) {
        cpu += l.cpu;
        mem += l.memoryMb;
      }
      out.push({
        id: c.info.id,
        tenant: c.info.tenant,
        // A system token's worker is shared: it serves every tenant (README "Workers").
        shared: c.principal.system,
        status: c.draining ? 'draining' : 'active',
        types: c.info.types,
        handlers: c.info.handlers,
        queues: c.info.queues,
        labels: c.info.labels,
        // Prefetched assignments wait in the worker's queue: they count as slots here.
        capacity: c.info.capacity + c.prefetch,
        running: c.leases.size,
        cpuFree: c.info.cpu > 0 ? c.info.cpu - cpu : Infinity,
        memoryFreeMb: c.info.memoryMb > 0 ? c.info.memoryMb - mem : Infinity,
        region: c.info.region,
        zone: c.info.zone,
      });
    }
    return out;
  }

  connectedIds(): ReadonlySet<string> {
    return new Set(this.connections.keys());
  }

  /** Pushes freshly assigned jobs to their worker and records the leases. */
  push(workerId: string, jobs: Job[], extras?: ReadonlyMap<string, AssignmentExtra>): void {
    const c = this.connections.get(workerId);
    if (!c) return; // The worker left meanwhile; the reaper returns these jobs when their lease expires.
    const assignments: Assignment[] = jobs.map((j) => {
      c.leases.set(j.id, { jobId: j.id, attempt: j.attempt, leaseToken: j.leaseToken!, cpu: j.requirements.cpu, memoryMb: j.requirements.memoryMb });
      return {
        jobId: j.id,
        attempt: j.attempt,
        leaseToken: j.leaseToken!,
        tenant: j.tenant,
        type: j.type,
        name: j.name,
        queue: j.queue,
        payload: extras?.get(j.id)?.payload ?? j.payload,
        timeoutMs: j.timeoutMs,
        metadata: j.metadata,
        leaseExpiresAt: j.leaseExpiresAt!,
        ...(extras?.has(j.id) ? { parents: extras.get(j.id)!.parents } : {}),
      };
    });
    this.send(c, { t: 'assign', jobs: assignments });
  }

  /** Tells a connected worker to stop an attempt, and frees its slot here. */
  cancelAttempt(p: { workerId: string; jobId: string; attempt: number; reason: string }): void {
    const c = this.connections.get(p.workerId);
    if (!c) return;
    const held = c.leases.get(p.jobId);
    if (held && held.attempt === p.attempt) c.leases.delete(p.jobId);
    this.send(c, { t: 'cancel', jobId: p.jobId, attempt: p.attempt, reason: p.reason });
    this.onCapacity();
  }

  /** Asks a connected worker to drain. */
  drainWorker(workerId: string): boolean {
    const c = this.connections.get(workerId);
    if (!c) return false;
    c.draining = true;
    this.send(c, { t: 'drain' });
    return true;
  }

  /** Forgets leases the reaper took back (their jobs went back to pending). */
  dropLeases(jobIds: ReadonlySet<string>): void {
    for (const c of this.connections.values()) {
      for (const [id, held] of c.leases) {
        if (!jobIds.has(id)) continue;
        c.leases.delete(id);
        // A worker that is alive but was too late (e.g. frozen) must stop the attempt it lost.
        this.send(c, { t: 'cancel', jobId: id, attempt: held.attempt, reason: 'lease_expired' });
      }
    }
  }

  /** Closes every worker connection (server shutdown); workers reconnect elsewhere or later. */
  closeAll(): void {
    for (const c of this.connections.values()) c.socket.close(1001, 'server shutting down');
    this.connections.clear();
  }

  private accept(socket: WebSocket, principal: Principal): void {
    let conn: Connection | null = null;
    let pending: Promise<void> = Promise.resolve();
    const helloTimer = setTimeout(() => {
      if (!conn) this.fail(socket, new BatonError('BATON_E_WORKER_PROTOCOL', `no hello within ${HELLO_TIMEOUT_MS} ms`));
    }, HELLO_TIMEOUT_MS);

    socket.on('message', (raw) => {
      let msg: WorkerMessage;
      try {
        msg = checkWorkerMessage(JSON.parse(raw.toString()));
      } catch (e) {
        this.fail(socket, isBatonError(e) ? e : new BatonError('BATON_E_WORKER_PROTOCOL', 'message is not valid JSON'));
        return;
      }
      // Messages are handled one after another, so a batch never overtakes an earlier one.
      pending = pending
        .then(async () => {
          if (msg.t === 'hello') {
            if (conn) throw new BatonError('BATON_E_WORKER_PROTOCOL', 'hello sent twice');
            clearTimeout(helloTimer);
            conn = await this.hello(socket, principal, checkHello(msg));
            return;
          }
          if (!conn) throw new BatonError('BATON_E_WORKER_PROTOCOL', `${msg.t} before hello`);
          await this.handle(conn, msg);
        })
        .catch((e: unknown) => {
          if (isBatonError(e) && e.code === 'BATON_E_WORKER_PROTOCOL') return this.fail(socket, e);
          this.ctx.log.error({ err: e }, 'worker message failed');
          // The store may be down: close so the worker reconnects and re-sends unacknowledged reports.
          this.fail(socket, new BatonError('BATON_E_UNAVAILABLE', 'server could not process the message; reconnect and resend'));
        });
    });

    socket.on('close', () => {
      clearTimeout(helloTimer);
      if (!conn || this.connections.get(conn.info.id) !== conn) return;
      this.connections.delete(conn.info.id);
      const id = conn.info.id;
      this.ctx.log.info({ workerId: id }, 'worker disconnected');
      // Its leases stay until they expire: a worker that reconnects in time keeps its attempts.
      this.ctx.store.workerSetStatus({ id, status: 'offline', now: this.ctx.now() }).catch((e) => this.ctx.log.warn({ err: e }, 'could not mark worker offline'));
    });
    socket.on('error', (e) => this.ctx.log.warn({ err: e }, 'worker socket error'));
  }

  private async hello(socket: WebSocket, principal: Principal, h: WorkerHello): Promise<Connection> {
    const { ctx } = this;
    const now = ctx.now();
    let id = h.workerId;
    let existing = id ? await ctx.store.workerGet({ tenant: principal.tenant, id }) : null;
    if (!existing) id = ctx.newId();
    const info: WorkerInfo = {
      id: id!,
      tenant: principal.tenant,
      name: h.name,
      host: h.host,
      types: h.types,
      handlers: h.handlers,
      queues: h.queues,
      labels: h.labels,
      capacity: h.capacity,
      cpu: h.cpu ?? 0,
      memoryMb: h.memoryMb ?? 0,
      region: h.region ?? null,
      zone: h.zone ?? null,
      status: h.draining ? 'draining' : 'active',
      registeredAt: existing?.registeredAt ?? now,
      lastSeenAt: now,
    };
    await ctx.store.workerUpsert({ worker: info });
    if (!existing) {
      await ctx.store.auditWrite({
        entry: { actor: { tenant: principal.tenant, tokenId: principal.tokenId, role: principal.role }, action: 'worker.register', targetType: 'worker', targetId: info.id, detail: { name: info.name, host: info.host, capacity: info.capacity } },
        now,
      });
    }
    const { lost } = h.running.length
      ? await ctx.store.leaseExtend({ workerId: info.id, leases: h.running, leaseExpiresAt: now + ctx.config.leaseMs, now })
      : { lost: [] };
    const lostSet = new Set(lost.map((l) => `${l.jobId}:${l.attempt}`));
    const conn: Connection = { socket, principal, info, leases: new Map(), draining: info.status === 'draining', prefetch: h.prefetch ?? 0 };
    for (const l of h.running) {
      // Resource reservations of resumed attempts are not known here; they count as slots only.
      if (!lostSet.has(`${l.jobId}:${l.attempt}`)) conn.leases.set(l.jobId, { ...l, cpu: 0, memoryMb: 0 });
    }
    const previous = this.connections.get(info.id);
    if (previous) previous.socket.close(4000, 'replaced by a newer connection of the same worker');
    this.connections.set(info.id, conn);
    this.send(conn, { t: 'welcome', workerId: info.id, heartbeatMs: ctx.config.heartbeatMs, leaseMs: ctx.config.leaseMs, maxResultBytes: ctx.config.maxResultBytes, lost });
    ctx.log.info({ workerId: info.id, name: info.name, capacity: info.capacity, resumed: conn.leases.size, lost: lost.length }, existing ? 'worker reconnected' : 'worker registered');
    this.onWork();
    return conn;
  }

  private async handle(c: Connection, msg: WorkerMessage): Promise<void> {
    const { ctx } = this;
    switch (msg.t) {
      case 'heartbeat': {
        const now = ctx.now();
        const { lost } = msg.running.length
          ? await ctx.store.leaseExtend({ workerId: c.info.id, leases: msg.running, leaseExpiresAt: now + ctx.config.leaseMs, now })
          : { lost: [] };
        await ctx.store.workerTouch({ id: c.info.id, now });
        for (const l of lost) {
          const held = c.leases.get(l.jobId);
          if (held && held.attempt === l.attempt) c.leases.delete(l.jobId);
        }
        this.send(c, { t: 'heartbeat_ack', lost });
        if (lost.length) this.onCapacity();
        return;
      }
      case 'reports':
        return this.reports(c, msg.batch, msg.reports);
      case 'draining':
        c.draining = true;
        await ctx.store.workerSetStatus({ id: c.info.id, status: 'draining', now: ctx.now() });
        return;
      case 'hello':
        throw new BatonError('BATON_E_WORKER_PROTOCOL', 'hello sent twice');
    }
  }

  private async reports(c: Connection, batch: number, reports: Report[]): Promise<void> {
    const { ctx } = this;
    const max = ctx.config.maxResultBytes;
    // A result over the limit becomes a failure here too, in case the worker did not check.
    const checked = reports.map((r): Report => {
      if (r.kind !== 'completed') return r;
      let size: number;
      try {
        size = Buffer.byteLength(JSON.stringify(r.result ?? null));
      } catch (e) {
        // Nested too deep to write back as JSON (JSON.parse took it): no store could keep it, and
        // a throw here would fail the whole batch, again at every resend.
        return { ...r, kind: 'failed', error: { code: 'BATON_E_VALIDATION', message: `result cannot be stored: ${(e as Error).message}` } } as Report;
      }
      if (size <= max) return r;
      return { ...r, kind: 'failed', error: { code: 'BATON_E_RESULT_TOO_LARGE', message: `result is ${size} bytes; the limit is ${max} (BATON_MAX_RESULT_BYTES)` } } as Report;
    });
    // An attempt that ended on the worker frees its slot there now, so its next assignment is
    // planned while this batch commits instead of after it. If the batch does not commit, the
    // socket is closed and the worker resends it on reconnect; the job stays leased meanwhile.
    let freed = false;
    for (const r of checked) {
      if (r.kind !== 'completed' && r.kind !== 'failed' && r.kind !== 'returned') continue;
      const held = c.leases.get(r.jobId);
      if (held && held.attempt === r.attempt && held.leaseToken === r.leaseToken) {
        c.leases.delete(r.jobId);
        freed = true;
      }
    }
    if (freed) this.onCapacity();
    const outcomes = await ctx.store.reportApplyMany({ workerId: c.info.id, reports: checked, now: ctx.now(), random: ctx.random });
    freed = false;
    let made = false;
    const changed = new Set<string>();
    const logged = new Set<string>();
    outcomes.forEach((o, i) => {
      const r = checked[i];
      // A report refused as stale: the attempt is no longer this worker's, so neither is its slot.
      if (!o.ok && o.code === 'BATON_E_STALE_ATTEMPT' && c.leases.get(r.jobId)?.attempt === r.attempt) {
        c.leases.delete(r.jobId);
        freed = true;
      }
      if (!o.ok) {
        if (r.kind !== 'log') ctx.log.warn({ workerId: c.info.id, jobId: r.jobId, attempt: r.attempt, kind: r.kind, code: o.code }, 'worker report refused');
        return;
      }
      if (r.kind === 'log') logged.add(r.jobId);
      else changed.add(r.jobId);
      // Work this commit made that the round run on arrival (before it) could not see: a retry
      // or a returned job back to pending, children released by a graph job's end (graph jobs
      // are the only ones with dependents), the onFailure compensation job of a failed one, a
      // retry scheduled for later. Without this they waited for the dispatcher's safety tick
      // (1 s): a server hears no notification of its own commits.
      const j = o.job;
      if (j === null) return;
      if (j.status === 'scheduled') ctx.services.scheduledAt(j.runAt);
      else if (j.status === 'pending' || j.status === 'failed' || (j.graphId != null && isTerminal(j.status))) made = true;
    });
    // Trailing accepted verdicts are left out (ServerMessage 'ack'): nearly every batch is all
    // accepted, and its ack is then `[]` instead of one object per report each way.
    let n = outcomes.length;
    while (n > 0 && outcomes[n - 1]!.ok) n--;
    const verdicts: ReportVerdict[] = [];
    for (let i = 0; i < n; i++) {
      const o = outcomes[i]!;
      verdicts.push(o.ok ? { ok: true } : { ok: false, code: o.code, message: o.message });
    }
    this.send(c, { t: 'ack', batch, verdicts });
    for (const id of logged) ctx.events.emit('log', id);
    for (const id of changed) ctx.events.emit('job', id);
    if (made) this.onWork();
    else if (freed) this.onCapacity();
  }

  private send(c: Connection, msg: ServerMessage): void {
    if (c.socket.readyState === c.socket.OPEN) c.socket.send(JSON.stringify(msg));
  }

  private fail(socket: WebSocket, e: BatonError): void {
    if (socket.readyState === socket.OPEN) {
      socket.send(JSON.stringify({ t: 'error', code: e.code, message: e.message } satisfies ServerMessage));
      socket.close(e.code === 'BATON_E_UNAVAILABLE' ? 1011 : 1008, e.code);
    }
  }
}

function headerValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/** A fresh lease token: unguessable, so only the worker that was given it can report. */
export function newLeaseToken(): string {
  return randomUUID();
}

/**
 * The dispatcher: matches pending jobs to free worker slots. It wakes on every event that may
 * create work or capacity (a submit, a freed slot, a worker joining, a queue resumed, a promoted
 * job) and on a slow safety tick, reads ready jobs in dispatch order, plans placements with the
 * pure core function, and writes the assignments in one transaction with compare-and-set, so
 * a job another server took meanwhile is simply skipped.
 */
import { planPlacements } from '../core/placement.ts';
import type { JobType } from '../core/types.ts';
import type { AssignmentInput } from '../store/types.ts';
import type { ServerContext } from './context.ts';
import { newLeaseToken, type Gateway } from './gateway.ts';
import { prepareAssignments } from './parents.ts';

/** Most jobs read per round; bounds memory and the transaction's size. */
const MAX_ROUND = 1000;
/** Safety tick: catches anything a missed wake-up would leave waiting. */
const TICK_MS = 1000;

export class Dispatcher {
  private running = false;
  private again = false;
  private scheduled = false;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  /** Resolves when the current round ends (tests and shutdown wait on it). */
  private idle: Promise<void> = Promise.resolve();

  constructor(
    private readonly ctx: ServerContext,
    private readonly gateway: Gateway,
  ) {}

  start(): void {
    this.timer = setInterval(() => this.wake(), TICK_MS);
    this.timer.unref();
    this.wake();
  }

  /** Waits for the round in progress, then stops. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.idle;
  }

  /** Asks for a dispatch round soon; many calls in one tick make one round. */
  wake(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.idle = this.loop();
    });
  }

  private async loop(): Promise<void> {
    if (this.running || this.stopped) return;
    this.running = true;
    try {
      do {
        this.again = false;
        const more = await this.round();
        if (more) this.again = true;
      } while (this.again && !this.stopped);
    } catch (e) {
      // The store may be unreachable; the safety tick tries again.
      this.ctx.log.error({ err: e }, 'dispatch round failed');
    } finally {
      this.running = false;
    }
  }

  /** One round; returns true when another round may find more to do right away. */
  private async round(): Promise<boolean> {
    const { ctx } = this;
    const views = this.gateway.views().filter((w) => w.status === 'active' && w.running < w.capacity);
    if (views.length === 0) return false;
    const tenants = [...new Set(views.map((w) => w.tenant))];
    const types = [...new Set(views.flatMap((w) => w.types))] as JobType[];
    const queues = views.some((w) => w.queues.includes('*')) ? undefined : [...new Set(views.flatMap((w) => w.queues))];
    const free = views.reduce((n, w) => n + (w.capacity - w.running), 0);
    // Read more than the free slots: some ready jobs may fit no free worker (labels, handlers).
    const limit = Math.min(MAX_ROUND, Math.max(64, free * 4));
    const ready = await ctx.store.jobListReady({ tenants, queues, types, limit });
    if (ready.length === 0) return false;
    const plan = planPlacements(ready, views);
    if (plan.length === 0) return false;
    const now = ctx.now();
    const assignments: AssignmentInput[] = plan.map((p) => ({
      jobId: p.jobId,
      workerId: p.workerId,
      leaseToken: newLeaseToken(),
      leaseExpiresAt: now + ctx.config.leaseMs,
    }));
    const assigned = await ctx.store.jobAssignMany({ assignments, now });
    // Jobs of graphs get their parents' outcomes; others pass straight through.
    const { push, extras } = await prepareAssignments(ctx, assigned);
    const byWorker = new Map<string, typeof assigned>();
    for (const job of push) {
      const list = byWorker.get(job.workerId!) ?? [];
      list.push(job);
      byWorker.set(job.workerId!, list);
    }
    for (const [workerId, jobs] of byWorker) this.gateway.push(workerId, jobs, extras);
    for (const job of assigned) ctx.events.emit('job', job.id);
    // Slots are still free and the read was full, or other servers took some: look again.
    return assigned.length > 0 && (ready.length === limit || assigned.length < plan.length || plan.length < free);
  }
}

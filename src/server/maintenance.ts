/**
 * Maintenance services, run by the leader only: the promoter moves scheduled jobs to pending
 * when their time comes (a timer armed for the earliest runAt, so a delayed job starts on time,
 * not on the next poll), and the reaper returns jobs whose lease expired (their worker stopped
 * heartbeating) to pending. Each write carries the leader's fence.
 */
import { isBatonError } from '../core/errors.ts';
import type { ServerContext } from './context.ts';
import type { Gateway } from './gateway.ts';
import type { Leader } from './leader.ts';

/** Longest the promoter sleeps even when nothing is due (catches jobs other servers added). */
const PROMOTE_MAX_SLEEP_MS = 1000;
const BATCH = 5000;

export class Maintenance {
  private promoteTimer: NodeJS.Timeout | null = null;
  private promoteAt = Infinity;
  private reapTimer: NodeJS.Timeout | null = null;
  private stopped = false;
  private promoting: Promise<void> = Promise.resolve();
  private reaping: Promise<void> = Promise.resolve();
  private reapNotBefore = 0;

  constructor(
    private readonly ctx: ServerContext,
    private readonly gateway: Gateway,
    private readonly leader: Leader,
    private readonly wakeDispatcher: () => void,
  ) {}

  start(): void {
    // After a (re)start, give workers two heartbeats to come back and renew their leases before
    // reaping, so a short server outage does not re-run every running job.
    this.reapNotBefore = this.ctx.now() + 2 * this.ctx.config.heartbeatMs;
    this.leader.on('elected', () => {
      // A new leader grants the same grace: workers of a server that died may be reconnecting.
      this.reapNotBefore = Math.max(this.reapNotBefore, this.ctx.now() + 2 * this.ctx.config.heartbeatMs);
      this.armPromoter(this.ctx.now());
    });
    this.armPromoter(this.ctx.now());
    this.scheduleReap(this.ctx.config.reapIntervalMs);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.promoteTimer) clearTimeout(this.promoteTimer);
    if (this.reapTimer) clearTimeout(this.reapTimer);
    await Promise.all([this.promoting, this.reaping]);
  }

  /** A job was scheduled for `runAt`: fire the promoter then if that is sooner than planned. */
  scheduledAt(runAt: number): void {
    if (runAt < this.promoteAt) this.armPromoter(runAt);
  }

  /** Something changed elsewhere (another server's notification): look at the schedule again soon. */
  recheck(): void {
    this.scheduledAt(this.ctx.now() + 20);
  }

  private armPromoter(at: number): void {
    if (this.stopped) return;
    if (this.promoteTimer) clearTimeout(this.promoteTimer);
    const now = this.ctx.now();
    const when = Math.min(at, now + PROMOTE_MAX_SLEEP_MS);
    this.promoteAt = when;
    this.promoteTimer = setTimeout(() => {
      this.promoting = this.promote();
    }, Math.max(0, when - now));
    this.promoteTimer.unref();
  }

  private async promote(): Promise<void> {
    const { ctx } = this;
    let next = ctx.now() + PROMOTE_MAX_SLEEP_MS;
    const fence = this.leader.fence();
    if (fence) {
      try {
        let moved = 0;
        for (;;) {
          const n = await ctx.store.jobPromoteDue({ now: ctx.now(), limit: BATCH, fence });
          moved += n;
          if (n < BATCH) break;
        }
        if (moved > 0) this.wakeDispatcher();
        const due = await ctx.store.jobNextRunAt();
        if (due !== null) next = Math.min(next, due);
      } catch (e) {
        this.failed(e, 'promoting due jobs failed');
      }
    }
    this.promoteAt = Infinity;
    this.armPromoter(next);
  }

  private scheduleReap(delay: number): void {
    if (this.stopped) return;
    this.reapTimer = setTimeout(() => {
      this.reaping = this.reap().finally(() => this.scheduleReap(this.ctx.config.reapIntervalMs));
    }, delay);
    this.reapTimer.unref();
  }

  private async reap(): Promise<void> {
    const { ctx } = this;
    const fence = this.leader.fence();
    if (!fence || ctx.now() < this.reapNotBefore) return;
    try {
      const reaped = await ctx.store.leaseReapExpired({ now: ctx.now(), limit: BATCH, random: ctx.random, fence });
      if (reaped.length === 0) return;
      this.gateway.dropLeases(new Set(reaped.map((j) => j.id)));
      for (const j of reaped) ctx.events.emit('job', j.id);
      ctx.log.warn({ count: reaped.length, jobs: reaped.slice(0, 20).map((j) => j.id) }, 'leases expired; jobs returned to pending');
      this.wakeDispatcher();
    } catch (e) {
      this.failed(e, 'reaping expired leases failed');
    }
  }

  private failed(e: unknown, what: string): void {
    if (isBatonError(e) && e.code === 'BATON_E_NOT_LEADER') {
      this.leader.stepDown();
      return;
    }
    this.ctx.log.error({ err: e }, what);
  }
}

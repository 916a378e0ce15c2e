/**
 * Leader election for cluster-wide duties (reaping, promotion, later cron): the server that holds
 * the store's leadership row for `name` runs them, renewing it every third of its time to live.
 * Every leader-only write carries the `fence` (holder and term), which the store checks in the
 * write's transaction, so a deposed leader that has not noticed yet cannot write.
 */
import { EventEmitter } from 'node:events';
import type { Fence } from '../store/types.ts';
import type { ServerContext } from './context.ts';

export class Leader extends EventEmitter {
  private current: Fence | null = null;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private renewing: Promise<void> = Promise.resolve();

  constructor(
    private readonly ctx: ServerContext,
    readonly name: string,
    readonly holder: string,
    private readonly ttlMs: number,
  ) {
    super();
  }

  /** Tries to take the leadership now, then keeps renewing it. */
  async start(): Promise<void> {
    await this.renew();
    this.schedule();
  }

  /** The proof of leadership to pass to leader-only writes, or null when not the leader. */
  fence(): Fence | null {
    return this.current;
  }

  isLeader(): boolean {
    return this.current !== null;
  }

  /** Called when a fenced write was refused: stop acting as leader until re-elected. */
  stepDown(): void {
    if (!this.current) return;
    this.ctx.log.warn({ duty: this.name, term: this.current.term }, 'lost the leadership (a fenced write was refused)');
    this.current = null;
    this.emit('deposed');
  }

  /** Stops renewing and hands the leadership back so another server takes over at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.renewing;
    if (this.current) {
      this.current = null;
      await this.ctx.store.leaderRelease({ name: this.name, holder: this.holder, now: this.ctx.now() }).catch(() => undefined);
    }
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.renewing = this.renew().finally(() => this.schedule());
    }, Math.max(50, Math.floor(this.ttlMs / 3)));
    this.timer.unref();
  }

  private async renew(): Promise<void> {
    const { ctx } = this;
    let lead: Fence | null = null;
    try {
      const l = await ctx.store.leaderAcquire({ name: this.name, holder: this.holder, ttlMs: this.ttlMs, now: ctx.now() });
      lead = l.holder === this.holder ? { name: l.name, holder: l.holder, term: l.term } : null;
    } catch (e) {
      // Without the store we cannot prove leadership; step down until it answers again.
      ctx.log.warn({ err: e, duty: this.name }, 'could not renew the leadership');
    }
    const was = this.current;
    this.current = lead;
    if (lead && (!was || was.term !== lead.term)) {
      ctx.log.info({ duty: this.name, term: lead.term }, 'elected leader');
      this.emit('elected', lead);
    } else if (!lead && was) {
      ctx.log.info({ duty: this.name, term: was.term }, 'no longer the leader');
      this.emit('deposed');
    }
  }
}

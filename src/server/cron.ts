/**
 * The cron service, run by the leader: a timer armed for the earliest next fire of any schedule
 * (and the earliest job deadline), never a polling loop — it sleeps at most
 * {@link CRON_MAX_SLEEP_MS} as a safety net for schedules other servers changed. On each tick it
 * reads the due schedules, works out each one's fires with the pure `dueFires` (catch-up after
 * downtime), builds each fire's job (`jobForFire`, jitter from `applyJitter`) and hands them to
 * `scheduleFire`, which writes runs, jobs and the schedule's advance in one fenced transaction.
 * It also fails jobs that missed their deadline (`jobExpireDeadlines`).
 */
import { parseCron } from '../core/cron.ts';
import { isBatonError } from '../core/errors.ts';
import { applyJitter, dueFires, jobForFire, DEFAULT_FIRE_GRACE_MS } from '../core/schedule.ts';
import type { Fence, FireResult, ScheduleRecord, Store } from '../store/types.ts';

type FireItem = Parameters<Store['scheduleFireMany']>[0]['items'][number];
import type { ServerContext } from './context.ts';
import type { Leader } from './leader.ts';

/** Longest the cron service sleeps even when nothing is due (catches schedules other servers changed). */
export const CRON_MAX_SLEEP_MS = 1000;
/** Schedules read per batch of a tick. */
const DUE_BATCH = 200;
const DEADLINE_BATCH = 5000;

/** What one tick did, for tests and the benchmark. */
export interface CronTick {
  /** When the tick ran. */
  at: number;
  /** Jobs created, with their schedule and fire time. */
  fired: { scheduleId: string; fireAt: number; jobId: string | null }[];
  /** Jobs failed for a missed deadline. */
  expired: number;
}

export class CronService {
  private timer: NodeJS.Timeout | null = null;
  private armedAt = Infinity;
  private stopped = false;
  private ticking: Promise<void> = Promise.resolve();
  private listeners = new Set<(t: CronTick) => void>();

  constructor(
    private readonly ctx: ServerContext,
    private readonly leader: Leader,
    private readonly wakeDispatcher: () => void,
    /** Grace for on-time fires, ms (see DEFAULT_FIRE_GRACE_MS). */
    private readonly graceMs = DEFAULT_FIRE_GRACE_MS,
  ) {}

  start(): void {
    this.leader.on('elected', () => this.arm(this.ctx.now()));
    this.arm(this.ctx.now());
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.ticking;
  }

  /** A schedule or deadline may now be due at `at` (created, edited, resumed): tick then if that is sooner. */
  dueAt(at: number | null): void {
    if (at !== null && at < this.armedAt) this.arm(at);
  }

  /** Something changed on another server: look again soon. */
  recheck(): void {
    if (this.leader.isLeader()) this.dueAt(this.ctx.now() + 200);
  }

  /** Calls `fn` after each tick that fired or expired something. Returns a function that removes it. */
  onTick(fn: (t: CronTick) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private arm(at: number): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    const now = this.ctx.now();
    const when = Math.min(at, now + CRON_MAX_SLEEP_MS);
    this.armedAt = when;
    this.timer = setTimeout(() => {
      this.ticking = this.tick();
    }, Math.max(0, when - now));
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    const { ctx } = this;
    this.armedAt = Infinity;
    let next = ctx.now() + CRON_MAX_SLEEP_MS;
    const fence = this.leader.fence();
    if (fence) {
      const tick: CronTick = { at: ctx.now(), fired: [], expired: 0 };
      try {
        for (;;) {
          // Only what was due when the tick began; later fires are the next tick's (armed at once).
          const due = await ctx.store.scheduleListDue({ now: tick.at, limit: DUE_BATCH });
          const advanced = await this.fireBatch(due, tick, fence);
          if (tick.fired.length > 0) this.wakeDispatcher();
          // A batch that moved nothing (every schedule in it broken) must not spin.
          if (due.length < DUE_BATCH || advanced === 0) break;
        }
        for (;;) {
          const expired = await ctx.store.jobExpireDeadlines({ now: ctx.now(), limit: DEADLINE_BATCH, fence });
          tick.expired += expired.length;
          for (const j of expired) ctx.events.emit('job', j.id);
          if (expired.length < DEADLINE_BATCH) break;
        }
        if (tick.expired > 0) this.wakeDispatcher();
        const [fire, deadline] = await Promise.all([ctx.store.scheduleNextFireAt(), ctx.store.jobNextDeadline()]);
        if (fire !== null) next = Math.min(next, fire);
        // A deadline is passed strictly after its instant.
        if (deadline !== null) next = Math.min(next, deadline + 1);
      } catch (e) {
        this.failed(e, 'cron tick failed');
      }
      if (tick.fired.length > 0 || tick.expired > 0) for (const fn of this.listeners) fn(tick);
    }
    this.arm(next);
  }

  /**
   * Makes the due fires of `due` in one transaction (scheduleFireMany); when that fails, one
   * schedule at a time, so one broken schedule cannot stop the others. Returns how many advanced.
   */
  private async fireBatch(due: ScheduleRecord[], tick: CronTick, fence: Fence): Promise<number> {
    const { ctx } = this;
    const now = ctx.now();
    const prepared: { s: ScheduleRecord; item: FireItem; skippedMissed: boolean }[] = [];
    for (const s of due) {
      // Lateness is judged at the tick's start: a schedule waiting behind others of the same
      // tick is not "missed" (that is for downtime), only late.
      const p = this.prepare(s, Math.min(now, tick.at), now);
      if (p !== null) prepared.push({ s, ...p });
    }
    if (prepared.length === 0) return 0;
    let results: (FireResult | null)[];
    try {
      results = await ctx.store.scheduleFireMany({ items: prepared.map((p) => p.item), now, fence });
    } catch (e) {
      if (isBatonError(e) && e.code === 'BATON_E_NOT_LEADER') throw e;
      ctx.log.warn({ err: e }, 'firing a batch of schedules failed; firing them one by one');
      results = [];
      for (const p of prepared) {
        try {
          results.push(await ctx.store.scheduleFire({ ...p.item, now, fence }));
        } catch (e2) {
          if (isBatonError(e2) && e2.code === 'BATON_E_NOT_LEADER') throw e2;
          ctx.log.error({ err: e2, schedule: p.s.id }, 'firing a schedule failed; it is tried again next tick');
          results.push(null);
        }
      }
    }
    let advanced = 0;
    results.forEach((r, i) => {
      if (r === null) return;
      const { s, skippedMissed } = prepared[i];
      if (r.advanced) advanced++;
      if (skippedMissed) ctx.log.info({ schedule: s.id, catchUp: s.catchUp }, 'missed fires left out by the catch-up policy');
      for (const st of r.stopped) ctx.services.cancelAttempt({ ...st, reason: 'cancelled_by_schedule' });
      for (const j of r.jobs) {
        ctx.events.emit('job', j.id);
        if (j.status === 'scheduled') ctx.services.scheduledAt(j.runAt);
      }
      for (const run of r.runs) tick.fired.push({ scheduleId: s.id, fireAt: run.fireAt, jobId: run.jobId });
    });
    return advanced;
  }

  /** The fires of one schedule due at `now`, as scheduleFire input; null when it cannot be parsed. */
  private prepare(s: ScheduleRecord, judgeAt: number, now: number): { item: FireItem; skippedMissed: boolean } | null {
    const { ctx } = this;
    let cron;
    try {
      cron = parseCron(s.cron, s.timezone);
    } catch (e) {
      // Stored schedules were checked on the way in; a zone dropped from tzdata since then stops only this one.
      ctx.log.error({ err: e, schedule: s.id }, 'schedule can no longer be parsed; it is skipped');
      return null;
    }
    const due = dueFires({ ...s, cron }, s.lastFireAt, judgeAt, this.graceMs);
    const fires = due.fires.map((fireAt) => ({
      fireAt,
      job: jobForFire(s, { id: ctx.newId(), tenant: s.tenant }, applyJitter(fireAt, s.jitterMs, ctx.random()), now),
    }));
    return {
      // Missed fires left out by the catch-up policy are judged: they are not looked at again.
      item: { tenant: s.tenant, scheduleId: s.id, fires, nextFireAt: due.nextFireAt, expectLastFireAt: s.lastFireAt, judgedTo: judgeAt },
      skippedMissed: due.skippedMissed,
    };
  }

  private failed(e: unknown, what: string): void {
    if (isBatonError(e) && e.code === 'BATON_E_NOT_LEADER') {
      this.leader.stepDown();
      return;
    }
    this.ctx.log.error({ err: e }, what);
  }
}

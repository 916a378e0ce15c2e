/**
 * The dispatcher: matches pending jobs to free worker slots. It wakes on every event that may
 * create work or capacity (a submit, a freed slot, a worker joining, a queue resumed, a promoted
 * job) and on a slow safety tick, reads ready jobs in dispatch order, plans placements with the
 * pure core function, and writes the assignments in one transaction with compare-and-set, so
 * a job another server took meanwhile is simply skipped.
 */
import { DEFAULT_AGING_INTERVAL_MS } from '../core/fairness.ts';
import { planPlacements, type Placement, type WorkerView } from '../core/placement.ts';
import type { NewJob } from '../core/spec.ts';
import type { Job, JobType } from '../core/types.ts';
import type { AssignmentInput, FairnessSettings, ReadyHead } from '../store/types.ts';
import type { InsertPlan, ServerContext } from './context.ts';
import { newLeaseToken, type Gateway } from './gateway.ts';
import { FairOrder, queueKey } from './ordering.ts';
import { prepareAssignments, type AssignmentExtra } from './parents.ts';

/** Most jobs read per round; bounds memory and the transaction's size. */
const MAX_ROUND = 1000;
/** How long weights and caps read from the store are reused, ms. */
const SETTINGS_TTL_MS = 1000;
/** How long the tenant list is reused while a shared worker has free slots, ms. */
const TENANTS_TTL_MS = 1000;
/** Safety tick: catches anything a missed wake-up would leave waiting. */
const TICK_MS = 1000;
/** How many times the usual heads a round reads when the heads of the last read ran out in a drain (see HeadsCache). */
const WIDE_READ = 4;
/** Most heads a wide read may be expected to give (the last read's, times WIDE_READ). */
const MAX_WIDE_HEADS = 4 * MAX_ROUND;
/** Most scopes (sets of workers with free slots) whose heads are kept between rounds. */
const MAX_CACHED_SCOPES = 8;
/** Most heads kept for one scope: a larger read (hundreds of queues) is read afresh each round. */
const MAX_KEPT_HEADS = 4 * MAX_WIDE_HEADS;

export class Dispatcher {
  private running = false;
  private again = false;
  private scheduled = false;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  /** Resolves when the current loop of rounds ends (tests and shutdown wait on it). */
  private idle: Promise<void> = Promise.resolve();
  /** Resolves when the round in progress ends: true when it left nothing ready (see planAfter). */
  private roundEnd: Promise<boolean> = Promise.resolve(true);
  /** Fair-share state carried between rounds. */
  private readonly order = new FairOrder();
  /** Queues and concurrency keys found at their cap during the current wake. */
  private readonly full = new Set<string>();
  private settings: { key: string; at: number; value: FairnessSettings } | null = null;
  private allTenants: { at: number; value: string[] } | null = null;
  /** A capacity wake-up came during a round (see wakeForCapacity). */
  private againForCapacity = false;
  /** Counts wake-ups that may mean new work (every wake() call). */
  private workSeq = 0;
  /**
   * Set by a round that left no ready job behind for the workers it read for (`key`), with no
   * wake-up for work since `seq`: a freed slot then has nothing to take, and costs no round.
   */
  private drained: { seq: number; key: string } | null = null;
  /** The last loop of rounds ended with `drained` set (see planInsert). */
  private lastDrained = false;
  /** Fast-path inserts planned and not settled yet (see planInsert); no round runs meanwhile. */
  private fast = 0;
  /** Resolves `idle` once the last fast path in flight settles. */
  private fastIdle: (() => void) | null = null;
  /** Slots and resources that fast paths in flight have planned, by worker: not free for another plan. */
  private readonly reserved = new Map<string, Reservation>();
  /** Heads rounds read and left unplanned, for the next rounds, by scope read for (see HeadsCache). */
  private readonly caches = new Map<string, HeadsCache>();

  constructor(
    private readonly ctx: ServerContext,
    private readonly gateway: Gateway,
  ) {}

  start(): void {
    this.timer = setInterval(() => this.wake(), this.ctx.config.dispatchTickMs ?? TICK_MS);
    this.timer.unref();
    this.wake();
  }

  /** Waits for the round in progress, then stops. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.idle;
  }

  /**
   * Asks for a dispatch round soon, for anything that may have made work (a submit, a promotion,
   * a worker joining, a queue resumed, another server's notification, the safety tick); many
   * calls in one tick make one round.
   */
  wake(): void {
    if (this.stopped) return;
    this.workSeq++;
    if (this.running || this.fast > 0) {
      this.again = true;
      return;
    }
    this.schedule();
  }

  /**
   * Asks for a round because worker slots were freed (a completion, a lost lease, a cancel). When
   * the last round left nothing ready for the same workers and nothing may have made work since,
   * there is nothing for the slots to take and no round is run: at low rates every job's end
   * used to cost an empty heads read (and, for a shared worker, a re-read of the tenant list).
   */
  wakeForCapacity(): void {
    if (this.stopped) return;
    if (this.running || this.fast > 0) {
      this.againForCapacity = true;
      return;
    }
    if (this.nothingToTake()) return;
    this.schedule();
  }

  private nothingToTake(views = this.freeViews()): boolean {
    const d = this.drained;
    return d !== null && d.seq === this.workSeq && d.key === scopeKey(views);
  }

  /** A wake-up came during the round (or fast path) just ended that needs a round of its own. */
  private roundDue(): boolean {
    return this.again || (this.againForCapacity && !this.nothingToTake());
  }

  /** Workers with a free slot; slots and resources reserved by fast paths in flight are not free. */
  private freeViews(): WorkerView[] {
    const out: WorkerView[] = [];
    for (const w of this.gateway.views()) {
      const r = this.reserved.get(w.id);
      const v = r === undefined ? w : { ...w, running: w.running + r.slots, cpuFree: w.cpuFree - r.cpu, memoryFreeMb: w.memoryFreeMb - r.memoryMb };
      if (v.status === 'active' && v.running < v.capacity) out.push(v);
    }
    return out;
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      // A fast path planned meanwhile: its settle runs the round.
      if (this.fast > 0) {
        this.again = true;
        return;
      }
      this.idle = this.loop();
    });
  }

  private async loop(): Promise<void> {
    if (this.running || this.stopped) return;
    this.running = true;
    // Each wake may follow a freed slot: caps found full are judged again.
    this.full.clear();
    try {
      do {
        this.again = false;
        this.againForCapacity = false;
        let ended!: (drained: boolean) => void;
        this.roundEnd = new Promise((resolve) => (ended = resolve));
        let more = false;
        try {
          more = await this.round();
        } finally {
          ended(this.drained !== null);
        }
        if (more) this.again = true;
      } while (this.roundDue() && !this.stopped);
    } catch (e) {
      // The store may be unreachable; the safety tick tries again.
      this.ctx.log.error({ err: e }, 'dispatch round failed');
    } finally {
      this.running = false;
      this.lastDrained = this.drained !== null;
    }
  }

  /** One round; returns true when another round may find more to do right away. */
  private async round(): Promise<boolean> {
    const { ctx } = this;
    const seq = this.workSeq;
    this.drained = null;
    // Heads kept before the last work wake-up are out of date: dropped even when no worker is free.
    for (const [k, c] of this.caches) if (c.seq !== seq) this.caches.delete(k);
    const views = this.freeViews();
    if (views.length === 0) return false;
    // A shared worker (system token) serves every tenant, so every tenant's ready work counts.
    const scope = scopeOf(views);
    const { shared, types, queues } = scope;
    let tenants = scope.tenants ?? (await this.tenantIds());
    const free = freeSlots(views);
    // Read more than the free slots: some ready jobs may fit no free worker (labels, handlers).
    const limit = Math.min(MAX_ROUND, Math.max(64, free * 4));
    // Heads of every queue (by priority and by age), re-ranked with aging, deadlines and fair
    // shares; queues and keys found full this wake are left out (see src/server/ordering.ts).
    const want = Math.min(limit, Math.max(16, free * 2));
    // The heads this round plans from: those the last round left while they show as much as a
    // fresh read would (see usable), else a fresh read. Taken now: a failed round leaves none.
    const scoped = scopeKey(views);
    const keyOf = () => `${scoped}\u0000${tenants.join(',')}`;
    const start = keyOf();
    let cache = this.caches.get(start) ?? null;
    this.caches.delete(start);
    // Left heads that ran out with nothing new since: a drain, where rounds follow each other on
    // freed slots alone. Read for several rounds at once — unless that read would be large (many
    // queues): the heads are held and ranked every round.
    const thin = cache !== null && !usable(cache, want);
    const wide = thin && cache!.read * WIDE_READ <= MAX_WIDE_HEADS;
    if (thin) cache = null;
    const perQueue = wide ? Math.min(MAX_ROUND, want * WIDE_READ) : want;
    const readHeads = async (): Promise<HeadsCache> => {
      const all = await ctx.store.jobListReadyHeads({ tenants, queues, types, perQueue });
      return { seq, key: keyOf(), perQueue, read: all.length, heads: all, truncated: queuesAt(all, perQueue) };
    };
    // Heads left by an earlier round may include jobs of a queue paused since: the store refuses
    // them, and a round then follows that reads afresh (see the return below).
    const left = cache !== null;
    cache ??= await readHeads();
    // Nothing for a shared worker: a tenant created since the list was read may have just
    // submitted (it would otherwise wait out TENANTS_TTL_MS). Re-read the list once.
    if (cache.heads.length === 0 && shared && this.allTenants !== null && this.allTenants.at < ctx.now()) {
      const known = tenants.length;
      this.allTenants = null;
      tenants = await this.tenantIds();
      if (tenants.length !== known) cache = await readHeads();
    }
    // Whether the heads may leave ready jobs out (a queue gave as many as asked for), and how
    // many there are before the caps found full this wake are filtered out.
    const truncated = cache.truncated.size > 0;
    const read = cache.heads.length;
    const heads = cache.heads.filter(
      (h) => !this.full.has(queueKey(h.job.tenant, h.job.queue)) && (h.job.concurrencyKey == null || !this.full.has(`k\u0000${h.job.tenant}\u0000${h.job.concurrencyKey}`)),
    );
    // Nothing ready at all for these workers: until something makes work, freed slots need no round.
    if (read === 0) this.drained = { seq, key: scoped };
    if (heads.length === 0) return false;
    const settings = await this.settingsFor(tenants);
    const now = ctx.now();
    const ready = this.order.rank(heads, settings, { now, agingIntervalMs: ctx.config.agingIntervalMs ?? DEFAULT_AGING_INTERVAL_MS, take: free });
    const plan = planPlacements(ready, views);
    if (plan.length === 0) {
      this.keep(cache);
      return false;
    }
    const assigned = await ctx.store.jobAssignMany({ assignments: this.leases(plan, now), now });
    // What is left for the next rounds: every head but the planned ones — unless some of those
    // were refused (another server took them, a cap, a pause): then the next round reads afresh.
    // Heads kept for other scopes (other workers' queues may overlap these) lose the assigned.
    const taken = new Set(assigned.map((j) => j.id));
    for (const [k, c] of this.caches) this.caches.set(k, without(c, taken));
    if (assigned.length === plan.length) this.keep(without(cache, taken));
    // A planned job the store refused while its queue or key has a cap was over the cap: skip
    // that queue or key for the rest of this wake, so the slot goes to someone else. Not when the
    // heads were kept: the job may have left pending since, or its queue been paused, without a
    // wake-up (an edit to run later, a pause, another server), and a full mark would keep the
    // queue's or key's other jobs from the fresh round that follows; a cap that is really
    // reached refuses that round's plan too.
    let newlyFull = false;
    if (assigned.length < plan.length && !left) {
      const got = new Set(assigned.map((j) => j.id));
      const byId = new Map(ready.map((j) => [j.id, j]));
      for (const p of plan) {
        const j = byId.get(p.jobId);
        if (j === undefined || got.has(j.id)) continue;
        const qk = queueKey(j.tenant, j.queue);
        if (settings.queues[qk]?.concurrencyLimit != null && !this.full.has(qk)) (this.full.add(qk), (newlyFull = true));
        const kk = `k\u0000${j.tenant}\u0000${j.concurrencyKey}`;
        if (j.concurrencyKey != null && !this.full.has(kk)) (this.full.add(kk), (newlyFull = true));
      }
    }
    // Jobs of graphs get their parents' outcomes; others pass straight through.
    const { push, extras } = await prepareAssignments(ctx, assigned);
    this.deliver(push, extras);
    for (const job of assigned) ctx.events.emit('job', job.id);
    // Every ready job the read could see is now assigned, and it saw them all.
    if (!truncated && assigned.length === read) this.drained = { seq, key: scoped };
    // Look again when another round can find more right away: a cap found full this round (the
    // slot goes to someone else), jobs other servers took first, or slots still free while the
    // read or the ranking (which keeps the best `free`) left ready jobs out. Jobs submitted during
    // the round have woken it already (wake() sets `again`). Planned from heads left by an earlier
    // round, of which the store refused some (taken by another server, in a queue paused since):
    // the next round reads afresh.
    return (
      newlyFull ||
      (left && assigned.length < plan.length) ||
      (assigned.length > 0 && (assigned.length < plan.length || (plan.length < free && (truncated || heads.length > ready.length))))
    );
  }

  /** Keeps heads for the next round of their scope (a few scopes at most: the oldest goes; none past MAX_KEPT_HEADS). */
  private keep(c: HeadsCache): void {
    if (c.heads.length > MAX_KEPT_HEADS) return;
    this.caches.set(c.key, c);
    if (this.caches.size > MAX_CACHED_SCOPES) this.caches.delete(this.caches.keys().next().value!);
  }

  /** A new lease for each placement. */
  private leases(plan: readonly Placement[], now: number): AssignmentInput[] {
    return plan.map((p) => ({ jobId: p.jobId, workerId: p.workerId, leaseToken: newLeaseToken(), leaseExpiresAt: now + this.ctx.config.leaseMs }));
  }

  /** Sends each worker its new assignments. */
  private deliver(push: readonly Job[], extras?: ReadonlyMap<string, AssignmentExtra>): void {
    const byWorker = new Map<string, Job[]>();
    for (const job of push) {
      const list = byWorker.get(job.workerId!);
      if (list === undefined) byWorker.set(job.workerId!, [job]);
      else list.push(job);
    }
    for (const [workerId, jobs] of byWorker) this.gateway.push(workerId, jobs, extras);
  }

  /**
   * The fast path of a submit: when the last round left nothing ready for the workers with free
   * slots and nothing has made work since (see `drained`), new pending jobs have nothing ranked
   * before them. They are ranked and placed now, as a round would, and assigned in their insert's
   * own transaction (JobInsertOptions.assign): one commit instead of two, and no heads read. No
   * round runs until `settle` (a round could plan the same slots). Fast paths of several groups
   * may be in flight at once (a store that commits them concurrently): each reserves the slots it
   * planned until its settle, so the next plans only the slots left. Null when it does not apply
   * — a round is due or running, ready jobs may be waiting, no slot is free — and the jobs go the
   * usual way. Plain jobs only (no dependencies: those have parents' outcomes to fill in).
   */
  planInsert(jobs: readonly NewJob[]): InsertPlan | null | Promise<InsertPlan | null> {
    // A round in progress that follows a drained one — low load, where submits meet a round only
    // because one is running — is waited for: inserting now would make the job wait for the
    // round, then for another round of its own (a heads read and a second commit), and that round
    // keeps the next submits off the fast path in turn. Another group's fast path is not waited
    // for: the slots it planned are reserved (freeViews).
    if (this.running && this.lastDrained && !this.stopped) return this.planAfter(jobs);
    return this.planNow(jobs);
  }

  /**
   * Waits for the round in progress — and for up to two more, while each leaves nothing ready —
   * then plans. A round that leaves ready jobs behind means a backlog, not low load: the loop of
   * rounds goes on as long as slots free up, and the submit, which could not take the fast path
   * behind it anyway, goes the usual way at once instead of waiting out the drain (it held the
   * submit batcher's slot meanwhile, and every later submit with it).
   */
  private async planAfter(jobs: readonly NewJob[]): Promise<InsertPlan | null> {
    for (let i = 0; i < 3 && this.running && this.lastDrained; i++) {
      if (!(await this.roundEnd)) return null;
    }
    return this.planNow(jobs);
  }

  private planNow(jobs: readonly NewJob[]): InsertPlan | null {
    if (this.stopped || this.running || this.scheduled || this.settings === null) return null;
    const views = this.freeViews();
    if (views.length === 0 || !this.nothingToTake(views)) return null;
    const heads: ReadyHead[] = [];
    for (const j of jobs) if (j.status === 'pending') heads.push({ job: j, rank: j.priority });
    if (heads.length === 0) return null;
    const now = this.ctx.now();
    const free = freeSlots(views);
    const ready = this.order.rank(heads, this.settings.value, { now, agingIntervalMs: this.ctx.config.agingIntervalMs ?? DEFAULT_AGING_INTERVAL_MS, take: free });
    const plan = planPlacements(ready, views);
    if (plan.length === 0) return null;
    const held = this.reserve(plan, jobs);
    if (this.fast++ === 0) this.idle = new Promise((resolve) => (this.fastIdle = resolve));
    let settled = false;
    return {
      assign: { assignments: this.leases(plan, now), now },
      settle: (assigned) => {
        if (settled) return;
        settled = true;
        // Plain jobs: nothing to fill in from parents. Listeners hear of the jobs from the route,
        // which announces every job it answers with. Delivered first: the slots then count as
        // the workers' leases instead of as reserved.
        if (assigned !== null) this.deliver(assigned);
        this.unreserve(held);
        // A failed insert may have left anything behind: a full round, and no fast path until it ran.
        if (assigned === null) this.wake();
        if (--this.fast > 0) return;
        this.fastIdle?.();
        this.fastIdle = null;
        // Whatever woke the dispatcher meanwhile gets its round now (jobs of these inserts left
        // pending wake it when the route announces them).
        if (this.roundDue()) this.schedule();
        this.again = false;
        this.againForCapacity = false;
      },
    };
  }

  /** Reserves the slots and resources of `plan` (placements of `jobs`) until unreserve. */
  private reserve(plan: readonly Placement[], jobs: readonly NewJob[]): Map<string, Reservation> {
    const byId = new Map(jobs.map((j) => [j.id, j]));
    const held = new Map<string, Reservation>();
    for (const p of plan) {
      const req = byId.get(p.jobId)?.requirements;
      const r = held.get(p.workerId) ?? { slots: 0, cpu: 0, memoryMb: 0 };
      r.slots++;
      r.cpu += req?.cpu ?? 0;
      r.memoryMb += req?.memoryMb ?? 0;
      held.set(p.workerId, r);
    }
    for (const [id, r] of held) {
      const all = this.reserved.get(id) ?? { slots: 0, cpu: 0, memoryMb: 0 };
      this.reserved.set(id, { slots: all.slots + r.slots, cpu: all.cpu + r.cpu, memoryMb: all.memoryMb + r.memoryMb });
    }
    return held;
  }

  private unreserve(held: ReadonlyMap<string, Reservation>): void {
    for (const [id, r] of held) {
      const all = this.reserved.get(id);
      if (all === undefined) continue;
      const left = { slots: all.slots - r.slots, cpu: all.cpu - r.cpu, memoryMb: all.memoryMb - r.memoryMb };
      if (left.slots <= 0) this.reserved.delete(id);
      else this.reserved.set(id, left);
    }
  }

  /** Ids of every tenant, re-read at most every TENANTS_TTL_MS (a new tenant waits that long). */
  private async tenantIds(): Promise<string[]> {
    const now = this.ctx.now();
    if (this.allTenants === null || now - this.allTenants.at > TENANTS_TTL_MS) {
      this.allTenants = { at: now, value: (await this.ctx.store.tenantList()).map((t) => t.id) };
    }
    return this.allTenants.value;
  }

  /** Weights and caps, re-read at most every SETTINGS_TTL_MS (they change rarely). */
  private async settingsFor(tenants: string[]): Promise<FairnessSettings> {
    const key = tenants.slice().sort().join('\u0000');
    const now = this.ctx.now();
    if (this.settings === null || this.settings.key !== key || now - this.settings.at > SETTINGS_TTL_MS) {
      this.settings = { key, at: now, value: await this.ctx.store.fairnessSettings({ tenants }) };
    }
    return this.settings.value;
  }
}

/**
 * What a round reads for, given the workers with free slots: their tenants (null for a shared
 * worker: every tenant), job types and queues (undefined: every queue).
 */
function scopeOf(views: WorkerView[]): { shared: boolean; tenants: string[] | null; types: JobType[]; queues: string[] | undefined } {
  const shared = views.some((w) => w.shared === true);
  return {
    shared,
    tenants: shared ? null : [...new Set(views.map((w) => w.tenant))],
    types: [...new Set(views.flatMap((w) => w.types))],
    queues: views.some((w) => w.queues.includes('*')) ? undefined : [...new Set(views.flatMap((w) => w.queues))],
  };
}

/** scopeOf as a comparable key. */
function scopeKey(views: WorkerView[]): string {
  const s = scopeOf(views);
  const sorted = (list: readonly string[] | null | undefined) => (list == null ? '*' : [...list].sort().join(','));
  return `${sorted(s.tenants)}\u0000${sorted(s.types)}\u0000${sorted(s.queues)}`;
}

/**
 * Ready heads read for a round and not planned by it, kept for the next rounds. A round reads
 * twice the free slots per queue and walk and plans about the free slots; the next round, woken
 * by the slots the workers free meanwhile, finds the rest still at the front of their queues —
 * unless something may have made or reordered work since: any wake-up (a submit, a promotion, a
 * retry, a cancel or an edit, a queue resumed, another server's notification, the safety tick)
 * makes the next round read afresh. When the heads left run out with no wake-up since (a
 * drain), the next read is WIDE_READ times as large and serves several rounds. Reading heads
 * was PostgreSQL's largest cost in a drain: planning the statement, and each walk starting at
 * its queue's first index entry and stepping over the entries of every job assigned since the
 * last vacuum (they stay in the pending partial indexes until then) — hundreds of pages.
 */
interface HeadsCache {
  /** The workSeq when they were read: a wake-up since may have made work they do not show. */
  seq: number;
  /** The scope they were read for (workers' tenants, types and queues, and the tenant list). */
  key: string;
  /** Heads asked for per queue and walk. */
  perQueue: number;
  /** Heads the read gave. */
  read: number;
  /** In no particular order; the round ranks them. */
  heads: ReadyHead[];
  /** Queues whose walks may have stopped short (they gave perQueue heads), with how many of their heads were planned since. */
  truncated: Map<string, number>;
}

/**
 * True when heads left by the last round (read since the last wake-up for work, for the same
 * scope) show at least what a fresh read of `want` per queue and walk would: every queue they
 * may not show whole has `want` of each walk's heads left (each walk gave perQueue, and at most
 * `taken` of them have been planned since).
 */
function usable(c: HeadsCache, want: number): boolean {
  for (const taken of c.truncated.values()) if (c.perQueue - taken < want) return false;
  return true;
}

/** The heads of `c` but the jobs `taken` (assigned), each counted against its queue's walks. */
function without(c: HeadsCache, taken: ReadonlySet<string>): HeadsCache {
  const heads: ReadyHead[] = [];
  const truncated = new Map(c.truncated);
  for (const h of c.heads) {
    if (!taken.has(h.job.id)) {
      heads.push(h);
      continue;
    }
    const k = queueKey(h.job.tenant, h.job.queue);
    const n = truncated.get(k);
    if (n !== undefined) truncated.set(k, n + 1);
  }
  return { ...c, heads, truncated };
}

/** The queues that gave `perQueue` heads or more (their walks may have stopped short), each with 0 planned. */
function queuesAt(heads: ReadyHead[], perQueue: number): Map<string, number> {
  const out = new Map<string, number>();
  if (heads.length < perQueue) return out;
  const counts = new Map<string, number>();
  for (const h of heads) {
    const k = queueKey(h.job.tenant, h.job.queue);
    const n = (counts.get(k) ?? 0) + 1;
    if (n >= perQueue) out.set(k, 0);
    counts.set(k, n);
  }
  return out;
}

/** Slots and resources planned for one worker by fast paths in flight. */
interface Reservation {
  slots: number;
  cpu: number;
  memoryMb: number;
}

/** Free slots of `views` in all. */
function freeSlots(views: readonly WorkerView[]): number {
  return views.reduce((n, w) => n + (w.capacity - w.running), 0);
}

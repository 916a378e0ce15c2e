/**
 * The dispatcher's ready order: ranks the ready heads the store returns with the pure core
 * functions — aging and deadlines inside each queue (`compareReadyAged`), then fair shares by
 * deficit round-robin (`fairPick`) at two levels: between tenants by tenant weight, and between
 * the queues of a tenant by queue weight. The round-robin state is carried from round to round,
 * so shares hold over time however few slots free up at once.
 */
import { compareReadyAged, fairPick, INITIAL_FAIR_STATE, type AgedKey, type FairState } from '../core/fairness.ts';
import type { FairnessSettings, ReadyHead, ReadyJob } from '../store/types.ts';

/** Key of a queue in FairnessSettings and in limit bookkeeping. */
export const queueKey = (tenant: string, queue: string) => `${tenant}\u0000${queue}`;

/** Orders ready jobs for one dispatch round; keeps the fair-share state between rounds. */
export class FairOrder {
  private tenants: FairState = INITIAL_FAIR_STATE;
  private queues = new Map<string, FairState>();

  /**
   * The candidates in the order to place them: the first `take` by fair share (each group's
   * jobs in aged order), then every other candidate in aged order, so a slot the fair picks
   * cannot use (labels, handlers) still goes to someone.
   */
  rank(heads: readonly ReadyHead[], settings: FairnessSettings, opts: { now: number; agingIntervalMs: number; take: number }): ReadyJob[] {
    const key = (h: ReadyHead): AgedKey => ({ priority: h.rank, runAt: h.job.runAt, createdAt: h.job.createdAt, id: h.job.id, deadline: h.job.deadline ?? null });
    const cmp = (a: ReadyHead, b: ReadyHead) => compareReadyAged(key(a), key(b), opts.now, { agingIntervalMs: opts.agingIntervalMs });
    const byTenant = new Map<string, Map<string, ReadyHead[]>>();
    for (const h of heads) {
      let qs = byTenant.get(h.job.tenant);
      if (qs === undefined) byTenant.set(h.job.tenant, (qs = new Map()));
      const list = qs.get(h.job.queue);
      if (list === undefined) qs.set(h.job.queue, [h]);
      else list.push(h);
    }
    for (const qs of byTenant.values()) for (const list of qs.values()) list.sort(cmp);

    // Tenant level: how many of the `take` picks each tenant gets, and in which order.
    const tenantSlots = new Map<string, number[]>();
    for (const [t, qs] of byTenant) {
      let n = 0;
      for (const l of qs.values()) n += l.length;
      tenantSlots.set(t, Array.from({ length: n }, (_, i) => i));
    }
    const tp = fairPick(tenantSlots, settings.tenants, this.tenants, opts.take);
    this.tenants = tp.state;
    const perTenant = new Map<string, number>();
    for (const p of tp.picks) perTenant.set(p.group, (perTenant.get(p.group) ?? 0) + 1);

    // Queue level, inside each tenant: which jobs fill the tenant's picks.
    const chosen = new Map<string, ReadyHead[]>();
    for (const [t, n] of perTenant) {
      const qs = byTenant.get(t)!;
      const weights: Record<string, number> = {};
      for (const q of qs.keys()) weights[q] = settings.queues[queueKey(t, q)]?.weight ?? 1;
      const qp = fairPick(qs, weights, this.queues.get(t) ?? INITIAL_FAIR_STATE, n);
      this.queues.set(t, qp.state);
      chosen.set(t, qp.picks.map((p) => p.item));
    }
    const out: ReadyJob[] = [];
    const taken = new Set<string>();
    const next = new Map<string, number>();
    for (const p of tp.picks) {
      const i = next.get(p.group) ?? 0;
      const h = chosen.get(p.group)?.[i];
      next.set(p.group, i + 1);
      if (h !== undefined) (out.push(h.job), taken.add(h.job.id));
    }
    const rest = heads.filter((h) => !taken.has(h.job.id)).sort(cmp);
    for (const h of rest) out.push(h.job);
    return out;
  }
}

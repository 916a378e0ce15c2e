/**
 * The engine-independent part of `uniqueKey` checks on insert: which jobs of a batch carry a
 * key (a key used twice in one batch is refused outright), and what a key held by a job that
 * has not ended means — that job stands in (onDuplicate `return`) or BATON_E_DUPLICATE. Each
 * engine reads the holders its own way (SQLite under its write lock, PostgreSQL under advisory
 * locks) and hands them here.
 */
import { BatonError } from '../core/errors.ts';
import type { NewJob } from '../core/spec.ts';
import type { Job } from '../core/types.ts';
import type { JobInsertOptions } from './types.ts';

/** A batch job that carries a uniqueKey: its index, key, tenant and the field to name in errors. */
export interface KeyedJob {
  i: number;
  key: string;
  tenant: string;
  field: string;
}

/** The jobs of the batch with a uniqueKey; throws BATON_E_DUPLICATE when two of them share one. */
export function keyedJobs(jobs: readonly NewJob[], extras: JobInsertOptions['extras']): KeyedJob[] {
  if (!extras) return [];
  const seen = new Map<string, number>();
  const keyed: KeyedJob[] = [];
  jobs.forEach((n, i) => {
    const key = extras[i]?.uniqueKey;
    if (!key) return;
    const field = jobs.length > 1 ? `jobs[${i}].uniqueKey` : 'uniqueKey';
    const k = holderKey(n.tenant, key);
    const first = seen.get(k);
    if (first !== undefined) throw new BatonError('BATON_E_DUPLICATE', `${field}: "${key}" is also used by jobs[${first}] of this batch`, { field });
    seen.set(k, i);
    keyed.push({ i, key, tenant: n.tenant, field });
  });
  return keyed;
}

/** The map key of a (tenant, uniqueKey) pair in `held`. */
export function holderKey(tenant: string, key: string): string {
  return `${tenant}\u0000${key}`;
}

/**
 * Given the jobs that hold keys (by {@link holderKey}, only those not ended), the batch jobs
 * they stand in for, by index; throws BATON_E_DUPLICATE for a held key without onDuplicate
 * `return`.
 */
export function standIns(keyed: readonly KeyedJob[], extras: JobInsertOptions['extras'], held: ReadonlyMap<string, Job>): Map<number, Job> {
  const out = new Map<number, Job>();
  for (const k of keyed) {
    const h = held.get(holderKey(k.tenant, k.key));
    if (h === undefined) continue;
    if (extras?.[k.i]?.onDuplicate === 'return') out.set(k.i, h);
    else throw duplicateKey(k.field, k.key, h);
  }
  return out;
}

/** The BATON_E_DUPLICATE error for a uniqueKey held by `held`. */
export function duplicateKey(field: string, key: string, held: Pick<Job, 'id' | 'status'>): BatonError {
  return new BatonError('BATON_E_DUPLICATE', `${field}: job ${held.id} with uniqueKey "${key}" is still ${held.status}; submit with onDuplicate "return" to get it instead`, {
    field,
    details: { jobId: held.id, status: held.status },
  });
}

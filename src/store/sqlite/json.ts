/**
 * The JSON columns of `jobs` (backoff, requirements, tags, metadata) hold the same few texts for
 * most jobs: the default backoff and requirements, no tags, no metadata. Reading and writing
 * those without JSON.parse / JSON.stringify took most of the time spent on the columns, and
 * every job passes here on insert and on each of its reads. Each read builds a fresh value, so
 * no two jobs share an object.
 */
import { DEFAULT_BACKOFF } from '../../core/retry.ts';
import type { Backoff, Requirements } from '../../core/types.ts';

const BACKOFF_TEXT = JSON.stringify(DEFAULT_BACKOFF);
const NO_REQUIREMENTS_TEXT = JSON.stringify({ labels: {}, cpu: 0, memoryMb: 0 } satisfies Requirements);

/** True for an object with no own enumerable keys (not an array, not null). */
function isEmptyObject(v: unknown): boolean {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return false;
  for (const k in v) if (Object.hasOwn(v, k)) return false;
  return true;
}

/** The value of a JSON column's text: the common texts without JSON.parse. */
export function parseColumn(text: string): unknown {
  switch (text) {
    case '{}':
      return {};
    case '[]':
      return [];
    case BACKOFF_TEXT:
      return { ...DEFAULT_BACKOFF };
    case NO_REQUIREMENTS_TEXT:
      return { labels: {}, cpu: 0, memoryMb: 0 };
    default:
      return JSON.parse(text);
  }
}

/** The text of a backoff (the default's without JSON.stringify). */
export function backoffText(b: Backoff): string {
  const d = DEFAULT_BACKOFF;
  const isDefault = b.initialMs === d.initialMs && b.maxMs === d.maxMs && b.factor === d.factor && b.jitter === d.jitter && Object.keys(b).length === 4;
  return isDefault ? BACKOFF_TEXT : JSON.stringify(b);
}

/** The text of requirements (no requirements without JSON.stringify). */
export function requirementsText(r: Requirements): string {
  const none = r.cpu === 0 && r.memoryMb === 0 && isEmptyObject(r.labels) && Object.keys(r).length === 3;
  return none ? NO_REQUIREMENTS_TEXT : JSON.stringify(r);
}

/** The text of tags. */
export function tagsText(tags: string[]): string {
  return tags.length === 0 ? '[]' : JSON.stringify(tags);
}

/** The text of a JSON object column (metadata). */
export function objectText(o: Record<string, unknown>): string {
  return isEmptyObject(o) ? '{}' : JSON.stringify(o);
}

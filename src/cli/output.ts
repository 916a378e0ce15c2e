/**
 * How the CLI prints: aligned tables for people, JSON for machines (`--json`), and one error
 * line format (`error BATON_E_...: message (field: x)`) that scripts can match on.
 */
import type { JobView } from '../core/api.ts';

/** Prints a value as indented JSON on stdout. */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Prints rows as a table with a header; columns are as wide as their widest cell. */
export function printTable(headers: string[], rows: (string | number | null | undefined)[][]): void {
  const cells = rows.map((r) => r.map((c) => (c === null || c === undefined ? '-' : String(c))));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => r[i]?.length ?? 0)));
  const line = (r: string[]) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  ');
  process.stdout.write(`${[line(headers), ...cells.map(line)].join('\n')}\n`);
}

/** A short local-time-free rendering of an ISO instant: `2025-01-02 03:04:05`. */
export function shortTime(iso: string | null): string | null {
  return iso === null ? null : iso.replace('T', ' ').replace(/\.\d+Z$|Z$/, '');
}

/** Prints jobs as the `baton jobs ls` table. */
export function printJobTable(jobs: JobView[]): void {
  printTable(
    ['ID', 'STATUS', 'QUEUE', 'TYPE', 'PRI', 'ATTEMPT', 'NAME', 'CREATED'],
    jobs.map((j) => [j.id, j.status, j.queue, j.type, j.priority, j.attempt, j.name, shortTime(j.createdAt)]),
  );
}

/** The one line the CLI prints for an error, on stderr. */
export function formatError(code: string, message: string, field?: string): string {
  return `error ${code}: ${message}${field ? ` (field: ${field})` : ''}`;
}

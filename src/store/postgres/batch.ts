/**
 * Batched statements over `unnest`, bound lean: a column whose value is the same in every row of
 * the batch (the status an assignment sets, the worker a batch of reports came from, the queue
 * and tenant of a submitted batch) is bound once, as a scalar, instead of as an array of equal
 * values. That is fewer values for the client to serialise and send, and fewer array elements
 * for PostgreSQL to parse and unnest: on the hot paths most columns are uniform, and only the
 * ids and lease tokens vary.
 *
 * The SQL text depends on which columns are uniform (and on which columns a caller writes), so
 * one statement has several variants; each is prepared once per connection. Their number is
 * capped (see MAX_VARIANTS): past it, a text not prepared yet is sent unprepared, so neither
 * this process nor PostgreSQL's sessions keep more than MAX_VARIANTS statements.
 */
import type { Db } from './db.ts';

/** One column of a batched statement. */
export interface Column<R> {
  /** Its name in the `unnest(...) AS v(...)` source (and, usually, in the table). */
  name: string;
  /** PostgreSQL type of one value: `text`, `int8`, `int4`, `float8`. */
  type: string;
  /** Its value in one row; null for SQL NULL. */
  value: (row: R) => unknown;
  /** Appended to the value's expression, e.g. `::jsonb` for JSON text. */
  cast?: string;
  /** Always bound as an array (the key the rows are matched on). */
  key?: boolean;
}

/** Collects the parameters of a statement built as text, numbering them `$1`, `$2`, … */
export class Params {
  readonly values: unknown[] = [];
  /** `$n::type` for `value`. */
  bind(value: unknown, type: string): string {
    this.values.push(value);
    return `$${this.values.length}::${type}`;
  }
}

/** The rows of a batch bound for `FROM <from>`, and the SQL expression of each column's value in a row, by name. */
export interface Bound {
  from: string;
  expr: Record<string, string>;
}

/** Statement texts prepared by this process; at most MAX_VARIANTS (the rest go unprepared). */
const prepared = new Set<string>();
const MAX_VARIANTS = 256;

/**
 * Binds `rows` column by column: uniform columns as scalars, the others as arrays spread by one
 * `unnest` (there is always one: the key columns), named `v`.
 */
export function bindRows<R>(params: Params, rows: readonly R[], cols: readonly Column<R>[]): Bound {
  const expr: Record<string, string> = {};
  const arrays: string[] = [];
  const names: string[] = [];
  for (const c of cols) {
    // Uniform unless a row differs; the array is only built for a column that needs one.
    const first = c.value(rows[0]);
    let uniform = c.key !== true;
    for (let i = 1; uniform && i < rows.length; i++) uniform = c.value(rows[i]) === first;
    if (uniform) {
      expr[c.name] = `${params.bind(first, c.type)}${c.cast ?? ''}`;
    } else {
      arrays.push(params.bind(rows.map(c.value), `${c.type}[]`));
      names.push(c.name);
      expr[c.name] = `v.${c.name}${c.cast ?? ''}`;
    }
  }
  return { from: `unnest(${arrays.join(', ')}) AS v(${names.join(', ')})`, expr };
}

/**
 * Sends a batched statement (at once, like the client's tagged queries once observed): `build`
 * makes its text from the bound rows. Prepared while the process has prepared fewer than
 * MAX_VARIANTS texts (or this one already), else sent unprepared.
 */
export function sendBatch<R>(tx: Db, rows: readonly R[], cols: readonly Column<R>[], build: (b: Bound) => string): Promise<unknown[]> {
  return sendStatement(tx, (params) => build(bindRows(params, rows, cols)));
}

/**
 * Sends one statement whose text `build` makes while binding its parameters (e.g. two sets of
 * rows bound with bindRows, for a statement that writes two tables); prepared like sendBatch.
 */
export function sendStatement(tx: Db, build: (params: Params) => string): Promise<unknown[]> {
  const params = new Params();
  const text = build(params);
  let prepare = prepared.has(text);
  if (!prepare && prepared.size < MAX_VARIANTS) {
    prepared.add(text);
    prepare = true;
  }
  // `as never`: the client's parameter typing does not know arrays of nullable values.
  return tx.unsafe(text, params.values as never, { prepare }).execute() as unknown as Promise<unknown[]>;
}

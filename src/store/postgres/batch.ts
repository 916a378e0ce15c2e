/**
 * Batched statements over `unnest`, bound lean: a column whose value is the same in every row of
 * the batch (the status an assignment sets, the worker a batch of reports came from, the queue
 * and tenant of a submitted batch) is bound once, as a scalar, instead of as an array of equal
 * values. That is fewer values for the client to serialise and send, and fewer array elements
 * for PostgreSQL to parse and unnest: on the hot paths most columns are uniform, and only the
 * ids and lease tokens vary.
 *
 * The SQL text depends on which columns are uniform, so one statement has several variants;
 * each is prepared once per connection. Their number is capped (see MAX_VARIANTS): past it, a new
 * variant binds every column as an array, a text that never varies.
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

/**
 * Statement texts seen by this process. A text new past MAX_VARIANTS is built again with every
 * column as an array, so at most MAX_VARIANTS + one text per statement are ever prepared.
 */
const seen = new Set<string>();
const MAX_VARIANTS = 256;

/**
 * Binds `rows` column by column: uniform columns as scalars, the others as arrays spread by one
 * `unnest` (there is always one: the key columns). `alias` names the unnest source.
 */
export function bindRows<R>(params: Params, rows: readonly R[], cols: readonly Column<R>[], alias = 'v', allArrays = false): Bound {
  const expr: Record<string, string> = {};
  const arrays: string[] = [];
  const names: string[] = [];
  for (const c of cols) {
    // Uniform unless a row differs; the array is only built for a column that needs one.
    const first = c.value(rows[0]);
    let uniform = !allArrays && c.key !== true;
    for (let i = 1; uniform && i < rows.length; i++) uniform = c.value(rows[i]) === first;
    if (uniform) {
      expr[c.name] = `${params.bind(first, c.type)}${c.cast ?? ''}`;
    } else {
      arrays.push(params.bind(rows.map(c.value), `${c.type}[]`));
      names.push(c.name);
      expr[c.name] = `${alias}.${c.name}${c.cast ?? ''}`;
    }
  }
  return { from: `unnest(${arrays.join(', ')}) AS ${alias}(${names.join(', ')})`, expr };
}

/**
 * Sends a batched statement (at once, like the client's tagged queries once observed): `build`
 * makes its text from the bound rows; called again with every column as an array when its text is
 * a variant too many.
 */
export function sendBatch<R>(tx: Db, rows: readonly R[], cols: readonly Column<R>[], build: (b: Bound) => string): Promise<unknown[]> {
  let params = new Params();
  let text = build(bindRows(params, rows, cols));
  if (!seen.has(text)) {
    if (seen.size >= MAX_VARIANTS) {
      params = new Params();
      text = build(bindRows(params, rows, cols, 'v', true));
    }
    seen.add(text);
  }
  // `as never`: the client's parameter typing does not know arrays of nullable values.
  return tx.unsafe(text, params.values as never, { prepare: true }).execute() as unknown as Promise<unknown[]>;
}

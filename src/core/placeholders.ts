/**
 * `{{...}}` placeholders inside JSON values: a job's payload reading its parents' outcomes
 * (`{{parents.<ref>.result.<path>}}`, `{{parents.<ref>.status}}`, `{{parents.<ref>.error.<path>}}`)
 * and, through the same machinery, a template's parameters (see template.ts).
 *
 * Rules, the same everywhere:
 * - Only strings are searched (deeply, through objects and arrays); object keys are left alone.
 * - A string that is exactly one placeholder becomes the value itself, keeping its type
 *   (number, object, null…); a placeholder inside a longer string is written into it — strings
 *   as they are, everything else as JSON.
 * - Substituted values are not searched again, so a value can never inject a placeholder.
 * - A path is dot-separated keys; a key made of digits indexes an array. Only own properties are
 *   read, and the segments `__proto__`, `constructor` and `prototype` are refused: nothing but
 *   plain data is reachable, and nothing is ever executed.
 * - `{{...}}` whose content is not in a known namespace is plain text (e.g. a Go template or
 *   `{{.Name}}` in a shell script stays as it is).
 */
import { BatonError, invalid } from './errors.ts';
import type { JobError, JobStatus } from './types.ts';

/** Deepest nesting searched for placeholders; deeper values are refused rather than overflow the stack. */
export const MAX_PLACEHOLDER_DEPTH = 200;

function tooDeep(field: string): BatonError {
  return invalid(field, `is nested deeper than ${MAX_PLACEHOLDER_DEPTH} levels`);
}

/** Matches one `{{ ... }}`; the content is trimmed by the caller. */
const PLACEHOLDER = /\{\{([^{}]*)\}\}/g;
const FORBIDDEN_SEGMENTS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);
const PARENT_FIELDS = ['result', 'status', 'error'] as const;

/** A placeholder's content, parsed: what it reads. */
export interface ParsedPlaceholder {
  /** The first segment: `parents`, `params`, or (templates) a bare parameter name. */
  root: string;
  /** The keys after the root. */
  path: string[];
  /** The placeholder as written, e.g. `{{parents.a.result.x}}`, for error messages. */
  source: string;
}

/**
 * Decides what a `{{content}}` means: a parsed placeholder, `null` for plain text, or a thrown
 * error for something that is meant as a placeholder but is malformed. `field` locates it.
 */
export type PlaceholderParser = (content: string, source: string, field: string) => ParsedPlaceholder | null;

/** Resolves a parsed placeholder to its value; throws BATON_E_VALIDATION naming it when it cannot. */
export type PlaceholderResolver = (p: ParsedPlaceholder, field: string) => unknown;

/** Splits `a.b.c` into segments, refusing empty and prototype-reaching ones. */
export function splitPath(text: string, source: string, field: string): string[] {
  const segs = text.split('.');
  for (const s of segs) {
    if (s === '' || /\s/.test(s)) throw invalid(field, `placeholder ${source} has an empty or malformed path segment`);
    if (FORBIDDEN_SEGMENTS.has(s)) throw invalid(field, `placeholder ${source} may not use the segment "${s}"`);
  }
  return segs;
}

/**
 * Follows `path` into `value` through own properties only (digits index arrays). Returns
 * `{found: false}` as soon as a key is missing or the value is not a container.
 */
export function readPath(value: unknown, path: readonly string[]): { found: true; value: unknown } | { found: false; at: number } {
  let cur = value;
  for (let i = 0; i < path.length; i++) {
    const key = path[i];
    if (FORBIDDEN_SEGMENTS.has(key)) return { found: false, at: i };
    if (Array.isArray(cur)) {
      if (!/^(0|[1-9][0-9]*)$/.test(key) || Number(key) >= cur.length) return { found: false, at: i };
      cur = cur[Number(key)];
    } else if (typeof cur === 'object' && cur !== null && Object.prototype.hasOwnProperty.call(cur, key)) {
      cur = (cur as Record<string, unknown>)[key];
    } else {
      return { found: false, at: i };
    }
  }
  return { found: true, value: cur };
}

/** How a value is written inside a longer string: strings as they are, the rest as JSON. */
export function stringifyInto(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** Appends `.key` or `[i]` to a JSON path. */
export function childField(field: string, key: string | number): string {
  if (typeof key === 'number') return `${field}[${key}]`;
  return field ? `${field}.${key}` : key;
}

/** Where a substitution happened: the output field and the placeholder that filled it. */
export interface Substitution {
  field: string;
  placeholder: ParsedPlaceholder;
  /** true: the string was exactly this placeholder and became its value. */
  whole: boolean;
}

/**
 * Replaces the placeholders in every string of `value`, deeply, returning a new value (the input
 * is not changed). `parse` decides which `{{...}}` are placeholders, `resolve` gives their
 * values; `onSubstitute` hears of every substitution (template.ts uses it to blame parameters).
 * `at` is the JSON path of `value`, used in error fields.
 */
export function substitute(
  value: unknown,
  parse: PlaceholderParser,
  resolve: PlaceholderResolver,
  at: string,
  onSubstitute?: (s: Substitution) => void,
): unknown {
  const walk = (v: unknown, field: string, depth: number): unknown => {
    if (typeof v === 'string') return substituteString(v, parse, resolve, field, onSubstitute);
    if (typeof v !== 'object' || v === null) return v;
    if (depth >= MAX_PLACEHOLDER_DEPTH) throw tooDeep(field);
    if (Array.isArray(v)) return v.map((x, i) => walk(x, childField(field, i), depth + 1));
    // fromEntries defines properties, so a `__proto__` key stays an own key and never sets a prototype.
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x, childField(field, k), depth + 1)]));
  };
  return walk(value, at, 0);
}

function substituteString(
  s: string,
  parse: PlaceholderParser,
  resolve: PlaceholderResolver,
  field: string,
  onSubstitute?: (s: Substitution) => void,
): unknown {
  if (!s.includes('{{')) return s;
  const matches = [...s.matchAll(PLACEHOLDER)];
  if (matches.length === 1 && matches[0][0] === s) {
    const p = parse(matches[0][1].trim(), s, field);
    if (p) {
      const v = resolve(p, field);
      onSubstitute?.({ field, placeholder: p, whole: true });
      return v;
    }
    return s;
  }
  return s.replace(PLACEHOLDER, (whole: string, content: string) => {
    const p = parse(content.trim(), whole, field);
    if (!p) return whole;
    const v = resolve(p, field);
    onSubstitute?.({ field, placeholder: p, whole: false });
    return stringifyInto(v);
  });
}

/** Every placeholder in `value` that `parse` accepts, with where it is. Throws on malformed ones. */
export function collectPlaceholders(value: unknown, parse: PlaceholderParser, at: string): { field: string; placeholder: ParsedPlaceholder }[] {
  const out: { field: string; placeholder: ParsedPlaceholder }[] = [];
  const visit = (v: unknown, field: string, depth: number): void => {
    if (typeof v === 'object' && v !== null && depth >= MAX_PLACEHOLDER_DEPTH) throw tooDeep(field);
    if (typeof v === 'string') {
      if (!v.includes('{{')) return;
      for (const m of v.matchAll(PLACEHOLDER)) {
        const p = parse(m[1].trim(), m[0], field);
        if (p) out.push({ field, placeholder: p });
      }
    } else if (Array.isArray(v)) {
      v.forEach((x, i) => visit(x, childField(field, i), depth + 1));
    } else if (typeof v === 'object' && v !== null) {
      for (const [k, x] of Object.entries(v)) visit(x, childField(field, k), depth + 1);
    }
  };
  visit(value, at, 0);
  return out;
}

/**
 * Parses the `parents` namespace: `parents.<ref>.status`, `parents.<ref>.result[.path]`,
 * `parents.<ref>.error[.path]`. Content outside the namespace is plain text (null).
 */
export const parseParentPlaceholder: PlaceholderParser = (content, source, field) => {
  if (content !== 'parents' && !content.startsWith('parents.')) return null;
  const segs = splitPath(content, source, field);
  const what = segs[2];
  if (segs.length < 3 || !(PARENT_FIELDS as readonly string[]).includes(what)) {
    throw invalid(field, `placeholder ${source} must read parents.<ref>.result, parents.<ref>.status or parents.<ref>.error`);
  }
  if (what === 'status' && segs.length > 3) throw invalid(field, `placeholder ${source}: status has no fields`);
  return { root: 'parents', path: segs.slice(1), source };
};

/** What a child sees of one parent: its final status and its result or error. */
export interface ParentOutcome {
  status: JobStatus;
  result: unknown;
  error: JobError | null;
}

/** A parent job as the store reads it when releasing a child. */
export interface ParentRecord extends ParentOutcome {
  id: string;
  /** Its ref in the batch that created it, if it had one. */
  ref: string | null;
}

/**
 * The outcomes a child's placeholders (and `ctx.parents` in the SDK) can read, keyed by each
 * parent's ref and by its id, so `{{parents.<ref>...}}` and `{{parents.<id>...}}` both work.
 */
export function parentOutcomes(parents: readonly ParentRecord[]): Map<string, ParentOutcome> {
  const out = new Map<string, ParentOutcome>();
  for (const p of parents) {
    const outcome = { status: p.status, result: p.result, error: p.error };
    out.set(p.id, outcome);
    if (p.ref !== null) out.set(p.ref, outcome);
  }
  return out;
}

/**
 * Renders the parents placeholders of a job's payload (deeply). `parents` maps each parent's
 * key — its ref in the batch, or its job id when it was named by id — to its outcome. Throws
 * BATON_E_VALIDATION naming the placeholder (field: where it sits, under `at`) when a ref is not
 * a parent or a path is missing. Other `{{...}}` text is left as it is.
 */
export function renderParentPlaceholders<T>(payload: T, parents: ReadonlyMap<string, ParentOutcome>, at = 'payload'): T {
  const resolve: PlaceholderResolver = (p, field) => {
    const [ref, what, ...path] = p.path;
    const parent = parents.get(ref);
    if (!parent) throw invalid(field, `placeholder ${p.source} names "${ref}", which is not a parent of this job`);
    const base = what === 'status' ? parent.status : what === 'error' ? parent.error : parent.result;
    const r = readPath(base, path);
    if (!r.found || r.value === undefined) {
      const missing = ['parents', ref, what, ...path.slice(0, r.found ? path.length : r.at + 1)].join('.');
      throw new BatonError('BATON_E_VALIDATION', `${field}: placeholder ${p.source}: parent "${ref}" has no ${missing}`, {
        field,
        details: { placeholder: p.source },
      });
    }
    return r.value;
  };
  return substitute(payload, parseParentPlaceholder, resolve, at) as T;
}

/**
 * The parent refs that `payload`'s placeholders read, each once, in order of first use — for
 * checking at submit that each names a parent of the job. Throws BATON_E_VALIDATION on a
 * malformed `{{parents...}}` placeholder.
 */
export function findPlaceholders(payload: unknown, at = 'payload'): string[] {
  return [...new Set(collectPlaceholders(payload, parseParentPlaceholder, at).map((u) => u.placeholder.path[0]))];
}

/**
 * Checks at submit that every parents placeholder in `payload` names one of `parentKeys` (refs
 * or ids of the job's dependencies). Throws BATON_E_VALIDATION naming the field otherwise.
 */
export function checkParentPlaceholders(payload: unknown, parentKeys: ReadonlySet<string>, at = 'payload'): void {
  for (const { field, placeholder } of collectPlaceholders(payload, parseParentPlaceholder, at)) {
    const ref = placeholder.path[0];
    if (!parentKeys.has(ref)) throw invalid(field, `placeholder ${placeholder.source} names "${ref}", which is not in this job's dependsOn`);
  }
}

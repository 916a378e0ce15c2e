/**
 * `baton submit --template name[@version] --param k=v ...`: the job comes from a template; the
 * other common flags (queue, priority, name, retries, timeout, tags, idempotency key, at/delay)
 * override the rendered job's fields.
 */
import type { JobInput } from '../../core/spec.ts';
import { parseIntFlag, usage } from '../context.ts';

/** The flags `baton submit` shares between plain and template submits (see jobFlagOverrides). */
export interface CommonSubmitFlags {
  queue?: string;
  priority?: string;
  at?: string;
  delay?: string;
  name?: string;
  retries?: string;
  timeout?: string;
  tag?: string[];
  idempotencyKey?: string;
}

/** Flags of a template submit: the common ones plus the template and its parameters. */
export interface TemplateSubmitFlags extends CommonSubmitFlags {
  template?: string;
  param?: string[];
}

/**
 * Template parameters from `k=v` items: a value that parses as JSON (`3`, `true`, `[1,2]`,
 * `"quoted"`) keeps its type; anything else is the string as written.
 */
export function parseParams(items: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const item of items) {
    const eq = item.indexOf('=');
    if (eq <= 0) throw usage(`--param must be k=v, got "${item}"`, '--param');
    const raw = item.slice(eq + 1);
    let value: unknown = raw;
    try {
      value = JSON.parse(raw);
    } catch {
      // Not JSON: a plain string parameter.
    }
    out[item.slice(0, eq)] = value;
  }
  return out;
}

/** The job fields that the common `baton submit` flags set (queue, priority, time, retries, …). */
export function jobFlagOverrides(f: CommonSubmitFlags): Partial<JobInput> {
  const overrides: Partial<JobInput> = {};
  if (f.queue !== undefined) overrides.queue = f.queue;
  if (f.priority !== undefined) overrides.priority = parseIntFlag('--priority', f.priority, 1);
  if (f.at !== undefined && f.delay !== undefined) throw usage('give --at or --delay, not both', '--delay');
  if (f.at !== undefined) {
    const t = Date.parse(f.at);
    if (!Number.isFinite(t)) throw usage(`--at must be an ISO 8601 date-time, got "${f.at}"`, '--at');
    overrides.runAt = new Date(t).toISOString();
  }
  if (f.delay !== undefined) overrides.delayMs = parseIntFlag('--delay', f.delay);
  if (f.name !== undefined) overrides.name = f.name;
  if (f.retries !== undefined) overrides.maxRetries = parseIntFlag('--retries', f.retries);
  if (f.timeout !== undefined) overrides.timeoutMs = parseIntFlag('--timeout', f.timeout, 1);
  if (f.tag !== undefined) overrides.tags = f.tag;
  if (f.idempotencyKey !== undefined) overrides.idempotencyKey = f.idempotencyKey;
  return overrides;
}

/** What to send for `--template`: the reference, its parameters and the fields to override. */
export function templateSubmission(command: string[], f: TemplateSubmitFlags): { ref: string; params: Record<string, unknown>; overrides: Partial<JobInput> } {
  if (command.length > 0) throw usage('--template takes no command after --', '--template');
  return { ref: f.template!, params: parseParams(f.param ?? []), overrides: jobFlagOverrides(f) };
}

/**
 * Runs `http` jobs: one request with the global fetch. The attempt succeeds when the status is
 * in `okStatus` (default 200–299); the result carries the status, headers and body (parsed as
 * JSON when the response says it is JSON).
 */
import type { Assignment } from '../../core/protocol.ts';
import { abortedOutcome, startDeadline, timeoutOutcome } from './deadline.ts';
import type { ExecContext, ExecOutcome, Executor } from './types.ts';

/** How much of a response body is kept in a failure's details. */
const BODY_DETAIL_CHARS = 2048;

/** The payload of an http job, as validated by the core's spec checks. */
interface HttpPayload {
  url: string;
  method?: string;
  headers?: Record<string, string>;
  body?: unknown;
  okStatus?: number[];
}

/** The result of a successful http attempt. */
export interface HttpResult {
  status: number;
  headers: Record<string, string>;
  body: unknown;
}

/** Runs http jobs with the global fetch. */
export class HttpExecutor implements Executor {
  readonly type = 'http' as const;

  async execute(a: Assignment, ctx: ExecContext): Promise<ExecOutcome> {
    const p = a.payload as unknown as HttpPayload;
    if (typeof p.url !== 'string') {
      return { ok: false, error: { code: 'BATON_E_EXECUTION_FAILED', message: 'an http job needs payload.url (string)' } };
    }
    const method = (p.method ?? 'GET').toUpperCase();
    const headers: Record<string, string> = { ...(p.headers ?? {}) };
    let body: string | undefined;
    if (p.body !== undefined && p.body !== null) {
      if (typeof p.body === 'string') body = p.body;
      else {
        body = JSON.stringify(p.body);
        if (!Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) headers['content-type'] = 'application/json';
      }
    }
    const deadline = startDeadline(ctx, a.timeoutMs);
    const started = Date.now();
    try {
      const res = await fetch(p.url, { method, headers, body, signal: deadline.signal, redirect: 'follow' });
      const text = await res.text();
      const resHeaders = Object.fromEntries(res.headers.entries());
      const result: HttpResult = { status: res.status, headers: resHeaders, body: parseBody(text, res.headers.get('content-type')) };
      ctx.log('system', `${method} ${p.url} → ${res.status} ${res.statusText} (${Date.now() - started} ms, ${text.length} chars)\n`);
      const ok = p.okStatus ? p.okStatus.includes(res.status) : res.status >= 200 && res.status <= 299;
      if (ok) return { ok: true, result };
      const expected = p.okStatus ? p.okStatus.join(', ') : '200–299';
      return {
        ok: false,
        error: {
          code: 'http_status',
          message: `${method} ${p.url} answered ${res.status} ${res.statusText}, expected ${expected}`,
          details: { status: res.status, body: text.length > BODY_DETAIL_CHARS ? `${text.slice(0, BODY_DETAIL_CHARS)}…` : text },
        },
      };
    } catch (e) {
      if (deadline.timedOut()) return timeoutOutcome(a.timeoutMs);
      if (deadline.stopped()) return abortedOutcome(deadline.reason());
      const err = e as Error & { cause?: { code?: string; message?: string } };
      const cause = err.cause?.message ?? err.cause?.code;
      return {
        ok: false,
        error: {
          code: 'http_error',
          message: `${method} ${p.url} failed: ${err.message}${cause ? ` (${cause})` : ''}`,
          details: { cause: err.cause?.code ?? null },
        },
      };
    } finally {
      deadline.dispose();
    }
  }
}

function parseBody(text: string, contentType: string | null): unknown {
  if (contentType && /[/+]json\b/i.test(contentType) && text.length > 0) {
    try {
      return JSON.parse(text);
    } catch {
      // A server that labels non-JSON as JSON still gets its body recorded, as text.
    }
  }
  return text;
}

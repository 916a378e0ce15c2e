/**
 * The transport under BatonClient: one JSON request over fetch, with the server's error body
 * turned into a BatonClientError. Kept apart from the route methods so that the SSE reader and
 * the methods share one place that knows about headers, URLs and error shapes.
 */
import type { ErrorCode } from '../core/errors.ts';

/**
 * An error from the Baton API (or from reaching it). `code` is the server's stable
 * `BATON_E_...` code; a network failure is `BATON_E_UNAVAILABLE` with status 0.
 */
export class BatonClientError extends Error {
  /** Stable error code, e.g. `BATON_E_NOT_FOUND`. */
  readonly code: ErrorCode | (string & {});
  /** HTTP status of the response; 0 when no response arrived. */
  readonly status: number;
  /** The input field at fault, when the server named one. */
  readonly field: string | undefined;
  /** Extra details the server attached, if any. */
  readonly details: unknown;

  constructor(code: string, message: string, opts: { status: number; field?: string; details?: unknown; cause?: unknown }) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'BatonClientError';
    this.code = code;
    this.status = opts.status;
    this.field = opts.field;
    this.details = opts.details;
  }
}

/** True when `e` is a BatonClientError (works across module copies, unlike instanceof). */
export function isBatonClientError(e: unknown): e is BatonClientError {
  return typeof e === 'object' && e !== null && (e as { name?: unknown }).name === 'BatonClientError' && 'code' in e;
}

/** Options of a BatonClient. */
export interface BatonClientOptions {
  /** Base URL of a Baton server, e.g. `http://127.0.0.1:7070`. */
  url: string;
  /** Bearer token; sent as `Authorization: Bearer <token>`. */
  token?: string | null;
  /** Tenant to act in (sent as `X-Baton-Tenant`); only system admin tokens may pick another tenant. Default: the token's own. */
  tenant?: string | null;
  /** fetch implementation. Default: the global fetch. */
  fetch?: typeof fetch;
}

/** Query string values: undefined and null are left out; arrays repeat the key. */
export type Query = Record<string, string | number | boolean | string[] | undefined | null>;

/** One request's shape. */
export interface RequestSpec {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  path: string;
  query?: Query;
  body?: unknown;
  signal?: AbortSignal;
  /** Extra headers (e.g. Accept for SSE). */
  headers?: Record<string, string>;
}

/** Sends requests to one server on behalf of a BatonClient. */
export class Transport {
  private readonly base: string;
  private readonly fetchImpl: typeof fetch;

  constructor(private readonly opts: BatonClientOptions) {
    if (!opts.url) throw new BatonClientError('BATON_E_VALIDATION', 'url: a Baton server URL is required', { status: 0, field: 'url' });
    // Trailing slashes would double up with the route's leading slash.
    this.base = opts.url.replace(/\/+$/, '');
    this.fetchImpl = opts.fetch ?? globalThis.fetch.bind(globalThis);
  }

  /** Server base URL without trailing slash. */
  get url(): string {
    return this.base;
  }

  /** Builds the full URL of a route with its query string. */
  buildUrl(path: string, query: Query = {}): string {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) {
      if (v === undefined || v === null) continue;
      if (Array.isArray(v)) for (const item of v) params.append(k, item);
      else params.append(k, String(v));
    }
    const qs = params.toString();
    return `${this.base}${path}${qs ? `?${qs}` : ''}`;
  }

  /** Sends a request and returns the raw response when it is a success; throws BatonClientError otherwise. */
  async send(spec: RequestSpec): Promise<Response> {
    const headers: Record<string, string> = { accept: 'application/json', ...(spec.headers ?? {}) };
    if (this.opts.token) headers.authorization = `Bearer ${this.opts.token}`;
    if (this.opts.tenant) headers['x-baton-tenant'] = this.opts.tenant;
    let body: string | undefined;
    if (spec.body !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(spec.body);
    }
    const url = this.buildUrl(spec.path, spec.query);
    let res: Response;
    try {
      res = await this.fetchImpl(url, { method: spec.method, headers, body, signal: spec.signal });
    } catch (e) {
      if (spec.signal?.aborted) throw e;
      const reason = e instanceof Error ? ((e.cause as Error | undefined)?.message ?? e.message) : String(e);
      throw new BatonClientError('BATON_E_UNAVAILABLE', `cannot reach the Baton server at ${this.base}: ${reason}`, { status: 0, cause: e });
    }
    if (!res.ok) throw await errorFromResponse(res);
    return res;
  }

  /** Sends a request and parses the JSON reply. */
  async json<T>(spec: RequestSpec): Promise<T> {
    const res = await this.send(spec);
    if (res.status === 204) return undefined as T;
    const text = await res.text();
    if (text === '') return undefined as T;
    try {
      return JSON.parse(text) as T;
    } catch (e) {
      throw new BatonClientError('BATON_E_INTERNAL', `the server sent a reply that is not JSON (${spec.method} ${spec.path})`, { status: res.status, cause: e });
    }
  }
}

/** Reads `{error:{code,message,field}}` from a failed response; falls back to the status line. */
async function errorFromResponse(res: Response): Promise<BatonClientError> {
  const text = await res.text().catch(() => '');
  try {
    const parsed = JSON.parse(text) as { error?: { code?: unknown; message?: unknown; field?: unknown; details?: unknown } };
    const err = parsed.error;
    if (err && typeof err.code === 'string') {
      return new BatonClientError(err.code, typeof err.message === 'string' ? err.message : err.code, {
        status: res.status,
        field: typeof err.field === 'string' ? err.field : undefined,
        details: err.details,
      });
    }
  } catch {
    // Not our error body (e.g. a proxy's HTML page): described from the status below.
  }
  const code = res.status === 503 ? 'BATON_E_UNAVAILABLE' : res.status === 404 ? 'BATON_E_ROUTE_NOT_FOUND' : 'BATON_E_INTERNAL';
  const snippet = text.trim().slice(0, 200);
  return new BatonClientError(code, `HTTP ${res.status} ${res.statusText}${snippet ? `: ${snippet}` : ''}`, { status: res.status });
}

/**
 * Turns every failure of a request into `{error: {code, message, field?}}` with a BATON_E_* code:
 * our own BatonErrors, ajv schema errors (with the field as a readable path), fastify's body
 * parsing errors, and anything unexpected (logged, reported as BATON_E_INTERNAL).
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { BatonError, isBatonError } from '../../core/errors.ts';

/** One ajv error as fastify hands it over (the subset we read). */
export interface SchemaError {
  keyword: string;
  instancePath: string;
  params: Record<string, unknown>;
  message?: string;
}

/** `/jobs/3/priority` → `jobs[3].priority`; `/payload/argv` → `payload.argv`. */
export function pointerToPath(pointer: string): string {
  let out = '';
  for (const raw of pointer.split('/').slice(1)) {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (/^\d+$/.test(seg)) out += `[${seg}]`;
    else out += out === '' ? seg : `.${seg}`;
  }
  return out;
}

function join(base: string, name: string): string {
  return base === '' ? name : `${base}.${name}`;
}

/**
 * Maps ajv's errors (allErrors off, so they describe the first failure) to one
 * BATON_E_VALIDATION naming the field. `context` is fastify's validation context
 * (`body`, `querystring`, `params`), used only when the failure is the whole input.
 */
export function schemaErrorToBaton(errors: SchemaError[], context: string): BatonError {
  // anyOf/oneOf report each branch and then themselves; the branches say what was expected.
  const first = errors[0];
  const at = pointerToPath(first?.instancePath ?? '');
  if (!first) return new BatonError('BATON_E_VALIDATION', `invalid ${context}`);
  const consts = errors.filter((e) => e.instancePath === first.instancePath && e.keyword === 'const').map((e) => JSON.stringify(e.params.allowedValue));
  if (consts.length > 0) {
    return new BatonError('BATON_E_VALIDATION', `${at || context}: must be one of ${consts.join(', ')}`, { field: at || context });
  }
  switch (first.keyword) {
    case 'additionalProperties': {
      const field = join(at, String(first.params.additionalProperty));
      return new BatonError('BATON_E_VALIDATION', `${field}: unknown field`, { field });
    }
    case 'required': {
      const field = join(at, String(first.params.missingProperty));
      return new BatonError('BATON_E_VALIDATION', `${field}: is required`, { field });
    }
    case 'minProperties':
      return new BatonError('BATON_E_VALIDATION', `${at || context}: must set at least one field`, { field: at || context });
    default: {
      if (at === '' && first.keyword === 'type' && context === 'body') {
        return new BatonError('BATON_E_VALIDATION', `the request body must be a JSON ${String(first.params.type)}`, { field: 'body' });
      }
      const field = at || context;
      return new BatonError('BATON_E_VALIDATION', `${field}: ${first.message ?? 'is invalid'}`, { field });
    }
  }
}

/** Fastify's own error codes, mapped to ours. */
const FASTIFY_CODES: Record<string, { code: BatonError['code']; message: string }> = {
  FST_ERR_CTP_INVALID_JSON_BODY: { code: 'BATON_E_MALFORMED_JSON', message: 'the request body is not valid JSON' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { code: 'BATON_E_MALFORMED_JSON', message: 'the request body is empty but its content-type is application/json' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { code: 'BATON_E_UNSUPPORTED_MEDIA_TYPE', message: 'send the request body as application/json' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { code: 'BATON_E_VALIDATION', message: 'the Content-Length header does not match the body' },
  FST_ERR_CTP_BODY_TOO_LARGE: { code: 'BATON_E_BODY_TOO_LARGE', message: 'the request body is larger than the server accepts' },
};

/** Any thrown value → the BatonError to send. Unknown errors become BATON_E_INTERNAL. */
export function toBatonError(err: unknown): BatonError {
  if (isBatonError(err)) return err;
  const fe = err as Partial<FastifyError> & { validation?: SchemaError[]; validationContext?: string };
  if (Array.isArray(fe.validation)) return schemaErrorToBaton(fe.validation, fe.validationContext ?? 'body');
  if (fe.code && FASTIFY_CODES[fe.code]) {
    const m = FASTIFY_CODES[fe.code];
    return new BatonError(m.code, m.message);
  }
  // Body parsing failures that fastify reports with a status but no code of ours (e.g. a
  // SyntaxError from a proto-poisoned body).
  if (fe.statusCode === 400 && err instanceof SyntaxError) return new BatonError('BATON_E_MALFORMED_JSON', 'the request body is not valid JSON');
  if (fe.statusCode === 413) return new BatonError('BATON_E_BODY_TOO_LARGE', 'the request body is larger than the server accepts');
  if (fe.statusCode === 415) return new BatonError('BATON_E_UNSUPPORTED_MEDIA_TYPE', 'send the request body as application/json');
  return new BatonError('BATON_E_INTERNAL', 'internal server error; the server log has the details');
}

/** Installs the error and not-found handlers on the root instance. */
export function installErrorHandlers(app: FastifyInstance): void {
  app.setErrorHandler((err: unknown, req: FastifyRequest, reply: FastifyReply) => {
    const e = toBatonError(err);
    if (e.code === 'BATON_E_INTERNAL') req.log.error({ err }, 'request failed');
    else if (e.status >= 500) req.log.warn({ code: e.code }, e.message);
    if (e.code === 'BATON_E_UNAVAILABLE') void reply.header('retry-after', '5');
    return reply.status(e.status).type('application/json').send(e.toJSON());
  });
  app.setNotFoundHandler((req: FastifyRequest, reply: FastifyReply) => {
    const e = new BatonError('BATON_E_ROUTE_NOT_FOUND', `no route ${req.method} ${req.url.split('?')[0]}`);
    return reply.status(e.status).send(e.toJSON());
  });
}

/**
 * The REST API v1 as one fastify instance: strict JSON parsing and validation, bearer-token
 * auth with roles per route, every route family as a plugin, errors as `{error: {code, ...}}`,
 * and the OpenAPI document at GET /openapi.json. The caller (app.ts) adds the worker gateway
 * route and listens.
 */
import swagger from '@fastify/swagger';
import Fastify, { LogController, type FastifyInstance, type FastifyRequest } from 'fastify';
import { authenticate, requireRole, TENANT_HEADER } from '../auth.ts';
import type { ServerContext } from '../context.ts';
import { auditRoutes } from './audit.ts';
import { bulkRoutes } from './bulk.ts';
import { graphRoutes } from './graph.ts';
import { templateRoutes } from './templates.ts';
import { installErrorHandlers } from './errors.ts';
import { healthRoutes } from './health.ts';
import { jobActionRoutes } from './job-actions.ts';
import { jobRoutes } from './jobs.ts';
import { logRoutes } from './logs.ts';
import { queueRoutes } from './queues.ts';
import { tenantRoutes } from './tenants.ts';
import { tokenRoutes } from './tokens.ts';
import { workerRoutes } from './workers.ts';
import { fairnessRoutes } from './fairness.ts';
import { scheduleRoutes } from './schedules.ts';

/** Version reported in the OpenAPI document. */
export const API_VERSION = '1.0.0';

/** Authenticates requests to routes that name a role, and checks the role. */
async function authHook(ctx: ServerContext, req: FastifyRequest): Promise<void> {
  const cfg = req.routeOptions.config;
  if (!cfg?.role) return;
  const tenantHeader = req.headers[TENANT_HEADER];
  const p = await authenticate(ctx, req.headers.authorization, typeof tenantHeader === 'string' ? tenantHeader : undefined);
  requireRole(p, cfg.role, { system: cfg.system === true });
  req.principal = p;
}

/**
 * Builds the HTTP application of one server: every REST route, not yet listening.
 *
 * Bodies are validated without coercion and with unknown fields refused (fastify's defaults
 * would turn `"5"` into 5 and silently drop a misspelt field, which hides client bugs).
 */
export async function buildHttpApp(ctx: ServerContext): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: ctx.log,
    bodyLimit: ctx.config.bodyLimitBytes,
    // One info line per request drowns the log of a busy server; requests are logged at debug below.
    logController: new LogController({ disableRequestLogging: true }),
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false, useDefaults: false } },
  }) as unknown as FastifyInstance;

  // Only at debug level: an async hook costs every request a promise even when it logs nothing.
  if (ctx.log.isLevelEnabled('debug')) {
    app.addHook('onResponse', (req, reply, done) => {
      req.log.debug({ method: req.method, url: req.url, status: reply.statusCode, ms: Math.round(reply.elapsedTime) }, 'request');
      done();
    });
  }

  // Only JSON bodies: without the default text/plain parser a wrong content-type is a 415.
  app.removeAllContentTypeParsers();
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    // An empty body means "no body" so that routes whose body is optional accept it.
    const text = body as string;
    if (text === '' || text.trim() === '') return done(null, undefined);
    // The secure parser scans every body with two regular expressions for __proto__ and
    // constructor keys (~3 % of a batch submit). A body that cannot spell them — no "proto", no
    // "constructor", no \u escape — is parsed plainly; any other, or any syntax error, goes
    // through the secure parser and its checks and error messages.
    if (!text.includes('proto') && !text.includes('constructor') && !text.includes('\\u')) {
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch {
        return parseJson(req, text, done);
      }
      return done(null, value);
    }
    parseJson(req, text, done);
  });

  app.decorateRequest('principal', null);
  installErrorHandlers(app);
  app.addHook('onRequest', async (req) => authHook(ctx, req));

  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'Baton REST API',
        version: API_VERSION,
        description: 'Submit, inspect and control jobs of the Baton job scheduler. Errors are `{error: {code, message, field?}}`; see docs/errors.md.',
      },
      components: { securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', description: 'baton_<tokenId>_<secret>' } } },
      tags: ['jobs', 'templates', 'schedules', 'queues', 'workers', 'tokens', 'tenants', 'audit', 'health'].map((name) => ({ name })),
    },
  });

  await app.register(healthRoutes(ctx));
  await app.register(jobRoutes(ctx));
  await app.register(jobActionRoutes(ctx));
  await app.register(logRoutes(ctx));
  await app.register(queueRoutes(ctx));
  await app.register(workerRoutes(ctx));
  await app.register(tokenRoutes(ctx));
  await app.register(tenantRoutes(ctx));
  await app.register(auditRoutes(ctx));
  await app.register(graphRoutes(ctx));
  await app.register(templateRoutes(ctx));
  await app.register(bulkRoutes(ctx));
  await app.register(scheduleRoutes(ctx));
  await app.register(fairnessRoutes(ctx));

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  return app;
}

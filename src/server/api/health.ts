/**
 * Probes for process managers and load balancers: GET /healthz (the process answers) and
 * GET /readyz (the store answers too). Neither needs a token.
 */
import type { FastifyInstance } from 'fastify';
import { BatonError } from '../../core/errors.ts';
import type { ServerContext } from '../context.ts';

/** How long /readyz waits for the store before calling it unavailable, ms. */
export const READY_TIMEOUT_MS = 2_000;

/** Registers the health routes. */
export function healthRoutes(ctx: ServerContext) {
  return async function plugin(app: FastifyInstance): Promise<void> {
    app.get('/healthz', { schema: { tags: ['health'], summary: 'The process is up' } }, async () => ({ status: 'ok' }));

    app.get('/readyz', { schema: { tags: ['health'], summary: 'The server can reach its store' } }, async () => {
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          ctx.store.ping(),
          new Promise((_, reject) => {
            timer = setTimeout(() => reject(new Error(`store ping took longer than ${READY_TIMEOUT_MS} ms`)), READY_TIMEOUT_MS);
          }),
        ]);
      } catch (err) {
        throw new BatonError('BATON_E_UNAVAILABLE', `the store is not reachable: ${(err as Error).message}`);
      } finally {
        clearTimeout(timer);
      }
      return { status: 'ready' };
    });
  };
}

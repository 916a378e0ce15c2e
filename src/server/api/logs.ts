/**
 * Job output: GET /v1/jobs/:id/logs (pages, or a Server-Sent Events stream with `follow=true`)
 * and GET /v1/jobs/:id/result.
 */
import type { FastifyInstance } from 'fastify';
import { BatonError } from '../../core/errors.ts';
import { TERMINAL_STATUSES } from '../../core/types.ts';
import type { ServerContext } from '../context.ts';
import { BEARER, IdParams, principalOf, queryBool, queryInt, querySchema, type RawQuery } from './common.ts';
import { loadJob } from './jobs.ts';
import { logView, resultView } from './serialize.ts';

/** Largest page of log entries. */
export const MAX_LOG_PAGE = 1000;

/** How often a follower re-reads the store, ms: the fallback when another server got the logs. */
export const FOLLOW_POLL_MS = 500;

/** How often an idle stream sends a comment line, ms, so proxies do not cut it. */
export const FOLLOW_KEEPALIVE_MS = 15_000;

function sse(event: string, data: unknown, id?: number): string {
  return `event: ${event}\n${id === undefined ? '' : `id: ${id}\n`}data: ${JSON.stringify(data)}\n\n`;
}

/** Registers the log and result routes. */
export function logRoutes(ctx: ServerContext) {
  return async function plugin(app: FastifyInstance): Promise<void> {
    // Open streams would keep the server from closing: end them first.
    const streams = new Set<() => void>();
    app.addHook('preClose', async () => {
      for (const finish of [...streams]) finish();
    });

    app.get<{ Params: { id: string }; Querystring: RawQuery }>(
      '/v1/jobs/:id/logs',
      {
        config: { role: 'viewer' },
        schema: {
          tags: ['jobs'],
          summary: 'Log output of a job; follow=true streams it as Server-Sent Events (events `log`, then `end`)',
          security: BEARER,
          params: IdParams,
          querystring: querySchema({
            afterSeq: 'only entries with a greater seq (default 0)',
            limit: `page size, 1–${MAX_LOG_PAGE} (default ${MAX_LOG_PAGE}); ignored when following`,
            follow: 'true to stream until the job ends',
          }),
        },
      },
      async (req, reply) => {
        const q = req.query;
        const lastEventId = req.headers['last-event-id'];
        // A reconnecting EventSource sends the id of the last event it saw instead of afterSeq.
        const resumeFrom = typeof lastEventId === 'string' && /^\d+$/.test(lastEventId) ? Number(lastEventId) : 0;
        const afterSeq = queryInt(q, 'afterSeq', resumeFrom, 0, Number.MAX_SAFE_INTEGER);
        const limit = queryInt(q, 'limit', MAX_LOG_PAGE, 1, MAX_LOG_PAGE);
        const follow = queryBool(q, 'follow');
        const job = await loadJob(ctx, req, req.params.id);
        const tenant = principalOf(req).tenant;

        if (!follow) {
          const logs = await ctx.store.logList({ tenant, jobId: job.id, afterSeq, limit });
          return { logs: logs.map(logView), nextSeq: logs.length > 0 ? logs[logs.length - 1].seq : afterSeq };
        }

        reply.hijack();
        const raw = reply.raw;
        raw.writeHead(200, {
          'content-type': 'text/event-stream; charset=utf-8',
          'cache-control': 'no-cache, no-transform',
          connection: 'keep-alive',
          'x-accel-buffering': 'no',
        });
        // Send the headers now: a client waits for them before it reads, even when no log exists yet.
        raw.write(': stream open\n\n');
        let lastSeq = afterSeq;
        let closed = false;
        let busy = false;
        let again = false;

        const onEvent = (id: string) => {
          if (id === job.id) void pump();
        };
        const poll = setInterval(() => void pump(), FOLLOW_POLL_MS);
        const keepalive = setInterval(() => raw.write(': keepalive\n\n'), FOLLOW_KEEPALIVE_MS);
        const finish = () => {
          if (closed) return;
          closed = true;
          streams.delete(finish);
          clearInterval(poll);
          clearInterval(keepalive);
          ctx.events.off('job', onEvent);
          ctx.events.off('log', onEvent);
          raw.end();
        };
        // Sends what is new; runs one at a time, and once more when woken while busy.
        async function pump(): Promise<void> {
          if (closed) return;
          if (busy) {
            again = true;
            return;
          }
          busy = true;
          try {
            do {
              again = false;
              // Status first, then logs: a worker's logs are written before (or with) its final
              // report, so once the job is seen terminal the logs read next are complete.
              const current = await ctx.store.jobGet({ tenant, id: job.id });
              if (!current) throw new BatonError('BATON_E_NOT_FOUND', `job ${job.id} no longer exists`);
              for (;;) {
                const logs = await ctx.store.logList({ tenant, jobId: job.id, afterSeq: lastSeq, limit: MAX_LOG_PAGE });
                if (closed) return;
                for (const l of logs) raw.write(sse('log', logView(l), l.seq));
                if (logs.length > 0) lastSeq = logs[logs.length - 1].seq;
                if (logs.length < MAX_LOG_PAGE) break;
              }
              if (TERMINAL_STATUSES.has(current.status)) {
                raw.write(sse('end', { jobId: current.id, status: current.status, reason: current.reason, error: current.error }));
                finish();
                return;
              }
            } while (again && !closed);
          } catch (err) {
            const e = err instanceof BatonError ? err : new BatonError('BATON_E_INTERNAL', 'reading the logs failed');
            if (!(err instanceof BatonError)) req.log.error({ err }, 'log follow failed');
            if (!closed) raw.write(sse('error', e.toJSON()));
            finish();
          } finally {
            busy = false;
          }
        }

        streams.add(finish);
        raw.on('close', finish);
        ctx.events.on('job', onEvent);
        ctx.events.on('log', onEvent);
        await pump();
        return reply;
      },
    );

    app.get<{ Params: { id: string } }>(
      '/v1/jobs/:id/result',
      { config: { role: 'viewer' }, schema: { tags: ['jobs'], summary: 'Result of a completed job', security: BEARER, params: IdParams } },
      async (req) => {
        const job = await loadJob(ctx, req, req.params.id);
        if (job.status !== 'completed') throw new BatonError('BATON_E_NO_RESULT', `job ${job.id} is ${job.status}; only a completed job has a result`);
        return resultView(job);
      },
    );
  };
}

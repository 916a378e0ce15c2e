/**
 * Parents' outcomes reach a child at dispatch: for freshly assigned jobs that belong to a graph,
 * reads their parents' outcomes (one query for the whole round), fills `{{parents...}}`
 * placeholders in the payload, checks the filled payload, and hands the outcomes to the worker
 * (`Assignment.parents`, `ctx.parents` in the SDK). Jobs outside graphs skip all of it. A payload
 * that cannot be filled or is invalid once filled fails the attempt with BATON_E_VALIDATION
 * (a report applied for the worker, fenced by the new lease like any other).
 */
import { isBatonError } from '../core/errors.ts';
import { parentOutcomes, renderParentPlaceholders, type ParentOutcome } from '../core/placeholders.ts';
import type { Report } from '../core/protocol.ts';
import { validatePayload } from '../core/spec.ts';
import type { Job } from '../core/types.ts';
import type { ServerContext } from './context.ts';

/** What a pushed assignment carries beyond the job row. */
export interface AssignmentExtra {
  payload: Record<string, unknown>;
  parents: Record<string, ParentOutcome>;
}

/**
 * Splits assigned jobs into those to push (with their filled payload and parents, by job id) and
 * fails the attempts whose placeholders cannot be filled. Returns the jobs to push.
 */
export async function prepareAssignments(ctx: ServerContext, assigned: Job[]): Promise<{ push: Job[]; extras: Map<string, AssignmentExtra> }> {
  const extras = new Map<string, AssignmentExtra>();
  const inGraph = assigned.filter((j) => j.graphId);
  if (inGraph.length === 0) return { push: assigned, extras };
  const parents = await ctx.store.jobParents({ jobIds: inGraph.map((j) => j.id) });
  const failed = new Map<string, Report>();
  for (const j of inGraph) {
    const list = parents.get(j.id);
    if (!list) continue;
    const outcomes = parentOutcomes(list);
    try {
      const payload = renderParentPlaceholders(j.payload, outcomes, 'payload');
      validatePayload(j.type, payload, 'payload');
      extras.set(j.id, { payload, parents: Object.fromEntries(outcomes) });
    } catch (e) {
      if (!isBatonError(e)) throw e;
      failed.set(j.id, {
        kind: 'failed',
        jobId: j.id,
        attempt: j.attempt,
        leaseToken: j.leaseToken!,
        at: ctx.now(),
        error: { code: e.code, message: `parents placeholders: ${e.message}`, ...(e.field ? { details: { field: e.field } } : {}) },
      });
    }
  }
  for (const [jobId, r] of failed) {
    const job = assigned.find((j) => j.id === jobId)!;
    await ctx.store.reportApplyMany({ workerId: job.workerId!, reports: [r], now: ctx.now(), random: ctx.random });
    ctx.events.emit('job', jobId);
  }
  return { push: assigned.filter((j) => !failed.has(j.id)), extras };
}

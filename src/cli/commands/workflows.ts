/**
 * Workflow subcommands of `baton jobs`: `graph` (the dependency graph of a job as a tree) and
 * `bulk-cancel|bulk-retry|bulk-delete` (one action on every job matching the filter flags, or
 * on the ids given).
 */
import type { Command } from 'commander';
import type { JobGraphView } from '../../core/api.ts';
import { JOB_STATUSES, JOB_TYPES, type JobStatus, type JobType } from '../../core/types.ts';
import type { BulkFilterInput } from '../../client/index.ts';
import { clientFor, usage } from '../context.ts';
import { printJson } from '../output.ts';

/** The graph as indented lines: roots first, each child under each of its parents. */
export function graphLines(g: JobGraphView): string[] {
  const byId = new Map(g.nodes.map((n) => [n.id, n]));
  const children = new Map<string, { to: string; on: string; state: string }[]>();
  const hasParent = new Set<string>();
  for (const e of g.edges) {
    const list = children.get(e.from) ?? [];
    list.push(e);
    children.set(e.from, list);
    hasParent.add(e.to);
  }
  const label = (id: string) => {
    const n = byId.get(id)!;
    return `${n.ref ?? n.name ?? id} [${n.status}] ${id}`;
  };
  const lines: string[] = [];
  const walk = (id: string, depth: number, via: string, path: Set<string>) => {
    lines.push(`${'  '.repeat(depth)}${via}${label(id)}`);
    if (path.has(id)) return;
    path.add(id);
    for (const e of children.get(id) ?? []) walk(e.to, depth + 1, `└─ (${e.on}, ${e.state}) `, path);
    path.delete(id);
  };
  for (const n of g.nodes) if (!hasParent.has(n.id)) walk(n.id, 0, '', new Set());
  if (g.truncated) lines.push('(truncated)');
  return lines;
}

interface BulkFlags {
  status?: string;
  queue?: string;
  type?: string;
  tag?: string;
  createdAfter?: string;
  createdBefore?: string;
  template?: string;
  reason?: string;
  json?: boolean;
}

function filterOf(f: BulkFlags): BulkFilterInput {
  const out: BulkFilterInput = {};
  if (f.status !== undefined) {
    if (!(JOB_STATUSES as readonly string[]).includes(f.status)) throw usage(`--status must be one of ${JOB_STATUSES.join(', ')}`, '--status');
    out.status = f.status as JobStatus;
  }
  if (f.type !== undefined) {
    if (!(JOB_TYPES as readonly string[]).includes(f.type)) throw usage(`--type must be one of ${JOB_TYPES.join(', ')}`, '--type');
    out.type = f.type as JobType;
  }
  if (f.queue !== undefined) out.queue = f.queue;
  if (f.tag !== undefined) out.tag = f.tag;
  if (f.createdAfter !== undefined) out.createdAfter = f.createdAfter;
  if (f.createdBefore !== undefined) out.createdBefore = f.createdBefore;
  if (f.template !== undefined) out.template = f.template;
  return out;
}

/** Adds `graph` and the bulk subcommands to the `jobs` command registered by registerJobs. */
export function registerWorkflowCommands(program: Command): void {
  const jobs = program.commands.find((c) => c.name() === 'jobs');
  if (!jobs) throw new Error('registerWorkflowCommands: register the jobs command first');

  jobs
    .command('graph')
    .description('show the dependency graph a job belongs to, as a tree')
    .argument('<id>', 'job id')
    .option('--json', 'print JSON')
    .action(async (id: string, flags: { json?: boolean }, cmd: Command) => {
      const g = await clientFor(cmd).jobGraph(id);
      if (flags.json) return printJson(g);
      process.stdout.write(`${graphLines(g).join('\n')}\n`);
    });

  for (const action of ['cancel', 'retry', 'delete'] as const) {
    const c = jobs
      .command(`bulk-${action}`)
      .description(`${action} every job matching the filter flags, or the ids given${action === 'delete' ? ' (only ended jobs are deleted)' : ''}`)
      .argument('[ids...]', 'job ids (instead of filter flags)')
      .option('--status <status>', 'only this status')
      .option('--queue <name>', 'only this queue')
      .option('--type <type>', 'only this type')
      .option('--tag <tag>', 'only jobs with this tag')
      .option('--created-after <iso>', 'only jobs created at or after this instant')
      .option('--created-before <iso>', 'only jobs created before this instant')
      .option('--template <ref>', 'only jobs from this template (name or name@version)')
      .option('--json', 'print JSON');
    if (action === 'cancel') c.option('--reason <text>', 'reason recorded on each cancelled job');
    c.action(async (ids: string[], flags: BulkFlags, cmd: Command) => {
      const filter = filterOf(flags);
      if (ids.length > 0 && Object.keys(filter).length > 0) throw usage('give ids or filter flags, not both');
      const res = await clientFor(cmd).bulk(action, {
        ...(ids.length > 0 ? { ids } : { filter }),
        ...(flags.reason !== undefined ? { reason: flags.reason } : {}),
      });
      if (flags.json) printJson(res);
      else process.stdout.write(`affected ${res.affected}, skipped ${res.skipped}\n`);
    });
  }
}

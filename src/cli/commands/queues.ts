/** `baton queues ...`: list queues with their counts, pause and resume them. */
import type { Command } from 'commander';
import type { QueueView } from '../../core/api.ts';
import { clientFor } from '../context.ts';
import { printJson, printTable } from '../output.ts';

/** Registers `baton queues` and its subcommands on the program. */
export function registerQueues(program: Command): void {
  const queues = program.command('queues').description('list, pause and resume queues');

  queues
    .command('ls', { isDefault: true })
    .description('list queues with their job counts by status')
    .option('--json', 'print JSON')
    .action(async (flags: { json?: boolean }, cmd: Command) => {
      const list = await clientFor(cmd).queues();
      if (flags.json) return printJson(list);
      printTable(
        ['NAME', 'STATE', 'PENDING', 'SCHEDULED', 'RUNNING', 'COMPLETED', 'FAILED', 'CANCELLED'],
        list.map((q) => [
          q.name,
          q.paused ? 'paused' : 'active',
          count(q, 'pending'),
          count(q, 'scheduled'),
          count(q, 'assigned') + count(q, 'running'),
          count(q, 'completed'),
          count(q, 'failed'),
          count(q, 'cancelled'),
        ]),
      );
    });

  for (const verb of ['pause', 'resume'] as const) {
    queues
      .command(verb)
      .description(verb === 'pause' ? 'stop dispatching jobs from a queue (running jobs go on)' : 'dispatch jobs from a paused queue again')
      .argument('<name>', 'queue name')
      .option('--json', 'print the queue as JSON')
      .action(async (name: string, flags: { json?: boolean }, cmd: Command) => {
        const client = clientFor(cmd);
        const q = verb === 'pause' ? await client.pauseQueue(name) : await client.resumeQueue(name);
        if (flags.json) printJson(q);
        else process.stdout.write(`${q.name} ${q.paused ? 'paused' : 'active'}\n`);
      });
  }
}

function count(q: QueueView, status: keyof QueueView['counts']): number {
  return q.counts[status] ?? 0;
}

/** `baton workers ...`: list registered workers and drain one. */
import type { Command } from 'commander';
import { clientFor } from '../context.ts';
import { printJson, printTable, shortTime } from '../output.ts';

/** Registers `baton workers` and its subcommands on the program. */
export function registerWorkers(program: Command): void {
  const workers = program.command('workers').description('list and drain workers');

  workers
    .command('ls', { isDefault: true })
    .description('list registered workers')
    .option('--json', 'print JSON')
    .action(async (flags: { json?: boolean }, cmd: Command) => {
      const list = await clientFor(cmd).workers();
      if (flags.json) return printJson(list);
      printTable(
        ['ID', 'NAME', 'STATUS', 'CAPACITY', 'QUEUES', 'TYPES', 'LABELS', 'LAST SEEN'],
        list.map((w) => [
          w.id,
          w.name,
          w.status,
          w.capacity,
          w.queues.join(','),
          w.types.join(','),
          Object.entries(w.labels).map(([k, v]) => `${k}=${v}`).join(',') || null,
          shortTime(w.lastSeenAt),
        ]),
      );
    });

  workers
    .command('drain')
    .description('ask a worker to finish its running jobs, take no more, and exit')
    .argument('<id>', 'worker id')
    .option('--json', 'print the worker as JSON')
    .action(async (id: string, flags: { json?: boolean }, cmd: Command) => {
      const w = await clientFor(cmd).drainWorker(id);
      if (flags.json) printJson(w);
      else {
        process.stdout.write(`${w.id} draining\n`);
        if (!w.notified) process.stderr.write('(the worker is not connected to this server; it is marked draining, so no server gives it new work)\n');
      }
    });
}

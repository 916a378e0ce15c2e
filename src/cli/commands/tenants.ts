/** `baton tenants ...`: list and create tenants (system admin tokens only). */
import type { Command } from 'commander';
import { clientFor } from '../context.ts';
import { printJson, printTable, shortTime } from '../output.ts';

/** Registers `baton tenants` and its subcommands on the program. */
export function registerTenants(program: Command): void {
  const tenants = program.command('tenants').description('list and create tenants (system admin only)');

  tenants
    .command('ls', { isDefault: true })
    .description('list tenants')
    .option('--json', 'print JSON')
    .action(async (flags: { json?: boolean }, cmd: Command) => {
      const list = await clientFor(cmd).listTenants();
      if (flags.json) return printJson(list);
      printTable(['ID', 'NAME', 'CREATED'], list.map((t) => [t.id, t.name, shortTime(t.createdAt)]));
    });

  tenants
    .command('create')
    .description('create a tenant')
    .requiredOption('--id <id>', 'tenant id (used in X-Baton-Tenant / --tenant)')
    .option('--name <name>', 'display name (default: the id)')
    .option('--json', 'print the tenant as JSON')
    .action(async (flags: { id: string; name?: string; json?: boolean }, cmd: Command) => {
      const t = await clientFor(cmd).createTenant({ id: flags.id, name: flags.name ?? flags.id });
      if (flags.json) printJson(t);
      else process.stdout.write(`${t.id}\n`);
    });
}

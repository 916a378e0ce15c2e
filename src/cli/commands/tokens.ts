/** `baton tokens ...`: list, create and revoke API tokens. */
import type { Command } from 'commander';
import { ROLES, type Role } from '../../core/types.ts';
import { clientFor, usage } from '../context.ts';
import { printJson, printTable, shortTime } from '../output.ts';

/** Registers `baton tokens` and its subcommands on the program. */
export function registerTokens(program: Command): void {
  const tokens = program.command('tokens').description('list, create and revoke API tokens');

  tokens
    .command('ls', { isDefault: true })
    .description('list tokens (never their secrets)')
    .option('--json', 'print JSON')
    .action(async (flags: { json?: boolean }, cmd: Command) => {
      const list = await clientFor(cmd).listTokens();
      if (flags.json) return printJson(list);
      printTable(
        ['ID', 'NAME', 'ROLE', 'TENANT', 'CREATED', 'LAST USED'],
        list.map((t) => [t.id, t.name, t.role + (t.system ? ' (system)' : ''), t.tenant, shortTime(t.createdAt), shortTime(t.lastUsedAt)]),
      );
    });

  tokens
    .command('create')
    .description('create a token and print its secret (shown only this once)')
    .requiredOption('--name <name>', 'a name for the token, unique in the tenant')
    .requiredOption('--role <role>', `one of ${ROLES.join(', ')}`)
    .option('--system', 'a system worker token (role worker, system admin only): its workers serve every tenant')
    .option('--json', 'print the token as JSON')
    .action(async (flags: { name: string; role: string; system?: boolean; json?: boolean }, cmd: Command) => {
      if (!(ROLES as readonly string[]).includes(flags.role)) throw usage(`--role must be one of ${ROLES.join(', ')}, got "${flags.role}"`, '--role');
      const t = await clientFor(cmd).createToken({ name: flags.name, role: flags.role as Role, ...(flags.system ? { system: true } : {}) });
      if (flags.json) return printJson(t);
      process.stdout.write(`${t.token}\n`);
      process.stderr.write(`token ${t.id} (${t.name}, ${t.role}) created; its secret above is not shown again\n`);
    });

  tokens
    .command('rm')
    .description('revoke a token at once')
    .argument('<id>', 'token id')
    .action(async (id: string, _flags: unknown, cmd: Command) => {
      await clientFor(cmd).deleteToken(id);
      process.stdout.write(`${id} revoked\n`);
    });
}

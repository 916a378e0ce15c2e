/** `baton audit`: read the tenant's audit log, newest first. */
import type { Command } from 'commander';
import { clientFor, parseIntFlag } from '../context.ts';
import { printJson, printTable, shortTime } from '../output.ts';

/** Registers `baton audit` on the program. */
export function registerAudit(program: Command): void {
  program
    .command('audit')
    .description('show the audit log, newest first')
    .option('--limit <n>', 'entries per page (default 50)')
    .option('--cursor <cursor>', 'continue from a previous page')
    .option('--json', 'print JSON (entries and nextCursor)')
    .action(async (flags: { limit?: string; cursor?: string; json?: boolean }, cmd: Command) => {
      const limit = flags.limit === undefined ? 50 : parseIntFlag('--limit', flags.limit, 1);
      const page = await clientFor(cmd).audit({ limit, cursor: flags.cursor });
      if (flags.json) return printJson(page);
      printTable(
        ['AT', 'ACTOR', 'ACTION', 'TARGET', 'TENANT'],
        page.entries.map((e) => [shortTime(e.at), e.actor, e.action, e.targetId === null ? e.targetType : `${e.targetType}/${e.targetId}`, e.tenant]),
      );
      if (page.nextCursor) process.stderr.write(`(more: --cursor ${page.nextCursor})\n`);
    });
}

/**
 * `baton migrate`: brings a store's schema up to date and exits. Servers also migrate on start
 * (under an advisory lock on PostgreSQL, so several starting together do not race); this command
 * lets a deploy run migrations as a separate step.
 */
import path from 'node:path';
import type { Command } from 'commander';

interface MigrateFlags {
  store?: string;
  dataDir?: string;
}

/** Registers `baton migrate` on the program. */
export function registerMigrate(program: Command): void {
  program
    .command('migrate')
    .description('apply pending store migrations and exit')
    .option('--store <url>', 'store: sqlite:PATH or postgres://... (BATON_STORE, default sqlite:<data dir>/baton.db)')
    .option('--data-dir <dir>', 'data directory of the embedded store (BATON_DATA_DIR, default ./data)')
    .action(async (flags: MigrateFlags) => {
      // Loaded on demand, like the server: client commands should not load store drivers.
      const { openStore } = await import('../../store/index.ts');
      const dataDir = path.resolve(flags.dataDir ?? process.env.BATON_DATA_DIR ?? './data');
      const url = flags.store ?? process.env.BATON_STORE ?? `sqlite:${path.join(dataDir, 'baton.db')}`;
      const store = await openStore(url);
      try {
        await store.migrate();
      } finally {
        await store.close();
      }
      process.stdout.write(`store is up to date: ${url.replace(/\/\/[^@/]*@/, '//***@')}\n`);
    });
}

/**
 * The `baton` program: builds the commander program from the command groups under commands/,
 * runs it, and turns every failure into one stderr line `error BATON_E_...: message` with exit
 * status 1 (2 for a usage mistake).
 */
import { Command, CommanderError } from 'commander';
import { isBatonClientError } from '../client/index.ts';
import { isBatonError } from '../core/errors.ts';
import { registerAudit } from './commands/audit.ts';
import { registerBench } from './commands/bench.ts';
import { registerDev } from './commands/dev.ts';
import { registerJobs } from './commands/jobs.ts';
import { registerMigrate } from './commands/migrate.ts';
import { registerQueues } from './commands/queues.ts';
import { registerSchedules } from './commands/schedules.ts';
import { registerServer } from './commands/server.ts';
import { registerSubmit } from './commands/submit.ts';
import { registerTemplates } from './commands/templates.ts';
import { registerTenants } from './commands/tenants.ts';
import { registerTokens } from './commands/tokens.ts';
import { registerWorker } from './commands/worker.ts';
import { registerWorkers } from './commands/workers.ts';
import { registerWorkflowCommands } from './commands/workflows.ts';
import { DEFAULT_URL, resolveConnection } from './context.ts';
import { formatError } from './output.ts';

/** Builds the whole `baton` program. Exported so tests can inspect its commands and flags. */
export function buildProgram(): Command {
  const program = new Command('baton');
  program
    .description('Baton: a distributed job scheduler')
    .version('0.1.0', '-V, --version')
    .option('--url <url>', `Baton server URL (BATON_URL, default ${DEFAULT_URL})`)
    .option('--token <token>', 'API token (BATON_TOKEN, default: the admin token file $BATON_DATA_DIR/admin-token)')
    .option('--tenant <id>', 'act in this tenant (BATON_TENANT; system admin tokens only)')
    .showSuggestionAfterError(true)
    // Settings above are copied to every subcommand created after this point.
    .exitOverride()
    .configureOutput({ outputError: () => {} });
  registerServer(program);
  registerWorker(program);
  registerDev(program);
  registerMigrate(program);
  registerSubmit(program);
  registerJobs(program);
  registerWorkflowCommands(program);
  registerTemplates(program);
  registerSchedules(program);
  registerQueues(program);
  registerWorkers(program);
  registerTokens(program);
  registerTenants(program);
  registerAudit(program);
  registerBench(program);
  return program;
}

/** Runs `baton` with `argv` (without node and script) and returns the exit status. */
export async function run(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (e) {
    return reportError(e, program);
  }
}

/** Prints one error line (and a hint when it helps) and returns the exit status. */
function reportError(e: unknown, program: Command): number {
  if (e instanceof CommanderError) {
    if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version') return 0;
    // `baton jobs` style help for a group without a default has been printed already.
    if (e.code === 'commander.help' || e.code === 'commander.executeSubCommandAsync') return 2;
    process.stderr.write(`${formatError('BATON_E_CLI_USAGE', e.message.replace(/^error: /, ''))}\n(run with --help for usage)\n`);
    return 2;
  }
  if (isBatonError(e)) {
    process.stderr.write(`${formatError(e.code, e.message, e.field)}\n`);
    return e.code === 'BATON_E_CLI_USAGE' ? 2 : 1;
  }
  if (isBatonClientError(e)) {
    process.stderr.write(`${formatError(e.code, e.message, e.field)}\n`);
    if (e.code === 'BATON_E_UNAUTHENTICATED') {
      const conn = resolveConnection(program.opts());
      if (conn.token === null) process.stderr.write('hint: pass --token or set BATON_TOKEN (or BATON_DATA_DIR to find the admin-token file)\n');
    }
    return 1;
  }
  const message = e instanceof Error ? e.message : String(e);
  process.stderr.write(`${formatError('BATON_E_INTERNAL', message)}\n`);
  if (process.env.BATON_DEBUG && e instanceof Error && e.stack) process.stderr.write(`${e.stack}\n`);
  return 1;
}

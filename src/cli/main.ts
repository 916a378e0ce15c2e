/**
 * Entry of the `baton` command (loaded by bin/baton.js): runs the program with the process's
 * arguments and sets the exit status. Everything else lives in program.ts so tests can import it.
 */
import { run } from './program.ts';

// `baton jobs logs -f ID | head` closes our stdout early: that is the reader's choice, not an error.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw e;
});

process.exitCode = await run(process.argv.slice(2));

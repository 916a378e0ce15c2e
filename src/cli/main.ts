/**
 * Entry of the `baton` command (loaded by bin/baton.js): runs the program with the process's
 * arguments and sets the exit status. Everything else lives in program.ts so tests can import it.
 */
import { run } from './program.ts';

process.exitCode = await run(process.argv.slice(2));

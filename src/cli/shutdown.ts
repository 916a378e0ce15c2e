/**
 * Signal handling of the long-running commands (server, worker, dev): the first SIGINT or
 * SIGTERM starts a graceful stop, a second one asks for a stop right now.
 */

/** What to do on the first and on a second signal. */
export interface ShutdownSteps {
  /** Graceful stop (drain, close). Its end ends the command. */
  graceful(signal: NodeJS.Signals): Promise<void>;
  /** Stop now; default: exit at once with status 1. */
  immediate?(signal: NodeJS.Signals): Promise<void>;
}

/**
 * Resolves once the command has stopped after a signal, or when `ended` resolves (the service
 * stopped by itself, e.g. a worker drained through the API). Errors of the graceful step are
 * reported on stderr and make the exit status 1.
 */
export function untilSignalled(steps: ShutdownSteps, ended?: Promise<void>): Promise<void> {
  return new Promise((resolve) => {
    let signalled = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (signalled) {
        process.stderr.write(`${signal} again: stopping now\n`);
        process.exitCode = 1;
        if (!steps.immediate) process.exit(1);
        void steps.immediate(signal).then(done, (e: unknown) => {
          process.stderr.write(`error during stop: ${(e as Error).message}\n`);
          process.exit(1);
        });
        return;
      }
      signalled = true;
      process.stderr.write(`${signal}: stopping (send it again to stop now)\n`);
      steps.graceful(signal).then(done, (e: unknown) => {
        process.stderr.write(`error during stop: ${(e as Error).message}\n`);
        process.exitCode = 1;
        done();
      });
    };
    const done = () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      resolve();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    void ended?.then(done);
  });
}

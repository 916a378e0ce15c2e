/**
 * `container` jobs are reserved for the isolation work. This worker does not advertise the
 * type; should the server assign one anyway, the attempt fails with a clear reason instead of
 * hanging or crashing the worker.
 */
import type { ExecOutcome, Executor } from './types.ts';

/** Fails every container attempt: this worker has no container runtime integration yet. */
export class ContainerUnsupportedExecutor implements Executor {
  readonly type = 'container' as const;

  async execute(): Promise<ExecOutcome> {
    return { ok: false, error: { code: 'BATON_E_EXECUTION_FAILED', message: 'container jobs are not supported by this worker yet' } };
  }
}

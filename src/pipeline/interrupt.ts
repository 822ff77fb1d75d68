import type { HostLike } from './phase.js';
import { runPipeline, type RunPipelineOptions, type RunResult } from './runner.js';

/**
 * Ctrl-C / SIGTERM as an AbortSignal for runPipeline: the first signal cancels (running phases see the
 * abort, cleanups run, the run fails with fault 'cancelled', exit 130); a second one exits at once.
 */
export interface Interrupt {
  readonly signal: AbortSignal;
  /** Removes the process signal handlers. */
  dispose(): void;
}

export function abortOnInterrupt(
  onSecond: (signal: NodeJS.Signals) => void = () => process.exit(130),
): Interrupt {
  const controller = new AbortController();
  const handler = (signal: NodeJS.Signals) => {
    if (controller.signal.aborted) onSecond(signal);
    else controller.abort(signal);
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return {
    signal: controller.signal,
    dispose: () => {
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
    },
  };
}

/** runPipeline with Ctrl-C and SIGTERM wired to its signal: what every command that reaches hosts wants. */
export async function runInterruptible<S, H extends HostLike>(
  opts: Omit<RunPipelineOptions<S, H>, 'signal'>,
): Promise<RunResult> {
  const interrupt = abortOnInterrupt();
  try {
    return await runPipeline({ ...opts, signal: interrupt.signal });
  } finally {
    interrupt.dispose();
  }
}

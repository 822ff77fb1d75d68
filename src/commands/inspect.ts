/** What status and verify share: load the file, read every host through the pipeline, report on stderr. */
import { formatDiagnostic } from '../config/diagnostics.js';
import { loadCluster } from '../config/load.js';
import type { Host } from '../config/types.js';
import { createReporters, runInterruptible, type Phase } from '../pipeline/index.js';
import { assertLockHeld } from '../apply/state.js';
import { newInspectState, type InspectOptions, type InspectState } from '../verify/state.js';
import { lockOwner, sshSettingsOf, type RunOptions } from './run-options.js';

export async function inspect(
  file: string,
  opts: RunOptions,
  command: string,
  phases: readonly Phase<InspectState, Host>[],
  options?: InspectOptions,
): Promise<{ state: InspectState; format: 'logfmt' | 'json' | 'tty' }> {
  const { cluster, warnings } = loadCluster(file);
  for (const w of warnings) process.stderr.write(formatDiagnostic(w) + '\n');
  // Progress goes to stderr: stdout carries only the result (a table, or one JSON document).
  const { reporters, format } = createReporters({
    output: opts.output,
    color: opts.color && !process.env.NO_COLOR,
    debug: opts.debug,
    command,
    stream: process.stderr,
  });
  const state = newInspectState(cluster, sshSettingsOf(opts), lockOwner(command), options);
  await runInterruptible({
    phases,
    hosts: cluster.controllers,
    state,
    concurrency: opts.concurrency,
    reporters,
    secrets: cluster.secrets,
    beforePhase: () => assertLockHeld(state),
  });
  return { state, format };
}

import type { Command } from 'commander';
import { applyPhases } from '../flows/apply.js';
import { assertLockHeld, newApplyState } from '../apply/state.js';
import { formatDiagnostic } from '../config/diagnostics.js';
import { loadCluster } from '../config/load.js';
import { DEFAULT_LOCK_TTL_SECONDS } from '../lock/host-lock.js';
import { runInterruptible } from '../pipeline/index.js';
import { addRunOptions, lockOwner, reportersOf, sshSettingsOf, type RunOptions } from './run-options.js';
import { localAgentSha256 } from '../apply/agent-artifacts.js';

interface ApplyOptions extends RunOptions {
  dryRun: boolean;
}

export function registerApply(program: Command): void {
  const cmd = program
    .command('apply')
    .description(
      'Deploy keepalived, the node agent and the iptables rules to every controller, then verify one VIP holder.',
    )
    .argument('[file]', 'cluster file (native or k0sctl.yaml)', 'cluster.yaml')
    .option('--dry-run', 'connect, gather facts and plan; print what would change; change nothing', false);
  addRunOptions(cmd).addHelpText(
    'after',
    `
Examples:
  cplbctl apply                                  # ./cluster.yaml
  cplbctl apply --dry-run k0sctl.yaml            # diff per host, nothing changes
  cplbctl apply -o json --known-hosts ./known_hosts cluster.yaml

Exit codes: 0 done and verified, 1 a host failed, 2 bad config or the hosts do not fit it
(nothing changed), 3 deployed but not healthy, 130 cancelled.`,
  );
  cmd.action(async (file: string, opts: ApplyOptions) => {
    const { cluster, warnings } = loadCluster(file);
    for (const w of warnings) process.stderr.write(formatDiagnostic(w) + '\n');
    const { reporters, format } = reportersOf(opts, 'apply');
    const state = newApplyState(
      cluster,
      sshSettingsOf(opts),
      lockOwner(opts.dryRun ? 'apply --dry-run' : 'apply'),
      opts.dryRun,
      DEFAULT_LOCK_TTL_SECONDS,
      await localAgentSha256(),
    );
    await runInterruptible({
      phases: applyPhases,
      hosts: cluster.controllers,
      state,
      dryRun: opts.dryRun,
      concurrency: opts.concurrency,
      reporters,
      secrets: cluster.secrets,
      beforePhase: () => assertLockHeld(state),
    });
    if (opts.dryRun && state.diff) {
      if (format === 'json')
        process.stdout.write(JSON.stringify({ type: 'plan-diff', ...state.diff }) + '\n');
      else for (const h of state.diff.hosts) if (h.patch) process.stdout.write(h.patch);
    }
  });
}

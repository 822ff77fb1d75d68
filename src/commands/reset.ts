import type { Command } from 'commander';
import { resetPhases } from '../flows/reset.js';
import { assertLockHeld, newApplyState } from '../apply/state.js';
import { formatDiagnostic } from '../config/diagnostics.js';
import { loadCluster } from '../config/load.js';
import { CplbError } from '../core/errors.js';
import { DEFAULT_LOCK_TTL_SECONDS } from '../lock/host-lock.js';
import { runInterruptible } from '../pipeline/index.js';
import { addRunOptions, lockOwner, reportersOf, sshSettingsOf, type RunOptions } from './run-options.js';

interface ResetOptions extends RunOptions {
  dryRun: boolean;
  force: boolean;
}

export function registerReset(program: Command): void {
  const cmd = program
    .command('reset')
    .description(
      'Stop cplb-agent and remove everything apply installed from every controller: the VIPs go away.',
    )
    .argument('[file]', 'cluster file (native or k0sctl.yaml)', 'cluster.yaml')
    .option('--dry-run', 'connect and say what would be removed; change nothing', false)
    .option('--force', 'really remove it (there is no prompt: this flag is the confirmation)', false);
  addRunOptions(cmd).addHelpText(
    'after',
    `
Per host: stops the agent (which hands its VIP over and removes its iptables rules), removes the
service, then anything a dead agent left (keepalived, the CPLB chains and their jumps, a VIP still on an
interface), and /etc/cplb, /usr/local/lib/cplb, /run/cplb and the agent's log. Hosts that hold no
VIP go first, holders last. Packages apply installed (keepalived, iptables) stay. Then it checks:
anything still there fails the host, and a re-run picks up where it stopped.

Examples:
  cplbctl reset --dry-run cluster.yaml
  cplbctl reset --force cluster.yaml

Exit codes: 0 removed, 1 a host failed or kept something, 2 bad config or usage (no --force),
130 cancelled.`,
  );
  cmd.action(async (file: string, opts: ResetOptions) => {
    const { cluster, warnings } = loadCluster(file);
    for (const w of warnings) process.stderr.write(formatDiagnostic(w) + '\n');
    if (!opts.force && !opts.dryRun)
      throw new CplbError('reset removes cplb from every controller, and the VIPs with it', {
        code: 'USAGE',
        fault: 'usage',
        hint: 'add --force to do it, or --dry-run to see what it would remove',
      });
    const { reporters } = reportersOf(opts, 'reset');
    const state = newApplyState(
      cluster,
      sshSettingsOf(opts),
      lockOwner(opts.dryRun ? 'reset --dry-run' : 'reset'),
      opts.dryRun,
      DEFAULT_LOCK_TTL_SECONDS,
    );
    await runInterruptible({
      phases: resetPhases,
      hosts: cluster.controllers,
      state,
      dryRun: opts.dryRun,
      concurrency: opts.concurrency,
      reporters,
      secrets: cluster.secrets,
      beforePhase: () => assertLockHeld(state),
    });
  });
}

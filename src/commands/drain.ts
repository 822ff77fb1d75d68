/** `cplbctl drain HOST [FILE]` and `cplbctl uncordon HOST [FILE]`, kubectl's words for it. */
import type { Command } from 'commander';
import { formatDiagnostic } from '../config/diagnostics.js';
import { loadCluster } from '../config/load.js';
import { drainPhases } from '../flows/drain.js';
import { assertLockHeld } from '../apply/state.js';
import { runInterruptible } from '../pipeline/index.js';
import { newInspectState, type DrainOutcome, type DrainRequest } from '../verify/state.js';
import { addRunOptions, lockOwner, reportersOf, sshSettingsOf, type RunOptions } from './run-options.js';

interface DrainOptions extends RunOptions {
  force?: boolean;
}

const HOST_HELP =
  'the controller: its address, address:port, the hostname `cplbctl status` shows, or an ~/.ssh/config alias';

export function registerDrain(program: Command): void {
  const drain = program
    .command('drain')
    .description('Move every VIP off a controller and keep it off (for maintenance) until `uncordon`.')
    .argument('<host>', HOST_HELP)
    .argument('[file]', 'cluster file (native or k0sctl.yaml)', 'cluster.yaml')
    .option('--force', 'drain it even when no other controller could hold the VIPs (they go down)', false);
  addRunOptions(drain).addHelpText(
    'after',
    `
Writes /etc/cplb/drained on the host. Its agent sees it within a second and puts keepalived's track
file to FAULT: keepalived drops the VIPs and sends a priority-0 advert, so a peer takes them over at
once, and the host takes none while the file exists (an agent restart, an apply and a reboot keep
it; reset removes it). Waits until the host holds no VIP and another holds each, then prints who.
Takes the host lock, like apply. Running it again changes nothing.

Examples:
  cplbctl drain 10.0.0.11 cluster.yaml
  cplbctl drain ctl1 k0sctl.yaml && ssh ctl1 reboot

Exit codes: 0 drained (VIPs held elsewhere), 1 a host failed or the VIPs did not move in time,
2 bad config or usage, an unknown HOST, or HOST is the last host that could hold the VIPs (nothing
changed; --force overrides), 130 cancelled.`,
  );
  drain.action((host: string, file: string, opts: DrainOptions) =>
    run({ action: 'drain', query: host, force: opts.force === true }, file, opts),
  );

  const uncordon = program
    .command('uncordon')
    .description('Let a drained controller hold VIPs again; it takes none back from a healthy holder.')
    .argument('<host>', HOST_HELP)
    .argument('[file]', 'cluster file (native or k0sctl.yaml)', 'cluster.yaml');
  addRunOptions(uncordon).addHelpText(
    'after',
    `
Removes /etc/cplb/drained and waits until the host's agent no longer reports drained. Every
controller has the same VRRP priority, so the host becomes BACKUP and takes a VIP only when its
holder gives it up. Running it again changes nothing.

Exit codes: 0 done, 1 a host failed, 2 bad config or usage or an unknown HOST, 130 cancelled.`,
  );
  uncordon.action((host: string, file: string, opts: DrainOptions) =>
    run({ action: 'uncordon', query: host, force: false }, file, opts),
  );
}

async function run(req: DrainRequest, file: string, opts: DrainOptions): Promise<void> {
  const { cluster, warnings } = loadCluster(file);
  for (const w of warnings) process.stderr.write(formatDiagnostic(w) + '\n');
  const { reporters, format } = reportersOf(opts, req.action);
  const state = newInspectState(cluster, sshSettingsOf(opts), lockOwner(`${req.action} ${req.query}`), {
    localProbe: false,
    drain: req,
  });
  try {
    await runInterruptible({
      phases: drainPhases,
      hosts: cluster.controllers,
      state,
      concurrency: opts.concurrency,
      reporters,
      secrets: cluster.secrets,
      beforePhase: () => assertLockHeld(state),
    });
  } finally {
    // Printed on a timeout too: where the VIPs are is what the operator needs then.
    if (state.drain) printOutcome(state.drain, format === 'json');
  }
}

function printOutcome(o: DrainOutcome, json: boolean): void {
  if (json) {
    process.stdout.write(JSON.stringify({ type: 'drain-result', ...o }) + '\n');
    return;
  }
  const what =
    o.action === 'drain'
      ? o.changed
        ? `${o.host} drained${o.handOffMs !== undefined ? ` (VIPs moved in ${(o.handOffMs / 1000).toFixed(2)} s)` : ''}`
        : `${o.host} was already drained`
      : o.changed
        ? `${o.host} uncordoned: it may hold a VIP again`
        : `${o.host} was not drained`;
  const lines = [
    what,
    ...o.vips.map((v) => `VIP ${v.vip} (${v.instance}): held by ${v.holders.join(', ') || 'no host'}`),
  ];
  process.stdout.write(lines.join('\n') + '\n');
}

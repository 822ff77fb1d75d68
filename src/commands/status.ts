import type { Command } from 'commander';
import { CplbError } from '../core/errors.js';
import { clusterReport } from '../verify/host-report.js';
import { statusPhases } from '../flows/inspect.js';
import { reachableHosts } from '../verify/state.js';
import { renderStatus } from '../verify/status-table.js';
import { inspect } from './inspect.js';
import { addRunOptions, type RunOptions } from './run-options.js';

export function registerStatus(program: Command): void {
  const cmd = program
    .command('status')
    .description(
      'Show each controller: VRRP state and VIPs held, agent and API server health, REDIRECT rule, config drift, restarts.',
    )
    .argument('[file]', 'cluster file (native or k0sctl.yaml)', 'cluster.yaml');
  addRunOptions(cmd).addHelpText(
    'after',
    `
Reads only. One SSH round trip per host after the facts: the agent's status, plus what \`ip addr\`,
the nat table, \`ss\` and sha256sum say independently of the agent. CONFIG compares the files on the
host, and the hashes the agent says it loaded, with what the cluster file renders for that host.
Unreachable hosts are rows, not errors. The table (or, with -o json, one JSON document) goes to
stdout; progress goes to stderr.

Examples:
  cplbctl status cluster.yaml
  cplbctl status -o json cluster.yaml | jq '.vips'

Exit codes: 0 printed, whatever the cluster's health (gate on \`cplbctl verify\`), 1 no controller
could be reached, 2 bad config or usage, 130 cancelled.`,
  );
  cmd.action(async (file: string, opts: RunOptions) => {
    const { state, format } = await inspect(file, opts, 'status', statusPhases);
    const report = clusterReport(state);
    process.stdout.write(format === 'json' ? JSON.stringify(report) + '\n' : renderStatus(report));
    if (reachableHosts(state).length === 0)
      throw new CplbError('no controller could be reached', {
        code: 'NO_HOST_REACHABLE',
        fault: 'remote',
        hint: 'check the addresses, ports and keys in the cluster file, and --known-hosts',
      });
  });
}

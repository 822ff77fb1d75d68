/** Why a VIP has no holder or several: the lines an operator would otherwise dig for by hand. */
import type { ApplyState } from '../apply/state.js';
import { hostPlanOf, remoteOf } from '../apply/state.js';
import { AGENT_LOG } from '../contract/paths.js';
import { holdersOf, type HostStatus } from './agent-status.js';

const LOG_LINES = 15;

export async function diagnoseHolders(state: ApplyState, statuses: readonly HostStatus[]): Promise<string[]> {
  const out: string[] = [];
  const holders = holdersOf(state.cluster, statuses);
  if (holders.some((h) => h.holders.length > 1)) {
    const multicast = state.cluster.cplb.vrrpInstances.some((i) => !i.unicastSources);
    out.push(
      'several holders mean the VRRP adverts do not reach the other controllers' +
        (multicast
          ? ': multicast (224.0.0.18, IP protocol 112) may be blocked between them; allow it, or switch to unicast (unicastSourceIP + unicastPeers)'
          : ': check that IP protocol 112 passes between the unicast addresses') +
        '. Another VRRP router with the same virtualRouterID but another password would also split them.',
    );
  }
  if (holders.some((h) => h.holders.length === 0)) {
    out.push('no holder: the last lines of keepalived on each controller follow');
    await Promise.all(
      state.cluster.controllers.map(async (host) => {
        const hp = hostPlanOf(state, host);
        const cmd =
          hp.init === 'systemd'
            ? `journalctl -u cplb-agent -n 200 --no-pager 2>/dev/null | grep component=keepalived | tail -n ${LOG_LINES}`
            : `grep component=keepalived ${AGENT_LOG} 2>/dev/null | tail -n ${LOG_LINES}`;
        const res = await remoteOf(state, host)
          .exec(cmd, { allowFailure: true, timeoutMs: 10_000 })
          .catch(() => undefined);
        const lines = res?.stdout.trim();
        out.push(
          `[${host.name}] ${lines ? '\n    ' + lines.split('\n').join('\n    ') : '(no keepalived lines in the agent log)'}`,
        );
      }),
    );
  }
  return out;
}

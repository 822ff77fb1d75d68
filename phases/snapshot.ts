import type { Host } from '../src/config/types.js';
import { perHost } from '../src/pipeline/index.js';
import { AGENT_CONFIG, KEEPALIVED_CONF } from '../src/contract/paths.js';
import { plannedTextFiles } from '../src/verify/drift.js';
import { readSnapshot } from '../src/verify/host-snapshot.js';
import type { InspectState } from '../src/verify/state.js';

/**
 * One round trip per host: agent status, addresses, nat table, listeners, file hashes, keepalived pids.
 * Run it through `tolerant(..., reachableHosts)`: a host whose facts failed still gets a snapshot.
 */
export const snapshotPhase = perHost<InspectState, Host>({
  title: 'Read the state of each host',
  readOnly: true,
  async run(host, ctx) {
    const { state } = ctx;
    const hp = state.plan?.hosts.find((h) => h.host === host.name);
    const files = hp ? plannedTextFiles(hp).map((f) => f.path) : [AGENT_CONFIG, KEEPALIVED_CONF];
    const snap = await readSnapshot(state.remotes.get(host.name)!, {
      backend: state.facts.get(host.name)?.iptables.backend,
      ipv6: state.cluster.cplb.vrrpInstances.some((i) => i.vips.some((v) => v.family === 6)),
      files,
    });
    state.snapshots.set(host.name, snap);
    if (!snap.agent.ok) ctx.log.warn(`agent status unavailable: ${snap.agent.error}`);
  },
});

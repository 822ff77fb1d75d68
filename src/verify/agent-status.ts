/** What "exactly one holder" means, over each controller's agent status. */
import type { AgentStatus } from '../contract/status.js';
import type { Cluster } from '../config/types.js';
import type { ApplyState } from '../apply/state.js';
import { AGENT_CONFIG, KEEPALIVED_CONF } from '../contract/paths.js';
import { everyVip, maxAdvertSeconds } from '../config/cluster.js';

export type HostStatus =
  { host: string; ok: true; status: AgentStatus } | { host: string; ok: false; error: string };

export interface VipHolders {
  vip: string;
  instance: string;
  holders: string[];
}

export function holdersOf(cluster: Cluster, statuses: readonly HostStatus[]): VipHolders[] {
  return everyVip(cluster).map(({ instance, vip }) => ({
    vip: vip.address,
    instance: instance.name,
    holders: statuses
      .filter((s) => s.ok && s.status.vips.some((x) => x.address === vip.address && x.held))
      .map((s) => s.host),
  }));
}

/** "exactly one holder per VIP and every agent healthy (or drained)", or what is wrong. */
export function judge(
  cluster: Cluster,
  statuses: readonly HostStatus[],
): { ok: boolean; problems: string[] } {
  const problems: string[] = [];
  for (const s of statuses) {
    if (!s.ok) problems.push(`[${s.host}] agent status unavailable: ${s.error}`);
    // A drained agent gives the VIP up on purpose (cplbctl drain): apply keeps the drain and passes.
    else if (!s.status.health.ok && !s.status.health.drained)
      problems.push(`[${s.host}] agent unhealthy: ${s.status.health.reason}`);
  }
  for (const h of holdersOf(cluster, statuses)) {
    if (h.holders.length === 0) problems.push(`VIP ${h.vip} (${h.instance}) is held by no host`);
    else if (h.holders.length > 1)
      problems.push(
        `VIP ${h.vip} (${h.instance}) is held by ${h.holders.length} hosts: ${h.holders.join(', ')}`,
      );
  }
  return { ok: problems.length === 0, problems };
}

/**
 * Hosts whose agent does not yet run the files the plan switched in. A reload is a signal: until the
 * agent reports the planned hashes, holders seen are the old configuration's (a new router ID drops
 * the VIP only once keepalived has reloaded), and a verdict on them would be premature.
 */
export function notYetReloaded(state: ApplyState, statuses: readonly HostStatus[]): string[] {
  const short = (path: string, host: string) =>
    state.plan?.hosts
      .find((h) => h.host === host)
      ?.files.find((f) => f.path === path)
      ?.sha256?.slice(0, 16);
  return statuses.flatMap((s) => {
    if (!s.ok) return [];
    const agent = short(AGENT_CONFIG, s.host);
    const keepalived = short(KEEPALIVED_CONF, s.host);
    const stale = [
      agent && s.status.agent.configHash !== agent ? 'agent.json' : '',
      keepalived && s.status.agent.keepalivedConfigHash !== keepalived ? 'keepalived.conf' : '',
    ].filter(Boolean);
    return stale.length ? [`[${s.host}] the agent does not run the new ${stale.join(' and ')} yet`] : [];
  });
}

/** Election takes 3 adverts plus skew after a start; give it that plus room for a slow host. */
export function verifyTimeoutMs(state: ApplyState): number {
  const advert = maxAdvertSeconds(state.cluster);
  return Math.round((3 * advert + 1) * 1000) + 15_000;
}

/**
 * A just (re)started agent is ready for the next step of a rollout once keepalived runs and every
 * VRRP instance is BACKUP or MASTER: only then does it hear the holder's priority-0 advert and take
 * the VIP within the skew time. Before (keepalived not yet started, or still in its init), a holder
 * that stops leaves the VIP unheld for a whole master-down interval. An unhealthy agent (FAULT) is
 * settled too: it will not take a VIP, and waiting would not change that.
 */
export function readyForHandOff(status: AgentStatus): { ready: boolean; state: string } {
  const states = status.instances.map((i) => `${i.name} ${i.state}`).join(', ') || 'no instance';
  if (!status.health.ok) return { ready: true, state: `unhealthy: ${status.health.reason}` };
  if (!status.keepalived.running) return { ready: false, state: 'keepalived not running' };
  const ready = status.instances.every((i) => i.state === 'BACKUP' || i.state === 'MASTER');
  return { ready, state: states };
}

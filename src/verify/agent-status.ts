/** What "exactly one holder" means, over each controller's agent status. */
import type { AgentStatus } from '../contract/status.js';
import type { Cluster } from '../config/types.js';

export type HostStatus =
  { host: string; ok: true; status: AgentStatus } | { host: string; ok: false; error: string };

export interface VipHolders {
  vip: string;
  instance: string;
  holders: string[];
}

export function holdersOf(cluster: Cluster, statuses: readonly HostStatus[]): VipHolders[] {
  return cluster.cplb.vrrpInstances.flatMap((inst) =>
    inst.vips.map((v) => ({
      vip: v.address,
      instance: inst.name,
      holders: statuses
        .filter((s) => s.ok && s.status.vips.some((x) => x.address === v.address && x.held))
        .map((s) => s.host),
    })),
  );
}

/** "exactly one holder per VIP and every agent healthy", or what is wrong. */
export function judge(
  cluster: Cluster,
  statuses: readonly HostStatus[],
): { ok: boolean; problems: string[] } {
  const problems: string[] = [];
  for (const s of statuses) {
    if (!s.ok) problems.push(`[${s.host}] agent status unavailable: ${s.error}`);
    else if (!s.status.health.ok) problems.push(`[${s.host}] agent unhealthy: ${s.status.health.reason}`);
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

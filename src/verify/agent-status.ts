/** Reading each controller's agent status over SSH, and what "exactly one holder" means. */
import type { AgentStatus } from '../agent/status.js';
import type { Cluster } from '../config/types.js';
import type { HostPlan } from '../plan/plan.js';
import { AGENT_BIN, AGENT_JS, STATUS_SOCKET } from '../render/paths.js';
import type { Remote } from '../ssh/remote.js';
import { shJoin } from '../ssh/quote.js';

export function statusCommand(packaging: HostPlan['packaging'], nodePath = 'node'): string {
  const head = packaging === 'sea' ? [AGENT_BIN] : [nodePath, AGENT_JS];
  return shJoin([...head, 'status', '--socket', STATUS_SOCKET]);
}

export type HostStatus =
  { host: string; ok: true; status: AgentStatus } | { host: string; ok: false; error: string };

export async function readAgentStatus(remote: Remote, command: string): Promise<HostStatus> {
  const res = await remote.exec(command, { allowFailure: true, timeoutMs: 10_000 });
  if (res.exitCode !== 0)
    return {
      host: remote.name,
      ok: false,
      error: (res.stderr || res.stdout).trim().split('\n').slice(-3).join(' / '),
    };
  try {
    return { host: remote.name, ok: true, status: JSON.parse(res.stdout) as AgentStatus };
  } catch {
    return { host: remote.name, ok: false, error: `unreadable status: ${res.stdout.slice(0, 200)}` };
  }
}

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

/** apply's last check over the agents' status: one holder per VIP, every agent healthy or drained. */
import { describe, expect, it } from 'vitest';
import type { AgentStatus } from '../../src/contract/status.js';
import { judge, type HostStatus } from '../../src/verify/agent-status.js';
import { clusterYaml, hostName, HOSTS, loadCluster, SCENARIOS } from './plan-fixtures.js';

const cluster = loadCluster(clusterYaml(SCENARIOS.multicast));
const VIP = cluster.cplb.vrrpInstances[0]!.vips[0]!.address;

function agent(n: number, held: boolean, health: AgentStatus['health']): HostStatus {
  const status = {
    health,
    vips: [{ address: VIP, prefix: 24, instanceName: 'k0s-vip-0', held }],
  } as unknown as AgentStatus;
  return { host: hostName(n), ok: true, status };
}
const healthy = { ok: true, reason: '3 healthy upstream(s)', trackFileValue: 0 };

describe('judge (apply: exactly one holder, every agent healthy)', () => {
  it('a drained agent is not unhealthy: a re-apply keeps a drain and passes', () => {
    const [a, b, c] = HOSTS;
    const drained = { ok: false, reason: 'drained', trackFileValue: 1, drained: true };
    expect(
      judge(cluster, [agent(a!, false, drained), agent(b!, true, healthy), agent(c!, false, healthy)]),
    ).toEqual({ ok: true, problems: [] });
  });

  it('still fails an unhealthy agent, and no holder when every other is drained', () => {
    const [a, b] = HOSTS;
    const sick = { ok: false, reason: 'no healthy upstream', trackFileValue: 1 };
    const drained = { ok: false, reason: 'drained', trackFileValue: 1, drained: true };
    expect(judge(cluster, [agent(a!, false, drained), agent(b!, false, sick)]).problems).toEqual([
      `[${hostName(b!)}] agent unhealthy: no healthy upstream`,
      `VIP ${VIP} (k0s-vip-0) is held by no host`,
    ]);
  });
});

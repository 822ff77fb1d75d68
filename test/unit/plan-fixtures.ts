/**
 * Lab-like inputs for the planner tests: three controllers with two NICs each (the default route on
 * the second, eth1, as in the lab), plus cluster files for each golden scenario.
 */
import { expect } from 'vitest';
import { loadClusterText } from '../../src/config/load.js';
import type { Cluster } from '../../src/config/types.js';
import type { HostFacts } from '../../src/plan/facts.js';
import type { InitSystem } from '../../src/contract/paths.js';

export const HOSTS = [11, 12, 13];
export const hostName = (n: number) => `198.18.0.${n}:22`;

export interface FactsOptions {
  init?: InitSystem;
  arch?: string;
  vipsHeld?: string[];
  agentRunning?: boolean;
  clockOffsetMs?: number;
}

/** Facts as parseFactsOutput returns them for a lab host (addresses after the VIP filter). */
export function labFacts(n: number, o: FactsOptions = {}): HostFacts {
  const local = 1_790_000_000_000;
  return {
    host: hostName(n),
    hostname: `ctl${n - 10}`,
    os: { id: 'debian', idLike: [], versionId: '12', prettyName: 'Debian GNU/Linux 12 (bookworm)' },
    init: o.init ?? 'systemd',
    arch: o.arch ?? 'x86_64',
    node: { present: true, path: '/usr/bin/node', version: '20.20.2' },
    keepalived: { present: true, path: '/usr/sbin/keepalived', version: '2.2.7' },
    iptables: { present: true, path: '/usr/sbin/iptables', version: '1.8.9', backend: 'nft' },
    ip6tables: { present: true, path: '/usr/sbin/ip6tables', version: '1.8.9' },
    probeTools: ['tcpdump', 'arping', 'ndisc6', 'ping'],
    packageManager: 'apt',
    interfaces: [
      {
        name: 'lo',
        mac: '00:00:00:00:00:00',
        up: true,
        addresses: [{ address: '127.0.0.1', prefix: 8, family: 4, scope: 'host' }],
        vipsHeld: [],
      },
      {
        name: 'eth0',
        mac: `52:54:00:cb:00:${n}`,
        up: true,
        addresses: [{ address: `198.18.1.${n}`, prefix: 24, family: 4, scope: 'global' }],
        vipsHeld: [],
      },
      {
        name: 'eth1',
        mac: `52:54:00:cb:01:${n}`,
        up: true,
        addresses: [
          { address: `198.18.0.${n}`, prefix: 24, family: 4, scope: 'global' },
          { address: `fd5e:1::${n}`, prefix: 64, family: 6, scope: 'global' },
          { address: `fe80::5054:ff:fecb:1${n}`, prefix: 64, family: 6, scope: 'link' },
        ],
        vipsHeld: o.vipsHeld ?? [],
      },
    ],
    defaultRoutes: [
      { family: 4, interface: 'eth1', gateway: '198.18.0.1' },
      { family: 6, interface: 'eth1', gateway: 'fd5e:1::1' },
    ],
    ...(o.agentRunning === undefined ? {} : { agent: { running: o.agentRunning } }),
    clock: { remoteMs: local + (o.clockOffsetMs ?? 0), localMs: local },
  };
}

export const labFactsAll = (o: (n: number) => FactsOptions = () => ({})) =>
  HOSTS.map((n) => labFacts(n, o(n)));

/** A native cluster file with the three lab controllers and this CPLB section (indented under spec). */
export function clusterYaml(cplb: string): string {
  const hosts = HOSTS.map(
    (n) => `    - role: controller\n      ssh: { address: 198.18.0.${n}, user: root }`,
  ).join('\n');
  return `apiVersion: cplbctl/v1beta1\nkind: Cluster\nmetadata:\n  name: lab\nspec:\n  hosts:\n${hosts}\n  controlPlaneLoadBalancing:\n    enabled: true\n${cplb}`;
}

export function loadCluster(yaml: string): Cluster {
  const { cluster, diagnostics } = loadClusterText(yaml, 'cluster.yaml');
  expect(diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  return cluster!;
}

/** The golden scenarios: each is a cluster file the lab facts plan cleanly against. */
export const SCENARIOS = {
  multicast: `    keepalived:
      vrrpInstances:
        - virtualIPs: ["198.18.0.100/24"]
          authPass: Example
`,
  unicast: `    keepalived:
      vrrpInstances:
        - virtualIPs: ["198.18.0.100/24"]
          authPass: uni-pass
          unicastSourceIP: 198.18.0.11
          unicastPeers: [198.18.0.12, 198.18.0.13]
`,
  dualStack: `    keepalived:
      vrrpInstances:
        - virtualIPs: ["198.18.0.100/24"]
          authPass: four
        - virtualIPs: ["fd5e:1::100/64"]
          authPass: six
          virtualRouterID: 61
`,
  /** dualStack with k0s's addressLabel on the IPv6 instance: only agent.json may differ. */
  addressLabel: `    keepalived:
      vrrpInstances:
        - virtualIPs: ["198.18.0.100/24"]
          authPass: four
        - virtualIPs: ["fd5e:1::100/64"]
          authPass: six
          virtualRouterID: 61
          addressLabel: 30000
`,
  v3fast: `    keepalived:
      vrrpVersion: 3
      vrrpInstances:
        - virtualIPs: ["198.18.1.100/24"]
          authPass: ignored
          interface: eth0
          advertIntervalSeconds: 0.1
`,
  virtualServers: `    keepalived:
      vrrpInstances:
        - virtualIPs: ["198.18.0.100/24"]
          authPass: Example
      virtualServers:
        - ipAddress: 198.18.0.100
          delayLoop: 30s
          lbAlgo: wrr
          lbKind: NAT
          persistenceTimeoutSeconds: 600
`,
} as const;

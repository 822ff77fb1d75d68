/** RuleInput (already validated) → the typed, defaulted Cluster. */
import { parseGoDuration } from './duration.js';
import { parseCidr } from './net.js';
import { DEFAULT_VRID, type RuleInput } from './rule.js';
import type { Cluster, Host, SshTarget, Vip } from './types.js';
import { hostPort } from '../contract/net.js';

export function buildCluster(file: string, input: RuleInput): Cluster {
  const hosts: Host[] = input.hosts
    .filter((h) => h.input.ssh)
    .map(({ input: h, path }) => {
      const ssh = h.ssh!;
      const target: SshTarget = {
        address: ssh.address,
        port: ssh.port,
        user: ssh.user,
        keyPath: ssh.keyPath,
        hostKey: ssh.hostKey,
      };
      if (ssh.bastion) target.bastion = { ...ssh.bastion };
      return {
        name: hostPort(ssh.address, ssh.port),
        role: h.role,
        ssh: target,
        privateInterface: h.privateInterface,
        path,
      };
    });
  const cplb = input.cplb!;
  const ka = cplb.keepalived!;
  const instancesPath = [...input.paths.cplb, 'keepalived', 'vrrpInstances'];
  return {
    file,
    format: input.format,
    name: input.name,
    hosts,
    controllers: hosts.filter((h) => h.role === 'controller' || h.role === 'controller+worker'),
    cplb: {
      vrrpInstances: ka.vrrpInstances.map((inst, i) => ({
        index: i,
        name: `k0s-vip-${i}`,
        vips: inst.virtualIPs.map((v) => parseCidr(v) as Vip),
        authPass: inst.authPass,
        virtualRouterID: inst.virtualRouterID ?? DEFAULT_VRID + i,
        advertIntervalSeconds: inst.advertIntervalSeconds,
        interface: inst.interface,
        unicastSources: inst.unicastSourceIP
          ? [inst.unicastSourceIP, ...(inst.unicastPeers ?? [])]
          : undefined,
        addressLabel: inst.addressLabel || undefined,
        path: [...instancesPath, i],
      })),
      virtualServers: ka.virtualServers.map((vs, i) => ({
        ipAddress: vs.ipAddress,
        delayLoopSeconds: parseGoDuration(vs.delayLoop),
        lbAlgo: vs.lbAlgo,
        lbKind: vs.lbKind,
        persistenceTimeoutSeconds: vs.persistenceTimeoutSeconds,
        path: [...input.paths.cplb, 'keepalived', 'virtualServers', i],
      })),
      proxyPort: input.resolved.proxyPort,
      apiServerPort: input.resolved.apiServerPort,
      disableLoadBalancer: ka.disableLoadBalancer,
      vrrpVersion: ka.vrrpVersion,
      healthCheck: input.resolved.healthCheck,
      proxy: input.resolved.proxy,
      metrics: input.resolved.metrics,
    },
    paths: { cplb: input.paths.cplb, hosts: input.paths.hosts },
    secrets: ka.vrrpInstances.map((i) => i.authPass).filter((p) => p.length > 0),
  };
}

import type { Rule } from '../rule.js';
import { GO_DURATION } from '../schema.js';
import { canonicalIp, ipFamily } from '../../contract/net.js';
import { notAnIp } from '../net.js';
import { parseGoDuration } from '../duration.js';

export const virtualServers: Rule = {
  name: 'virtual-servers',
  check({ cplb, paths, hosts }, report) {
    if (!cplb?.enabled) return;
    const servers = cplb.keepalived?.virtualServers ?? [];
    if (servers.length === 0) return;
    const vips = new Set(
      (cplb.keepalived?.vrrpInstances ?? [])
        .flatMap((i) => i.virtualIPs.map((v) => v.split('/')[0]!))
        .filter((a) => ipFamily(a))
        .map(canonicalIp),
    );
    const seen = new Set<string>();
    servers.forEach((vs, i) => {
      const path = [...paths.cplb, 'keepalived', 'virtualServers', i];
      if (ipFamily(vs.ipAddress) === 0)
        report.error(
          [...path, 'ipAddress'],
          vs.ipAddress.includes('/') ? `"${vs.ipAddress}" has a prefix length` : notAnIp(vs.ipAddress),
          'write one of the VIPs without its prefix length, e.g. 192.168.122.200',
        );
      else if (!vips.has(canonicalIp(vs.ipAddress)))
        report.error(
          [...path, 'ipAddress'],
          `${vs.ipAddress} is not one of the VIPs`,
          "use an address listed in a vrrpInstance's virtualIPs",
        );
      else if (seen.has(canonicalIp(vs.ipAddress)))
        report.error(
          [...path, 'ipAddress'],
          `${vs.ipAddress} has a virtual server already`,
          'one virtual server per VIP',
        );
      else seen.add(canonicalIp(vs.ipAddress));

      if (!GO_DURATION.test(vs.delayLoop) || !(parseGoDuration(vs.delayLoop) > 0))
        report.error(
          [...path, 'delayLoop'],
          `"${vs.delayLoop}" is not a positive duration`,
          'write it like 1m, 30s or 1m30s',
        );
      const p = vs.persistenceTimeoutSeconds;
      if (p < 1 || p > 2678400)
        report.error(
          [...path, 'persistenceTimeoutSeconds'],
          `${p} is outside 1-2678400`,
          'use 1 second to 31 days (default 360)',
        );
    });
    hosts.forEach((h) => {
      if (h.input.role === 'controller+worker')
        report.error(
          [...h.path, 'role'],
          'keepalived virtualServers (IPVS) are incompatible with controller+worker hosts',
          'remove virtualServers to use the userspace proxy, or make this host a plain controller',
        );
    });
  },
};

import type { Rule } from '../rule.js';
import { canonicalIp, ipFamily } from '../../contract/net.js';
import { notAnIp } from '../net.js';
import { instancesOf } from './vrrp.js';

const isCplbRole = (role: string) => role === 'controller' || role === 'controller+worker';

/**
 * k0s reads unicastSourceIP and unicastPeers from one controller's point of view. cplbctl deploys
 * every controller from one file, so the pair names the whole set: each controller's source is the
 * member of the set that is one of its addresses, and its peers are the rest (checked on the hosts).
 */
export const unicast: Rule = {
  name: 'unicast',
  check(input, report) {
    const controllers = input.hosts.filter((h) => isCplbRole(h.input.role)).length;
    for (const { inst, path } of instancesOf(input)) {
      const { unicastSourceIP: source, unicastPeers: peers } = inst;
      if (source === undefined && peers === undefined) continue;
      if (source === undefined) {
        report.error(
          [...path, 'unicastPeers'],
          'unicastPeers need unicastSourceIP',
          "set unicastSourceIP to one controller's address",
        );
        continue;
      }
      const vipFamily = ipFamily(inst.virtualIPs[0]?.split('/')[0] ?? '');
      const srcFamily = ipFamily(source);
      if (srcFamily === 0) {
        report.error([...path, 'unicastSourceIP'], notAnIp(source), "use the controller's own IP address");
        continue;
      }
      if (vipFamily !== 0 && srcFamily !== vipFamily)
        report.error(
          [...path, 'unicastSourceIP'],
          `unicastSourceIP is IPv${srcFamily} but the VIPs are IPv${vipFamily}`,
          "VRRP adverts use the VIPs' address family",
        );
      if (!peers || peers.length === 0) {
        report.error(
          [...path, 'unicastSourceIP'],
          'unicastSourceIP without unicastPeers',
          "list the other controllers' addresses in unicastPeers, or remove unicastSourceIP for multicast",
        );
        continue;
      }
      const seen = new Set([canonicalIp(source)]);
      let unusable = false;
      peers.forEach((peer, j) => {
        const problem = peerProblem(peer, source, seen);
        if (!problem) return void seen.add(canonicalIp(peer));
        report.error([...path, 'unicastPeers', j], problem.message, problem.hint);
        unusable ||= problem.unusable;
      });
      // A peer that is no usable address has its own error already; counting would repeat it.
      if (!unusable && seen.size !== controllers)
        report.error(
          [...path, 'unicastPeers'],
          `unicastSourceIP and unicastPeers name ${plural(seen.size, 'address', 'addresses')}, but there ${controllers === 1 ? 'is 1 controller' : `are ${controllers} controllers`}`,
          'name exactly one address per controller: this one in unicastSourceIP, the others in unicastPeers',
        );
    }
  },
};

function peerProblem(
  peer: string,
  source: string,
  seen: Set<string>,
): { message: string; hint: string; unusable: boolean } | undefined {
  const family = ipFamily(peer);
  if (family === 0) return { message: notAnIp(peer), hint: 'list IP addresses only', unusable: true };
  if (family !== ipFamily(source))
    return {
      message: `peer ${peer} is not IPv${ipFamily(source)} like unicastSourceIP`,
      hint: 'use one address family',
      unusable: true,
    };
  if (canonicalIp(peer) === canonicalIp(source))
    return {
      message: `peer ${peer} is unicastSourceIP itself`,
      hint: 'unicastPeers lists the OTHER controllers only',
      unusable: false,
    };
  if (seen.has(canonicalIp(peer)))
    return { message: `peer ${peer} is listed twice`, hint: 'remove the duplicate', unusable: false };
  return undefined;
}

const plural = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;

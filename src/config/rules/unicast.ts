import type { Rule } from '../rule.js';
import { canonicalIp, ipFamily } from '../net.js';
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
        report.error([...path, 'unicastPeers'], 'unicastPeers need unicastSourceIP', 'set unicastSourceIP to one controller\'s address');
        continue;
      }
      const vipFamily = ipFamily(inst.virtualIPs[0]?.split('/')[0] ?? '');
      const srcFamily = ipFamily(source);
      if (srcFamily === 0) {
        report.error([...path, 'unicastSourceIP'], `"${source}" is not an IP address`, 'use the controller\'s own IP address');
        continue;
      }
      if (vipFamily !== 0 && srcFamily !== vipFamily)
        report.error([...path, 'unicastSourceIP'], `unicastSourceIP is IPv${srcFamily} but the VIPs are IPv${vipFamily}`, 'VRRP adverts use the VIPs\' address family');
      if (!peers || peers.length === 0) {
        report.error(
          [...path, 'unicastSourceIP'],
          'unicastSourceIP without unicastPeers',
          'list the other controllers\' addresses in unicastPeers, or remove unicastSourceIP for multicast',
        );
        continue;
      }
      const seen = new Set([canonicalIp(source)]);
      peers.forEach((peer, j) => {
        const at = [...path, 'unicastPeers', j];
        if (ipFamily(peer) === 0) report.error(at, `"${peer}" is not an IP address`, 'list IP addresses only');
        else if (ipFamily(peer) !== srcFamily) report.error(at, `peer ${peer} is not IPv${srcFamily} like unicastSourceIP`, 'use one address family');
        else if (canonicalIp(peer) === canonicalIp(source))
          report.error(at, `peer ${peer} is unicastSourceIP itself`, 'unicastPeers lists the OTHER controllers only');
        else if (seen.has(canonicalIp(peer))) report.error(at, `peer ${peer} is listed twice`, 'remove the duplicate');
        else seen.add(canonicalIp(peer));
      });
      if (seen.size !== controllers)
        report.error(
          [...path, 'unicastPeers'],
          `unicastSourceIP and unicastPeers name ${seen.size} addresses, but there are ${controllers} controllers`,
          'name exactly one address per controller: this one in unicastSourceIP, the others in unicastPeers',
        );
    }
  },
};

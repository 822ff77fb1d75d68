/**
 * What a VRRP instance means on one host: which NIC it runs on, which address is its unicast
 * source, who its peers are. Shared by the fact checks and the planner so both read it the same way.
 */
import { canonicalIp } from '../contract/net.js';
import { MAC_RE } from '../config/net.js';
import type { Host, VrrpInstance } from '../config/types.js';
import type { HostFacts, InterfaceAddress, NetInterface } from './facts.js';

export type Resolved<T> =
  { ok: true; value: T; note?: string } | { ok: false; message: string; hint: string };

export type InterfaceSource = 'instance' | 'privateInterface' | 'default route';

export interface ResolvedInterface {
  iface: NetInterface;
  via: InterfaceSource;
}

export function familyOf(inst: VrrpInstance): 4 | 6 {
  return inst.vips[0]?.family ?? 4;
}

/** Instance `interface` beats the host's privateInterface, which beats the default route's NIC. */
export function resolveInterface(
  host: Host,
  inst: VrrpInstance,
  facts: HostFacts,
): Resolved<ResolvedInterface> {
  const family = familyOf(inst);
  const via: InterfaceSource = inst.interface
    ? 'instance'
    : host.privateInterface
      ? 'privateInterface'
      : 'default route';
  let ref = inst.interface ?? host.privateInterface;
  let note: string | undefined;
  if (ref === undefined) {
    const route = facts.defaultRoutes.find((r) => r.family === family) ?? facts.defaultRoutes[0];
    if (!route)
      return {
        ok: false,
        message: `${inst.name}: no interface named and the host has no default route to pick one from`,
        hint: `set vrrpInstances[${inst.index}].interface, or privateInterface on this host`,
      };
    if (route.family !== family)
      note = `no IPv${family} default route: using ${route.interface}, the NIC of the IPv${route.family} default route`;
    ref = route.interface;
  }
  const wanted = ref;
  const byMac = MAC_RE.test(wanted);
  const matches = facts.interfaces.filter((i) =>
    byMac ? i.mac === wanted.toLowerCase() : i.name === wanted,
  );
  // VLANs and bond members share a MAC: the one carrying addresses of the VIPs' family is meant.
  const iface = matches.find((i) => hostAddresses(i, family).length > 0) ?? matches[0];
  if (!iface)
    return {
      ok: false,
      message: `${inst.name}: ${byMac ? 'no interface has MAC' : 'no interface named'} ${wanted} (from ${via})`,
      hint: `the host has ${facts.interfaces.map((i) => i.name).join(', ') || 'no interfaces'}; fix ${via === 'instance' ? `vrrpInstances[${inst.index}].interface` : via === 'privateInterface' ? 'privateInterface' : 'the default route or name an interface'}`,
    };
  return note ? { ok: true, value: { iface, via }, note } : { ok: true, value: { iface, via } };
}

/** The host's own global addresses of a family on a NIC (VIPs were already sorted out by the parser). */
export function hostAddresses(iface: NetInterface, family: 4 | 6): InterfaceAddress[] {
  return iface.addresses.filter((a) => a.family === family && a.scope === 'global');
}

function allAddresses(facts: HostFacts): InterfaceAddress[] {
  return facts.interfaces.flatMap((i) => i.addresses);
}

export interface UnicastRole {
  source: string;
  peers: string[];
}

/** The one member of the instance's unicast set that this host owns is its source; the rest are peers. */
export function resolveUnicast(inst: VrrpInstance, facts: HostFacts): Resolved<UnicastRole> | undefined {
  const sources = inst.unicastSources;
  if (!sources) return undefined;
  const own = new Set(allAddresses(facts).map((a) => canonicalIp(a.address)));
  const mine = sources.filter((s) => own.has(canonicalIp(s)));
  if (mine.length === 1) {
    const source = mine[0]!;
    return { ok: true, value: { source, peers: sources.filter((s) => s !== source) } };
  }
  return {
    ok: false,
    message:
      mine.length === 0
        ? `${inst.name}: none of the unicast addresses (${sources.join(', ')}) is an address of this host`
        : `${inst.name}: several unicast addresses (${mine.join(', ')}) are addresses of this host`,
    hint: 'unicastSourceIP plus unicastPeers must name exactly one address of each controller',
  };
}

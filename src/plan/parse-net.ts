/**
 * Pure parsers for `ip -j addr show` and `ip -j route show default` (iproute2's JSON output).
 * What a host prints is untrusted: its interface names and addresses end up in other hosts'
 * keepalived.conf and agent.json, so a name that is no interface name, or an address that is no IP
 * address of its family, fails the parse (the caller names the host) instead of passing through.
 */
import { canonicalIp, ipFamily } from '../contract/net.js';
import { IFNAME_RE, MAC_RE } from '../config/net.js';
import type { DefaultRoute, InterfaceAddress, NetInterface } from './facts.js';

interface IpAddrInfo {
  family?: string;
  local?: string;
  prefixlen?: number;
  scope?: string;
}

interface IpLink {
  ifname?: string;
  address?: string;
  flags?: string[];
  addr_info?: IpAddrInfo[];
}

interface IpRoute {
  dst?: string;
  dev?: string;
  gateway?: string;
  metric?: number;
  nexthops?: { dev?: string; gateway?: string }[];
}

/** JSON from a command; empty output (tool absent, command failed) reads as an empty list. */
function jsonArray<T>(text: string, what: string): T[] {
  const trimmed = text.trim();
  if (trimmed === '') return [];
  let data: unknown;
  try {
    data = JSON.parse(trimmed);
  } catch {
    throw new Error(`${what}: not JSON (is iproute2 too old for -j?): ${trimmed.slice(0, 80)}`);
  }
  if (!Array.isArray(data)) throw new Error(`${what}: expected a JSON list`);
  return data as T[];
}

function ifname(name: string, what: string): string {
  if (!IFNAME_RE.test(name) || name === '.' || name === '..')
    throw new Error(`${what}: interface name ${JSON.stringify(name)} is not a valid interface name`);
  return name;
}

/** An address of `family`, or (a gateway: IPv4 routes may go via an IPv6 next hop) of either. */
function address(text: string, family: 4 | 6 | 'any', what: string): string {
  const got = ipFamily(text);
  if (got === 0 || (family !== 'any' && got !== family))
    throw new Error(
      `${what}: ${JSON.stringify(text)} is not an IP${family === 'any' ? '' : `v${family}`} address`,
    );
  return text;
}

/**
 * Interfaces with their addresses. Addresses equal to one of `vipAddresses` are the cluster's VIPs
 * held right now: they go to vipsHeld, never to addresses, so nothing ever mistakes a VIP for the
 * host's own address (k0sctl #1100).
 */
export function parseIpAddr(text: string, vipAddresses: readonly string[] = []): NetInterface[] {
  const vips = new Set(vipAddresses.map(canonicalIp));
  return jsonArray<IpLink>(text, 'ip -j addr show')
    .filter((link) => typeof link.ifname === 'string')
    .map((link) => {
      const what = 'ip -j addr show';
      const name = ifname(link.ifname!, what);
      const flags = link.flags ?? [];
      const addresses: InterfaceAddress[] = [];
      const vipsHeld: string[] = [];
      for (const a of link.addr_info ?? []) {
        const family = a.family === 'inet' ? 4 : a.family === 'inet6' ? 6 : undefined;
        if (!family || typeof a.local !== 'string' || typeof a.prefixlen !== 'number') continue;
        const local = address(a.local, family, `${what}, ${name}`);
        if (!Number.isInteger(a.prefixlen) || a.prefixlen < 0 || a.prefixlen > (family === 4 ? 32 : 128))
          throw new Error(`${what}, ${name}: prefix length ${a.prefixlen} of ${local} is impossible`);
        const scope = typeof a.scope === 'string' && /^[a-z0-9]{1,16}$/.test(a.scope) ? a.scope : 'global';
        if (vips.has(canonicalIp(local))) vipsHeld.push(local);
        else addresses.push({ address: local, prefix: a.prefixlen, family, scope });
      }
      // Tunnels print no MAC (or an IP) here; anything but a MAC reads as none.
      const mac = (link.address ?? '').toLowerCase();
      return {
        name,
        mac: MAC_RE.test(mac) ? mac : '',
        // Admin up and carrier present: a NIC without LOWER_UP cannot send adverts.
        up: flags.includes('UP') && flags.includes('LOWER_UP'),
        addresses,
        vipsHeld,
      };
    });
}

/** The default route of one family: the lowest metric wins, as the kernel picks it. */
export function parseDefaultRoute(text: string, family: 4 | 6): DefaultRoute | undefined {
  const routes = jsonArray<IpRoute>(text, `ip -${family} -j route show default`)
    .filter((r) => r.dst === 'default' || r.dst === undefined)
    .map((r) => ({
      ...r,
      dev: r.dev ?? r.nexthops?.[0]?.dev,
      gateway: r.gateway ?? r.nexthops?.[0]?.gateway,
    }))
    .filter((r) => typeof r.dev === 'string')
    .sort((a, b) => (a.metric ?? 0) - (b.metric ?? 0));
  const best = routes[0];
  if (!best) return undefined;
  const what = `ip -${family} -j route show default`;
  const route: DefaultRoute = { family, interface: ifname(best.dev!, what) };
  if (best.gateway) route.gateway = address(best.gateway, 'any', what);
  return route;
}

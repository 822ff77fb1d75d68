/** Pure parsers for `ip -j addr show` and `ip -j route show default` (iproute2's JSON output). */
import { canonicalIp } from '../config/net.js';
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
      const flags = link.flags ?? [];
      const addresses: InterfaceAddress[] = [];
      const vipsHeld: string[] = [];
      for (const a of link.addr_info ?? []) {
        const family = a.family === 'inet' ? 4 : a.family === 'inet6' ? 6 : undefined;
        if (!family || typeof a.local !== 'string' || typeof a.prefixlen !== 'number') continue;
        if (vips.has(canonicalIp(a.local))) vipsHeld.push(a.local);
        else addresses.push({ address: a.local, prefix: a.prefixlen, family, scope: a.scope ?? 'global' });
      }
      return {
        name: link.ifname!,
        mac: (link.address ?? '').toLowerCase(),
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
  const route: DefaultRoute = { family, interface: best.dev! };
  if (best.gateway) route.gateway = best.gateway;
  return route;
}

/**
 * Reading what the machine routes, holds and resolves through, for one address family. The IPv4 check
 * (prefix.ts) and the IPv6 one (prefix6.ts) read the same three sources the same way and differ only in
 * `ip -4`/`ip -6`, the address family name and how a CIDR is parsed, so they share this one reader.
 */
import { readFile } from 'node:fs/promises';
import { run } from './run.js';

export interface NetEntry<C> {
  cidr: C;
  text: string;
}

export interface MachineNetOf<C> {
  /** Route destinations of every table except default routes, with what they are for messages. */
  routes: NetEntry<C>[];
  addresses: NetEntry<C>[];
  nameservers: NetEntry<C>[];
}

export interface AddressFamily<C> {
  /** The `ip` option that selects the family. */
  ipFlag: '-4' | '-6';
  /** `family` of an address in `ip -j addr` output. */
  addrFamily: 'inet' | 'inet6';
  /** Prefix length of a single address, for an address `ip` prints without one. */
  hostLen: number;
  /** null for anything that is not a CIDR (or bare address) of this family. */
  parseCidr: (text: string) => C | null;
}

interface IpRoute {
  dst?: string;
  type?: string;
  dev?: string;
}
interface IpAddr {
  ifname?: string;
  addr_info?: { family?: string; local?: string; prefixlen?: number }[];
}

export function parseResolvConf(text: string): string[] {
  return text
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter((w) => w[0] === 'nameserver' && w[1] !== undefined)
    .map((w) => w[1] as string);
}

export async function readMachineNetOf<C>(family: AddressFamily<C>): Promise<MachineNetOf<C>> {
  const [routesJson, addrsJson, resolv] = await Promise.all([
    run('ip', ['-j', family.ipFlag, 'route', 'show', 'table', 'all']).then((r) => r.stdout),
    run('ip', ['-j', family.ipFlag, 'addr', 'show']).then((r) => r.stdout),
    readFile('/etc/resolv.conf', 'utf8').catch(() => ''),
  ]);
  const net: MachineNetOf<C> = { routes: [], addresses: [], nameservers: [] };
  for (const r of JSON.parse(routesJson || '[]') as IpRoute[]) {
    if (!r.dst || r.dst === 'default') continue;
    const cidr = family.parseCidr(r.dst);
    if (cidr)
      net.routes.push({
        cidr,
        text: `route ${r.type ? r.type + ' ' : ''}${r.dst}${r.dev ? ' dev ' + r.dev : ''}`,
      });
  }
  for (const link of JSON.parse(addrsJson || '[]') as IpAddr[]) {
    for (const a of link.addr_info ?? []) {
      if (a.family !== family.addrFamily || !a.local) continue;
      const text = `address ${a.local}/${a.prefixlen} on ${link.ifname}`;
      const host = family.parseCidr(a.local);
      const network = family.parseCidr(`${a.local}/${a.prefixlen ?? family.hostLen}`);
      for (const cidr of [host, network]) if (cidr) net.addresses.push({ cidr, text });
    }
  }
  for (const ns of parseResolvConf(resolv)) {
    const cidr = family.parseCidr(ns);
    if (cidr) net.nameservers.push({ cidr, text: `nameserver ${ns} in /etc/resolv.conf` });
  }
  return net;
}

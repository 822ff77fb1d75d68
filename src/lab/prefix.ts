/**
 * The safety check: a lab prefix must not overlap anything the machine already routes, holds or
 * resolves through, or the lab would cut the machine off its uplink, resolver or package proxy.
 */
import { readFile } from 'node:fs/promises';
import { CplbError } from '../core/errors.js';
import { type Cidr, DEFAULT_POOL, LAB_BLOCK_LEN, formatCidr, overlaps, tryParseCidr } from './layout.js';
import { run } from './run.js';

export interface MachineNet {
  /** Route destinations of every table except default routes, with what they are for messages. */
  routes: { cidr: Cidr; text: string }[];
  addresses: { cidr: Cidr; text: string }[];
  nameservers: { cidr: Cidr; text: string }[];
}

interface IpRoute {
  dst?: string;
  type?: string;
  dev?: string;
  table?: string;
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

export async function readMachineNet(): Promise<MachineNet> {
  const [routesJson, addrsJson, resolv] = await Promise.all([
    run('ip', ['-j', '-4', 'route', 'show', 'table', 'all']).then((r) => r.stdout),
    run('ip', ['-j', '-4', 'addr', 'show']).then((r) => r.stdout),
    readFile('/etc/resolv.conf', 'utf8').catch(() => ''),
  ]);
  const net: MachineNet = { routes: [], addresses: [], nameservers: [] };
  for (const r of JSON.parse(routesJson || '[]') as IpRoute[]) {
    if (!r.dst || r.dst === 'default') continue;
    const cidr = tryParseCidr(r.dst);
    if (cidr)
      net.routes.push({
        cidr,
        text: `route ${r.type ? r.type + ' ' : ''}${r.dst}${r.dev ? ' dev ' + r.dev : ''}`,
      });
  }
  for (const link of JSON.parse(addrsJson || '[]') as IpAddr[]) {
    for (const a of link.addr_info ?? []) {
      if (a.family !== 'inet' || !a.local) continue;
      const text = `address ${a.local}/${a.prefixlen} on ${link.ifname}`;
      const host = tryParseCidr(a.local);
      const network = tryParseCidr(`${a.local}/${a.prefixlen ?? 32}`);
      for (const cidr of [host, network]) if (cidr) net.addresses.push({ cidr, text });
    }
  }
  for (const ns of parseResolvConf(resolv)) {
    const cidr = tryParseCidr(ns);
    if (cidr) net.nameservers.push({ cidr, text: `nameserver ${ns} in /etc/resolv.conf` });
  }
  return net;
}

/** What in the machine's network overlaps `prefix`, one description each (empty: safe). */
export function findConflicts(prefix: Cidr, net: MachineNet): string[] {
  const hits = [...net.routes, ...net.addresses, ...net.nameservers].filter((e) => overlaps(prefix, e.cidr));
  return [...new Set(hits.map((e) => e.text))];
}

/**
 * The explicit prefix when given (refused on any conflict), else the first free /23 of the default pool,
 * so a test lab and a developer's lab can be up side by side.
 */
export function pickPrefix(requested: Cidr | undefined, net: MachineNet): Cidr {
  if (requested) {
    const conflicts = findConflicts(requested, net);
    if (conflicts.length > 0) {
      throw new CplbError(
        `prefix ${formatCidr(requested)} overlaps the machine's network: ${conflicts.join('; ')}`,
        {
          code: 'LAB_PREFIX_OVERLAP',
          fault: 'usage',
          hint: 'choose another --prefix (inside 198.18.0.0/15 is best)',
        },
      );
    }
    return requested;
  }
  const pool = tryParseCidr(DEFAULT_POOL) as Cidr;
  const step = 2 ** (32 - LAB_BLOCK_LEN);
  for (let base = pool.base; base < pool.base + 2 ** (32 - pool.len); base += step) {
    const block = { base, len: LAB_BLOCK_LEN };
    if (findConflicts(block, net).length === 0) return block;
  }
  throw new CplbError(`no free /${LAB_BLOCK_LEN} left in ${DEFAULT_POOL}`, {
    code: 'LAB_PREFIX_OVERLAP',
    fault: 'usage',
    hint: 'take other labs down or pass --prefix',
  });
}

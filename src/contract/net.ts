/** IP address helpers that the CLI and the agent share, so both spell and compare addresses alike. */
import { isIP } from 'node:net';

/**
 * 4 or 6 for a plain IP address, 0 otherwise. Node's isIP takes IPv6 zone IDs (`fe80::1%eth0`), which
 * keepalived.conf, iptables and the agent do not: the interface is chosen per host, never in an address.
 */
export function ipFamily(address: string): 0 | 4 | 6 {
  return address.includes('%') ? 0 : (isIP(address) as 0 | 4 | 6);
}

/**
 * `address:port`, an IPv6 address in brackets (`[fd00::1]:6443`), so the port never reads as the
 * address's last group. A host name (no colon) is left as it is.
 */
export function hostPort(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

/** Canonical text of an address, so 10.0.0.1 and ::ffff-free IPv6 spellings compare equal. */
export function canonicalIp(address: string): string {
  if (isIP(address) !== 6) return address;
  return expandIPv6(address)
    .map((g) => g.toString(16))
    .join(':');
}

/** An address the way `ip addr` prints it: IPv6 in its RFC 5952 short form (the URL parser's). */
export function printedIp(address: string): string {
  if (isIP(address) !== 6) return address;
  return new URL(`http://[${address}]/`).hostname.slice(1, -1);
}

function expandIPv6(address: string): number[] {
  const [head, tail] = address.split('::') as [string, string | undefined];
  const parse = (s: string) => (s ? s.split(':').flatMap(groupOf) : []);
  const h = parse(head);
  const t = tail === undefined ? [] : parse(tail);
  const zeros = tail === undefined ? [] : new Array<number>(8 - h.length - t.length).fill(0);
  return [...h, ...zeros, ...t];
}

function groupOf(part: string): number[] {
  if (part.includes('.')) {
    const [a, b, c, d] = part.split('.').map(Number) as [number, number, number, number];
    return [(a << 8) | b, (c << 8) | d];
  }
  return [parseInt(part, 16)];
}

/** The address as a bigint, for subnet arithmetic. */
export function ipToBigInt(address: string): bigint {
  if (isIP(address) === 4) return address.split('.').reduce((acc, o) => (acc << 8n) | BigInt(Number(o)), 0n);
  return expandIPv6(address).reduce((acc, g) => (acc << 16n) | BigInt(g), 0n);
}

export function inSubnet(address: string, network: string, prefix: number): boolean {
  const fam = isIP(address);
  if (fam === 0 || fam !== isIP(network)) return false;
  const bits = fam === 4 ? 32 : 128;
  const shift = BigInt(bits - prefix);
  return ipToBigInt(address) >> shift === ipToBigInt(network) >> shift;
}

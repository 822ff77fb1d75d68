/**
 * The lab's IPv6 side as pure data: a ULA /48 (RFC 4193, fd00::/8) whose first /64 is the main network,
 * on eth1 beside the IPv4 main /24. Host addresses mirror the IPv4 ones (c1 198.18.0.11 is PREFIX::11,
 * the VIP .100 is ::100), so a reader maps one onto the other at a glance. Kept apart from layout.ts:
 * an IPv4-only lab is the same layout as before, and the IPv6 fields are added, never reshaped.
 */
import { createHash } from 'node:crypto';
import { ipFamily, ipToBigInt, printedIp } from '../contract/net.js';
import { CplbError } from '../core/errors.js';
import type { LabIpv6, LabLayout } from './layout.js';

export interface Cidr6 {
  base: bigint;
  len: number;
}

/** A /48 per lab, as RFC 4193 allots a site; the lab uses its first /64. */
export const LAB6_BLOCK_LEN = 48;
const ULA = { base: 0xfdn << 120n, len: 8 };
const ALL = (1n << 128n) - 1n;

const size6 = (c: Cidr6) => 1n << BigInt(128 - c.len);

export function formatIp6(n: bigint): string {
  const groups = [];
  for (let shift = 112n; shift >= 0n; shift -= 16n) groups.push(((n >> shift) & 0xffffn).toString(16));
  return printedIp(groups.join(':'));
}

export function formatCidr6(c: Cidr6): string {
  return `${formatIp6(c.base)}/${c.len}`;
}

/** Parses `addr/len` (a bare address is /128); null for anything that is not IPv6. */
export function tryParseCidr6(text: string): Cidr6 | null {
  const [addr, lenText, extra] = text.split('/');
  if (addr === undefined || extra !== undefined || ipFamily(addr) !== 6) return null;
  const len = lenText === undefined ? 128 : /^\d{1,3}$/.test(lenText) ? Number(lenText) : NaN;
  if (!(len >= 0 && len <= 128)) return null;
  const mask = ALL ^ (size6({ base: 0n, len }) - 1n);
  return { base: ipToBigInt(addr) & mask, len };
}

export function overlaps6(a: Cidr6, b: Cidr6): boolean {
  return a.base < b.base + size6(b) && b.base < a.base + size6(a);
}

/** The texts of the entries that overlap `prefix`, each once. */
export function findConflictsIn(prefix: Cidr6, entries: readonly { cidr: Cidr6; text: string }[]): string[] {
  return [...new Set(entries.filter((e) => overlaps6(prefix, e.cidr)).map((e) => e.text))];
}

/** `--prefix6`: a ULA block of /64 or larger (the lab puts a /64 on its main network). */
export function parsePrefix6(text: string): Cidr6 {
  const c = tryParseCidr6(text);
  if (!c || !text.includes('/')) {
    throw new CplbError(`--prefix6 ${text} is not an IPv6 CIDR`, {
      code: 'LAB_PREFIX',
      fault: 'usage',
      hint: 'e.g. --prefix6 fd5c:1ab0:42::/48',
    });
  }
  if (c.len > 64 || !overlaps6(c, ULA) || c.len < ULA.len) {
    throw new CplbError(`--prefix6 ${text} must be a /64 or larger inside fd00::/8 (a ULA)`, {
      code: 'LAB_PREFIX',
      fault: 'usage',
    });
  }
  return c;
}

/**
 * The `attempt`-th candidate block for a lab: fd + 40 bits of a hash of its name, as RFC 4193 draws
 * a global ID, so a lab gets the same block every time it comes up unless the machine uses it.
 */
export function ulaCandidate(labName: string, attempt: number): Cidr6 {
  const hash = createHash('sha256').update(`cplbctl lab ${labName} ${attempt}`).digest();
  let id = 0n;
  for (let i = 0; i < 5; i++) id = (id << 8n) | BigInt(hash[i] ?? 0);
  return { base: ULA.base | (id << 80n), len: LAB6_BLOCK_LEN };
}

/** The same host numbers as IPv4, read as hex digits: .11 becomes ::11. */
const hostPart = (octet: number) => BigInt(parseInt(String(octet), 16));
const octetOf = (ipv4: string) => Number(ipv4.split('.')[3]);

/** Adds the IPv6 addresses to a planned layout (a new object; the IPv4 fields are untouched). */
export function withIpv6(layout: LabLayout, block: Cidr6): LabLayout {
  const main = block.base;
  const at = (octet: number) => formatIp6(main + hostPart(octet));
  const ipv6: LabIpv6 = {
    prefix: formatCidr6(block),
    mainNet: formatCidr6({ base: main, len: 64 }),
    rootAddress: at(octetOf(layout.rootAddress)),
    vip: `${at(octetOf(layout.vip.split('/')[0] as string))}/64`,
  };
  return {
    ...layout,
    ipv6,
    hosts: layout.hosts.map((h) => ({ ...h, address6: at(octetOf(h.address)) })),
  };
}

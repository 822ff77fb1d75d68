/** Address parsing for the config rules and the planner (the plain address helpers are the contract's). */
import { isIP } from 'node:net';
import { ipFamily } from '../contract/net.js';
import type { Vip } from './types.js';

export function parseCidr(cidr: string): Vip | string {
  const slash = cidr.indexOf('/');
  if (slash < 0) return 'has no prefix length';
  const address = cidr.slice(0, slash);
  const prefixText = cidr.slice(slash + 1);
  const family = ipFamily(address);
  if (family === 0) return notAnIp(address);
  if (!/^\d{1,3}$/.test(prefixText)) return `"${prefixText}" is not a prefix length`;
  const prefix = Number(prefixText);
  const max = family === 4 ? 32 : 128;
  if (prefix > max) return `prefix length ${prefix} is above ${max} for IPv${family}`;
  return { cidr, address, prefix, family: family as 4 | 6 };
}

/** Why `address` is no IP address (for a diagnostic): a zone ID gets its own words. */
export function notAnIp(address: string): string {
  const zone = address.indexOf('%');
  if (zone >= 0 && isIP(address) === 6) return `"${address}" has an IPv6 zone ID (${address.slice(zone)})`;
  return `"${address}" is not an IP address`;
}

/** Whether `address` carries an IPv6 zone ID: refused wherever an address is configured. */
export const hasZoneId = (address: string) => address.includes('%') && isIP(address) === 6;

export const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;
/** Linux IFNAMSIZ is 16 with the NUL; `/`, whitespace and shell metacharacters are refused. */
export const IFNAME_RE = /^[A-Za-z0-9_.@-]{1,15}$/;

export function isInterfaceRef(value: string): boolean {
  return MAC_RE.test(value) || (IFNAME_RE.test(value) && value !== '.' && value !== '..');
}

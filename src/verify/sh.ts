/** What status and verify scripts share: the contract's script head plus a clock, and their parsers. */
import { SCRIPT_HEAD } from '../contract/script.js';

/** The marked-section script head (src/contract/script.ts) and `now`, nanoseconds since the epoch. */
export const SH_HEAD = `${SCRIPT_HEAD}now() { date +%s%N; }
`;

/** `date +%s%N` as milliseconds (with the fraction): BigInt keeps the nanoseconds exact. */
export function nsToMs(text: string | undefined): number | undefined {
  const t = text?.trim();
  if (!t || !/^\d{10,}$/.test(t)) return undefined;
  return Number(BigInt(t) / 1000n) / 1000;
}

/** `ip -o addr show` lines: interface, family and address of each. */
export interface IpAddress {
  iface: string;
  family: 4 | 6;
  address: string;
  prefix: number;
}

export function parseIpOneline(text: string): IpAddress[] {
  const out: IpAddress[] = [];
  for (const line of text.split('\n')) {
    const m = /^\d+:\s+(\S+)\s+(inet6?)\s+([0-9a-fA-F.:]+)\/(\d+)/.exec(line.trim());
    if (!m) continue;
    out.push({
      iface: m[1]!.replace(/@.*$/, ''),
      family: m[2] === 'inet' ? 4 : 6,
      address: m[3]!,
      prefix: Number(m[4]),
    });
  }
  return out;
}

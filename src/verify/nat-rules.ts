/** Whether the REDIRECT rules and the jumps to them are in a host's nat table (iptables-save text). */
import { saveWords } from '../contract/nat-rules.js';
import { canonicalIp, hostPort } from '../contract/net.js';

export interface ExpectedRedirect {
  vip: string;
  family: 4 | 6;
  apiServerPort: number;
}

export interface NatCheck {
  /** One line per missing piece, e.g. "PREROUTING -> CPLB (IPv4)"; empty when all is in place. */
  missing: string[];
  /** The REDIRECT rules found, as "VIP:port -> :proxyPort". */
  present: string[];
}

interface Rule {
  chain: string;
  target: string | undefined;
  dest: string | undefined;
  dport: number | undefined;
  toPorts: number | undefined;
}

/**
 * Reads the options verify matches on from each `-A` line, split into words the way the agent
 * reads them: a quoted comment is one word, so "-j CPLB" inside a comment is not a jump. A negated
 * option (`! -d VIP`) matches every packet but that one, so it reads as absent.
 */
export function parseNatRules(save: string): Rule[] {
  return save
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.startsWith('-A '))
    .map((l) => {
      const words = saveWords(l);
      const word = (flag: string) => {
        for (let i = 2; i < words.length - 1; i++)
          if (words[i] === flag && words[i - 1] !== '--comment')
            return words[i - 1] === '!' ? undefined : words[i + 1];
        return undefined;
      };
      const num = (flag: string) => {
        const w = word(flag);
        return w && /^\d+$/.test(w) ? Number(w) : undefined;
      };
      return {
        chain: words[1] ?? '',
        target: word('-j'),
        dest: word('-d'),
        dport: num('--dport'),
        toPorts: num('--to-ports'),
      };
    });
}

export function checkNat(
  save: { 4: string; 6: string },
  expected: readonly ExpectedRedirect[],
  proxyPort: number,
  chain: string,
): NatCheck {
  const missing: string[] = [];
  const present: string[] = [];
  for (const family of [4, 6] as const) {
    const wanted = expected.filter((e) => e.family === family);
    if (wanted.length === 0) continue;
    const rules = parseNatRules(save[family]);
    const fam = family === 4 ? 'IPv4' : 'IPv6';
    for (const from of ['PREROUTING', 'OUTPUT'])
      if (!rules.some((r) => r.chain === from && r.target === chain))
        missing.push(`${from} -> ${chain} jump (${fam})`);
    for (const e of wanted) {
      const desc = `${hostPort(e.vip, e.apiServerPort)} -> :${proxyPort}`;
      const hostLen = family === 4 ? 32 : 128;
      const found = rules.some(
        (r) =>
          r.chain === chain &&
          r.target === 'REDIRECT' &&
          r.dport === e.apiServerPort &&
          r.toPorts === proxyPort &&
          r.dest !== undefined &&
          sameHost(r.dest, e.vip, hostLen),
      );
      (found ? present : missing).push(found ? desc : `REDIRECT ${desc}`);
    }
  }
  return { missing, present };
}

function sameHost(dest: string, vip: string, hostLen: number): boolean {
  const [addr = '', len] = dest.split('/');
  return (len === undefined || Number(len) === hostLen) && canonicalIp(addr) === canonicalIp(vip);
}

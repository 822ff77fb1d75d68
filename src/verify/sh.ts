/**
 * The shape of every script status and verify send: POSIX sh (dash, busybox ash) that prints marked
 * sections, so one round trip answers many questions and a missing tool only empties its section.
 */
const MARK = '@@cplb:';

export const SH_HEAD = `PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH
LC_ALL=C
export PATH LC_ALL
m() { echo "${MARK}$*"; }
now() { date +%s%N; }
`;

export interface Section {
  name: string;
  /** Words after the name on the marker line, e.g. a timestamp. */
  args: string[];
  body: string;
}

/** The output split at marker lines, in order (a name may repeat, e.g. one section per sample). */
export function sections(stdout: string): Section[] {
  const out: Section[] = [];
  let current: Section | undefined;
  let lines: string[] = [];
  const flush = () => {
    if (current) out.push({ ...current, body: lines.join('\n').trim() });
  };
  for (const line of stdout.split('\n')) {
    if (line.startsWith(MARK)) {
      flush();
      const [name = '', ...args] = line.slice(MARK.length).trim().split(/\s+/);
      current = { name, args, body: '' };
      lines = [];
    } else lines.push(line);
  }
  flush();
  return out;
}

export function sectionBody(list: readonly Section[], name: string): string | undefined {
  return list.find((s) => s.name === name)?.body;
}

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

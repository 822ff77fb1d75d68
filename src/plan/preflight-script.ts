/**
 * The pre-flight probes as one script per host, and the parsers of what it prints. Every probe runs
 * at once in the background (the VRRP listen is the longest), so a host's checks cost the listen's
 * window, not the sum. Pure: preflight.ts decides what to probe and judges the results.
 */
import { shq } from '../contract/quote.js';
import { SCRIPT_HEAD, sections } from '../contract/script.js';

/** Listen on one NIC for VRRP adverts (IP protocol 112, both families) for `seconds`. */
export interface ListenProbe {
  kind: 'listen';
  iface: string;
  seconds: number;
}

/** Ask the segment whether anything answers for a VIP: ARP duplicate-address probe or NDP. */
export interface VipProbe {
  kind: 'vip';
  iface: string;
  address: string;
  family: 4 | 6;
}

/** Ping a unicast peer from the host's unicast source address. */
export interface PeerProbe {
  kind: 'peer';
  source: string;
  peer: string;
}

export type Probe = ListenProbe | VipProbe | PeerProbe;

export const VRRP_FILTER = 'ip proto 112 or ip6 proto 112';

/** The command of one probe; its output and then `@@rc=N` land in one file. */
export function probeCommand(p: Probe): string {
  switch (p.kind) {
    case 'listen':
      // -l: line-buffered, so what was heard is in the file when timeout stops tcpdump (exit 124).
      return `timeout ${p.seconds} tcpdump -nn -l -i ${shq(p.iface)} ${shq(VRRP_FILTER)}`;
    case 'vip':
      // arping -D sends from 0.0.0.0 (nobody's cache learns from it) and exits 1 on any answer.
      // ndisc6 asks once per try, 0.5 s each: exit 0 and the answering MAC, or 2 and "No response".
      return p.family === 4
        ? `arping -D -c 2 -w 2 -I ${shq(p.iface)} ${shq(p.address)}`
        : `ndisc6 -1 -r 2 -w 500 ${shq(p.address)} ${shq(p.iface)}`;
    case 'peer':
      return `ping -n -c 3 -i 0.5 -W 1 -I ${shq(p.source)} ${shq(p.peer)}`;
  }
}

/** Every probe in the background, then each one's output in a section `probe INDEX`. */
export function probeScript(probes: readonly Probe[]): string {
  const lines = [
    SCRIPT_HEAD,
    'd=$(mktemp -d /tmp/cplb-preflight.XXXXXX) || exit 1',
    `trap 'rm -rf "$d"' EXIT`,
    ...probes.map((p, i) => `{ ${probeCommand(p)}; echo "@@rc=$?"; } >"$d/${i}" 2>&1 </dev/null &`),
    'wait',
    ...probes.map((_, i) => `m probe ${i}; cat "$d/${i}"`),
    'm end',
  ];
  return lines.join('\n') + '\n';
}

/** How long the script runs at most: the slowest probe, plus room for starting them. */
export function probeScriptSeconds(probes: readonly Probe[]): number {
  const each = probes.map((p) => (p.kind === 'listen' ? p.seconds : p.kind === 'vip' ? 2 : 3));
  return Math.max(0, ...each);
}

export interface ProbeOutput {
  /** The probe's exit code; null when the script did not get that far. */
  rc: number | null;
  text: string;
}

/** The script's output, one entry per probe in order (a probe with no section reads rc null). */
export function parseProbeOutput(stdout: string, count: number): ProbeOutput[] {
  const byIndex = new Map(
    sections(stdout)
      .filter((s) => s.name === 'probe')
      .map((s) => [Number(s.args[0]), s.body]),
  );
  return Array.from({ length: count }, (_, i) => {
    const body = byIndex.get(i) ?? '';
    const rc = /^@@rc=(\d+)$/m.exec(body);
    return { rc: rc ? Number(rc[1]) : null, text: body.replace(/^@@rc=\d+$/m, '').trim() };
  });
}

export interface Advert {
  family: 4 | 6;
  source: string;
  vrid: number;
}

/** tcpdump's `IP 198.18.0.11 > 224.0.0.18: VRRPv2, Advertisement, vrid 51, prio 100, ...` lines. */
export function parseAdverts(text: string): Advert[] {
  const out: Advert[] = [];
  for (const line of text.split('\n')) {
    const m = /\b(IP6?) ([0-9A-Fa-f.:]+) > [0-9A-Fa-f.:]+: VRRPv\d, Advertisement, vrid (\d+)/.exec(line);
    if (m) out.push({ family: m[1] === 'IP6' ? 6 : 4, source: m[2]!, vrid: Number(m[3]) });
  }
  return out;
}

/**
 * The MACs that answered for a VIP: arping's `Unicast reply from 198.18.0.100 [02:CB:..]` lines
 * (iputils and busybox alike), ndisc6's `Target link-layer address: 02:CB:...`. Lower case.
 */
export function parseAnswers(text: string): string[] {
  const macs = new Set<string>();
  for (const m of text.matchAll(/reply from \S+ \[([0-9A-Fa-f:]{17})\]/g)) macs.add(m[1]!.toLowerCase());
  for (const m of text.matchAll(/Target link-layer address: ([0-9A-Fa-f:]{17})/g))
    macs.add(m[1]!.toLowerCase());
  return [...macs];
}

/** ping's summary `3 packets transmitted, 0 received, ...` → 0; undefined without a summary. */
export function parsePingReceived(text: string): number | undefined {
  const m = /(\d+) (?:packets )?received/.exec(text);
  return m ? Number(m[1]) : undefined;
}

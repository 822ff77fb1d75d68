/**
 * Who holds each VIP, observed over a window rather than once: every host samples its own addresses
 * (`ip -o addr`) every `intervalMs`, in one round trip, between two dumps of keepalived's counters.
 */
import { canonicalIp } from '../contract/net.js';
import type { Cluster } from '../config/types.js';
import { RUN_DIR } from '../contract/paths.js';
import type { Remote } from '../ssh/remote.js';
import { shq } from '../contract/quote.js';
import { nsToMs, parseIpOneline, SH_HEAD } from './sh.js';
import { sections } from '../contract/script.js';
import { parseVrrpStats, statsDumpShell, type VrrpCounters } from './vrrp-stats.js';
import { everyVip } from '../config/cluster.js';

export interface SampleRequest {
  count: number;
  intervalMs: number;
  /** Dump keepalived's counters before and after (verify's diagnosis); off for quick checks. */
  stats: boolean;
}

export interface HostSamples {
  host: string;
  /** Per sample: host clock (ms) and the cluster VIPs on the host then. */
  samples: { atMs: number; vips: string[] }[];
  statsBefore?: Map<string, VrrpCounters>;
  statsAfter?: Map<string, VrrpCounters>;
}

export function samplerScript(req: SampleRequest): string {
  const sleep = (req.intervalMs / 1000).toFixed(3);
  const stats = req.stats ? statsDumpShell(shq(`${RUN_DIR}/keepalived.pid`)) : 'stats() { :; }\n';
  return `${SH_HEAD}${stats}m stats-before; stats
i=0
while [ "$i" -lt ${req.count} ]; do
  m sample "$(now)"; ip -o addr show 2>/dev/null
  i=$((i + 1)); [ "$i" -lt ${req.count} ] && sleep ${sleep}
done
m stats-after; stats
m end
`;
}

export function parseSamples(host: string, stdout: string, vips: readonly string[]): HostSamples {
  const wanted = new Map(vips.map((v) => [canonicalIp(v), v]));
  const list = sections(stdout);
  const out: HostSamples = { host, samples: [] };
  for (const s of list) {
    if (s.name === 'sample') {
      const held = parseIpOneline(s.body)
        .map((a) => wanted.get(canonicalIp(a.address)))
        .filter((v): v is string => v !== undefined);
      out.samples.push({ atMs: nsToMs(s.args[0]) ?? NaN, vips: [...new Set(held)] });
    } else if (s.name === 'stats-before' && s.body) out.statsBefore = parseVrrpStats(s.body);
    else if (s.name === 'stats-after' && s.body) out.statsAfter = parseVrrpStats(s.body);
  }
  return out;
}

export async function sampleHost(
  remote: Remote,
  req: SampleRequest,
  vips: readonly string[],
): Promise<HostSamples> {
  const budget = req.count * (req.intervalMs + 200) + 10_000;
  const res = await remote.exec(samplerScript(req), { timeoutMs: budget, allowFailure: true });
  return parseSamples(remote.name, res.stdout, vips);
}

export interface VipTimeline {
  vip: string;
  instance: string;
  /** Holders in each sample, aligned by sample index across hosts (the scripts start together). */
  perSample: string[][];
  /** Every host seen holding it during the window. */
  seen: string[];
}

export function timelines(cluster: Cluster, hosts: readonly HostSamples[]): VipTimeline[] {
  const n = Math.max(0, ...hosts.map((h) => h.samples.length));
  return everyVip(cluster).map(({ vip: { address: vip }, instance: { name: instance } }) => {
    const perSample = Array.from({ length: n }, (_, i) =>
      hosts.filter((h) => h.samples[i]?.vips.includes(vip)).map((h) => h.host),
    );
    return { vip, instance, perSample, seen: [...new Set(perSample.flat())] };
  });
}

/** The sampling plan for a window of 3 adverts at advert/2 (at least 50 ms apart: `ip` is a process). */
export function windowPlan(advertSeconds: number, adverts = 3): SampleRequest {
  const intervalMs = Math.max(50, Math.round((advertSeconds * 1000) / 2));
  const count = Math.max(3, Math.round((adverts * advertSeconds * 1000) / intervalMs) + 1);
  return { count, intervalMs, stats: true };
}

export interface Observation {
  windowSeconds: number;
  intervalMs: number;
  hosts: HostSamples[];
  timelines: VipTimeline[];
}

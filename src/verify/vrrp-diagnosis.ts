/**
 * Why a VIP has several holders, none, or moved while watched, from what was measured: the samples,
 * keepalived's counters over the same window, each host's VRRP state and config drift.
 */
import type { HostSamples, VipTimeline } from './sampler.js';
import { counterDelta, type VrrpCounters } from './vrrp-stats.js';

export interface DiagnosisInput {
  timeline: VipTimeline;
  hosts: readonly HostSamples[];
  windowSeconds: number;
  /** Per host: its VRRP state for this instance and why (e.g. "FAULT: agent unhealthy: no healthy upstream"). */
  stateOf: (host: string) => string;
  /** Hosts whose keepalived.conf differs from the cluster file. */
  drifted: readonly string[];
  multicast: boolean;
}

export type HolderVerdict =
  { ok: true; holder: string } | { ok: false; problem: string; diagnosis: string[] };

export function judgeTimeline(input: DiagnosisInput): HolderVerdict {
  const { timeline: t } = input;
  const n = t.perSample.length;
  const label = `VIP ${t.vip} (${t.instance})`;
  const several = t.perSample.filter((s) => s.length > 1);
  const none = t.perSample.filter((s) => s.length === 0);
  if (n > 0 && several.length === 0 && none.length === 0 && t.seen.length === 1)
    return { ok: true, holder: t.seen[0]! };
  if (n === 0) return { ok: false, problem: `${label}: no samples could be taken`, diagnosis: [] };
  if (several.length > 0) {
    const holders = [...new Set(several.flat())];
    return {
      ok: false,
      problem: `${label} is held by ${holders.length} hosts at once: ${holders.join(', ')} (in ${several.length} of ${n} samples over ${input.windowSeconds} s)`,
      diagnosis: splitBrain(input, holders),
    };
  }
  if (none.length === n)
    return {
      ok: false,
      problem: `${label} is held by no host (${n} samples over ${input.windowSeconds} s)`,
      diagnosis: input.hosts.map((h) => `[${h.host}] ${input.stateOf(h.host)}`),
    };
  return {
    ok: false,
    problem: `${label} moved while watched: held by ${t.seen.join(' then ') || 'no host'}, with no holder in ${none.length} of ${n} samples`,
    diagnosis: [
      'a VIP that moves on its own means a holder lost its health or its adverts: see `cplbctl status` and the agent logs',
    ],
  };
}

function deltaOf(h: HostSamples | undefined, instance: string): VrrpCounters | undefined {
  return counterDelta(h?.statsBefore?.get(instance), h?.statsAfter?.get(instance));
}

function splitBrain(input: DiagnosisInput, holders: string[]): string[] {
  const { timeline: t, windowSeconds: w } = input;
  const out: string[] = [];
  const deltas = holders.map((host) => ({
    host,
    d: deltaOf(
      input.hosts.find((h) => h.host === host),
      t.instance,
    ),
  }));
  const known = deltas.filter((x): x is { host: string; d: VrrpCounters } => x.d !== undefined);
  const path = input.multicast
    ? 'multicast 224.0.0.18, IP protocol 112'
    : 'IP protocol 112 between the unicast addresses';
  if (
    known.length === holders.length &&
    known.every((x) => x.d.received === 0) &&
    known.some((x) => x.d.sent > 0)
  ) {
    const sent = known.map((x) => `${x.host} sent ${x.d.sent}`).join(', ');
    out.push(
      `VRRP is blocked between ${holders.join(', ')}: in ${w} s each holder received no advert while the others sent them (${sent}); allow ${path} between the controllers`,
    );
  } else if (known.some((x) => x.d.authFailures > 0)) {
    const where = known.filter((x) => x.d.authFailures > 0).map((x) => `${x.host} (${x.d.authFailures})`);
    out.push(
      `adverts arrive but fail authentication on ${where.join(', ')}: the controllers do not share one authPass`,
    );
  } else if (known.some((x) => x.d.intervalErrors > 0 || x.d.addressListErrors > 0)) {
    out.push(
      'adverts arrive with another advert interval or VIP list: the controllers run differing keepalived.conf files',
    );
  } else if (known.some((x) => x.d.received > 0)) {
    out.push(
      'adverts arrive yet several hosts stay MASTER: they are not in one VRRP instance (differing virtualRouterID), or another VRRP router uses this virtualRouterID',
    );
  } else {
    out.push(
      `keepalived's counters could not be read; several holders usually mean adverts (${path}) do not cross, or the virtualRouterID or authPass differ`,
    );
  }
  if (input.drifted.length > 0)
    out.push(
      `keepalived.conf differs from the cluster file on ${input.drifted.join(', ')}: a differing virtualRouterID or authPass splits the election`,
    );
  for (const host of holders) out.push(`[${host}] ${input.stateOf(host)}`);
  return out;
}

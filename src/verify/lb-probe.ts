/**
 * Load balancing, checked as the seed does it by hand with openssl: fresh TLS connections to
 * VIP:6443 must reach every healthy API server, told apart by their certificates. Made from a
 * controller that does not hold the VIP (its traffic crosses the network like a client's) and from
 * this machine when it can reach the VIP.
 */
import type { Remote } from '../ssh/remote.js';
import {
  fingerprintScript,
  localHandshake,
  parseFingerprints,
  target,
  UNREACHABLE_FROM_HERE,
} from './tls.js';

export interface UpstreamRef {
  id: string;
  address: string;
  port: number;
  healthy: boolean;
}

export interface LbVantage {
  /** A host name, or "this machine". */
  from: string;
  vip: string;
  connections: number;
  failed: number;
  /** Connections per upstream id ("unknown" for a certificate no upstream showed directly). */
  backends: Record<string, number>;
  /** Healthy upstreams no connection reached. */
  missed: string[];
  skipped?: string;
}

export interface LbReport {
  upstreams: (UpstreamRef & { fingerprint?: string })[];
  vantages: LbVantage[];
}

export const LOCAL = 'this machine';

function connectionsFor(upstreams: readonly UpstreamRef[]): number {
  return Math.max(3, 3 * upstreams.filter((u) => u.healthy).length);
}

function summarize(
  from: string,
  vip: string,
  fingerprints: readonly (string | undefined)[],
  upstreams: readonly (UpstreamRef & { fingerprint?: string })[],
): LbVantage {
  const idOf = new Map(upstreams.filter((u) => u.fingerprint).map((u) => [u.fingerprint!, u.id]));
  const backends: Record<string, number> = {};
  for (const f of fingerprints) {
    if (!f) continue;
    const id = idOf.get(f) ?? 'unknown';
    backends[id] = (backends[id] ?? 0) + 1;
  }
  const missed = upstreams.filter((u) => u.healthy && !(u.fingerprint && backends[u.id])).map((u) => u.id);
  return {
    from,
    vip,
    connections: fingerprints.length,
    failed: fingerprints.filter((f) => !f).length,
    backends,
    missed,
  };
}

export interface LbProbeOptions {
  remote: Remote;
  vips: readonly string[];
  apiServerPort: number;
  upstreams: readonly UpstreamRef[];
  local: boolean;
}

export async function probeLoadBalancing(opts: LbProbeOptions): Promise<LbReport> {
  const k = connectionsFor(opts.upstreams);
  const targets = [
    ...opts.upstreams.map((u) => ({ label: 'direct', target: target(u.address, u.port) })),
    ...opts.vips.flatMap((vip) =>
      Array.from({ length: k }, () => ({ label: 'vip', target: target(vip, opts.apiServerPort) })),
    ),
  ];
  const res = await opts.remote.exec(fingerprintScript(targets), {
    timeoutMs: 5_000 * targets.length + 10_000,
    allowFailure: true,
  });
  if (res.exitCode !== 0)
    throw new Error(`[${opts.remote.name}] TLS probe failed: ${(res.stderr || res.stdout).trim()}`);
  const shakes = parseFingerprints(res.stdout);
  const direct = new Map(shakes.filter((s) => s.label === 'direct').map((s) => [s.target, s.fingerprint]));
  const upstreams = opts.upstreams.map((u) => {
    const fingerprint = direct.get(target(u.address, u.port));
    return fingerprint ? { ...u, fingerprint } : { ...u };
  });
  const vantages: LbVantage[] = [];
  for (const vip of opts.vips) {
    const t = target(vip, opts.apiServerPort);
    const fps = shakes.filter((s) => s.label === 'vip' && s.target === t).map((s) => s.fingerprint);
    vantages.push(summarize(opts.remote.name, vip, fps, upstreams));
    if (opts.local) vantages.push(await probeFromHere(vip, t, k, upstreams));
  }
  return { upstreams, vantages };
}

async function probeFromHere(
  vip: string,
  t: string,
  k: number,
  upstreams: readonly (UpstreamRef & { fingerprint?: string })[],
): Promise<LbVantage> {
  const first = await localHandshake(t, 1000);
  if (!first.fingerprint && UNREACHABLE_FROM_HERE.has(first.error ?? ''))
    return {
      ...summarize(LOCAL, vip, [], upstreams),
      missed: [],
      skipped: `${vip} is not reachable from here (${first.error})`,
    };
  const fps = [first.fingerprint];
  for (let i = 1; i < k; i++) fps.push((await localHandshake(t, 3000)).fingerprint);
  return summarize(LOCAL, vip, fps, upstreams);
}

/** The status report: one row per controller, built from its snapshot, the plan and the cluster file. */
import { CHAIN } from '../contract/paths.js';
import { agentVersionText } from '../contract/status.js';
import { canonicalIp } from '../contract/net.js';
import type { Cluster } from '../config/types.js';
import { describeDrift, fileDrift, type FileDrift } from './drift.js';
import type { HostSnapshot } from './host-snapshot.js';
import { checkNat, type ExpectedRedirect } from './nat-rules.js';
import type { InspectState } from './state.js';
import { everyVip, vipAddresses } from '../config/cluster.js';

export interface HostReport {
  host: string;
  hostname?: string;
  reachable: boolean;
  /** `cplbctl drain` took it out of service (the marker on disk, or the agent says so): no VIP, by intent. */
  drained: boolean;
  /** Why the host is unreachable, or what could not be read. */
  error?: string;
  keepalived: {
    running: boolean;
    pid?: number;
    instances: { name: string; state: string; since: string }[];
  } | null;
  /** VIPs on the host's interfaces now (from `ip addr`, not from the agent). */
  vipsHeld: string[];
  agent: {
    running: boolean;
    error?: string;
    version?: string;
    pid?: number;
    uptimeSeconds?: number;
    healthy?: boolean;
    reason?: string;
    /** The agent acts on a drain marker (older agents: absent). */
    drained?: boolean;
  } | null;
  /** note: why up says less than usual (`401: readiness not visible without credentials`). */
  upstreams: { address: string; port: number; health: string; note?: string }[];
  proxy: { port: number; listening: boolean | undefined };
  redirect: {
    ok: boolean;
    present: string[];
    missing: string[];
    repairs?: number;
    lastRepairAt?: string;
  } | null;
  config: { state: 'match' | 'drift' | 'unknown'; reason?: string; files: FileDrift[] };
  restarts: {
    keepalived?: number;
    lastKeepalivedExit?: { code: number | null; signal: string | null; at: string };
    /** keepalived is down and the agent waits out its backoff before the next start. */
    keepalivedBackoff?: { consecutiveFailures: number; nextRestartAt: string };
    agentService?: number;
    agentStartedAt?: string;
  };
}

export interface VipReport {
  vip: string;
  instance: string;
  holders: string[];
}

export interface ClusterReport {
  cluster: string;
  file: string;
  time: string;
  vips: VipReport[];
  hosts: HostReport[];
}

function expectedRedirects(cluster: Cluster): ExpectedRedirect[] {
  if (cluster.cplb.disableLoadBalancer) return [];
  return everyVip(cluster).map(({ vip }) => ({
    vip: vip.address,
    family: vip.family,
    apiServerPort: cluster.cplb.apiServerPort,
  }));
}

export function vipsOn(cluster: Cluster, snap: Pick<HostSnapshot, 'addresses'>): string[] {
  return vipsAmong(
    cluster,
    snap.addresses.map((a) => a.address),
  );
}

/** The cluster's VIPs among a host's addresses, however each is written. */
export function vipsAmong(cluster: Cluster, addresses: readonly string[]): string[] {
  const here = new Set(addresses.map(canonicalIp));
  return vipAddresses(cluster).filter((v) => here.has(canonicalIp(v)));
}

function vipReports(cluster: Cluster, snapshots: ReadonlyMap<string, HostSnapshot>): VipReport[] {
  return everyVip(cluster).map(({ instance: inst, vip: v }) => ({
    vip: v.address,
    instance: inst.name,
    holders: cluster.controllers
      .filter((h) => {
        const s = snapshots.get(h.name);
        return s !== undefined && vipsOn(cluster, s).includes(v.address);
      })
      .map((h) => h.name),
  }));
}

export function hostReport(state: InspectState, hostName: string): HostReport {
  const { cluster } = state;
  const proxy = { port: cluster.cplb.proxyPort, listening: undefined as boolean | undefined };
  const base: HostReport = {
    host: hostName,
    reachable: false,
    drained: false,
    keepalived: null,
    vipsHeld: [],
    agent: null,
    upstreams: [],
    proxy,
    redirect: null,
    config: { state: 'unknown', files: [] },
    restarts: {},
  };
  const hostname = state.facts.get(hostName)?.hostname;
  if (hostname) base.hostname = hostname;
  const unreachable = state.unreachable.get(hostName);
  if (unreachable !== undefined)
    return { ...base, error: unreachable, config: { state: 'unknown', reason: 'unreachable', files: [] } };
  const snap = state.snapshots.get(hostName);
  if (!snap) return { ...base, reachable: true, error: state.hostErrors.get(hostName) ?? 'no snapshot' };

  const st = snap.agent.ok ? snap.agent.status : undefined;
  const mainProc = snap.keepalived.find((p) => p.role === 'main');
  const nat = checkNat(snap.nat, expectedRedirects(cluster), cluster.cplb.proxyPort, CHAIN);
  const report: HostReport = {
    ...base,
    reachable: true,
    drained: snap.drained || st?.health.drained === true,
    keepalived: {
      running: mainProc?.alive ?? false,
      ...(mainProc?.pid !== undefined ? { pid: mainProc.pid } : {}),
      instances: (st?.instances ?? []).map((i) => ({ name: i.name, state: i.state, since: i.since })),
    },
    vipsHeld: vipsOn(cluster, snap),
    agent: st
      ? {
          running: true,
          version: agentVersionText(st.agent),
          pid: st.agent.pid,
          uptimeSeconds: st.agent.uptimeSeconds,
          healthy: st.health.ok,
          reason: st.health.reason,
          ...(st.health.drained ? { drained: true } : {}),
        }
      : { running: false, error: snap.agent.ok ? undefined : snap.agent.error },
    upstreams: (st?.proxy.upstreams ?? []).map((u) => ({
      address: u.address,
      port: u.port,
      health: u.health,
      ...(u.note ? { note: u.note } : {}),
    })),
    proxy: {
      port: cluster.cplb.proxyPort,
      listening: snap.listening?.has(cluster.cplb.proxyPort) ?? st?.proxy.listening,
    },
    redirect: cluster.cplb.disableLoadBalancer
      ? null
      : {
          ok: nat.missing.length === 0,
          present: nat.present,
          missing: nat.missing,
          ...(st?.iptables.repairs !== undefined ? { repairs: st.iptables.repairs } : {}),
          ...(st?.iptables.lastRepairAt ? { lastRepairAt: st.iptables.lastRepairAt } : {}),
        },
    config: configOf(state, hostName, snap),
    restarts: {
      ...(st ? { keepalived: st.keepalived.restarts, agentStartedAt: st.agent.startedAt } : {}),
      ...(st?.keepalived.lastExit ? { lastKeepalivedExit: st.keepalived.lastExit } : {}),
      ...(st?.keepalived.nextRestartAt
        ? {
            keepalivedBackoff: {
              consecutiveFailures: st.keepalived.consecutiveFailures ?? 0,
              nextRestartAt: st.keepalived.nextRestartAt,
            },
          }
        : {}),
      ...(snap.agentServiceRestarts !== undefined ? { agentService: snap.agentServiceRestarts } : {}),
    },
  };
  const err = state.hostErrors.get(hostName);
  if (err) report.error = err;
  return report;
}

function configOf(state: InspectState, hostName: string, snap: HostSnapshot): HostReport['config'] {
  const hp = state.plan?.hosts.find((h) => h.host === hostName);
  if (!hp) return { state: 'unknown', reason: state.planError ?? 'no plan', files: [] };
  const files = fileDrift(hp, snap);
  const bad = files.filter((f) => f.state !== 'match');
  return bad.length === 0
    ? { state: 'match', files }
    : { state: 'drift', reason: bad.map(describeDrift).join('; '), files };
}

export function clusterReport(state: InspectState, now = new Date()): ClusterReport {
  return {
    cluster: state.cluster.name,
    file: state.cluster.file,
    time: now.toISOString(),
    vips: vipReports(state.cluster, state.snapshots),
    hosts: state.cluster.controllers.map((h) => hostReport(state, h.name)),
  };
}

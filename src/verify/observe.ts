/**
 * verify's live measurements, taken together so they cost one window: every host samples its VIPs
 * (and keepalived's counters) for 3 adverts while a controller that does not hold the VIP, and this
 * machine, make TLS connections through it.
 */
import type { Host } from '../config/types.js';
import { messageOf } from '../pipeline/errors.js';
import { probeLoadBalancing, type LbReport, type UpstreamRef } from './lb-probe.js';
import { sampleHost, timelines, windowPlan, type Observation } from './sampler.js';
import { reachableHosts, type InspectState } from './state.js';
import { vipsOn } from './host-report.js';
import { target } from './tls.js';
import { maxAdvertSeconds, vipAddresses } from '../config/cluster.js';

export async function watchVips(state: InspectState, hosts: readonly Host[]): Promise<Observation> {
  const req = windowPlan(maxAdvertSeconds(state.cluster));
  const vips = vipAddresses(state.cluster);
  const samples = await Promise.all(hosts.map((h) => sampleHost(state.remotes.get(h.name)!, req, vips)));
  return {
    windowSeconds: ((req.count - 1) * req.intervalMs) / 1000,
    intervalMs: req.intervalMs,
    hosts: samples,
    timelines: timelines(state.cluster, samples),
  };
}

/** A controller whose traffic to the VIP crosses the network: one that holds no VIP now. */
function vantageHost(state: InspectState): Host | undefined {
  const hosts = reachableHosts(state).filter((h) => {
    const s = state.snapshots.get(h.name);
    return s?.agent.ok;
  });
  return hosts.find((h) => vipsOn(state.cluster, state.snapshots.get(h.name)!).length === 0) ?? hosts[0];
}

/** The API servers as the VIP holder's agent sees them (any agent's view when no single holder). */
function upstreamsOf(state: InspectState): UpstreamRef[] {
  const statuses = reachableHosts(state)
    .map((h) => state.snapshots.get(h.name))
    .filter((s) => s?.agent.ok)
    .sort((a, b) => vipsOn(state.cluster, b!).length - vipsOn(state.cluster, a!).length);
  const st = statuses[0]?.agent.ok ? statuses[0].agent.status : undefined;
  return (st?.proxy.upstreams ?? []).map((u) => ({
    id: target(u.address, u.port),
    address: u.address,
    port: u.port,
    healthy: u.health === 'healthy',
  }));
}

export async function probeLb(state: InspectState, localProbe: boolean): Promise<LbReport | string> {
  if (state.cluster.cplb.disableLoadBalancer) return 'the load balancer is disabled (disableLoadBalancer)';
  const vantage = vantageHost(state);
  if (!vantage) return 'no reachable controller with a running agent to probe from';
  try {
    return await probeLoadBalancing({
      remote: state.remotes.get(vantage.name)!,
      vips: vipAddresses(state.cluster),
      apiServerPort: state.cluster.cplb.apiServerPort,
      upstreams: upstreamsOf(state),
      local: localProbe,
    });
  } catch (err) {
    return messageOf(err);
  }
}

/**
 * Pre-flight: do no harm to the segment. Before the first change on any host, each controller asks
 * its segment three questions (preflight-script.ts sends them): does anything outside the cluster
 * answer for a VIP, does a router that is not ours advertise an instance's virtual router ID, and
 * does each unicast peer answer. Pure: what to probe from which host, and the verdict.
 */
import { canonicalIp } from '../contract/net.js';
import type { Cluster, Host, VrrpInstance } from '../config/types.js';
import { CplbError } from '../core/errors.js';
import type { HostFacts, ProbeTool } from './facts.js';
import { missingProbeTools } from './packages.js';
import {
  parseAdverts,
  parseAnswers,
  parsePingReceived,
  type Probe,
  type ProbeOutput,
} from './preflight-script.js';
import { familyOf, resolveInterface, resolveUnicast } from './resolve.js';

export const PREFLIGHT_PHASE = 'Check the network segment';

/** What the cluster's checks need on every controller. */
export function neededProbeTools(cluster: Cluster): ProbeTool[] {
  const insts = cluster.cplb.vrrpInstances;
  const need: ProbeTool[] = [];
  if (insts.length) need.push('tcpdump');
  if (insts.some((i) => familyOf(i) === 4)) need.push('arping');
  if (insts.some((i) => familyOf(i) === 6)) need.push('ndisc6');
  if (insts.some((i) => i.unicastSources)) need.push('ping');
  return need;
}

/** The host's missing tools: its checks wait until Prepare hosts has installed them. */
export function probeToolsMissing(cluster: Cluster, facts: HostFacts): ProbeTool[] {
  return missingProbeTools(facts, neededProbeTools(cluster));
}

/** A probe and the instance it asks for. */
export interface InstanceProbe {
  probe: Probe;
  /** Instances the probe speaks for (a listen covers every instance on its NIC). */
  instances: VrrpInstance[];
}

/** A window of three adverts (a backup's master-down), and a little for tcpdump to start. */
export const listenSeconds = (inst: VrrpInstance) =>
  Math.round((3 * inst.advertIntervalSeconds + 0.3) * 100) / 100;

/**
 * One host answers for the VIPs (the segment is shared): the first controller that has the tools
 * now, else the first controller (after its install).
 */
export function vipProber(cluster: Cluster, facts: ReadonlyMap<string, HostFacts>): Host | undefined {
  const ready = cluster.controllers.find((h) => {
    const f = facts.get(h.name);
    return f !== undefined && probeToolsMissing(cluster, f).length === 0;
  });
  return ready ?? cluster.controllers[0];
}

/** What this host probes: a listen per NIC, the unheld VIPs (when it is the prober), its unicast peers. */
export function probesFor(
  cluster: Cluster,
  host: Host,
  facts: ReadonlyMap<string, HostFacts>,
): InstanceProbe[] {
  const own = facts.get(host.name);
  if (!own) return [];
  const listens = new Map<string, InstanceProbe>();
  const out: InstanceProbe[] = [];
  const prober = vipProber(cluster, facts) === host;
  for (const inst of cluster.cplb.vrrpInstances) {
    const nic = resolveInterface(host, inst, own);
    if (!nic.ok) continue; // Validate facts reported it
    const iface = nic.value.iface.name;
    const listen = listens.get(iface);
    if (listen?.probe.kind === 'listen') {
      listen.instances.push(inst);
      listen.probe.seconds = Math.max(listen.probe.seconds, listenSeconds(inst));
    } else {
      const p: InstanceProbe = {
        probe: { kind: 'listen', iface, seconds: listenSeconds(inst) },
        instances: [inst],
      };
      listens.set(iface, p);
      out.push(p);
    }
    if (prober)
      for (const vip of inst.vips)
        if (!heldByCluster(cluster, facts, vip.address))
          out.push({
            probe: { kind: 'vip', iface, address: vip.address, family: vip.family },
            instances: [inst],
          });
    const unicast = resolveUnicast(inst, own);
    if (unicast?.ok)
      for (const peer of unicast.value.peers)
        out.push({ probe: { kind: 'peer', source: unicast.value.source, peer }, instances: [inst] });
  }
  return out;
}

function heldByCluster(cluster: Cluster, facts: ReadonlyMap<string, HostFacts>, address: string): boolean {
  const want = canonicalIp(address);
  return cluster.controllers.some((h) =>
    facts.get(h.name)?.interfaces.some((i) => i.vipsHeld.some((v) => canonicalIp(v) === want)),
  );
}

export interface PreflightFinding {
  host: string;
  instance: string;
  message: string;
  hint: string;
}

/** A probe that could not run (tool failed): the check is unknown, not passed. */
export interface ProbeFailure {
  host: string;
  message: string;
}

/** The verdict on one host's probes; "ours" are the controllers' addresses and MACs from facts. */
export function judgeProbes(
  cluster: Cluster,
  host: Host,
  facts: ReadonlyMap<string, HostFacts>,
  probes: readonly InstanceProbe[],
  outputs: readonly ProbeOutput[],
): {
  findings: PreflightFinding[];
  failures: ProbeFailure[];
  listens: number;
  adverts: number;
  ours: number;
} {
  const all = cluster.controllers.map((h) => facts.get(h.name)).filter((f) => f !== undefined);
  const ourAddresses = new Set(
    all.flatMap((f) => f.interfaces.flatMap((i) => i.addresses.map((a) => canonicalIp(a.address)))),
  );
  const ourMacs = new Set(all.flatMap((f) => f.interfaces.map((i) => i.mac.toLowerCase())));
  const findings: PreflightFinding[] = [];
  const failures: ProbeFailure[] = [];
  const heard = { listens: 0, adverts: 0, ours: 0 };
  probes.forEach(({ probe, instances }, i) => {
    const out = outputs[i] ?? { rc: null, text: '' };
    const first = instances[0]!;
    const add = (message: string, hint: string) =>
      findings.push({ host: host.name, instance: first.name, message: `${first.name}: ${message}`, hint });
    const failed = (what: string) =>
      failures.push({
        host: host.name,
        message: `${first.name}: ${what} (exit ${out.rc ?? 'none'}): ${out.text.split('\n').slice(-3).join(' / ') || 'no output'}`,
      });
    if (probe.kind === 'listen') {
      // 124: timeout ended the listen, as planned. Anything else: tcpdump could not listen.
      if (out.rc !== 124 && out.rc !== 0) return failed(`tcpdump could not listen on ${probe.iface}`);
      const adverts = parseAdverts(out.text);
      const foreign = adverts.filter((a) => !ourAddresses.has(canonicalIp(a.source)));
      heard.listens++;
      heard.adverts += adverts.length;
      heard.ours += adverts.length - foreign.length;
      for (const inst of instances) {
        const clash = foreign.filter((a) => a.vrid === inst.virtualRouterID && a.family === familyOf(inst));
        const sources = [...new Set(clash.map((a) => a.source))];
        if (sources.length)
          findings.push({
            host: host.name,
            instance: inst.name,
            message: `${inst.name}: another VRRP router (${sources.join(', ')}), not a controller of this cluster, advertises virtual router ID ${inst.virtualRouterID} on ${probe.iface}`,
            hint: `two routers with one ID fight over the VIP: set vrrpInstances[${inst.index}].virtualRouterID to an ID no other router on this segment uses, or stop that router`,
          });
      }
      return;
    }
    if (probe.kind === 'vip') {
      const macs = parseAnswers(out.text).filter((m) => !ourMacs.has(m));
      const tool = probe.family === 4 ? 'arping' : 'ndisc6';
      // arping: 0 none, 1 answered; ndisc6: 0 answered, 2 no response. Other codes: the probe failed.
      const ran = probe.family === 4 ? out.rc === 0 || out.rc === 1 : out.rc === 0 || out.rc === 2;
      if (!ran && parseAnswers(out.text).length === 0)
        return failed(`${tool} could not probe ${probe.address} on ${probe.iface}`);
      if (macs.length)
        add(
          `VIP ${probe.address} already answers on ${probe.iface} (${probe.family === 4 ? 'ARP' : 'neighbour'} reply from ${macs.join(', ')}) and no host of this cluster holds it`,
          `another machine uses this address: free it there, or pick an unused address for vrrpInstances[${first.index}].virtualIPs`,
        );
      return;
    }
    const received = parsePingReceived(out.text);
    if (received === undefined || (out.rc !== 0 && out.rc !== 1))
      return failed(`ping could not reach ${probe.peer} from ${probe.source}`);
    if (received === 0)
      add(
        `unicast peer ${probe.peer} does not answer from ${probe.source} (ping)`,
        'its VRRP adverts would not arrive and both hosts would hold the VIP: fix the route or firewall between them (ICMP echo and IP protocol 112 must pass), or correct unicastPeers',
      );
  });
  return { findings, failures, ...heard };
}

/** One host's findings as one error: exit 2, nothing was changed. */
export function preflightError(host: string, findings: readonly PreflightFinding[]): CplbError {
  return new CplbError(
    `the network segment is not safe for this cluster:\n${findings.map((f) => `  ${f.message}; ${f.hint}`).join('\n')}`,
    {
      code: 'PREFLIGHT_FAILED',
      fault: 'config',
      host,
      phase: PREFLIGHT_PHASE,
      hint: 'nothing was changed on any host; fix the above, then run again',
    },
  );
}

export function probeFailedError(host: string, failures: readonly ProbeFailure[]): CplbError {
  return new CplbError(`could not check the network segment: ${failures.map((f) => f.message).join('; ')}`, {
    code: 'PREFLIGHT_PROBE',
    fault: 'remote',
    host,
    phase: PREFLIGHT_PHASE,
    hint: 'nothing was changed on any host; the pre-flight tools (tcpdump, arping, ndisc6, ping) must run as root on the host',
  });
}

/**
 * A controller holding a VIP advertises every interval: a listen that found nothing wrong and heard
 * no advert at all, not even ours, was deaf (tcpdump started late on a busy host), and its "clear"
 * proves nothing.
 */
export function deafListen(
  verdict: { findings: readonly unknown[]; failures: readonly unknown[]; listens: number; adverts: number },
  facts: ReadonlyMap<string, HostFacts>,
): boolean {
  const held = [...facts.values()].some((f) => f.interfaces.some((i) => i.vipsHeld.length > 0));
  return (
    verdict.findings.length === 0 &&
    verdict.failures.length === 0 &&
    verdict.listens > 0 &&
    verdict.adverts === 0 &&
    held
  );
}

/**
 * Checks over (Cluster, HostFacts[]) before anything changes on a host. Pure: every finding is a
 * diagnostic with the host it concerns and what to do about it.
 */
import { canonicalIp, inSubnet } from '../contract/net.js';
import type { Cluster, Host } from '../config/types.js';
import { CplbError } from '../core/errors.js';
import type { HostFacts } from './facts.js';
import { healthFileProblems } from './health-files.js';
import { agentPackaging, MIN_NODE_MAJOR } from './packaging.js';
import { missingProbeTools } from './packages.js';
import { neededProbeTools } from './preflight.js';
import { familyOf, hostAddresses, resolveInterface, resolveUnicast } from './resolve.js';

export interface FactDiagnostic {
  severity: 'error' | 'warning';
  /** Stable name of the check, like the config rules' names. */
  check: string;
  /** Host.name; absent for cluster-wide findings. */
  host?: string;
  message: string;
  hint: string;
}

const MAX_CLOCK_SPREAD_MS = 30_000;

/**
 * The one verdict on facts: every error in one CplbError (FACTS_INVALID, exit 2: the hosts do not fit
 * the file, and nothing was changed), else the warnings for the caller to print. Apply's Validate
 * facts phase and status/verify's expected plan both ask it; plan() trusts facts that passed.
 */
export function assertFactsFit(cluster: Cluster, allFacts: readonly HostFacts[]): FactDiagnostic[] {
  const findings = validateFacts(cluster, allFacts);
  const errors = findings.filter((d) => d.severity === 'error');
  if (errors.length)
    throw new CplbError(
      `the hosts do not fit ${cluster.file}:\n${errors.map((e) => `  ${e.host ? `[${e.host}] ` : ''}${e.message}; ${e.hint}`).join('\n')}`,
      {
        code: 'FACTS_INVALID',
        fault: 'config',
        phase: 'Validate facts',
        hint: 'nothing was changed on any host',
      },
    );
  return findings;
}

export function validateFacts(cluster: Cluster, allFacts: readonly HostFacts[]): FactDiagnostic[] {
  const out: FactDiagnostic[] = [];
  const byHost = new Map(allFacts.map((f) => [f.host, f]));
  for (const host of cluster.controllers) {
    const facts = byHost.get(host.name);
    if (!facts) {
      out.push({
        severity: 'error',
        check: 'facts',
        host: host.name,
        message: 'no facts gathered',
        hint: 'check that the host is reachable over SSH',
      });
      continue;
    }
    const add = (severity: FactDiagnostic['severity'], check: string, message: string, hint: string) =>
      out.push({ severity, check, host: host.name, message, hint });
    checkNetwork(cluster, host, facts, add);
    checkTools(cluster, facts, add);
    for (const p of healthFileProblems(cluster, facts.healthCheckFiles))
      add('error', 'health-check-files', p.message, p.hint);
  }
  checkClocks(cluster, byHost, out);
  checkHolders(cluster, byHost, out);
  return out;
}

type Add = (severity: FactDiagnostic['severity'], check: string, message: string, hint: string) => void;

function checkNetwork(cluster: Cluster, host: Host, facts: HostFacts, add: Add): void {
  for (const inst of cluster.cplb.vrrpInstances) {
    const resolved = resolveInterface(host, inst, facts);
    if (!resolved.ok) {
      add('error', 'interface', resolved.message, resolved.hint);
      continue;
    }
    const { iface } = resolved.value;
    if (resolved.note)
      add(
        'warning',
        'interface',
        `${inst.name}: ${resolved.note}`,
        `set vrrpInstances[${inst.index}].interface to be explicit`,
      );
    if (!iface.up)
      add(
        'warning',
        'interface',
        `${inst.name}: interface ${iface.name} is down or has no carrier`,
        `bring ${iface.name} up (ip link set ${iface.name} up) or pick another NIC`,
      );
    const family = familyOf(inst);
    const own = hostAddresses(iface, family);
    for (const vip of inst.vips)
      if (!own.some((a) => inSubnet(vip.address, a.address, a.prefix)))
        add(
          'warning',
          'vip-subnet',
          `${inst.name}: VIP ${vip.address} is in no subnet of ${iface.name} (${own.map((a) => `${a.address}/${a.prefix}`).join(', ') || `no IPv${family} address`})`,
          "clients reach a VIP outside the NIC's subnets only through routes you add; pick a free address in that subnet or another interface",
        );
    const unicast = resolveUnicast(inst, facts);
    if (unicast && !unicast.ok) add('error', 'unicast', unicast.message, unicast.hint);
    else if (unicast?.ok && !iface.addresses.some((a) => a.address === unicast.value.source))
      add(
        'warning',
        'unicast',
        `${inst.name}: unicast source ${unicast.value.source} is not on ${iface.name}`,
        'adverts leave by the route to each peer; name the interface that holds the source address',
      );
  }
}

function checkTools(cluster: Cluster, facts: HostFacts, add: Add): void {
  const installable = facts.packageManager !== undefined;
  const need = (tool: string, present: boolean, why: string) => {
    if (present) return;
    if (installable)
      add(
        'warning',
        'tools',
        `${tool} is not installed (${why})`,
        `apply installs it with ${facts.packageManager}`,
      );
    else
      add(
        'error',
        'tools',
        `${tool} is not installed (${why}) and no known package manager was found`,
        `install ${tool} on the host, then run again`,
      );
  };
  need('keepalived', facts.keepalived.present, 'it moves the VIP');
  const lb = !cluster.cplb.disableLoadBalancer;
  if (lb) need('iptables', facts.iptables.present, 'it redirects VIP:apiServerPort to the proxy');
  const v6 = cluster.cplb.vrrpInstances.some((i) => familyOf(i) === 6);
  if (lb && v6) need('ip6tables', facts.ip6tables.present, 'an IPv6 VIP needs IPv6 redirect rules');
  const probes = missingProbeTools(facts, neededProbeTools(cluster));
  if (probes.length) need(probes.join(', '), false, 'the pre-flight checks of the network segment use them');
  // keepalived's version is not read here: its config test on the host (Plan) says what it refuses.
  const packaging = agentPackaging(facts);
  if (!packaging.ok) add('error', 'agent', packaging.message, packaging.hint);
  else if (packaging.value === 'js' && facts.node?.version === undefined)
    add(
      'warning',
      'agent',
      'node is present but its version is unknown',
      `the agent needs node >= ${MIN_NODE_MAJOR}`,
    );
}

function checkClocks(cluster: Cluster, byHost: Map<string, HostFacts>, out: FactDiagnostic[]): void {
  const offsets = cluster.controllers
    .map((h) => byHost.get(h.name))
    .filter((f) => f !== undefined)
    .map((f) => ({ host: f.host, offset: f.clock.remoteMs - f.clock.localMs }))
    .sort((a, b) => a.offset - b.offset);
  const first = offsets[0];
  const last = offsets[offsets.length - 1];
  if (!first || !last || last.offset - first.offset <= MAX_CLOCK_SPREAD_MS) return;
  out.push({
    severity: 'warning',
    check: 'clock',
    message: `host clocks differ by ${Math.round((last.offset - first.offset) / 1000)} s (${first.host} behind ${last.host})`,
    hint: 'run NTP (chrony or systemd-timesyncd) on every host: logs and failover timings across hosts compare wrongly otherwise',
  });
}

/** Two holders of one VIP right now is a split brain (or a stale address) the operator should know of. */
function checkHolders(cluster: Cluster, byHost: Map<string, HostFacts>, out: FactDiagnostic[]): void {
  for (const inst of cluster.cplb.vrrpInstances)
    for (const vip of inst.vips) {
      const holders = cluster.controllers
        .filter((h) => heldBy(byHost.get(h.name), vip.address))
        .map((h) => h.name);
      if (holders.length > 1)
        out.push({
          severity: 'warning',
          check: 'vip-holders',
          message: `VIP ${vip.address} is on ${holders.length} hosts right now: ${holders.join(', ')}`,
          hint: 'VRRP adverts do not reach each other (firewall, VRID clash) or an address was added by hand; apply restarts keepalived with one config',
        });
    }
}

function heldBy(facts: HostFacts | undefined, address: string): boolean {
  const want = canonicalIp(address);
  return facts?.interfaces.some((i) => i.vipsHeld.some((v) => canonicalIp(v) === want)) ?? false;
}

/** Dotted numeric versions: 2.2.7 vs 2.1.0. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split(/[.-]/).map((p) => Number.parseInt(p, 10) || 0);
  const pb = b.split(/[.-]/).map((p) => Number.parseInt(p, 10) || 0);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

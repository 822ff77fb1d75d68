/**
 * plan: (Cluster, HostFacts[]) → Plan. Pure: no I/O, the same input gives the same JSON, which the
 * golden tests pin. Apply writes the files, installs the service and starts or reloads it.
 */
import { createHash } from 'node:crypto';
import type { Cluster, Host } from '../config/types.js';
import { renderAgentConfig } from '../render/agent-config.js';
import type { AgentCommand } from '../render/agent-command.js';
import { describeRedirectRules } from '../render/iptables.js';
import {
  renderKeepalivedConf,
  type KeepalivedInstance,
  type KeepalivedVirtualServer,
} from '../render/keepalived.js';
import {
  AGENT_BIN,
  CHAIN,
  AGENT_CONFIG,
  AGENT_DIR,
  AGENT_JS,
  CONFIG_DIR,
  KEEPALIVED_CONF,
} from '../contract/paths.js';
import { renderService, type ServiceCommands } from '../render/service.js';
import type { HostFacts } from './facts.js';
import type { InitSystem } from '../contract/paths.js';
import { packagePlan, type PackagePlan } from './packages.js';
import { neededProbeTools } from './preflight.js';
import { agentPackaging, type AgentPackaging } from './packaging.js';
import {
  familyOf,
  hostAddresses,
  resolveInterface,
  resolveUnicast,
  type ResolvedInterface,
} from './resolve.js';
import { everyVip } from '../config/cluster.js';

export interface PlannedFile {
  path: string;
  mode: number;
  owner: 'root';
  group: 'root';
  /** Text rendered here; absent for the agent build, which apply uploads from the local bundle. */
  content?: string;
  artifact?: 'agent-sea' | 'agent-js';
  /** sha256 hex of what lands on the host (of `content`, or of the artifact when opts gave it). */
  sha256?: string;
}

export interface PlannedInstance {
  name: string;
  interface: string;
  vips: string[];
  unicast?: { source: string; peers: string[] };
}

export interface HostPlan {
  host: string;
  hostname: string;
  init: InitSystem;
  packaging: AgentPackaging;
  directories: { path: string; mode: number }[];
  /** In write order: agent, service definition, agent.json, keepalived.conf. */
  files: PlannedFile[];
  service: { name: string; init: InitSystem; definitionPath: string; commands: ServiceCommands };
  packages?: PackagePlan;
  instances: PlannedInstance[];
  /** The nat rules the agent will hold (display only: the agent installs them itself). */
  iptablesRules: string[];
  /** VIPs on this host right now. */
  vipsHeld: string[];
  /** From facts; undefined when unknown. */
  agentRunning?: boolean;
}

export interface Plan {
  cluster: string;
  hosts: HostPlan[];
  /** Host names in the order to reload: VIP holders last, so a VIP moves at most once. */
  reloadOrder: string[];
}

export interface PlanOptions {
  /** cplbctl version written into agent.json (status shows it). */
  renderedBy?: string;
  /** sha256 of the local agent builds, so diffs can tell whether a host's agent is current. */
  agentSha256?: { sea?: string; js?: string };
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** The pure plan, from facts that passed assertFactsFit (validate-facts.ts): it does not check them again. */
export function plan(cluster: Cluster, facts: readonly HostFacts[], opts: PlanOptions = {}): Plan {
  const byHost = new Map(facts.map((f) => [f.host, f]));
  const factsOf = (h: Host) => byHost.get(h.name)!;
  const nics = new Map(cluster.controllers.map((h) => [h.name, interfacesOf(cluster, h, factsOf(h))]));
  const apiAddress = (h: Host, family: 4 | 6) =>
    apiAddressFor(cluster, h, factsOf(h), nics.get(h.name)!, family);
  const upstreamFamily = cluster.cplb.vrrpInstances[0] ? familyOf(cluster.cplb.vrrpInstances[0]) : 4;
  const upstreams = cluster.controllers.map((h) => ({
    address: apiAddress(h, upstreamFamily),
    port: cluster.cplb.apiServerPort,
  }));
  const virtualServers: KeepalivedVirtualServer[] = cluster.cplb.virtualServers.map((vs) => {
    const family = vs.ipAddress.includes(':') ? 6 : 4;
    return {
      address: vs.ipAddress,
      port: cluster.cplb.apiServerPort,
      delayLoopSeconds: vs.delayLoopSeconds,
      lbAlgo: vs.lbAlgo,
      lbKind: vs.lbKind,
      persistenceTimeoutSeconds: vs.persistenceTimeoutSeconds,
      realServers: cluster.controllers.map((h) => ({
        address: apiAddress(h, family),
        port: cluster.cplb.apiServerPort,
      })),
    };
  });

  const hosts = cluster.controllers.map((host) =>
    planHost(cluster, host, factsOf(host), nics.get(host.name)!, upstreams, virtualServers, opts),
  );
  const holds = (h: HostPlan) => (h.vipsHeld.length > 0 ? 1 : 0);
  const reloadOrder = [...hosts].sort((a, b) => holds(a) - holds(b)).map((h) => h.host);
  return {
    cluster: cluster.name,
    hosts,
    reloadOrder,
  };
}

function interfacesOf(cluster: Cluster, host: Host, facts: HostFacts): ResolvedInterface[] {
  return cluster.cplb.vrrpInstances.map((inst) => {
    const r = resolveInterface(host, inst, facts);
    if (!r.ok) throw new Error(`plan: ${r.message}`); // validateFacts reported it already
    return r.value;
  });
}

/** The host's address of a family on the NIC of its first instance of that family; the ssh address otherwise. */
function apiAddressFor(
  cluster: Cluster,
  host: Host,
  facts: HostFacts,
  nics: ResolvedInterface[],
  family: 4 | 6,
): string {
  const i = cluster.cplb.vrrpInstances.findIndex((inst) => familyOf(inst) === family);
  const onNic = i >= 0 ? hostAddresses(nics[i]!.iface, family)[0] : undefined;
  const anywhere = facts.interfaces.flatMap((n) => hostAddresses(n, family))[0];
  return (onNic ?? anywhere)?.address ?? host.ssh.address;
}

function planHost(
  cluster: Cluster,
  host: Host,
  facts: HostFacts,
  nics: ResolvedInterface[],
  upstreams: { address: string; port: number }[],
  virtualServers: KeepalivedVirtualServer[],
  opts: PlanOptions,
): HostPlan {
  const { cplb } = cluster;
  const instances: KeepalivedInstance[] = cplb.vrrpInstances.map((inst, i) => {
    const unicast = resolveUnicast(inst, facts);
    const k: KeepalivedInstance = {
      name: inst.name,
      interface: nics[i]!.iface.name,
      family: familyOf(inst),
      virtualRouterID: inst.virtualRouterID,
      advertIntervalSeconds: inst.advertIntervalSeconds,
      authPass: inst.authPass,
      vips: inst.vips.map((v) => v.cidr),
    };
    if (unicast?.ok) k.unicast = unicast.value;
    return k;
  });
  const keepalivedConf = renderKeepalivedConf({
    routerId: facts.hostname,
    vrrpVersion: cplb.vrrpVersion,
    instances,
    virtualServers,
  });

  const vips = everyVip(cluster).map(({ instance, vip }) => ({
    address: vip.address,
    prefix: vip.prefix,
    family: vip.family,
    apiServerPort: cplb.apiServerPort,
    instanceName: instance.name,
    // Only where the file sets it (k0s ignores it on IPv4): without it the agent uses k0s's default.
    ...(vip.family === 6 && instance.addressLabel !== undefined
      ? { addressLabel: instance.addressLabel }
      : {}),
  }));
  const backend = facts.iptables.backend ?? 'nft';
  const agentJson = renderAgentConfig({
    hostName: host.name,
    renderedBy: opts.renderedBy,
    keepalivedBinary: facts.keepalived.path,
    proxyEnabled: !cplb.disableLoadBalancer,
    proxyPort: cplb.proxyPort,
    upstreams,
    healthCheck: cplb.healthCheck,
    limits: cplb.proxy,
    metrics: cplb.metrics,
    vips,
    iptablesBackend: backend,
  });

  const packaging = agentPackaging(facts);
  if (!packaging.ok) throw new Error(`plan: ${packaging.message}`); // validateFacts reported it already
  const command: AgentCommand =
    packaging.value === 'sea'
      ? { kind: 'sea' }
      : { kind: 'js', nodePath: facts.node?.path ?? '/usr/bin/node' };
  const service = renderService(facts.init, command);
  const artifactSha = packaging.value === 'sea' ? opts.agentSha256?.sea : opts.agentSha256?.js;
  const agentFile: PlannedFile =
    packaging.value === 'sea'
      ? { path: AGENT_BIN, mode: 0o755, owner: 'root', group: 'root', artifact: 'agent-sea' }
      : { path: AGENT_JS, mode: 0o644, owner: 'root', group: 'root', artifact: 'agent-js' };
  if (artifactSha) agentFile.sha256 = artifactSha;
  const text = (path: string, mode: number, content: string): PlannedFile => ({
    path, mode, owner: 'root', group: 'root', content, sha256: sha256(content),
  }); // prettier-ignore

  const needV6 = cplb.vrrpInstances.some((i) => familyOf(i) === 6);
  const packages = packagePlan(
    facts,
    !cplb.disableLoadBalancer,
    !cplb.disableLoadBalancer && needV6,
    neededProbeTools(cluster),
  );
  const hostPlan: HostPlan = {
    host: host.name,
    hostname: facts.hostname,
    init: facts.init,
    packaging: packaging.value,
    directories: [
      { path: CONFIG_DIR, mode: 0o755 },
      { path: AGENT_DIR, mode: 0o755 },
    ],
    files: [
      agentFile,
      text(service.path, service.mode, service.content),
      text(AGENT_CONFIG, 0o600, agentJson),
      text(KEEPALIVED_CONF, 0o600, keepalivedConf),
    ],
    service: {
      name: service.name,
      init: service.init,
      definitionPath: service.path,
      commands: service.commands,
    },
    instances: instances.map((k) => ({
      name: k.name,
      interface: k.interface,
      vips: k.vips,
      ...(k.unicast ? { unicast: k.unicast } : {}),
    })),
    iptablesRules: cplb.disableLoadBalancer
      ? []
      : describeRedirectRules(vips, cplb.proxyPort, CHAIN, backend),
    vipsHeld: facts.interfaces.flatMap((i) => i.vipsHeld),
  };
  if (packages) hostPlan.packages = packages;
  if (facts.agent) hostPlan.agentRunning = facts.agent.running;
  return hostPlan;
}

/** The typed, defaulted cluster every later step works from. Built from either file format. */
import type { HealthCheck, MetricsSettings, ProxySettings } from './schema.js';

/** A path into the YAML document, as zod and the yaml package spell it. */
export type DocPath = ReadonlyArray<string | number>;

export type Role = 'controller' | 'controller+worker' | 'worker' | 'single';

export interface SshTarget {
  address: string;
  port: number;
  user: string;
  keyPath?: string;
  hostKey?: string;
  bastion?: SshTarget;
}

export interface Host {
  /** `address:port`, the name every message about this host uses (as k0sctl does). */
  name: string;
  role: Role;
  ssh: SshTarget;
  privateInterface?: string;
  path: DocPath;
}

export interface Vip {
  cidr: string;
  address: string;
  prefix: number;
  family: 4 | 6;
}

export interface VrrpInstance {
  index: number;
  /** keepalived's instance name; k0s's own naming, so logs read the same. */
  name: string;
  vips: Vip[];
  authPass: string;
  virtualRouterID: number;
  advertIntervalSeconds: number;
  interface?: string;
  /** Every controller's unicast source address: {unicastSourceIP} ∪ unicastPeers. Absent for multicast. */
  unicastSources?: string[];
  /** k0s's addressLabel for the IPv6 VIPs; undefined when unset or 0 (the agent then uses 10000, as k0s). */
  addressLabel?: number;
  path: DocPath;
}

export interface VirtualServer {
  ipAddress: string;
  delayLoopSeconds: number;
  lbAlgo: string;
  lbKind: string;
  persistenceTimeoutSeconds: number;
  path: DocPath;
}

export interface Cplb {
  vrrpInstances: VrrpInstance[];
  virtualServers: VirtualServer[];
  proxyPort: number;
  apiServerPort: number;
  disableLoadBalancer: boolean;
  vrrpVersion: 2 | 3;
  healthCheck: HealthCheck;
  /** The agent's proxy limits (cplbctl addition). */
  proxy: ProxySettings;
  /** Where each agent serves its metrics (cplbctl addition). */
  metrics: MetricsSettings;
}

export interface Cluster {
  file: string;
  format: 'native' | 'k0sctl';
  name: string;
  hosts: Host[];
  /** Hosts that take part in CPLB: controller and controller+worker. */
  controllers: Host[];
  cplb: Cplb;
  /** Where sections live in the document, for rules that point at a line. */
  paths: { cplb: DocPath; hosts: DocPath };
  /** Strings to redact from every message and log. */
  secrets: string[];
}

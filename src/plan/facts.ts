/** What the gather phases learn about a host. Parsers that fill it are pure (see parse-facts.ts). */
import type { InitSystem } from '../contract/paths.js';

export interface InterfaceAddress {
  address: string;
  prefix: number;
  family: 4 | 6;
  /** `ip` scope: global, link, host. */
  scope: string;
}

export interface NetInterface {
  name: string;
  mac: string;
  up: boolean;
  /** The host's own addresses; VIPs of this cluster are left out (k0sctl #1100). */
  addresses: InterfaceAddress[];
  /** VIPs of this cluster found on the NIC right now. */
  vipsHeld: string[];
}

export interface DefaultRoute {
  family: 4 | 6;
  interface: string;
  gateway?: string;
}

export interface ToolInfo {
  present: boolean;
  version?: string;
  path?: string;
}

/** Tools the pre-flight checks use (preflight.ts): listen for VRRP, ARP and NDP probes, ping. */
export const PROBE_TOOLS = ['tcpdump', 'arping', 'ndisc6', 'ping'] as const;
export type ProbeTool = (typeof PROBE_TOOLS)[number];

export interface OsInfo {
  id: string;
  idLike: string[];
  versionId?: string;
  prettyName: string;
}

/** A health check credential file as the host sees it (read only when the cluster names some). */
export interface HealthCheckFile {
  path: string;
  kind: 'file' | 'other' | 'missing';
  /** Permission bits (e.g. 0o600), for a regular file. */
  mode?: number;
}

export interface HostFacts {
  /** Host.name (`address:port`). */
  host: string;
  hostname: string;
  os: OsInfo;
  init: InitSystem;
  /** `uname -m`: x86_64, aarch64, ... */
  arch: string;
  /** Node.js on the host, when present (the JS bundle fallback needs >= 18). */
  node?: ToolInfo;
  keepalived: ToolInfo;
  iptables: ToolInfo & { backend?: 'nft' | 'legacy' };
  ip6tables: ToolInfo;
  /** The pre-flight tools found on PATH. */
  probeTools: ProbeTool[];
  /** apt, dnf, yum, apk, zypper: how missing tools would be installed. */
  packageManager?: 'apt' | 'dnf' | 'yum' | 'apk' | 'zypper';
  interfaces: NetInterface[];
  defaultRoutes: DefaultRoute[];
  /** cplb-agent as the host's init (or the plain launcher's pidfile) sees it; absent when unknown. */
  agent?: { running: boolean };
  /** The health check's credential files; absent when the cluster names none (or they were not read). */
  healthCheckFiles?: HealthCheckFile[];
  /** Host clock, ms since the epoch, and the local time it was read at (for skew checks). */
  clock: { remoteMs: number; localMs: number };
}

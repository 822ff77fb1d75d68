/**
 * The agent's status document: served on its socket and kept in its status file, which cplbctl reads
 * over SSH (status, verify, apply's last check). Fields marked "older agents: absent" are optional so
 * a newer cplbctl still reads an agent it has not upgraded yet.
 */
import type { RuleCheck } from './nat-rules.js';

export interface KeepalivedStatus {
  running: boolean;
  pid: number | undefined;
  restarts: number;
  startedAt: string | undefined;
  lastExit: { code: number | null; signal: string | null; at: string } | undefined;
  /** Exits in a row without a stable run (30 s) in between: the backoff's step (older agents: absent). */
  consecutiveFailures?: number;
  /** When the next start is due, while keepalived is down and a restart is pending. */
  nextRestartAt?: string;
}

export interface ForeignProcess {
  pid: number;
  cmdline: string;
}

export interface InstanceStatus {
  name: string;
  state: string;
  priority: number | undefined;
  since: string;
  /**
   * The first advert of lower priority this BACKUP discarded since its state last changed: it will
   * preempt the holder two adverts later (a hand-off; older agents: absent).
   */
  lowerAdvertSince?: string;
}

export interface UpstreamStatus {
  address: string;
  port: number;
  health: string;
  consecutiveFailures: number;
  lastError: string | undefined;
  /** Why up says less than usual: `401: readiness not visible without credentials` (older agents: absent). */
  note?: string;
  lastCheckAt: string | undefined;
  activeConnections: number;
  totalConnections: number;
  failedDials: number;
}

export interface AgentStatus {
  agent: {
    hostName: string;
    version: string;
    /** The build stamp the agent was built with (older agents and unstamped builds: absent). */
    build?: string;
    pid: number;
    startedAt: string;
    uptimeSeconds: number;
    configHash: string;
    keepalivedConfigHash: string | undefined;
    revision: string | undefined;
  };
  /** true when this node may hold the VIP (what the track file says). */
  health: {
    ok: boolean;
    reason: string;
    trackFileValue: number | undefined;
    /** `cplbctl drain` put the node out of service: not ok, and not a fault (older agents: absent). */
    drained?: boolean;
  };
  keepalived: KeepalivedStatus & { foreign: ForeignProcess[] };
  instances: InstanceStatus[];
  vips: Array<{ address: string; prefix: number; instanceName: string; held: boolean }>;
  proxy: {
    enabled: boolean;
    listening: boolean;
    bindAddress: string;
    bindPort: number;
    openConnections: number;
    /** The connection limit, and connections refused at it (older agents: absent). */
    maxConnections?: number;
    refusedOverLimit?: number;
    healthyUpstreams: number;
    upstreams: UpstreamStatus[];
  };
  iptables: {
    backend: string;
    chain: string;
    reasserts: number;
    rules: RuleCheck[];
    /** Rules that vanished after being in place and were put back, and when the last came back (older agents: absent). */
    repairs?: number;
    lastRepairAt?: string;
  };
}

/** How an agent names its build: the version, and its stamp as semver build metadata (`0.1.0+b2`). */
export function agentVersionText(agent: { version: string; build?: string }): string {
  return agent.build ? `${agent.version}+${agent.build}` : agent.version;
}

/** Header of the status file's first line; the epoch second it was written and the agent's pid follow. */
export const STATUS_FILE_TAG = 'cplb-status';

/** The status file's text → the document, when it was written (epoch seconds) and by which pid; undefined when malformed. */
export function parseStatusFile(
  text: string,
): { writtenAt: number; pid: number; status: AgentStatus } | undefined {
  const nl = text.indexOf('\n');
  const [tag, at, pid] = text.slice(0, nl).split(' ');
  if (tag !== STATUS_FILE_TAG || !/^\d+$/.test(at ?? '') || !/^\d+$/.test(pid ?? '')) return undefined;
  try {
    return {
      writtenAt: Number(at),
      pid: Number(pid),
      status: JSON.parse(text.slice(nl + 1)) as AgentStatus,
    };
  } catch {
    return undefined;
  }
}

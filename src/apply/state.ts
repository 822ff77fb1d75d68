/** What the apply phases share: filled in as the run goes, read by later phases. */
import type { Cluster, Host } from '../config/types.js';
import type { AgentBuild } from './agent-artifacts.js';
import type { FileMeta } from './current-files.js';
import { CplbError } from '../core/errors.js';
import type { LockOwner } from '../lock/host-lock.js';
import type { HostFacts } from '../plan/facts.js';
import type { CurrentFiles, HostDiff, PlanDiff } from '../plan/diff.js';
import type { HostPlan, Plan } from '../plan/plan.js';
import type { Remote } from '../ssh/remote.js';

export interface SshSettings {
  knownHostsFiles?: string[];
  acceptNewHostKeys?: boolean;
  connectTimeoutMs?: number;
  commandTimeoutMs?: number;
}

/** A file staged beside its target; for an agent build, the sha256 its hash stamp records. */
export interface StagedFile {
  path: string;
  stampSha256?: string;
}

export interface ApplyState {
  cluster: Cluster;
  ssh: SshSettings;
  remotes: Map<string, Remote>;
  /** Detect's raw output per host, completed into HostFacts by Gather. */
  osFacts: Map<string, string>;
  /** NET_SCRIPT's output, read in the lock's round trip, and the local clock at its midpoint. */
  netFacts: Map<string, { stdout: string; localMs: number }>;
  facts: Map<string, HostFacts>;
  lock: {
    owner: LockOwner;
    ttlSeconds: number;
    held: Set<string>;
    /** Refreshes the held locks every ttl/3 (src/apply/lock.ts) while any is held. */
    refresher?: NodeJS.Timeout;
    /** Set when a refresh found the lock taken by another run: nothing may change after that. */
    lost?: { host: string; holder: LockOwner | null };
  };
  /** The local agent builds, each read once this run (see agent-artifacts.ts). */
  agentBuilds: Map<string, Promise<AgentBuild>>;
  /** sha256 of the local agent builds, so the plan knows whether a host's agent is current. */
  agentSha256?: { sea?: string; js?: string };
  plan?: Plan;
  /** What each host has now at every planned path (read by the plan phase). */
  current: CurrentFiles;
  /** Mode and owner of each planned path that exists on each host (read by the plan phase). */
  currentMeta: Map<string, Map<string, FileMeta>>;
  diff?: PlanDiff;
  dryRun: boolean;
  /** Paths that change on each host this run (staged, then switched in by Start services). */
  written: Map<string, Set<string>>;
  /** Per host, files staged and not yet switched in (see staging.ts), by target path. */
  staged: Map<string, Map<string, StagedFile>>;
  /** Hosts that reloaded with every other host at once (a `together` rollout). */
  reloadedTogether: Set<string>;
  /** Hosts whose agent was started, restarted or reloaded this run. */
  restarted: Set<string>;
}

/** A run's empty state: everything else is filled in by the phases as they go. */
export function newApplyState(
  cluster: Cluster,
  ssh: SshSettings,
  owner: LockOwner,
  dryRun: boolean,
  ttlSeconds: number,
  agentSha256?: ApplyState['agentSha256'],
): ApplyState {
  return {
    cluster,
    ssh,
    remotes: new Map(),
    osFacts: new Map(),
    netFacts: new Map(),
    current: new Map(),
    currentMeta: new Map(),
    facts: new Map(),
    lock: { owner, ttlSeconds, held: new Set() },
    agentSha256,
    agentBuilds: new Map(),
    dryRun,
    written: new Map(cluster.controllers.map((h) => [h.name, new Set<string>()])),
    staged: new Map(),
    reloadedTogether: new Set(),
    restarted: new Set(),
  };
}

/**
 * Throws once a refresh has found our lock taken: the runner calls it before every phase, remoteOf
 * before every host step, so a run that lost its lock stops before its next change on any host.
 */
export function assertLockHeld(state: ApplyState): void {
  const lost = state.lock.lost;
  if (!lost) return;
  const h = lost.holder;
  const by = h
    ? `${h.owner} (pid ${h.pid}, \`${h.command}\`, since ${h.startedAt})`
    : 'another run (owner unknown)';
  throw new CplbError(`lost the host lock to ${by}; stopped before changing anything more`, {
    code: 'LOCK_LOST',
    fault: 'remote',
    host: lost.host,
    hint: 'another run now changes these hosts: let it finish, then check with `cplbctl verify` or apply again',
  });
}

/** The host's connection, for a phase about to use it: refused once the lock is lost. */
export function remoteOf(state: ApplyState, host: Host): Remote {
  assertLockHeld(state);
  const remote = state.remotes.get(host.name);
  if (!remote) throw new Error(`no connection to ${host.name}`);
  return remote;
}

export function hostPlanOf(state: ApplyState, host: Host): HostPlan {
  const hp = state.plan?.hosts.find((h) => h.host === host.name);
  if (!hp) throw new Error(`no plan for ${host.name}`);
  return hp;
}

export function diffOf(state: ApplyState, host: Host): HostDiff {
  const d = state.diff?.hosts.find((h) => h.host === host.name);
  if (!d) throw new Error(`no diff for ${host.name}`);
  return d;
}

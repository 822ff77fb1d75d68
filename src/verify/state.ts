/**
 * What status and verify share while they run. It extends ApplyState so apply's read-only phases
 * (connect, detect, gather facts) run unchanged; `tolerant` makes a host that fails them a row in the
 * report instead of the end of the run.
 */
import pLimit from 'p-limit';
import { newApplyState, type ApplyState, type SshSettings } from '../apply/state.js';
import type { Cluster, Host } from '../config/types.js';
import { DEFAULT_LOCK_TTL_SECONDS, type LockOwner } from '../lock/host-lock.js';
import { HostsFailedError, messageOf } from '../pipeline/errors.js';
import type { Phase } from '../pipeline/index.js';
import type { HostSnapshot } from './host-snapshot.js';
import type { Observation } from './sampler.js';
import type { LbReport } from './lb-probe.js';
import type { FailoverReport } from './failover/types.js';

export interface InspectState extends ApplyState {
  /** Hosts SSH could not reach, with why. */
  unreachable: Map<string, string>;
  /** Reachable hosts where a later read failed (facts), with why. */
  hostErrors: Map<string, string>;
  /** Why no plan could be made (config drift is then unknown). */
  planError?: string;
  snapshots: Map<string, HostSnapshot>;
  options: InspectOptions;
  observation?: Observation;
  lb?: LbReport;
  /** Why the load-balancing probe could not run. */
  lbError?: string;
  failover?: FailoverReport;
  /** Why --failover did not run (e.g. no single holder to start from). */
  failoverSkipped?: string;
  /** Undo steps of a failover round under way (the Failover phase's cleanup runs them after Ctrl-C). */
  failoverRestores: Set<() => Promise<void>>;
  /** What drain or uncordon did, for the command to print. */
  drain?: DrainOutcome;
}

export interface InspectOptions {
  /** TLS probes from this machine too, when it reaches the VIP. */
  localProbe: boolean;
  failover?: { mode: 'graceful' | 'crash'; rounds: number };
  drain?: DrainRequest;
}

export interface DrainRequest {
  action: 'drain' | 'uncordon';
  /** HOST as the operator typed it. */
  query: string;
  /** Drain even the last host that could hold a VIP. */
  force: boolean;
}

export interface DrainOutcome {
  action: 'drain' | 'uncordon';
  host: string;
  /** False when the host already was in the asked state (the command is idempotent). */
  changed: boolean;
  /** Who holds each VIP once the command is done. */
  vips: Array<{ vip: string; instance: string; holders: string[] }>;
  /** drain: from writing the marker to the last VIP held elsewhere. */
  handOffMs?: number;
}

/** `owner` matters only where the lock phases run (verify --failover changes hosts for a while). */
export function newInspectState(
  cluster: Cluster,
  ssh: SshSettings,
  owner: LockOwner,
  options: InspectOptions = { localProbe: false },
): InspectState {
  return {
    ...newApplyState(cluster, ssh, owner, false, DEFAULT_LOCK_TTL_SECONDS),
    unreachable: new Map(),
    hostErrors: new Map(),
    snapshots: new Map(),
    options,
    failoverRestores: new Set(),
  };
}

/** Controllers the connect phase reached (their connections stay open until the Disconnect phase). */
export function reachableHosts(state: InspectState): Host[] {
  return state.cluster.controllers.filter((h) => !state.unreachable.has(h.name));
}

/** Hosts with a connection and no failed read. */
function healthyReadHosts(state: InspectState): Host[] {
  return reachableHosts(state).filter((h) => !state.hostErrors.has(h.name));
}

/**
 * Runs a per-host phase host by host over the hosts that are still fine, recording a host that fails
 * (`into`) instead of failing the run. The phase's cleanup is kept.
 */
export function tolerant<S extends InspectState>(
  phase: Phase<S, Host>,
  into: 'unreachable' | 'hostErrors',
  hosts: (state: S) => Host[] = (s) => (into === 'unreachable' ? s.cluster.controllers : healthyReadHosts(s)),
): Phase<S, Host> {
  return {
    ...phase,
    async run(ctx) {
      const limit = pLimit(Math.max(1, ctx.concurrency));
      await Promise.all(
        hosts(ctx.state).map((host) =>
          limit(async () => {
            try {
              await phase.run({ ...ctx, hosts: [host] });
            } catch (err) {
              if (ctx.signal.aborted) throw err;
              ctx.state[into].set(host.name, hostMessage(err));
            }
          }),
        ),
      );
      if (ctx.signal.aborted) throw new Error('cancelled');
    },
  };
}

/** A phase run over the reachable controllers only (the lock phases: an unreachable host has no lock). */
export function onReachable<S extends InspectState>(phase: Phase<S, Host>): Phase<S, Host> {
  return {
    ...phase,
    run: (ctx) => phase.run({ ...ctx, hosts: reachableHosts(ctx.state) }),
    ...(phase.cleanup
      ? { cleanup: (ctx) => phase.cleanup!({ ...ctx, hosts: reachableHosts(ctx.state) }) }
      : {}),
  };
}

/** perHost wraps a host's error in a HostsFailedError naming the phase: keep the host's own why. */
function hostMessage(err: unknown): string {
  const first = err instanceof HostsFailedError ? err.failures[0]?.error : undefined;
  return messageOf(first ?? err);
}

/** What verify --failover measures and reports. */
import type { Disruption } from '../disruption.js';

export type FailoverMode = 'graceful' | 'crash';

/** The most a round may take, from the VRRP timers (see bounds.ts). */
export interface Bounds {
  movedMs: number;
  servedMs: number;
  /** How they were derived, for the report. */
  basis: string;
}

/** One prober's view: fresh TLS connections to VIP:6443 every 50 ms. */
export interface VantageFigures {
  from: string;
  probes: number;
  /** Probes started after the fault that failed (refused, reset, or no handshake within the timeout). */
  failed: number;
  /** Probes after the fault that succeeded only after SLOW_PROBE_MS (their SYN waited for ARP). */
  slow: number;
  /** From the fault until a prompt handshake started after the last failed or slow one completed. */
  servedAgainMs: number | null;
  /** Probes started before the fault that failed: the VIP was not serving to begin with. */
  failedBefore: number;
}

export interface RoundResult {
  round: number;
  mode: FailoverMode;
  vip: string;
  from: string;
  /** The first host the VIP appeared on. */
  to: string | null;
  /** Every host the VIP appeared on while watched, in order (two when both backups' timers fire together). */
  claimedBy: string[];
  /** From the fault until the VIP appeared on another host. */
  movedMs: number | null;
  /** The slowest vantage's servedAgainMs. */
  servedAgainMs: number | null;
  failedProbes: number;
  vantages: VantageFigures[];
  /** Holders after the old holder was restored and watched for a master-down interval. */
  holdersAfter: string[];
  tookBack: boolean;
  /**
   * The two disruption samplers' figures (new connections, reused connection) through the VIP from
   * this machine over the round; absent when this machine does not reach the VIP.
   */
  disruption?: Disruption[];
  bounds: Bounds;
  ok: boolean;
  problems: string[];
}

export interface Distribution {
  n: number;
  min: number;
  median: number;
  p90: number;
  max: number;
}

export interface FailoverReport {
  mode: FailoverMode;
  bounds: Bounds;
  rounds: RoundResult[];
  summary: {
    movedMs: Distribution | null;
    servedAgainMs: Distribution | null;
    failedProbes: Distribution | null;
  };
  ok: boolean;
}

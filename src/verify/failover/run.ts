/** verify --failover: N rounds against the first VIP, then the distribution of the figures. */
import type { Logger } from '../../pipeline/index.js';
import { reachableHosts, type InspectState } from '../state.js';
import { localHandshake, target } from '../tls.js';
import { boundsFor } from './bounds.js';
import { clockOffset } from './clock.js';
import { distribution } from './figures.js';
import { runRound, type FailoverVip } from './round.js';
import type { FailoverMode, FailoverReport, RoundResult } from './types.js';
import { vipAddresses } from '../../config/cluster.js';

/** How `ip` prints an address: IPv6 compressed, lower case. */
export function printedIp(address: string): string {
  return address.includes(':') ? new URL(`http://[${address}]/`).hostname.slice(1, -1) : address;
}

function failoverVip(state: InspectState): FailoverVip | undefined {
  const inst = state.cluster.cplb.vrrpInstances[0];
  const v = inst?.vips[0];
  if (!inst || !v) return undefined;
  return {
    address: v.address,
    printed: printedIp(v.address),
    instance: inst.name,
    // VRRP over IPv6 is version 3 whatever the setting (the renderer does the same).
    version: v.family === 6 ? 3 : state.cluster.cplb.vrrpVersion,
    advertSeconds: inst.advertIntervalSeconds,
  };
}

function summarizeRounds(mode: FailoverMode, vip: FailoverVip, rounds: RoundResult[]): FailoverReport {
  const nums = (pick: (r: RoundResult) => number | null) =>
    rounds.map(pick).filter((x): x is number => x !== null);
  return {
    mode,
    bounds: boundsFor(mode, vip.version, vip.advertSeconds),
    rounds,
    summary: {
      movedMs: distribution(nums((r) => r.movedMs)),
      servedAgainMs: distribution(nums((r) => r.servedAgainMs)),
      failedProbes: distribution(rounds.map((r) => r.failedProbes)),
    },
    ok: rounds.length > 0 && rounds.every((r) => r.ok),
  };
}

function brokenRound(mode: FailoverMode, vip: FailoverVip, round: number, err: unknown): RoundResult {
  const msg = err instanceof Error ? err.message : String(err);
  return {
    round, mode, vip: vip.address, from: '?', to: null, claimedBy: [], movedMs: null, servedAgainMs: null, failedProbes: 0,
    vantages: [], holdersAfter: [], tookBack: false, bounds: boundsFor(mode, vip.version, vip.advertSeconds),
    ok: false, problems: [msg],
  }; // prettier-ignore
}

export interface FailoverRun {
  mode: FailoverMode;
  rounds: number;
  localProbe: boolean;
  log: Logger;
  pending: Set<() => Promise<void>>;
  signal: AbortSignal;
  onRound?: (r: RoundResult) => void;
}

export async function runFailover(state: InspectState, run: FailoverRun): Promise<FailoverReport> {
  const vip = failoverVip(state);
  if (!vip) throw new Error('the cluster file has no VIP');
  const hosts = reachableHosts(state);
  const offsets = new Map(
    await Promise.all(
      hosts.map(async (h) => [h.name, await clockOffset(state.remotes.get(h.name)!)] as const),
    ),
  );
  for (const [h, o] of offsets)
    if (Math.abs(o) > 50)
      run.log.warn(`[${h}] clock is ${Math.round(o)} ms off this machine's (corrected for)`);
  let localProbe = false;
  if (run.localProbe) {
    const first = await localHandshake(target(vip.address, state.cluster.cplb.apiServerPort), 1000);
    localProbe = first.fingerprint !== undefined;
    if (!localProbe)
      run.log.info(`probing from this machine skipped: ${vip.address} does not answer here (${first.error})`);
  }
  const allVips = vipAddresses(state.cluster).map(printedIp);
  const rounds: RoundResult[] = [];
  for (let round = 1; round <= run.rounds && !run.signal.aborted; round++) {
    const ctx = {
      state,
      mode: run.mode,
      vip,
      allVips,
      round,
      offsets,
      localProbe,
      log: run.log,
      pending: run.pending,
    };
    let broken = false;
    const r = await runRound(ctx).catch(
      (err: unknown) => ((broken = true), brokenRound(run.mode, vip, round, err)),
    );
    rounds.push(r);
    run.onRound?.(r);
    // A host that did not come back, or no single holder to start from: further rounds mean nothing.
    if (broken || r.from === '') break;
  }
  return summarizeRounds(run.mode, vip, rounds);
}

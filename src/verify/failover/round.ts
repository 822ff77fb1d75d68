/**
 * One failover round: find the holder, start the watchers, cause the fault, time the VIP's move and
 * the outage, restore the old holder, and check that exactly one host holds the VIP afterwards and it
 * is not the old holder (equal priorities and state BACKUP: no preemption, no flap back).
 */
import { isIP } from 'node:net';
import { assertLockHeld } from '../../apply/state.js';
import { ipToBigInt } from '../../contract/net.js';
import type { Logger } from '../../pipeline/index.js';
import type { Remote } from '../../ssh/remote.js';
import { readAgentOnly } from '../host-snapshot.js';
import { startBothSamplers } from '../disruption-sampler.js';
import { sampleHost } from '../sampler.js';
import { reachableHosts, type InspectState } from '../state.js';
import { boundsFor, masterDownSeconds, MOVE_MARGIN_MS } from './bounds.js';
import {
  crashRestoreScript,
  crashScript,
  gracefulRestoreScript,
  gracefulScript,
  parseInjected,
} from './fault.js';
import { vantageFigures, type Probe } from './figures.js';
import { firstAdd, localProber, monitorScript, monitorStart, parseProbes, proberScript } from './watch.js';
import type { FailoverMode, RoundResult } from './types.js';

export interface FailoverVip {
  address: string;
  /** As `ip` prints it (IPv6 compressed). */
  printed: string;
  instance: string;
  version: 2 | 3;
  advertSeconds: number;
}

export interface RoundContext {
  state: InspectState;
  mode: FailoverMode;
  vip: FailoverVip;
  /** Every VIP of the cluster as `ip` prints it: a crashed holder loses them all. */
  allVips: string[];
  round: number;
  /** Host clock minus local clock, per host. */
  offsets: ReadonlyMap<string, number>;
  /** Probe from this machine too (it reaches the VIP). */
  localProbe: boolean;
  log: Logger;
  /** Restores not yet run, for the phase's cleanup after Ctrl-C. */
  pending: Set<() => Promise<void>>;
}

/** Lead time for the watchers to be running before the fault. */
const LEAD_MS = 400;
/** Watching goes on this long past the bound, so a late move is measured rather than cut off. */
const TAIL_MS = 1500;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runRound(rc: RoundContext): Promise<RoundResult> {
  const { state, vip, mode } = rc;
  // A round injects a fault: never once another run has taken the lock (it restores what it broke).
  assertLockHeld(state);
  const bounds = boundsFor(mode, vip.version, vip.advertSeconds);
  const result: RoundResult = {
    round: rc.round, mode, vip: vip.address, from: '', to: null, claimedBy: [], movedMs: null, servedAgainMs: null,
    failedProbes: 0, vantages: [], holdersAfter: [], tookBack: false, bounds, ok: false, problems: [],
  }; // prettier-ignore
  const fail = (msg: string) => (result.problems.push(msg), result);
  const hosts = reachableHosts(state);
  const remote = (name: string): Remote => state.remotes.get(name)!;
  const offset = (name: string) => rc.offsets.get(name) ?? 0;

  const holders = await holdersOf(state, vip.address);
  if (holders.length !== 1)
    return fail(`before the fault ${vip.address} is held by ${holders.join(', ') || 'no host'}`);
  const from = holders[0]!;
  result.from = from;
  const others = hosts.filter((h) => h.name !== from).map((h) => h.name);
  if (others.length === 0) return fail('no other controller to fail over to');
  const agent = await readAgentOnly(remote(from));
  if (!agent.ok) return fail(`[${from}] agent status unavailable: ${agent.error}`);

  const watchMs = LEAD_MS + bounds.servedMs + TAIL_MS;
  const watchdogS = Math.ceil(watchMs / 1000) + 30;
  const budget = { timeoutMs: watchMs + 20_000, allowFailure: true };
  const prober = tieBreakWinner(state, others, vip.instance);
  const monitors = Promise.allSettled(others.map((h) => remote(h).exec(monitorScript(watchMs), budget)));
  const remoteProbes = remote(prober).exec(
    proberScript(vip.address, state.cluster.cplb.apiServerPort, watchMs),
    budget,
  );
  const localProbes = rc.localProbe
    ? localProber(vip.address, state.cluster.cplb.apiServerPort, watchMs)
    : undefined;
  // The health check's path: the one every API server behind the VIP is known to answer.
  const samplers = rc.localProbe
    ? startBothSamplers({
        host: vip.address,
        port: state.cluster.cplb.apiServerPort,
        path: state.cluster.cplb.healthCheck.path,
      })
    : undefined;
  await sleep(LEAD_MS);

  const script =
    mode === 'crash' ? crashScript(agent.status.agent.pid, rc.allVips, watchdogS) : gracefulScript(watchdogS);
  const injected = await remote(from).exec(script, { timeoutMs: 15_000, allowFailure: true });
  const fault = parseInjected(injected.stdout);
  const restore = async () => {
    rc.pending.delete(restore);
    const undo =
      mode === 'crash'
        ? crashRestoreScript(agent.status.agent.pid, rc.allVips, fault?.watchdogPid)
        : gracefulRestoreScript(fault?.inode, fault?.watchdogPid);
    await remote(from).exec(undo, { timeoutMs: 15_000 });
  };
  rc.pending.add(restore);
  let watched: [
    PromiseSettledResult<{ stdout: string }>[],
    { stdout: string; stderr: string },
    Probe[] | undefined,
  ];
  try {
    watched = await Promise.all([monitors, remoteProbes, localProbes]);
  } finally {
    const figures = await samplers?.stop();
    if (figures) result.disruption = figures;
    await restore();
  }
  if (!fault)
    return fail(`[${from}] could not cause the fault: ${(injected.stderr || injected.stdout).trim()}`);
  const t0 = fault.atMs - offset(from);
  rc.log.debug(`round ${rc.round}: ${mode} fault on ${from}`);

  // When the VIP appeared elsewhere, by the kernel's clock of the host that took it.
  const [mon, probeOut, local] = watched;
  const claims: { host: string; ms: number }[] = [];
  for (const [i, m] of mon.entries()) {
    const host = others[i]!;
    if (m.status === 'rejected') return fail(`[${host}] ip monitor failed: ${String(m.reason)}`);
    const started = monitorStart(m.value.stdout);
    if (started === undefined || started - offset(host) > t0)
      return fail(`[${host}] ip monitor was not running before the fault`);
    const at = firstAdd(m.value.stdout, vip.printed);
    if (at !== undefined) claims.push({ host, ms: Math.round(at - offset(host) - t0) });
  }
  claims.sort((a, b) => a.ms - b.ms);
  result.claimedBy = claims.map((c) => c.host);
  result.to = claims[0]?.host ?? null;
  result.movedMs = claims[0]?.ms ?? null;
  const remoteList = parseProbes(probeOut.stdout).map((p) => shift(p, offset(prober)));
  if (remoteList.length === 0)
    result.problems.push(`[${prober}] the prober printed nothing: ${probeOut.stderr.trim()}`);
  else result.vantages.push(vantageFigures(prober, remoteList, t0));
  if (local) result.vantages.push(vantageFigures('this machine', local, t0));

  // crash: the keepalived that was killed must be replaced, not merely reported by an agent that
  // has not yet noticed (right after SIGCONT it may answer before it handles the exit).
  await waitBack(
    remote(from),
    vip.instance,
    mode,
    mode === 'crash' ? agent.status.keepalived.pid : undefined,
  );
  const after = await watchHolders(
    state,
    vip,
    masterDownSeconds(vip.version, vip.advertSeconds) * 1000 + MOVE_MARGIN_MS,
  );
  result.holdersAfter = after;
  result.tookBack = after.includes(from);
  return judgeRound(result);
}

/** The host's primary address on the instance's NIC: what VRRP compares when priorities are equal. */
function vrrpAddress(state: InspectState, host: string, instance: string): string {
  const nic = state.plan?.hosts
    .find((h) => h.host === host)
    ?.instances.find((i) => i.name === instance)?.interface;
  const iface = state.facts.get(host)?.interfaces.find((i) => i.name === nic);
  const family = state.cluster.cplb.vrrpInstances.find((i) => i.name === instance)?.vips[0]?.family ?? 4;
  const own = iface?.addresses.find((a) => a.family === family && a.scope === 'global')?.address;
  return own ?? state.cluster.controllers.find((h) => h.name === host)?.ssh.address ?? '0.0.0.0';
}

/**
 * The prober: the backup with the highest address, which wins when two backups claim the VIP at once
 * (equal priorities: their timers fire together). The loser of such a claim may miss the VIP for
 * seconds through a stale ARP entry (its winner's gratuitous ARP came while it held the VIP itself):
 * that host's own problem, not the failover's, and kept out of this measurement.
 */
function tieBreakWinner(state: InspectState, hosts: readonly string[], instance: string): string {
  const key = (h: string) => {
    const a = vrrpAddress(state, h, instance);
    return isIP(a) ? ipToBigInt(a) : 0n;
  };
  return [...hosts].sort((a, b) => (key(b) > key(a) ? 1 : key(b) < key(a) ? -1 : 0))[0]!;
}

function shift(p: Probe, offset: number): Probe {
  return { startMs: p.startMs - offset, endMs: p.endMs - offset, ok: p.ok };
}

export function judgeRound(r: RoundResult): RoundResult {
  const served = r.vantages.map((v) => v.servedAgainMs);
  r.servedAgainMs = served.includes(null) ? null : served.length ? Math.max(...(served as number[])) : null;
  r.failedProbes = r.vantages.reduce((n, v) => n + v.failed, 0);
  const p = r.problems;
  if (r.movedMs === null) p.push(`${r.vip} did not appear on another host while watched`);
  else if (r.movedMs > r.bounds.movedMs)
    p.push(`the VIP moved after ${r.movedMs} ms, above the ${r.bounds.movedMs} ms bound`);
  for (const v of r.vantages) {
    if (v.servedAgainMs === null) p.push(`[${v.from}] ${r.vip}:6443 did not serve again while watched`);
    else if (v.servedAgainMs > r.bounds.servedMs)
      p.push(`[${v.from}] served again after ${v.servedAgainMs} ms, above the ${r.bounds.servedMs} ms bound`);
    if (v.failedBefore) p.push(`[${v.from}] ${v.failedBefore} probes failed before the fault`);
  }
  if (r.holdersAfter.length !== 1)
    p.push(`after the restore ${r.vip} is held by ${r.holdersAfter.join(', ') || 'no host'}`);
  if (r.tookBack) p.push(`${r.from} took ${r.vip} back after it was restored`);
  r.ok = p.length === 0;
  return r;
}

async function holdersOf(state: InspectState, vip: string): Promise<string[]> {
  const req = { count: 1, intervalMs: 50, stats: false };
  const got = await Promise.all(
    reachableHosts(state).map((h) => sampleHost(state.remotes.get(h.name)!, req, [vip])),
  );
  return got.filter((s) => s.samples[0]?.vips.length).map((s) => s.host);
}

/** Every host seen holding the VIP while watched for `ms` (the old holder must not be among them). */
async function watchHolders(state: InspectState, vip: FailoverVip, ms: number): Promise<string[]> {
  const intervalMs = Math.max(50, Math.round((vip.advertSeconds * 1000) / 2));
  const req = { count: Math.max(2, Math.ceil(ms / intervalMs) + 1), intervalMs, stats: false };
  const got = await Promise.all(
    reachableHosts(state).map((h) => sampleHost(state.remotes.get(h.name)!, req, [vip.address])),
  );
  return got.filter((s) => s.samples.some((x) => x.vips.length)).map((s) => s.host);
}

/**
 * Until the old holder's keepalived runs again (another one than `killedPid`, when one was killed:
 * the agent restarts it after its backoff, which grows when crash rounds follow each other) and its
 * instance is out of STOP/FAULT.
 */
async function waitBack(
  remote: Remote,
  instance: string,
  mode: FailoverMode,
  killedPid: number | undefined,
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const a = await readAgentOnly(remote);
    const state = a.ok ? a.status.instances.find((i) => i.name === instance)?.state : undefined;
    // keepalived's notify also reports events such as MASTER_RX_LOWER_PRI: a prefix is the state.
    const replaced = killedPid === undefined || (a.ok && a.status.keepalived.pid !== killedPid);
    if (a.ok && a.status.keepalived.running && replaced && /^(BACKUP|MASTER)/.test(state ?? '')) return;
    if (Date.now() > deadline)
      throw new Error(
        `[${remote.name}] not back after the ${mode} round within ${timeoutMs / 1000} s (keepalived ${a.ok ? state : 'agent down'})`,
      );
    await sleep(250);
  }
}

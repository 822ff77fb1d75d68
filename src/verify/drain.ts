/**
 * What `cplbctl drain` and `uncordon` share: finding the host HOST names, the marker on it, and
 * watching the VIPs move. The agent does the work (src/agent: the marker puts its track file to
 * FAULT); these only set the marker and watch what keepalived does about it.
 */
import { maxAdvertSeconds } from '../config/cluster.js';
import type { Host } from '../config/types.js';
import { DRAIN_FILE } from '../contract/paths.js';
import { shq } from '../contract/quote.js';
import { CplbError } from '../core/errors.js';
import { drainRefusal, matchHost, type Candidate } from '../plan/drain.js';
import { dialHostOf, loadSshConfig, resolveAlias, type Remote } from '../ssh/index.js';
import { readHolding } from './handoff.js';
import { vipsAmong } from './host-report.js';
import type { HostSnapshot } from './host-snapshot.js';
import { reachableHosts, type DrainOutcome, type InspectState } from './state.js';

/** The controller HOST names, or a usage error (exit 2) naming what was tried. */
export function targetHost(state: InspectState, query: string): Host {
  const sshConfig = loadSshConfig();
  const names = state.cluster.controllers.map((h) => {
    const dial = dialHostOf(h.ssh, sshConfig);
    const hostname = state.facts.get(h.name)?.hostname;
    return {
      host: h,
      name: h.name,
      address: h.ssh.address,
      port: h.ssh.port,
      ...(dial !== h.ssh.address ? { dialHost: dial } : {}),
      ...(hostname ? { hostname } : {}),
    };
  });
  const match = matchHost(query, names, resolveAlias(query, sshConfig));
  if (!match.ok)
    throw new CplbError(match.message, {
      code: 'UNKNOWN_HOST',
      fault: 'usage',
      hint: '`cplbctl status FILE` lists the controllers and their hostnames',
    });
  return match.host.host;
}

/**
 * The controller HOST names and its connection (and, for drain, its snapshot); an unreachable or
 * unread host is an error naming why.
 */
export function reachableTarget(
  state: InspectState,
  verb: 'drain' | 'uncordon',
): { target: Host; remote: Remote; snap: HostSnapshot | undefined } {
  const target = targetHost(state, state.options.drain!.query);
  const remote = state.remotes.get(target.name);
  const snap = state.snapshots.get(target.name);
  // drain decides on the snapshot (already drained? the last host?); uncordon only removes a file.
  if (!remote || (verb === 'drain' && !snap))
    throw new CplbError(
      `cannot ${verb}: ${state.unreachable.get(target.name) ?? state.hostErrors.get(target.name) ?? 'not read'}`,
      { code: 'HOST_UNREACHABLE', fault: 'remote', host: target.name },
    );
  return { target, remote, snap };
}

/** Each controller as the last-host decision sees it, from the snapshots read under the lock. */
export function candidates(state: InspectState): Candidate[] {
  const reachable = new Set(reachableHosts(state).map((h) => h.name));
  return state.cluster.controllers.map((h) => {
    const snap = state.snapshots.get(h.name);
    const st = snap?.agent.ok ? snap.agent.status : undefined;
    return {
      name: h.name,
      reachable: reachable.has(h.name) && snap !== undefined,
      running: st !== undefined && st.keepalived.running,
      healthy: st?.health.ok === true,
      drained: snap?.drained === true || st?.health.drained === true,
      ...(st && !st.health.ok ? { reason: st.health.reason } : {}),
    };
  });
}

/** Refuses (exit 2, before anything changes) to drain the last host that could hold the VIPs. */
export function assertNotLast(state: InspectState, target: Host, force: boolean): string | undefined {
  const refusal = drainRefusal(target.name, candidates(state));
  if (refusal && !force)
    throw new CplbError(refusal, {
      code: 'LAST_HOST',
      fault: 'usage',
      host: target.name,
      hint: 'bring another controller back (or uncordon one) first; --force drains it anyway, and the VIPs go down',
    });
  return refusal;
}

/** Creates or removes the marker; prints whether it was there before. */
export async function setMarker(remote: Remote, drained: boolean): Promise<boolean> {
  const f = shq(DRAIN_FILE);
  const script = drained
    ? `if [ -e ${f} ]; then echo was; else mkdir -p ${shq(DRAIN_FILE.slice(0, DRAIN_FILE.lastIndexOf('/')))} && date -u +%FT%TZ >${f} && echo now; fi`
    : `if [ -e ${f} ]; then rm -f ${f} && echo now; else echo was; fi`;
  const res = await remote.exec(script, { timeoutMs: 20_000 });
  return res.stdout.trim().endsWith('now');
}

/** Who holds each VIP now, read afresh from every reachable host. */
export async function currentHolders(
  state: InspectState,
): Promise<{ vips: DrainOutcome['vips']; drainedByAgent: Set<string> }> {
  const read = await Promise.all(
    reachableHosts(state).map(async (h) => [h.name, await readHolding(state.remotes.get(h.name)!)] as const),
  );
  const held = new Map<string, string[]>();
  const drainedByAgent = new Set<string>();
  for (const [name, r] of read) {
    if (r.status?.health.drained === true) drainedByAgent.add(name);
    held.set(name, vipsAmong(state.cluster, r.addresses));
  }
  const vips = state.cluster.cplb.vrrpInstances.flatMap((inst) =>
    inst.vips.map((v) => ({
      vip: v.address,
      instance: inst.name,
      holders: state.cluster.controllers
        .filter((h) => held.get(h.name)?.includes(v.address))
        .map((h) => h.name),
    })),
  );
  return { vips, drainedByAgent };
}

/**
 * How long drain waits for the hand-off: the agent sees the marker within a second; keepalived's
 * priority-0 advert moves the VIP at once, and without it a peer takes over after 3 adverts; the
 * rest is margin for a loaded host.
 */
export function handOffBoundMs(state: InspectState): number {
  return 1000 + 3 * maxAdvertSeconds(state.cluster) * 1000 + 10_000;
}

/**
 * Waits until `done` holds for the current holders, polling every 250 ms, up to `boundMs`; returns
 * the last reading. The caller turns a timeout into its own error.
 */
export async function waitForHolders(
  state: InspectState,
  done: (now: Awaited<ReturnType<typeof currentHolders>>) => boolean,
  boundMs: number,
  signal: AbortSignal,
): Promise<{ ok: boolean; last: Awaited<ReturnType<typeof currentHolders>> }> {
  const deadline = Date.now() + boundMs;
  for (;;) {
    const now = await currentHolders(state);
    if (done(now)) return { ok: true, last: now };
    if (Date.now() >= deadline || signal.aborted) return { ok: false, last: now };
    await new Promise((r) => setTimeout(r, 250));
  }
}

export function describeHolders(vips: DrainOutcome['vips']): string {
  return vips.map((v) => `${v.vip} held by ${v.holders.join(', ') || 'no host'}`).join('; ');
}

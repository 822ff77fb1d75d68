/**
 * The make-before-break hand-off on the hosts (the choice is src/plan/handoff.ts): write the chosen
 * host's hand-off file, wait until it has preempted the holder, then remove the file again. Used by
 * `cplbctl drain` before its marker and by apply before it restarts a holder's agent.
 */
import { maxAdvertSeconds } from '../config/cluster.js';
import type { Cluster } from '../config/types.js';
import { KEEPALIVED_CONF, PREFER_NAME_PREFIX, preferFile, QUIESCE_FILE } from '../contract/paths.js';
import { shq } from '../contract/quote.js';
import { sectionBody, sections } from '../contract/script.js';
import type { AgentStatus } from '../contract/status.js';
import {
  handOffDone,
  planHandOff,
  QUIESCE_MAX_MS,
  quiesceDelayMs,
  type HandOffHostView,
  type HandOffMove,
} from '../plan/handoff.js';
import type { Remote } from '../ssh/index.js';
import { AGENT_STATUS_SH } from './host-snapshot.js';
import { nsToMs, parseIpOneline, SH_HEAD } from './sh.js';

export interface HandOffResult {
  /** What moved (empty when the holder held nothing, or nothing could move). */
  moves: HandOffMove[];
  /** From writing the first file to every VIP on its new host. */
  ms?: number;
  /** Why a VIP the holder holds did not move this way: the caller falls back to a graceful stop. */
  notMoved?: string;
}

const HOLDING_SH = `${SH_HEAD}m clock; now
${AGENT_STATUS_SH}m addr; ip -o addr show 2>/dev/null
m end
`;

/** The agent's status (undefined when unreadable) and the host's addresses, in one light round trip. */
export async function readHolding(remote: Remote): Promise<HandOffHostView> {
  const res = await remote.exec(HOLDING_SH, { timeoutMs: 10_000, allowFailure: true }).catch(() => undefined);
  if (!res) return { name: remote.name, addresses: [] };
  const list = sections(res.stdout);
  let status: AgentStatus | undefined;
  try {
    const doc = JSON.parse(sectionBody(list, 'agent') ?? '') as AgentStatus & { error?: string };
    if (doc.agent && !doc.error) status = doc;
  } catch {
    // no status: a host we know nothing about takes no VIP
  }
  const addresses = parseIpOneline(sectionBody(list, 'addr') ?? '').map((a) => a.address);
  const clockMs = nsToMs(sectionBody(list, 'clock'));
  return { name: remote.name, ...(status ? { status } : {}), addresses, ...(clockMs ? { clockMs } : {}) };
}

/** The preempting host waits out a master-down interval (3 adverts); the rest is margin. */
export function handOffWaitMs(cluster: Cluster): number {
  return (3 * maxAdvertSeconds(cluster) + 2) * 1000 + 5000;
}

const POLL_MS = 100;

/** Writes (1) or removes the hand-off files of `instances` on one host; says which its keepalived.conf lacks. */
async function setPreferred(remote: Remote, instances: readonly string[], on: boolean): Promise<string[]> {
  const lines = instances.map((inst) => {
    const f = shq(preferFile(inst));
    if (!on) return `rm -f ${f}`;
    // A keepalived.conf rendered before hand-off files would ignore the file: say so instead.
    return `if grep -qF ${shq(`${PREFER_NAME_PREFIX}${inst} `)} ${shq(KEEPALIVED_CONF)}; then printf '1\\n' >${shq(`${preferFile(inst)}.tmp`)} && mv -f ${shq(`${preferFile(inst)}.tmp`)} ${f}; else echo ${shq(`lacks ${inst}`)}; fi`;
  });
  const res = await remote.exec(lines.join('\n'), { timeoutMs: 15_000 });
  return res.stdout
    .split('\n')
    .filter((l) => l.startsWith('lacks '))
    .map((l) => l.slice('lacks '.length));
}

/** Creates or removes the holder's quiesce file. */
async function setQuiesce(remote: Remote, on: boolean): Promise<void> {
  const f = shq(QUIESCE_FILE);
  await remote.exec(on ? `: >${f}` : `rm -f ${f}`, { timeoutMs: 15_000 });
}

/**
 * When (this machine's clock) to quiesce the holder, from the first new holder that reports its
 * first discarded advert (on its own clock, read together with it at `readAt`); undefined until one does.
 */
function quiesceTime(
  cluster: Cluster,
  moves: readonly HandOffMove[],
  views: readonly HandOffHostView[],
  readAt: number,
): number | undefined {
  const times = moves.flatMap((m) => {
    const v = views.find((x) => x.name === m.to);
    const since = v?.status?.instances.find((i) => i.name === m.instance)?.lowerAdvertSince;
    const inst = cluster.cplb.vrrpInstances.find((i) => i.name === m.instance);
    if (!since || !v?.clockMs || !inst) return [];
    return [readAt + quiesceDelayMs(Date.parse(since), v.clockMs, inst.advertIntervalSeconds)];
  });
  return times.length ? Math.min(...times) : undefined;
}

/**
 * Moves every VIP `holder` holds to another host before the holder gives it up. Never throws for a
 * VIP that cannot move this way (no fit host, an old keepalived.conf, no preemption in time): the
 * result says why, and the caller's own step (a drain, a stop) still gives the VIP up gracefully.
 */
export async function handOffVips(opts: {
  cluster: Cluster;
  holder: Remote;
  peers: readonly Remote[];
  signal: AbortSignal;
}): Promise<HandOffResult> {
  const { cluster, holder, peers, signal } = opts;
  const all = [holder, ...peers];
  const views = await Promise.all(all.map(readHolding));
  const instances = cluster.cplb.vrrpInstances.map((i) => ({
    name: i.name,
    vips: i.vips.map((v) => v.address),
  }));
  const plan = planHandOff(holder.name, instances, views);
  const stuck = plan.stuck.map((s) => `${s.vips.join(', ')} (${s.instance}): ${s.why}`);
  if (plan.moves.length === 0)
    return { moves: [], ...(stuck.length ? { notMoved: `no host can take ${stuck.join('; ')}` } : {}) };

  const byHost = new Map<string, string[]>();
  for (const m of plan.moves) byHost.set(m.to, [...(byHost.get(m.to) ?? []), m.instance]);
  const remoteOf = (name: string) => all.find((r) => r.name === name)!;
  const t0 = Date.now();
  let quiesced: Promise<unknown> | undefined;
  let quiesceTimer: NodeJS.Timeout | undefined;
  try {
    const lacking = (
      await Promise.all(
        [...byHost].map(async ([name, insts]) =>
          (await setPreferred(remoteOf(name), insts, true)).map((i) => `${name} ${i}`),
        ),
      )
    ).flat();
    if (lacking.length)
      return {
        moves: [],
        notMoved: `the keepalived.conf of ${lacking.join(', ')} has no hand-off file (rendered by an older cplbctl)`,
      };
    const deadline = t0 + handOffWaitMs(cluster);
    const watched = [holder, ...[...byHost.keys()].map(remoteOf)];
    let quiesceAt: number | undefined;
    while (!signal.aborted) {
      const readAt = Date.now();
      const now = await Promise.all(watched.map(readHolding));
      // Once a new holder says when it will preempt, the holder stops taking new connections a moment
      // before: those in flight finish while the client's ARP still points at it.
      if (quiesceAt === undefined) {
        quiesceAt = quiesceTime(cluster, plan.moves, now, readAt);
        if (quiesceAt !== undefined)
          quiesceTimer = setTimeout(() => {
            quiesced = setQuiesce(holder, true).catch(() => undefined);
            // No move yet: a SYN dropped now must find the holder open when it is resent.
            quiesceTimer = setTimeout(() => {
              quiesced = quiesced?.then(() => setQuiesce(holder, false)).catch(() => undefined);
            }, QUIESCE_MAX_MS);
          }, quiesceAt - Date.now());
      }
      if (handOffDone(plan.moves, now[0]!, now)) {
        return {
          moves: plan.moves,
          ms: Date.now() - t0,
          ...(stuck.length ? { notMoved: stuck.join('; ') } : {}),
        };
      }
      if (Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
    return {
      moves: [],
      notMoved: `${[...byHost.keys()].join(', ')} did not take the VIP within ${Math.round((Date.now() - t0) / 1000)} s`,
    };
  } finally {
    clearTimeout(quiesceTimer);
    // Always: a host left preferred would take the VIP back after every later failover. (Its agent
    // removes a forgotten file after PREFER_TTL_MS, should this not reach it.)
    await Promise.all([
      ...[...byHost].map(([name, insts]) =>
        setPreferred(remoteOf(name), insts, false).catch(() => undefined),
      ),
      // After the move; its agent also ignores one older than QUIESCE_TTL_MS.
      quiesced ? quiesced.then(() => setQuiesce(holder, false)).catch(() => undefined) : undefined,
    ]);
  }
}

/** What to log of a hand-off: a line per move, and why a VIP did not move this way (`then` says what happens instead). */
export function logHandOff(
  r: HandOffResult,
  log: { info(msg: string, fields?: Record<string, number>): void; warn(msg: string): void },
  then: string,
): void {
  for (const m of r.moves)
    log.info(
      `handed ${m.vips.join(', ')} (${m.instance}) to ${m.to} (make-before-break) in ${r.ms} ms`,
      r.ms === undefined ? {} : { handOffMs: r.ms },
    );
  if (r.notMoved) log.warn(`no make-before-break hand-off (${r.notMoved}): ${then}`);
}

/**
 * Make-before-break: which host takes each VIP a holder is about to give up (drain, or its agent's
 * restart). The chosen host's hand-off file lifts its priority above the holder's, so it preempts
 * the holder: the VIP goes from one host to the other without a moment unheld, where a graceful stop
 * (a priority-0 advert) leaves it unheld for the skew time (220 ms at priority 200). Pure: the hosts
 * as read just before.
 */
import { canonicalIp } from '../contract/net.js';
import type { AgentStatus } from '../contract/status.js';

export interface HandOffInstance {
  name: string;
  vips: readonly string[];
}

export interface HandOffHostView {
  name: string;
  /** The agent's status; undefined when it could not be read. */
  status?: AgentStatus;
  /** Every address on the host now (`ip -o addr`). */
  addresses: readonly string[];
  /** The host's clock when it was read (ms since the epoch). */
  clockMs?: number;
}

export interface HandOffMove {
  instance: string;
  vips: string[];
  to: string;
}

export interface HandOffPlan {
  moves: HandOffMove[];
  /** Instances the holder holds that no host can take, and why. */
  stuck: { instance: string; vips: string[]; why: string }[];
}

const holds = (h: HandOffHostView, vips: readonly string[]) => {
  const here = new Set(h.addresses.map(canonicalIp));
  return vips.some((v) => here.has(canonicalIp(v)));
};

/** Why `h` cannot take `instance` now, or undefined when it can. */
export function unfitFor(h: HandOffHostView, inst: HandOffInstance): string | undefined {
  const st = h.status;
  if (!st) return 'agent status unreadable';
  if (!st.keepalived.running) return 'keepalived not running';
  if (st.health.drained) return 'drained';
  if (!st.health.ok) return `unhealthy (${st.health.reason})`;
  const state = st.instances.find((i) => i.name === inst.name)?.state;
  // Only a BACKUP hears the holder's adverts and preempts it; one still starting would not yet.
  if (state !== 'BACKUP') return `${inst.name} is ${state ?? 'not running'}`;
  if (holds(h, inst.vips)) return 'holds the VIP too';
  return undefined;
}

/**
 * For each instance whose VIP `holder` holds, the first other host (in the given order, the cluster
 * file's) that can take it. One host may take several instances.
 */
export function planHandOff(
  holder: string,
  instances: readonly HandOffInstance[],
  hosts: readonly HandOffHostView[],
): HandOffPlan {
  const from = hosts.find((h) => h.name === holder);
  const plan: HandOffPlan = { moves: [], stuck: [] };
  if (!from) return plan;
  const others = hosts.filter((h) => h.name !== holder);
  for (const inst of instances.filter((i) => holds(from, i.vips))) {
    const to = others.find((h) => unfitFor(h, inst) === undefined);
    if (to) plan.moves.push({ instance: inst.name, vips: [...inst.vips], to: to.name });
    else
      plan.stuck.push({
        instance: inst.name,
        vips: [...inst.vips],
        why: others.map((h) => `${h.name} ${unfitFor(h, inst)}`).join(', ') || 'no other controller',
      });
  }
  return plan;
}

/** Every move done: each VIP on its new host and off the holder. */
export function handOffDone(
  moves: readonly HandOffMove[],
  holder: HandOffHostView,
  hosts: readonly HandOffHostView[],
): boolean {
  return moves.every((m) => {
    const to = hosts.find((h) => h.name === m.to);
    return to !== undefined && m.vips.every((v) => holds(to, [v])) && !holds(holder, m.vips);
  });
}

/**
 * The new holder discards the holder's adverts from the first after its priority rose; its
 * master-down timer runs from the advert before, so it preempts after the third discard: keepalived
 * 2.2.7 did so 0.14-0.72 s after it (lab and CI). The holder quiesces QUIESCE_LEAD_MS before that
 * third discard, for at most QUIESCE_MAX_MS: long enough for a request in flight to finish, and short
 * of the second after which a client resends a dropped SYN, so the resent one meets the new holder
 * (a window over a second dropped it twice: a 3 s wait, seen once in CI).
 */
export const QUIESCE_LEAD_MS = 200;
export const QUIESCE_MAX_MS = 950;

/**
 * From the new holder's first discarded advert (`firstLowerMs`, on its clock, as is `hostNowMs`): ms
 * from now until the holder should quiesce.
 */
export function quiesceDelayMs(firstLowerMs: number, hostNowMs: number, advertSeconds: number): number {
  const thirdDiscard = firstLowerMs + 2 * advertSeconds * 1000;
  return Math.max(0, thirdDiscard - QUIESCE_LEAD_MS - hostNowMs);
}

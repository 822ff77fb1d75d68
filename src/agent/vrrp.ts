/** What the agent knows of each VRRP instance (from the notify fifo) and of the VIPs on its NICs. */
import { networkInterfaces } from 'node:os';
import type { AgentVip } from '../contract/agent-config.js';
import { execRunner } from './iptables.js';
import type { Logger } from './log.js';
import type { NotifyEvent } from './notify.js';
import type { InstanceStatus } from '../contract/status.js';
import { canonicalIp } from '../contract/net.js';

/** keepalived 2.x: `(k0s-vip-0) received lower priority (200) advert from 198.18.0.11 - discarding`. */
export function lowerAdvertOf(msg: string): string | undefined {
  return /^\((\S+)\) received lower priority \(\d+\) advert from \S+ - discarding/.exec(msg)?.[1];
}

export class VrrpStates {
  private readonly states = new Map<string, InstanceStatus>();

  /** Instances named in the config show up as UNKNOWN until keepalived reports them. */
  expect(names: string[]): void {
    for (const name of names) {
      if (!this.states.has(name))
        this.states.set(name, { name, state: 'UNKNOWN', priority: undefined, since: now() });
    }
    for (const name of [...this.states.keys()]) if (!names.includes(name)) this.states.delete(name);
  }

  /** Returns the previous state when this event changed it. */
  apply(event: NotifyEvent): string | undefined {
    if (event.kind !== 'INSTANCE') return undefined;
    const before = this.states.get(event.name);
    if (before?.state === event.state && before.priority === event.priority) return undefined;
    this.states.set(event.name, {
      name: event.name,
      state: event.state,
      priority: event.priority,
      since: before?.state === event.state ? before.since : now(),
      ...(before?.state === event.state && before.lowerAdvertSince
        ? { lowerAdvertSince: before.lowerAdvertSince }
        : {}),
    });
    return before?.state ?? 'UNKNOWN';
  }

  /**
   * keepalived said it discarded an advert of lower priority: this BACKUP outranks the holder and
   * preempts it once the master-down timer runs out. Keeps the first since the last state change;
   * true when this is it.
   */
  noteLowerAdvert(name: string, at = now()): boolean {
    const s = this.states.get(name);
    if (!s || s.state !== 'BACKUP' || s.lowerAdvertSince) return false;
    this.states.set(name, { ...s, lowerAdvertSince: at });
    return true;
  }

  /** keepalived died: whatever it said last no longer holds (a kill -9 of its VRRP child sends nothing). */
  markStopped(): void {
    for (const [name, s] of this.states) {
      if (s.state !== 'STOP') this.states.set(name, { ...s, state: 'STOP', since: now() });
    }
  }

  list(): InstanceStatus[] {
    return [...this.states.values()];
  }
}

/**
 * The VIPs whose neighbour entries this node must drop when an instance stops being MASTER. While it
 * held a VIP the kernel ignored the new holder's gratuitous ARP for it (the address was its own), so
 * after two nodes both claimed the VIP for an advert, the loser kept a stale entry and its own clients
 * could not reach the VIP for seconds. Flushed, the next packet asks ARP/ND afresh.
 */
export function vipsToForget(
  vips: readonly AgentVip[],
  instance: string,
  before: string,
  after: string,
): string[] {
  if (before !== 'MASTER' || after === 'MASTER') return [];
  return vips.filter((v) => v.instanceName === instance).map((v) => v.address);
}

/** `ip neigh flush to VIP`: best effort, logged either way. */
export async function forgetNeighbour(vip: string, log: Logger): Promise<void> {
  const res = await execRunner('ip', ['neigh', 'flush', 'to', vip]);
  if (res.code === 0) log.info('flushed the neighbour entry of a VIP given up', { vip });
  else log.warn('cannot flush the neighbour entry of a VIP given up', { vip, error: res.stderr.trim() });
}

function now(): string {
  return new Date().toISOString();
}

/** Addresses on this node's interfaces (getifaddrs lists keepalived's secondary VIPs too; no fork). */
export function localAddresses(): Set<string> {
  const set = new Set<string>();
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) set.add(canonicalIp(a.address));
  }
  return set;
}

export function heldVips(vips: AgentVip[], local = localAddresses()) {
  return vips.map((v) => ({
    address: v.address,
    prefix: v.prefix,
    instanceName: v.instanceName,
    held: local.has(canonicalIp(v.address)),
  }));
}

/**
 * How apply brings a change in once every host has it staged. Pure: the plan's keepalived.conf per
 * host against the one the host runs now.
 *
 * - `together`: a VRRP instance that stays changes how its routers know each other (router ID,
 *   password, version, advert interval, interface, unicast addresses). A host already on the new
 *   setting and one still on the old do not hear each other's adverts, and after three missed adverts
 *   each holds the VIP: so every host switches and reloads at once, well inside one master-down
 *   interval, and the holder keeps the VIP throughout.
 * - `rolling`: everything else (proxy port, health checks, VIPs added or removed, the agent itself) is
 *   safe host by host: hosts without a VIP first, VIP holders last and one at a time, so a VIP moves
 *   at most once and never to a host still on the old configuration.
 */
import { KEEPALIVED_CONF } from '../contract/paths.js';
import type { Plan } from './plan.js';

export interface Rollout {
  mode: 'together' | 'rolling';
  reason: string;
}

/**
 * Per vrrp_instance, the settings that make two routers one (everything but its VIPs and track files), as
 * `block/line` strings. Our own rendering is regular: one statement per line, braces at line ends.
 */
export function vrrpIdentities(conf: string): Map<string, Set<string>> {
  const instances = new Map<string, Set<string>>();
  let current: Set<string> | undefined;
  const blocks: string[] = [];
  for (const raw of conf.split('\n')) {
    const line = raw.replace(/#.*$/, '').trim();
    if (!line) continue;
    const open = /^(\S+)(?:\s+(\S+))?\s*\{$/.exec(line);
    if (open) {
      if (blocks.length === 0 && open[1] === 'vrrp_instance' && open[2]) {
        current = new Set();
        instances.set(open[2], current);
      }
      blocks.push(open[1]!);
      continue;
    }
    if (line === '}') {
      blocks.pop();
      if (blocks.length === 0) current = undefined;
      continue;
    }
    // VIPs and track files are each router's own business: adverts carry neither.
    if (!current || blocks.includes('virtual_ipaddress') || blocks.includes('track_file')) continue;
    current.add(`${blocks.slice(1).join('/')}${blocks.length > 1 ? '/' : ''}${line.replace(/\s+/g, ' ')}`);
  }
  return instances;
}

/** The keyword of a `block/line` entry, for messages: never the value (auth_pass is a secret). */
function keywordOf(entry: string): string {
  const parts = entry.split('/');
  const word = parts[parts.length - 1]!.split(' ')[0]!;
  // A list block's lines are bare values (unicast_peer's addresses): name the block.
  return /^[a-z_]+$/.test(word) ? word : parts[parts.length - 2]!;
}

/** Instances that exist before and after with different identities, and what differs in each. */
export function identityChanges(before: string, after: string): { instance: string; keys: string[] }[] {
  const old = vrrpIdentities(before);
  const changes: { instance: string; keys: string[] }[] = [];
  for (const [name, next] of vrrpIdentities(after)) {
    const prev = old.get(name);
    if (!prev) continue;
    const differ = [...next].filter((e) => !prev.has(e)).concat([...prev].filter((e) => !next.has(e)));
    if (differ.length) changes.push({ instance: name, keys: [...new Set(differ.map(keywordOf))].sort() });
  }
  return changes;
}

/** `current`: per host, per path, the file's text now (diff.ts's CurrentFiles). */
export function planRollout(
  plan: Plan,
  current: ReadonlyMap<string, ReadonlyMap<string, string | null>>,
): Rollout {
  for (const host of plan.hosts) {
    const conf = host.files.find((f) => f.path === KEEPALIVED_CONF);
    const before = current.get(host.host)?.get(KEEPALIVED_CONF);
    if (!conf?.content || !before) continue;
    const [change] = identityChanges(before, conf.content);
    if (!change) continue;
    // keepalived takes a new router ID for a new router: it drops the old one's VIPs and elects afresh.
    const reelect = change.keys.includes('virtual_router_id')
      ? '; keepalived elects the VIP afresh under a new router ID (no holder for up to one master-down interval; clients that know its MAC are still served)'
      : '';
    return {
      mode: 'together',
      reason: `${change.instance}: ${change.keys.join(', ')} changes; hosts on old and new settings would each hold the VIP, so every host switches and reloads at once${reelect}`,
    };
  }
  return {
    mode: 'rolling',
    reason: 'safe host by host: hosts without a VIP first, then each VIP holder, one at a time',
  };
}

/**
 * The rolling pass's steps: the hosts that hold no VIP all at once, then each VIP holder alone, in
 * plan.reloadOrder. A new agent build goes this way too, so the holder is replaced last, and only
 * once the hosts that take its VIP already run the new build.
 */
export function rollingSteps(plan: Plan): { hosts: string[]; vips: string[] }[] {
  const byName = new Map(plan.hosts.map((h) => [h.host, h]));
  const ordered = plan.reloadOrder.map((n) => byName.get(n)!);
  const first = ordered.filter((h) => h.vipsHeld.length === 0).map((h) => h.host);
  const holders = ordered
    .filter((h) => h.vipsHeld.length > 0)
    .map((h) => ({ hosts: [h.host], vips: h.vipsHeld }));
  return [...(first.length ? [{ hosts: first, vips: [] }] : []), ...holders];
}

/** The steps for the hosts that change, in words: `a, b at once, then c (holds 10.0.0.100)`. */
export function describeRollingOrder(plan: Plan, changed: ReadonlySet<string>): string {
  return rollingSteps(plan)
    .map((s) => ({ ...s, hosts: s.hosts.filter((h) => changed.has(h)) }))
    .filter((s) => s.hosts.length > 0)
    .map(
      (s) =>
        `${s.hosts.join(', ')}${s.hosts.length > 1 ? ' at once' : ''}${s.vips.length ? ` (holds ${s.vips.join(', ')})` : ''}`,
    )
    .join(', then ');
}

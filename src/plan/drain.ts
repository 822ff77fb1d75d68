/**
 * The pure parts of `cplbctl drain` and `uncordon`: which controller the operator means by HOST, and
 * whether draining it would leave a VIP nowhere to go.
 */
import { canonicalIp } from '../contract/net.js';

/** A controller as the operator may name it. */
export interface HostNames {
  /** Host.name: `address:port` (`[v6]:port`). */
  name: string;
  /** The cluster file's address (an IP, a DNS name or an ~/.ssh/config alias). */
  address: string;
  port: number;
  /** What ~/.ssh/config makes of the address (HostName), when it differs. */
  dialHost?: string;
  /** The hostname the host reports (what `status` shows); absent when it was not read. */
  hostname?: string;
}

/** What ~/.ssh/config makes of HOST when HOST is an alias there: HostName, and Port when set. */
export interface AliasTarget {
  host: string;
  port?: number;
}

export type HostMatch<H> = { ok: true; host: H } | { ok: false; message: string };

const sameAddress = (a: string, b: string) => canonicalIp(a) === canonicalIp(b);

/** `addr:port` or `[v6]:port` → its parts; undefined when the query has no port. */
function splitHostPort(query: string): { address: string; port: number } | undefined {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(query) ?? /^([^:]+):(\d+)$/.exec(query);
  return m ? { address: m[1]!, port: Number(m[2]) } : undefined;
}

function namesOf(h: HostNames): string {
  return [h.name, h.hostname, h.dialHost && h.dialHost !== h.address ? h.dialHost : undefined]
    .filter(Boolean)
    .join(' / ');
}

/**
 * The one controller HOST names: its `address:port`, its address (when no other controller shares
 * it), the hostname it reports, or an ~/.ssh/config alias whose HostName (and Port, when set) lead
 * to it. Tried in that order; the first way that finds any controller decides, and finding two is
 * an error (say `address:port`).
 */
export function matchHost<H extends HostNames>(
  query: string,
  hosts: readonly H[],
  alias?: AliasTarget,
): HostMatch<H> {
  const hp = splitHostPort(query);
  const ways: Array<[string, (h: H) => boolean]> = [
    ['address:port', (h) => hp !== undefined && h.port === hp.port && sameAddress(h.address, hp.address)],
    [
      'address',
      (h) => sameAddress(h.address, query) || (h.dialHost !== undefined && sameAddress(h.dialHost, query)),
    ],
    ['hostname', (h) => h.hostname !== undefined && h.hostname.toLowerCase() === query.toLowerCase()],
    [
      '~/.ssh/config alias',
      (h) =>
        alias !== undefined &&
        (sameAddress(alias.host, h.address) ||
          (h.dialHost !== undefined && sameAddress(alias.host, h.dialHost))) &&
        (alias.port === undefined || alias.port === h.port),
    ],
  ];
  for (const [way, test] of ways) {
    const found = hosts.filter(test);
    if (found.length === 1) return { ok: true, host: found[0]! };
    if (found.length > 1)
      return {
        ok: false,
        message: `${query} is the ${way} of ${found.length} controllers (${found.map((h) => h.name).join(', ')}): name one as address:port`,
      };
  }
  const unread = hosts.filter((h) => h.hostname === undefined).map((h) => h.name);
  return {
    ok: false,
    message:
      `${query} is no controller of the cluster file: matched against address:port, address, hostname` +
      `${alias ? ` and the ~/.ssh/config alias (HostName ${alias.host}${alias.port ? `, Port ${alias.port}` : ''})` : ' and ~/.ssh/config aliases'}` +
      ` of ${hosts.map(namesOf).join(', ')}` +
      (unread.length ? ` (hostname not read from ${unread.join(', ')}: unreachable)` : ''),
  };
}

/** What drain needs to know of each controller to tell whether another could hold the VIPs. */
export interface Candidate {
  name: string;
  reachable: boolean;
  /** The agent answers and keepalived runs. */
  running: boolean;
  /** The agent says this node may hold the VIP (track file 0). */
  healthy: boolean;
  drained: boolean;
  /** Why it is unhealthy, as the agent says. */
  reason?: string;
}

/**
 * Why draining `target` would leave the VIPs with no host to go to, or undefined when another
 * reachable, running, healthy and undrained controller can take them. Every controller runs every
 * VRRP instance, so one such host is enough for every VIP.
 */
export function drainRefusal(target: string, hosts: readonly Candidate[]): string | undefined {
  const others = hosts.filter((h) => h.name !== target);
  if (others.some((h) => h.reachable && h.running && h.healthy && !h.drained)) return undefined;
  const why = (h: Candidate) =>
    !h.reachable
      ? 'unreachable'
      : h.drained
        ? 'drained'
        : !h.running
          ? 'agent or keepalived not running'
          : `unhealthy${h.reason ? ` (${h.reason})` : ''}`;
  const list = others.map((h) => `${h.name} ${why(h)}`).join(', ');
  return `${target} is the last host that could hold the VIPs${list ? `: ${list}` : ' (the only controller)'}`;
}

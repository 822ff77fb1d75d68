/**
 * The lab's network: one namespace per host, a bridge namespace (br0 = main /24, br1 = secondary /24)
 * and one veth from the root namespace into it. Nothing forwards: the bridge namespace has forwarding
 * off, the root veth has forwarding off and IPv6 only for the lab's ULA /64 (when the lab has IPv6),
 * and the whole IPv4 prefix and IPv6 block are `unreachable` in the root namespace, so no lab packet
 * can leave the machine while the lab is up.
 */
import { access, writeFile } from 'node:fs/promises';
import type { HostPlan, LabLayout } from './layout.js';
import { ipBatch, run, waitFor } from './run.js';

export function rootRoutesFor(layout: LabLayout): string[][] {
  const routes = [['unreachable', layout.prefix]];
  if (layout.ipv6) routes.push(['unreachable', layout.ipv6.prefix]);
  return routes;
}

export async function addRootRoutes(routes: string[][]): Promise<void> {
  for (const r of routes) await run('ip', ['route', 'add', ...r]);
}

export async function removeRootRoutes(routes: string[][]): Promise<void> {
  for (const r of routes) await run('ip', ['route', 'del', ...r], { allowFailure: true });
}

export const netnsExists = (name: string): Promise<boolean> =>
  access(`/run/netns/${name}`).then(
    () => true,
    () => false,
  );

const linkExists = (name: string): Promise<boolean> =>
  access(`/sys/class/net/${name}`).then(
    () => true,
    () => false,
  );

/** Runs `sysctl -w` inside a namespace: /proc/sys/net shows the netns of whoever opens it. */
async function sysctlIn(netns: string, settings: string[]): Promise<void> {
  await run('nsenter', [`--net=/run/netns/${netns}`, '--', 'sysctl', '-q', '-w', ...settings]);
}

const NO_DAD = ['net.ipv6.conf.all.accept_dad=0', 'net.ipv6.conf.default.accept_dad=0'];

/**
 * IPv6 on the root veth for the lab's /64 only: no link-local, no router solicitations, no
 * autoconfiguration from whatever a lab host might advertise, no DAD wait. Hosts get no IPv6 default
 * route, so nothing in the lab sends this machine IPv6 traffic for anywhere but the lab.
 */
async function enableRootIpv6(veth: string): Promise<void> {
  const conf = `/proc/sys/net/ipv6/conf/${veth}`;
  for (const [key, value] of [
    ['accept_ra', '0'],
    ['autoconf', '0'],
    ['router_solicitations', '0'],
    ['accept_dad', '0'],
    ['addr_gen_mode', '1'],
    ['disable_ipv6', '0'],
  ] as const)
    await writeFile(`${conf}/${key}`, value);
}

function hostLinkLines(layout: LabLayout, host: HostPlan): string[] {
  const [e0, e1] = host.bridgePorts;
  const br = layout.bridgeNetns;
  return [
    // eth0 first: the NIC with the default route (eth1) is deliberately not the first one.
    `link add eth0 address ${host.macs[0]} type veth peer name ${e0} netns ${br}`,
    `link add eth1 address ${host.macs[1]} type veth peer name ${e1} netns ${br}`,
    'link set lo up',
    `addr add ${host.secondaryAddress}/24 dev eth0`,
    `addr add ${host.address}/24 dev eth1`,
    // nodad: usable at once (and accept_dad=0 in the namespace covers the VIPs keepalived adds).
    ...(host.address6 ? [`addr add ${host.address6}/64 dev eth1 nodad`] : []),
    'link set eth0 up',
    'link set eth1 up',
    `route add default via ${layout.gateway} dev eth1`,
  ];
}

export async function createNetwork(layout: LabLayout): Promise<void> {
  const br = layout.bridgeNetns;
  await ipBatch([br, ...layout.hosts.map((h) => h.netns)].map((ns) => `netns add ${ns}`));
  await sysctlIn(br, ['net.ipv4.ip_forward=0', 'net.ipv6.conf.all.forwarding=0']);
  await ipBatch(
    [
      'link set lo up',
      'link add br0 type bridge mcast_snooping 0',
      'link add br1 type bridge mcast_snooping 0',
      `addr add ${layout.gateway}/24 dev br0`,
      'link set br0 up',
      'link set br1 up',
    ],
    br,
  );

  await run('ip', ['link', 'add', layout.rootVeth, 'type', 'veth', 'peer', 'name', 'uplink', 'netns', br]);
  // Before the link comes up: no IPv6 (no link-local, no router solicitations) and no forwarding;
  // a lab with IPv6 then turns on just its own address (enableRootIpv6).
  await writeFile(`/proc/sys/net/ipv6/conf/${layout.rootVeth}/disable_ipv6`, '1');
  await writeFile(`/proc/sys/net/ipv4/conf/${layout.rootVeth}/forwarding`, '0');
  if (layout.ipv6) await enableRootIpv6(layout.rootVeth);
  await ipBatch([
    `addr add ${layout.rootAddress}/24 dev ${layout.rootVeth}`,
    ...(layout.ipv6 ? [`addr add ${layout.ipv6.rootAddress}/64 dev ${layout.rootVeth} nodad`] : []),
    `link set ${layout.rootVeth} up`,
  ]);

  await Promise.all(
    layout.hosts.map(async (h) => {
      // Before the links exist, so they inherit it: no DAD delay for any address (VIPs included).
      if (layout.ipv6) await sysctlIn(h.netns, NO_DAD);
      await ipBatch(hostLinkLines(layout, h), h.netns);
    }),
  );
  const ports = ['link set uplink master br0', 'link set uplink up'];
  for (const h of layout.hosts) {
    const [e0, e1] = h.bridgePorts;
    ports.push(
      `link set ${e0} master br1`,
      `link set ${e1} master br0`,
      `link set ${e0} up`,
      `link set ${e1} up`,
    );
  }
  await ipBatch(ports, br);
}

/** Deletes the root veth (both ends at once) and every lab namespace that exists. */
export async function destroyNetwork(layout: LabLayout): Promise<void> {
  if (await linkExists(layout.rootVeth))
    await run('ip', ['link', 'del', layout.rootVeth], { allowFailure: true });
  const names = [...layout.hosts.map((h) => h.netns), layout.bridgeNetns];
  const present = (await Promise.all(names.map(async (n) => ((await netnsExists(n)) ? n : null)))).filter(
    (n): n is string => n !== null,
  );
  await ipBatch(
    present.map((n) => `netns del ${n}`),
    undefined,
  ).catch(async () => {
    for (const n of present) await run('ip', ['netns', 'del', n], { allowFailure: true });
  });
  await waitFor(`${layout.rootVeth} to disappear`, 5000, async () => !(await linkExists(layout.rootVeth)));
}

/** Cable pulled (or plugged back): the bridge side goes down, so the host sees NO-CARRIER on both NICs. */
export async function setHostLinks(layout: LabLayout, host: HostPlan, up: boolean): Promise<void> {
  await ipBatch(
    host.bridgePorts.map((p) => `link set ${p} ${up ? 'up' : 'down'}`),
    layout.bridgeNetns,
  );
}

/** One cable: eth0 (nic 0, the secondary /24) or eth1 (nic 1, the main /24 with SSH and the default route). */
export async function setHostLink(layout: LabLayout, host: HostPlan, nic: 0 | 1, up: boolean): Promise<void> {
  await ipBatch([`link set ${host.bridgePorts[nic]} ${up ? 'up' : 'down'}`], layout.bridgeNetns);
}

export async function bridgePortsUp(layout: LabLayout): Promise<Map<string, boolean>> {
  const out = await run('ip', ['-n', layout.bridgeNetns, '-j', 'link', 'show']);
  const links = JSON.parse(out.stdout || '[]') as { ifname: string; flags?: string[] }[];
  return new Map(links.map((l) => [l.ifname, (l.flags ?? []).includes('UP')]));
}

/** Whether the lab's prefix is still held `unreachable` in the root namespace (the lab's safety net). */
export async function prefixHeld(prefix: string): Promise<boolean> {
  const out = await run('ip', ['-j', 'route', 'show', 'exact', prefix], { allowFailure: true });
  const routes = JSON.parse(out.stdout || '[]') as { type?: string }[];
  return routes.some((r) => r.type === 'unreachable');
}

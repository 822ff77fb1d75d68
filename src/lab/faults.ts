/**
 * Faults a test can inject: a pulled cable (both NICs, or one), a power loss, a sick API server, a
 * VRRP split brain (IP protocol 112 dropped on the bridge, in the bridge namespace's forward hook),
 * and a switch that drops multicast VRRP only (adverts to 224.0.0.18), as some cloud and
 * datacentre networks do: unicast VRRP still crosses it.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { CplbError } from '../core/errors.js';
import type { HostPlan, LabLayout } from './layout.js';
import { hostRunning, stopHost } from './hosts.js';
import { setHostLink, setHostLinks } from './net.js';
import { run } from './run.js';
import { AUTH_FILE, SICK_FILE } from './standin.js';
import type { LabState } from './state.js';

export const HOST_FAULTS = [
  'link-down',
  'link-up',
  'crash',
  'apiserver-sick',
  'apiserver-healthy',
  'apiserver-auth',
  'apiserver-anonymous',
  'link-down-eth0',
  'link-up-eth0',
  'link-down-eth1',
  'link-up-eth1',
] as const;
/** unblock-vrrp lifts every VRRP block, the multicast-only one included. */
export const LAB_FAULTS = ['block-vrrp', 'unblock-vrrp', 'block-vrrp-multicast'] as const;
export type HostFault = (typeof HOST_FAULTS)[number];
export type LabFault = (typeof LAB_FAULTS)[number];
export type Fault = HostFault | LabFault;

export const isHostFault = (f: string): f is HostFault => (HOST_FAULTS as readonly string[]).includes(f);
export const isLabFault = (f: string): f is LabFault => (LAB_FAULTS as readonly string[]).includes(f);

const NFT_TABLE = 'cplb_lab';
/** A table of its own, so block-vrrp and block-vrrp-multicast can be on at once and lab status tells them apart. */
const NFT_MC_TABLE = 'cplb_lab_mc';
/** VRRP's IPv4 multicast group (RFC 5798 section 5.1.1.2). */
const VRRP_GROUP = '224.0.0.18';
const MC_RULE = ['-p', '112', '-d', VRRP_GROUP, '-j', 'DROP'];

const inBridgeNs = (layout: LabLayout) => ['nsenter', `--net=/run/netns/${layout.bridgeNetns}`, '--'];

async function inNs(layout: LabLayout, argv: string[], input?: string, allowFailure = false) {
  const [cmd, ...args] = [...inBridgeNs(layout), ...argv];
  // A tool that is not installed (no nft) is nsenter's exit 127: just another failed attempt.
  return run(cmd as string, args, { input, allowFailure });
}

/**
 * The nft bridge family needs no br_netfilter; iptables on the bridged FORWARD chain (with
 * bridge-nf-call-iptables) is the fallback for kernels without it.
 */
async function blockVrrp(layout: LabLayout): Promise<void> {
  const rules = [
    `add table bridge ${NFT_TABLE}`,
    `flush table bridge ${NFT_TABLE}`,
    `add chain bridge ${NFT_TABLE} forward { type filter hook forward priority 0; policy accept; }`,
    `add rule bridge ${NFT_TABLE} forward ip protocol 112 counter drop`,
    '',
  ].join('\n');
  const nft = await inNs(layout, ['nft', '-f', '-'], rules, true);
  if (nft.code === 0) return;
  await inNs(layout, ['sysctl', '-q', '-w', 'net.bridge.bridge-nf-call-iptables=1']);
  const exists = await inNs(
    layout,
    ['iptables', '-C', 'FORWARD', '-p', '112', '-j', 'DROP'],
    undefined,
    true,
  );
  if (exists.code !== 0) await inNs(layout, ['iptables', '-I', 'FORWARD', '-p', '112', '-j', 'DROP']);
}

/** Like blockVrrp, but only adverts to the multicast group: unicast VRRP still passes. */
async function blockVrrpMulticast(layout: LabLayout): Promise<void> {
  const rules = [
    `add table bridge ${NFT_MC_TABLE}`,
    `flush table bridge ${NFT_MC_TABLE}`,
    `add chain bridge ${NFT_MC_TABLE} forward { type filter hook forward priority 0; policy accept; }`,
    `add rule bridge ${NFT_MC_TABLE} forward ip protocol 112 ip daddr ${VRRP_GROUP} counter drop`,
    '',
  ].join('\n');
  const nft = await inNs(layout, ['nft', '-f', '-'], rules, true);
  if (nft.code === 0) return;
  await inNs(layout, ['sysctl', '-q', '-w', 'net.bridge.bridge-nf-call-iptables=1']);
  const exists = await inNs(layout, ['iptables', '-C', 'FORWARD', ...MC_RULE], undefined, true);
  if (exists.code !== 0) await inNs(layout, ['iptables', '-I', 'FORWARD', ...MC_RULE]);
}

async function unblockVrrp(layout: LabLayout): Promise<void> {
  for (const table of [NFT_TABLE, NFT_MC_TABLE])
    await inNs(layout, ['nft', 'delete', 'table', 'bridge', table], undefined, true);
  for (const rule of [['-p', '112', '-j', 'DROP'], MC_RULE]) {
    for (;;) {
      const del = await inNs(layout, ['iptables', '-D', 'FORWARD', ...rule], undefined, true);
      if (del.code !== 0) break;
    }
  }
}

export async function vrrpBlocked(layout: LabLayout): Promise<boolean> {
  const nft = await inNs(layout, ['nft', 'list', 'table', 'bridge', NFT_TABLE], undefined, true);
  if (nft.code === 0) return true;
  const ipt = await inNs(layout, ['iptables', '-C', 'FORWARD', '-p', '112', '-j', 'DROP'], undefined, true);
  return ipt.code === 0;
}

/** A switch file in the host's own /run: present (with `text`) or absent. */
async function setSwitch(
  state: LabState,
  host: HostPlan,
  file: string,
  text: string | undefined,
): Promise<void> {
  if (host.role !== 'controller') {
    throw new CplbError(`${host.name} runs no API server stand-in`, { code: 'LAB_FAULT', fault: 'usage' });
  }
  const pid = state.hosts[host.name]?.pid;
  if (!pid || !(await hostRunning(state, host))) {
    throw new CplbError(`${host.name} is not running`, {
      code: 'LAB_HOST_DOWN',
      fault: 'internal',
      hint: 'lab up restarts it',
    });
  }
  const path = `/proc/${pid}/root${file}`;
  if (text !== undefined) {
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, text);
  } else {
    await rm(path, { force: true });
  }
}

export async function applyHostFault(state: LabState, host: HostPlan, fault: HostFault): Promise<void> {
  switch (fault) {
    case 'link-down':
    case 'link-up':
      return setHostLinks(state.layout, host, fault === 'link-up');
    case 'link-down-eth0':
    case 'link-up-eth0':
    case 'link-down-eth1':
    case 'link-up-eth1':
      return setHostLink(state.layout, host, fault.endsWith('eth0') ? 0 : 1, fault.startsWith('link-up'));
    case 'crash':
      return stopHost(state, host);
    case 'apiserver-sick':
    case 'apiserver-healthy':
      return setSwitch(state, host, SICK_FILE, fault === 'apiserver-sick' ? 'sick\n' : undefined);
    // 401 to anonymous requests (kube-apiserver --anonymous-auth=false). To accept a token as well,
    // write it into AUTH_FILE on the host (lab exec).
    case 'apiserver-auth':
    case 'apiserver-anonymous':
      return setSwitch(state, host, AUTH_FILE, fault === 'apiserver-auth' ? '' : undefined);
  }
}

export async function applyLabFault(state: LabState, fault: LabFault): Promise<void> {
  switch (fault) {
    case 'block-vrrp':
      return blockVrrp(state.layout);
    case 'block-vrrp-multicast':
      return blockVrrpMulticast(state.layout);
    case 'unblock-vrrp':
      return unblockVrrp(state.layout);
  }
}

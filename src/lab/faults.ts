/**
 * Faults a test can inject: a pulled cable, a power loss, a sick API server, and a VRRP split brain
 * (IP protocol 112 dropped on the bridge, in the bridge namespace's forward hook).
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { CplbError } from '../core/errors.js';
import type { HostPlan, LabLayout } from './layout.js';
import { hostRunning, stopHost } from './hosts.js';
import { setHostLinks } from './net.js';
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
] as const;
export const LAB_FAULTS = ['block-vrrp', 'unblock-vrrp'] as const;
export type HostFault = (typeof HOST_FAULTS)[number];
export type LabFault = (typeof LAB_FAULTS)[number];
export type Fault = HostFault | LabFault;

export const isHostFault = (f: string): f is HostFault => (HOST_FAULTS as readonly string[]).includes(f);
export const isLabFault = (f: string): f is LabFault => (LAB_FAULTS as readonly string[]).includes(f);

const NFT_TABLE = 'cplb_lab';

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

async function unblockVrrp(layout: LabLayout): Promise<void> {
  await inNs(layout, ['nft', 'delete', 'table', 'bridge', NFT_TABLE], undefined, true);
  for (;;) {
    const del = await inNs(layout, ['iptables', '-D', 'FORWARD', '-p', '112', '-j', 'DROP'], undefined, true);
    if (del.code !== 0) break;
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
  return fault === 'block-vrrp' ? blockVrrp(state.layout) : unblockVrrp(state.layout);
}

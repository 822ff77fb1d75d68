/**
 * The lab's layout as pure data: names, addresses, MACs and the deliberate quirks (default route on the
 * second NIC, one host on port 2222, one host without root logins). Everything that `up` creates and
 * `down` removes is named here, so both agree without asking the system.
 */
import { createHash } from 'node:crypto';
import { CplbError } from '../core/errors.js';

/** plain: no init system; openrc: plain hosts that OpenRC booted (its state in /run); systemd: nspawn. */
export type LabFlavor = 'plain' | 'openrc' | 'systemd';
export const LAB_FLAVORS: readonly LabFlavor[] = ['plain', 'openrc', 'systemd'];
export type HostRole = 'controller' | 'client';

export interface Cidr {
  /** Network address as an unsigned 32-bit integer. */
  base: number;
  len: number;
}

export interface HostPlan {
  name: string;
  index: number;
  role: HostRole;
  /** Address on the main /24 (eth1, holds the default route); SSH and the stand-in listen here. */
  address: string;
  /** Address on the secondary /24 (eth0, no default route). */
  secondaryAddress: string;
  sshPort: number;
  user: string;
  rootLogin: boolean;
  netns: string;
  /** MACs of eth0 and eth1, fixed so a recreated host does not meet stale ARP entries. */
  macs: [string, string];
  /** The bridge-side veth names of eth0 and eth1 (inside the bridge namespace). */
  bridgePorts: [string, string];
  /** Address on the main IPv6 /64 (eth1), when the lab has IPv6 (layout6.ts). */
  address6?: string;
}

export interface LabLayout {
  name: string;
  flavor: LabFlavor;
  /** The whole reserved range: routed `unreachable` in the root namespace while the lab is up. */
  prefix: string;
  mainNet: string;
  secondaryNet: string;
  /** On the bridge namespace's br0; that namespace never forwards, so nothing leaves through it. */
  gateway: string;
  /** The root namespace's own address on the lab (veth into the bridge namespace). */
  rootAddress: string;
  vip: string;
  bridgeNetns: string;
  rootVeth: string;
  hosts: HostPlan[];
  /** The lab's IPv6 side (layout6.ts); only when asked for (`lab up --ipv6`). */
  ipv6?: LabIpv6;
}

/** The lab's IPv6 side, planned by layout6.ts. */
export interface LabIpv6 {
  /** The whole ULA block: routed `unreachable` in the root namespace while the lab is up. */
  prefix: string;
  /** The main /64 (eth1 of every host, and the root namespace's veth). */
  mainNet: string;
  /** The root namespace's own address on the lab: tests reach [VIP]:6443 from here. */
  rootAddress: string;
  /** An IPv6 VIP for test cluster files (the lab's own cluster file stays IPv4). */
  vip: string;
}

export const DEFAULT_POOL = '198.18.0.0/15';
/** A lab needs two /24s: the main network and the secondary one. */
export const LAB_BLOCK_LEN = 23;
const MAX_CONTROLLERS = 80;
export const NON_ROOT_USER = 'cplb';

function parseIp(text: string): number | null {
  const parts = text.split('.');
  if (parts.length !== 4) return null;
  let n = 0;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) return null;
    n = n * 256 + Number(p);
  }
  return n;
}

function formatIp(n: number): string {
  return [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');
}

function cidrSize(c: Cidr): number {
  return 2 ** (32 - c.len);
}

export function formatCidr(c: Cidr): string {
  return `${formatIp(c.base)}/${c.len}`;
}

/** Parses `a.b.c.d/len` (a bare address is /32). Returns null for anything else, IPv6 included. */
export function tryParseCidr(text: string): Cidr | null {
  const [addr, lenText, extra] = text.split('/');
  if (addr === undefined || extra !== undefined) return null;
  const ip = parseIp(addr);
  const len = lenText === undefined ? 32 : /^\d{1,2}$/.test(lenText) ? Number(lenText) : NaN;
  if (ip === null || !(len >= 0 && len <= 32)) return null;
  const size = 2 ** (32 - len);
  return { base: ip - (ip % size), len };
}

export function parsePrefix(text: string): Cidr {
  const c = tryParseCidr(text);
  if (!c || !text.includes('/')) {
    throw new CplbError(`--prefix ${text} is not an IPv4 CIDR`, {
      code: 'LAB_PREFIX',
      fault: 'usage',
      hint: 'e.g. --prefix 198.18.4.0/23',
    });
  }
  if (c.len > LAB_BLOCK_LEN) {
    throw new CplbError(`--prefix ${text} is too small: the lab needs a /${LAB_BLOCK_LEN} or larger`, {
      code: 'LAB_PREFIX',
      fault: 'usage',
    });
  }
  const first = Math.floor(c.base / 2 ** 24);
  if (first === 0 || first === 127 || first >= 224) {
    throw new CplbError(`--prefix ${text} is not a usable unicast range`, {
      code: 'LAB_PREFIX',
      fault: 'usage',
    });
  }
  return c;
}

export function overlaps(a: Cidr, b: Cidr): boolean {
  return a.base < b.base + cidrSize(b) && b.base < a.base + cidrSize(a);
}

export function validateLabName(name: string): void {
  if (!/^[a-z][a-z0-9-]{0,19}$/.test(name) || name.endsWith('-')) {
    throw new CplbError(`lab name ${JSON.stringify(name)} is not valid`, {
      code: 'LAB_NAME',
      fault: 'usage',
      hint: 'use 1-20 of a-z, 0-9 and -, starting with a letter',
    });
  }
}

function hexByte(n: number): string {
  return (n & 0xff).toString(16).padStart(2, '0');
}

export function planLayout(name: string, flavor: LabFlavor, prefix: Cidr, controllers: number): LabLayout {
  validateLabName(name);
  if (!Number.isInteger(controllers) || controllers < 1 || controllers > MAX_CONTROLLERS) {
    throw new CplbError(`--hosts must be 1-${MAX_CONTROLLERS}`, { code: 'LAB_HOSTS', fault: 'usage' });
  }
  const labHash = createHash('sha256').update(name).digest();
  const main = prefix.base;
  const secondary = prefix.base + 256;
  const at = (net: number, host: number) => formatIp(net + host);
  const mac = (nic: number, index: number) =>
    ['02', 'cb', hexByte(labHash[0] ?? 0), hexByte(nic), hexByte(index >> 8), hexByte(index)].join(':');

  const hosts: HostPlan[] = [];
  const add = (hostName: string, index: number, role: HostRole, octet: number) => {
    // The realism the issue asks for: c2 listens on 2222, c3 refuses root and has a sudo user.
    const rootLogin = !(role === 'controller' && index === 3);
    hosts.push({
      name: hostName,
      index,
      role,
      address: at(main, octet),
      secondaryAddress: at(secondary, octet),
      sshPort: role === 'controller' && index === 2 ? 2222 : 22,
      user: rootLogin ? 'root' : NON_ROOT_USER,
      rootLogin,
      netns: `cplb-${name}-${hostName}`,
      macs: [mac(0, index), mac(1, index)],
      bridgePorts: [`${hostName}-e0`, `${hostName}-e1`],
    });
  };
  for (let i = 1; i <= controllers; i++) add(`c${i}`, i, 'controller', 10 + i);
  add('client', controllers + 1, 'client', 200);

  return {
    name,
    flavor,
    prefix: formatCidr(prefix),
    mainNet: `${formatIp(main)}/24`,
    secondaryNet: `${formatIp(secondary)}/24`,
    gateway: at(main, 1),
    rootAddress: at(main, 254),
    vip: `${at(main, 100)}/24`,
    bridgeNetns: `cplb-${name}-net`,
    rootVeth: `cplb${labHash.toString('hex').slice(0, 8)}`,
    hosts,
  };
}

/**
 * The lab: real hosts on one Linux machine (network namespaces, a bridge, sshd, an API server stand-in),
 * for tests and demos. `labUp` is idempotent and boots crashed hosts again; `labDown` removes exactly what
 * the state file says `up` made.
 */
import { readFile } from 'node:fs/promises';
import { CplbError } from '../core/errors.js';
import { type Fault, applyHostFault, applyLabFault, isHostFault, isLabFault, vrrpBlocked } from './faults.js';
import { type ExecResult, execInHost, hostPlan, hostRunning } from './hosts.js';
import {
  type HostRole,
  LAB_FLAVORS,
  type LabFlavor,
  type LabIpv6,
  parsePrefix,
  validateLabName,
} from './layout.js';
import { parsePrefix6 } from './layout6.js';
import { downLocked, upLocked } from './lifecycle.js';
import { bridgePortsUp, prefixHeld } from './net.js';
import { ensurePrerequisites } from './prereqs.js';
import { SICK_FILE } from './standin.js';
import { type LabState, labPaths, readState, removeEmptyLabRoot, withLock, writeState } from './state.js';

export type { LabFlavor, HostRole, Fault, ExecResult, LabIpv6 };
export { HOST_FAULTS, LAB_FAULTS } from './faults.js';
export { LAB_FLAVORS } from './layout.js';

export interface LabUpOptions {
  name?: string;
  /** Controllers (a client host is always added). Default 3. */
  hosts?: number;
  flavor?: LabFlavor;
  prefix?: string;
  /** true: a ULA /64 on the main network too (default: IPv4 only). */
  ipv6?: boolean;
  /** The IPv6 block (a ULA, /64 or larger; implies ipv6); default: one derived from the name and checked free. */
  prefix6?: string;
  installDeps?: boolean;
  log?: (message: string) => void;
}

export interface LabHost {
  name: string;
  address: string;
  sshPort: number;
  user: string;
  role: HostRole;
  netns: string;
  pid: number | null;
  secondaryAddress: string;
  hostKeyFingerprint: string;
  /** The host's address on the lab's IPv6 /64 (eth1), when the lab has IPv6. */
  address6?: string;
}

export interface LabInfo {
  name: string;
  flavor: LabFlavor;
  prefix: string;
  vip: string;
  /** The lab's IPv6 side (block, /64, this machine's address on it, a VIP), when it has one. */
  ipv6?: LabIpv6;
  dir: string;
  clusterFile: string;
  knownHosts: string;
  keyPath: string;
  /** false when the lab already existed (`up` twice). */
  created: boolean;
  hosts: LabHost[];
  sshExample: string;
}

export interface LabHostStatus extends LabHost {
  running: boolean;
  link: 'up' | 'down';
  apiserver: 'healthy' | 'sick' | null;
}

export interface LabStatus extends Omit<LabInfo, 'created' | 'hosts' | 'sshExample'> {
  vrrpBlocked: boolean;
  hosts: LabHostStatus[];
}

const DEFAULT_NAME = 'lab';

async function loadState(name: string): Promise<LabState> {
  validateLabName(name);
  const state = await readState(name);
  if (!state) {
    throw new CplbError(`no lab named ${name} is up`, {
      code: 'LAB_NOT_FOUND',
      fault: 'usage',
      hint: `cplbctl lab up --name ${name}`,
    });
  }
  return state;
}

function hostsOf(state: LabState): LabHost[] {
  return state.layout.hosts.map((h) => ({
    name: h.name,
    address: h.address,
    sshPort: h.sshPort,
    user: h.user,
    role: h.role,
    netns: h.netns,
    pid: state.hosts[h.name]?.pid ?? null,
    secondaryAddress: h.secondaryAddress,
    hostKeyFingerprint: state.hosts[h.name]?.hostKeyFingerprint ?? '',
    ...(h.address6 ? { address6: h.address6 } : {}),
  }));
}

function infoOf(state: LabState, created: boolean): LabInfo {
  const paths = labPaths(state.layout.name);
  const first = state.layout.hosts[0];
  const sshExample = first
    ? `ssh -i ${paths.key} -o UserKnownHostsFile=${paths.knownHosts} -o StrictHostKeyChecking=yes -p ${first.sshPort} ${first.user}@${first.address}`
    : '';
  return {
    name: state.layout.name,
    flavor: state.layout.flavor,
    prefix: state.layout.prefix,
    vip: state.layout.vip,
    ...(state.layout.ipv6 ? { ipv6: state.layout.ipv6 } : {}),
    dir: paths.dir,
    clusterFile: paths.clusterFile,
    knownHosts: paths.knownHosts,
    keyPath: paths.key,
    created,
    hosts: hostsOf(state),
    sshExample,
  };
}

/** Hosts of a running lab, for tests (throws when the lab is not up, so nothing dials a dead prefix). */
export async function labHosts(name: string = DEFAULT_NAME): Promise<LabHost[]> {
  const state = await loadState(name);
  if (!(await prefixHeld(state.layout.prefix))) {
    throw new CplbError(
      `lab ${name}: ${state.layout.prefix} is not held unreachable; refusing to hand out its addresses`,
      {
        code: 'LAB_BROKEN',
        fault: 'internal',
        hint: `cplbctl lab down --name ${name}, then up again`,
      },
    );
  }
  return hostsOf(state);
}

export async function labUp(opts: LabUpOptions = {}): Promise<LabInfo> {
  const name = opts.name ?? DEFAULT_NAME;
  validateLabName(name);
  // `up` of an existing lab without --flavor keeps its flavor.
  const flavor = opts.flavor ?? (await readState(name).catch(() => null))?.layout.flavor ?? 'plain';
  if (!LAB_FLAVORS.includes(flavor)) {
    throw new CplbError(`--flavor must be one of ${LAB_FLAVORS.join(', ')}, not ${String(flavor)}`, {
      code: 'LAB_FLAVOR',
      fault: 'usage',
    });
  }
  if (opts.prefix !== undefined) parsePrefix(opts.prefix);
  if (opts.prefix6 !== undefined) parsePrefix6(opts.prefix6);
  await ensurePrerequisites(flavor, opts.installDeps ?? false);
  const { state, created } = await withLock(name, () =>
    upLocked({
      name,
      flavor,
      flavorGiven: opts.flavor !== undefined,
      hosts: opts.hosts,
      prefix: opts.prefix,
      ipv6: opts.ipv6,
      prefix6: opts.prefix6,
      log: opts.log,
    }),
  );
  return infoOf(state, created);
}

/** Removes everything the lab made: processes (by PID), namespaces, cgroups, routes, files. */
export async function labDown(name: string = DEFAULT_NAME): Promise<boolean> {
  validateLabName(name);
  const removed = await withLock(name, () => downLocked(name));
  await removeEmptyLabRoot();
  return removed;
}

export async function labStatus(name: string = DEFAULT_NAME): Promise<LabStatus> {
  const state = await loadState(name);
  const info = infoOf(state, false);
  const [ports, blocked] = await Promise.all([bridgePortsUp(state.layout), vrrpBlocked(state.layout)]);
  const hosts = await Promise.all(
    info.hosts.map(async (h): Promise<LabHostStatus> => {
      const plan = hostPlan(state, h.name);
      const running = await hostRunning(state, plan);
      const link = plan.bridgePorts.every((p) => ports.get(p)) ? 'up' : 'down';
      let apiserver: LabHostStatus['apiserver'] = null;
      if (running && h.role === 'controller') {
        const sick = await readFile(`/proc/${h.pid}/root${SICK_FILE}`).then(
          () => true,
          () => false,
        );
        apiserver = sick ? 'sick' : 'healthy';
      }
      return { ...h, running, link, apiserver };
    }),
  );
  const { created: _c, sshExample: _s, ...rest } = info;
  return { ...rest, vrrpBlocked: blocked, hosts };
}

export async function labExec(
  name: string,
  host: string,
  argv: readonly string[],
  opts: { inherit?: boolean; input?: string } = {},
): Promise<ExecResult> {
  const state = await loadState(name);
  const plan = hostPlan(state, host);
  const pid = state.hosts[host]?.pid;
  if (!pid || !(await hostRunning(state, plan))) {
    throw new CplbError(`${host} is not running`, {
      code: 'LAB_HOST_DOWN',
      fault: 'internal',
      hint: 'lab up restarts it',
    });
  }
  if (argv.length === 0) throw new CplbError('nothing to run', { code: 'LAB_USAGE', fault: 'usage' });
  return execInHost(pid, argv, opts);
}

export async function labFault(name: string, host: string | undefined, fault: Fault | string): Promise<void> {
  return withLock(name, () => faultLocked(name, host, fault));
}

async function faultLocked(name: string, host: string | undefined, fault: Fault | string): Promise<void> {
  const state = await loadState(name);
  if (isLabFault(fault)) {
    if (host !== undefined)
      throw new CplbError(`${fault} applies to the whole lab, not one host`, {
        code: 'LAB_FAULT',
        fault: 'usage',
      });
    return applyLabFault(state, fault);
  }
  if (!isHostFault(fault))
    throw new CplbError(`unknown fault ${fault}`, { code: 'LAB_FAULT', fault: 'usage' });
  if (host === undefined) throw new CplbError(`${fault} needs a host`, { code: 'LAB_FAULT', fault: 'usage' });
  await applyHostFault(state, hostPlan(state, host), fault);
  await writeState(state);
}

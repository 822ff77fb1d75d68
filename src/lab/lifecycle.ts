/**
 * Creating, reviving and removing a lab. Callers hold the lab's lock (state.withLock).
 */
import { readFile, rm, writeFile } from 'node:fs/promises';
import pLimit from 'p-limit';
import { CplbError } from '../core/errors.js';
import { renderClusterFile, renderKnownHosts } from './cluster-file.js';
import { prepareHostFiles } from './hostfiles.js';
import { writePlainLauncher } from './host-plain.js';
import { cgroupRoots, removeCgroups, writeSystemdLauncher } from './host-systemd.js';
import { hostRunning, startHost, stopHost } from './hosts.js';
import { ensureEd25519, fingerprintOf } from './keys.js';
import { type LabFlavor, type LabLayout, formatCidr, parsePrefix, planLayout } from './layout.js';
import {
  addRootRoutes,
  createNetwork,
  destroyNetwork,
  netnsExists,
  removeRootRoutes,
  rootRoutesFor,
} from './net.js';
import { type Cidr6, parsePrefix6, withIpv6 } from './layout6.js';
import { pickPrefix, readMachineNet } from './prefix.js';
import { machineHasIpv6, pickPrefix6, readMachineNet6 } from './prefix6.js';
import { killNetnsProcesses } from './procs.js';
import { ensureRootfs } from './rootfs.js';
import { run } from './run.js';
import { type LabState, hostPaths, labPaths, readState, withLock, writeState } from './state.js';

export interface CreateOptions {
  name: string;
  flavor: LabFlavor;
  /** false: an existing lab of another flavor is kept rather than refused. */
  flavorGiven?: boolean;
  /** Controllers; undefined keeps an existing lab's count (3 for a new one). */
  hosts?: number;
  prefix?: string;
  /** true: an IPv6 /64 beside the IPv4 one (default: IPv4 only, as the lab always was). */
  ipv6?: boolean;
  /** A ULA block for the lab's IPv6 side (default: picked from the lab's name, see layout6.ts). */
  prefix6?: string;
  log?: (message: string) => void;
}

/** The lab's IPv6 block, or undefined for an IPv4-only lab. Call under the prefix lock. */
async function pickIpv6(opts: CreateOptions): Promise<Cidr6 | undefined> {
  const requested = opts.prefix6 === undefined ? undefined : parsePrefix6(opts.prefix6);
  if (opts.ipv6 !== true && !requested) return undefined;
  if (!(await machineHasIpv6()))
    throw new CplbError('an IPv6 lab was asked for, but this machine has IPv6 disabled', {
      code: 'LAB_PREFIX',
      fault: 'usage',
      hint: 'leave --ipv6 and --prefix6 out for an IPv4-only lab',
    });
  return pickPrefix6(opts.name, requested, await readMachineNet6());
}

async function startAll(state: LabState, hosts: LabLayout['hosts']): Promise<void> {
  const roots = state.layout.flavor === 'systemd' ? await cgroupRoots() : [];
  try {
    await Promise.all(hosts.map((h) => startHost(state, h, roots)));
  } finally {
    await writeState(state);
  }
}

async function createLab(opts: CreateOptions & { hosts: number }): Promise<LabState> {
  const log = opts.log ?? (() => undefined);
  const requested = opts.prefix === undefined ? undefined : parsePrefix(opts.prefix);
  // Refuse an overlapping --prefix before a minute of debootstrap; checked again under the lock below.
  if (requested) pickPrefix(requested, await readMachineNet());
  if (opts.prefix6 !== undefined) await pickIpv6(opts);
  const lowerRoot = opts.flavor === 'systemd' ? await ensureRootfs(log) : '/';
  const paths = labPaths(opts.name);
  let state: LabState | undefined;
  try {
    // Choosing a prefix and routing it `unreachable` is one step for all labs, so two labs never pick the
    // same one; from then on no address of this lab can be routed off the machine.
    state = await withLock('prefix', async () => {
      const planned = planLayout(
        opts.name,
        opts.flavor,
        pickPrefix(requested, await readMachineNet()),
        opts.hosts,
      );
      const block6 = await pickIpv6(opts);
      const layout = block6 ? withIpv6(planned, block6) : planned;
      const fresh: LabState = {
        version: 1,
        layout,
        createdAt: new Date().toISOString(),
        rootRoutes: [],
        cgroups: [],
        lowerRoot,
        hosts: Object.fromEntries(
          layout.hosts.map((h) => [
            h.name,
            { pid: null, launcherPid: null, hostKey: '', hostKeyFingerprint: '' },
          ]),
        ),
      };
      // The plan is on disk before anything exists, so a failed `up` can always be taken down.
      await writeState(fresh);
      for (const route of rootRoutesFor(layout)) {
        // Recorded before it exists, so an `up` killed right after adding it still leaves it to `down`;
        // under this lock and after the overlap check, no one else can own it.
        fresh.rootRoutes.push(route);
        await writeState(fresh);
        await addRootRoutes([route]).catch(async (err) => {
          fresh.rootRoutes.pop();
          await writeState(fresh);
          throw err;
        });
      }
      return fresh;
    });
    const { layout } = state;
    const hostsState = state.hosts;
    const limit = pLimit(8);
    const prepare = async () => {
      const clientKey = await ensureEd25519(paths.key, `cplbctl-lab-${opts.name}`);
      await Promise.all(
        layout.hosts.map((h) =>
          limit(async () => {
            const upper = hostPaths(opts.name, h.name).upper;
            const { hostKey } = await prepareHostFiles(layout, h, upper, lowerRoot, clientKey);
            Object.assign(hostsState[h.name] as object, {
              hostKey,
              hostKeyFingerprint: fingerprintOf(hostKey),
            });
          }),
        ),
      );
    };
    const writeLauncher = opts.flavor === 'systemd' ? writeSystemdLauncher : writePlainLauncher;
    await Promise.all([createNetwork(layout), prepare(), writeLauncher(opts.name)]);
    await writeState(state);
    log(`starting ${layout.hosts.length} ${opts.flavor} hosts`);
    await startAll(state, layout.hosts);
    await writeFile(paths.knownHosts, renderKnownHosts(layout, state.hosts));
    await writeFile(paths.clusterFile, renderClusterFile(layout, paths.key, state.hosts));
    state.complete = true;
    await writeState(state);
    return state;
  } catch (err) {
    await downLocked(opts.name).catch(() => undefined);
    throw err;
  }
}

/** Creates the lab, or keeps the existing one and boots its crashed hosts again (their disks are kept). */
export async function upLocked(opts: CreateOptions): Promise<{ state: LabState; created: boolean }> {
  const { name, flavor } = opts;
  let existing = await readState(name);
  if (existing && !existing.complete) {
    // We hold the lab's lock, so the `up` that wrote this state is gone: start over.
    opts.log?.(`lab ${name}: an earlier up did not finish; taking it down first`);
    await downLocked(name);
    existing = null;
  }
  if (!existing) return { state: await createLab({ ...opts, hosts: opts.hosts ?? 3 }), created: true };
  const controllers = existing.layout.hosts.filter((h) => h.role === 'controller').length;
  const differs =
    (opts.flavorGiven !== false && existing.layout.flavor !== flavor) ||
    (opts.hosts !== undefined && opts.hosts !== controllers) ||
    (opts.prefix !== undefined && formatCidr(parsePrefix(opts.prefix)) !== existing.layout.prefix);
  if (differs) {
    throw new CplbError(
      `lab ${name} is already up with ${controllers} ${existing.layout.flavor} hosts on ${existing.layout.prefix}`,
      { code: 'LAB_EXISTS', fault: 'usage', hint: `cplbctl lab down --name ${name} first` },
    );
  }
  const namespaces = [existing.layout.bridgeNetns, ...existing.layout.hosts.map((h) => h.netns)];
  const missing = await Promise.all(namespaces.map(async (n) => !(await netnsExists(n))));
  if (missing.some(Boolean)) {
    throw new CplbError(`lab ${name} is broken (namespaces missing)`, {
      code: 'LAB_BROKEN',
      fault: 'internal',
      hint: `cplbctl lab down --name ${name}, then up again`,
    });
  }
  const dead = [];
  for (const h of existing.layout.hosts) if (!(await hostRunning(existing, h))) dead.push(h);
  for (const h of dead) await stopHost(existing, h);
  await startAll(existing, dead);
  return { state: existing, created: false };
}

async function umountUnder(dir: string): Promise<void> {
  const mounts = await readFile('/proc/self/mounts', 'utf8');
  const targets = mounts
    .split('\n')
    .map((l) => l.split(' ')[1]?.replace(/\\040/g, ' '))
    .filter((m): m is string => !!m && (m === dir || m.startsWith(dir + '/')))
    .reverse();
  for (const t of targets) await run('umount', ['-l', t], { allowFailure: true });
}

/** Removes everything the lab made: processes (by PID), namespaces, cgroups, routes, files. */
export async function downLocked(name: string): Promise<boolean> {
  const state = await readState(name);
  const paths = labPaths(name);
  if (!state) {
    await rm(paths.dir, { recursive: true, force: true });
    return false;
  }
  const layout = state.layout;
  await Promise.all(layout.hosts.map((h) => stopHost(state, h)));
  await killNetnsProcesses([layout.bridgeNetns, ...layout.hosts.map((h) => h.netns)]);
  await umountUnder(paths.dir);
  await destroyNetwork(layout);
  await removeCgroups(state.cgroups);
  // Last: until the namespaces are gone the prefix must stay unroutable.
  await removeRootRoutes(state.rootRoutes);
  await rm(paths.dir, { recursive: true, force: true });
  return true;
}

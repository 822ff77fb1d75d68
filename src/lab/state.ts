/**
 * The lab's record of what it made. `up` writes the plan before creating anything and fills in PIDs as
 * hosts start, so `down` removes exactly what `up` made, even after an `up` that failed half-way.
 */
import { mkdir, readFile, rename, rm, rmdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { LabLayout } from './layout.js';

export const LAB_ROOT = process.env.CPLBCTL_LAB_ROOT ?? '/run/cplbctl/lab';

export interface HostRuntime {
  /** The host's first process: its namespaces and root are what `exec` enters (container init for systemd). */
  pid: number | null;
  /** systemd-nspawn itself (systemd flavor); equals pid for plain hosts. */
  launcherPid: number | null;
  hostKey: string;
  hostKeyFingerprint: string;
}

export interface LabState {
  version: 1;
  layout: LabLayout;
  createdAt: string;
  /** `ip route` arguments added in the root namespace; removed last on `down`. */
  rootRoutes: string[][];
  /** cgroup directories made for systemd hosts (removed deepest first). */
  cgroups: string[];
  /** The shared read-only lower root of every host: `/` (plain) or the cached bookworm rootfs. */
  lowerRoot: string;
  hosts: Record<string, HostRuntime>;
  /** Set once `up` finished: an incomplete lab (its `up` was killed) is taken down and made afresh. */
  complete?: boolean;
}

export interface LabPaths {
  dir: string;
  state: string;
  key: string;
  knownHosts: string;
  clusterFile: string;
  hostsDir: string;
}

export function labPaths(name: string): LabPaths {
  const dir = join(LAB_ROOT, name);
  return {
    dir,
    state: join(dir, 'state.json'),
    key: join(dir, 'id_ed25519'),
    knownHosts: join(dir, 'known_hosts'),
    clusterFile: join(dir, 'cluster.yaml'),
    hostsDir: join(dir, 'hosts'),
  };
}

export interface HostPaths {
  dir: string;
  upper: string;
  work: string;
  merged: string;
  log: string;
}

export function hostPaths(labName: string, host: string): HostPaths {
  const dir = join(labPaths(labName).hostsDir, host);
  return {
    dir,
    upper: join(dir, 'upper'),
    work: join(dir, 'work'),
    merged: join(dir, 'merged'),
    log: join(dir, 'log'),
  };
}

export async function readState(name: string): Promise<LabState | null> {
  try {
    return JSON.parse(await readFile(labPaths(name).state, 'utf8')) as LabState;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

export async function writeState(state: LabState): Promise<void> {
  const paths = labPaths(state.layout.name);
  await mkdir(paths.dir, { recursive: true, mode: 0o700 });
  const tmp = `${paths.state}.tmp-${process.pid}`;
  await writeFile(tmp, JSON.stringify(state, null, 2) + '\n', { mode: 0o600 });
  await rename(tmp, paths.state);
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * One `up`/`down`/fault at a time per lock name (a PID file; a dead holder's lock is taken over).
 * Lock files sit beside the lab dirs so `down` can remove the lab dir while holding its lock.
 */
export async function withLock<T>(lockName: string, fn: () => Promise<T>, timeoutMs = 120_000): Promise<T> {
  const path = join(LAB_ROOT, `.${lockName}.lock`);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await mkdir(LAB_ROOT, { recursive: true, mode: 0o700 });
      await writeFile(path, String(process.pid), { flag: 'wx' });
      break;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'EEXIST' && code !== 'ENOENT') throw err;
      const holder = Number(await readFile(path, 'utf8').catch(() => '0'));
      if (code === 'EEXIST' && holder > 0 && !pidAlive(holder)) await rm(path, { force: true });
      else if (Date.now() > deadline) throw new Error(`lab lock ${path} held by PID ${holder}`);
      else await new Promise((r) => setTimeout(r, 50));
    }
  }
  try {
    return await fn();
  } finally {
    await rm(path, { force: true });
  }
}

/** Leaves no empty /run/cplbctl behind; fails quietly while anything else is in there. */
export async function removeEmptyLabRoot(): Promise<void> {
  await rmdir(LAB_ROOT).catch(() => undefined);
  await rmdir(dirname(LAB_ROOT)).catch(() => undefined);
}

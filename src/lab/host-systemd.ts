/**
 * A systemd host: systemd-nspawn boots the cached bookworm rootfs (overlaid with the host's own upper dir,
 * so its disk survives a crash and restart) inside the host's network namespace. Each launcher gets its
 * own cgroups, or the containers' systemds would fight over one hierarchy; CAP_NET_ADMIN is granted,
 * or keepalived claims MASTER and adds no VIP.
 */
import { spawn } from 'node:child_process';
import { mkdir, open, readFile, readdir, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CplbError } from '../core/errors.js';
import type { HostPlan } from './layout.js';
import { HOST_ENV } from './host-plain.js';
import { isAlive, isProcessOf, killAndWait } from './procs.js';
import { sleep, waitFor } from './run.js';
import { hostPaths, labPaths } from './state.js';

const LAUNCH_SYSTEMD = `#!/bin/sh
# cplbctl lab: boots one systemd host (generated). Runs in its own mount namespace.
set -eu
name=$1 netns=$2 lower=$3 upper=$4 work=$5 merged=$6 node=$7
shift 7
for cg in "$@"; do echo $$ > "$cg/cgroup.procs"; done
i=0
until mount -t overlay "cplb-lab-$name" -o "lowerdir=$lower,upperdir=$upper,workdir=$work" "$merged" 2>/dev/null; do
  i=$((i + 1)); [ "$i" -lt 50 ] || { echo "overlay mount failed" >&2; exit 1; }; sleep 0.1
done
# nspawn keeps locks and propagation dirs here: give each launcher its own, and leave nothing on the machine.
if [ -d /run/systemd ]; then mount -t tmpfs -o mode=755 cplb-nspawn /run/systemd; fi
export SYSTEMD_NSPAWN_API_VFS_WRITABLE=network
exec systemd-nspawn --quiet --boot --register=no --keep-unit --capability=CAP_NET_ADMIN \\
  --network-namespace-path="/run/netns/$netns" --directory="$merged" --machine="$netns" --hostname="$name" \\
  --console=passive --resolv-conf=off --timezone=off --link-journal=no --private-users=no \\
  --bind-ro="$node:/usr/bin/node"
`;

export async function writeSystemdLauncher(labName: string): Promise<string> {
  const path = join(labPaths(labName).dir, 'launch-systemd.sh');
  await writeFile(path, LAUNCH_SYSTEMD, { mode: 0o755 });
  return path;
}

/** The cgroup hierarchies a container's systemd needs: cgroup2 and the v1 name=systemd one (hybrid). */
export async function cgroupRoots(): Promise<string[]> {
  const mounts = await readFile('/proc/self/mounts', 'utf8');
  const roots: string[] = [];
  for (const line of mounts.split('\n')) {
    const [, mountPoint, type, options] = line.split(' ');
    if (!mountPoint) continue;
    if (type === 'cgroup2' || (type === 'cgroup' && options?.split(',').includes('name=systemd')))
      roots.push(mountPoint);
  }
  return roots;
}

export function hostCgroups(roots: readonly string[], host: HostPlan): string[] {
  return roots.map((r) => join(r, host.netns));
}

/** Removes cgroup dirs deepest first; the kernel refuses while a process is still inside. */
export async function removeCgroups(dirs: readonly string[]): Promise<void> {
  const removeTree = async (dir: string): Promise<void> => {
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => null);
    if (!entries) return;
    for (const e of entries) if (e.isDirectory()) await removeTree(join(dir, e.name));
    for (let i = 0; i < 50; i++) {
      try {
        await rmdir(dir);
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
        await sleep(20);
      }
    }
  };
  for (const d of dirs) await removeTree(d);
}

/** The container's init: the child systemd-nspawn forked into the host's namespaces. */
async function containerLeader(nspawnPid: number): Promise<number | null> {
  const tasks = await readdir(`/proc/${nspawnPid}/task`).catch(() => [] as string[]);
  for (const t of tasks) {
    const children = await readFile(`/proc/${nspawnPid}/task/${t}/children`, 'utf8').catch(() => '');
    for (const child of children.trim().split(/\s+/).filter(Boolean)) {
      // nspawn forks a short-lived outer child first; the leader is the one that became systemd.
      const comm = await readFile(`/proc/${child}/comm`, 'utf8').catch(() => '');
      if (comm.trim() === 'systemd') return Number(child);
    }
  }
  return null;
}

export async function startSystemdHost(
  labName: string,
  host: HostPlan,
  lowerRoot: string,
  cgroups: readonly string[],
): Promise<{ pid: number; launcherPid: number }> {
  const paths = hostPaths(labName, host.name);
  await Promise.all([paths.upper, paths.work, paths.merged].map((d) => mkdir(d, { recursive: true })));
  for (const cg of cgroups) await mkdir(cg, { recursive: true });
  const nodeBinary = process.execPath;
  const log = await open(paths.log, 'a');
  let launcherPid: number;
  try {
    const launcher = join(labPaths(labName).dir, 'launch-systemd.sh');
    const args = [
      host.name,
      host.netns,
      lowerRoot,
      paths.upper,
      paths.work,
      paths.merged,
      nodeBinary,
      ...cgroups,
    ];
    const child = spawn(
      'unshare',
      ['--mount', '--propagation', 'private', '--', '/bin/sh', launcher, ...args],
      {
        detached: true,
        stdio: ['ignore', log.fd, log.fd],
        env: HOST_ENV,
      },
    );
    child.unref();
    if (!child.pid) throw new Error(`cannot start host ${host.name}`);
    launcherPid = child.pid;
  } finally {
    await log.close();
  }
  let leader: number | null = null;
  await waitFor(`${host.name} to boot`, 15_000, async () => {
    // Read while the launcher execs (sh, then nspawn), cmdline can be empty for an instant: only a
    // launcher that is gone (or a zombie) or now runs something else has exited.
    const cmd = await readFile(`/proc/${launcherPid}/cmdline`, 'utf8').catch(() => '');
    const exited =
      !(await isAlive(launcherPid)) || (cmd !== '' && !cmd.split('\0').join(' ').includes(host.netns));
    if (exited) {
      const tail = (await readFile(paths.log, 'utf8').catch(() => ''))
        .trim()
        .split('\n')
        .slice(-5)
        .join(' | ');
      throw new CplbError(`lab host ${host.name}: systemd-nspawn exited: ${tail}`, {
        code: 'LAB_HOST_START',
        fault: 'internal',
        host: host.name,
      });
    }
    // The launcher is a shell until it execs nspawn; only nspawn's child is the container.
    if (!cmd.startsWith('systemd-nspawn')) return false;
    leader = await containerLeader(launcherPid);
    return leader !== null;
  });
  return { pid: leader as unknown as number, launcherPid };
}

/** After the container's processes are gone nspawn exits by itself; a stuck one is killed (PID checked). */
export async function reapLauncher(host: HostPlan, launcherPid: number | null): Promise<void> {
  if (!(await isProcessOf(launcherPid, host.netns))) return;
  const deadline = Date.now() + 3000;
  while (Date.now() < deadline && (await isProcessOf(launcherPid, host.netns))) await sleep(20);
  if (await isProcessOf(launcherPid, host.netns)) await killAndWait([launcherPid as number]);
}

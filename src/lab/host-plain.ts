/**
 * A plain host: no init system. Its own mount and UTS namespaces inside its network namespace, an
 * overlay of the machine's `/` with a per-host upper dir as root, private /run and /tmp, then sshd and
 * the stand-in as ordinary daemons. The launcher ends as `sleep infinity`: the PID `exec` enters.
 * An OpenRC host also gets what OpenRC's boot leaves in /run (its state dirs and the runlevel it
 * reached), so rc-service and supervise-daemon run there as on a booted Alpine or Gentoo host.
 */
import { spawn } from 'node:child_process';
import { mkdir, open, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { HostPlan } from './layout.js';
import { standinArgs } from './standin.js';
import { hostPaths, labPaths } from './state.js';

export const HOST_ENV = {
  PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
  HOME: '/root',
  LANG: 'C.UTF-8',
};

const LAUNCH_PLAIN = `#!/bin/sh
# cplbctl lab: boots one plain host (generated). Runs in the host's netns, own mount + UTS namespaces.
set -eu
name=$1 upper=$2 work=$3 merged=$4 controller=$5 init=$6
shift 6
hostname "$name"
# After a crash the old overlay may still be going away: retry briefly.
i=0
until mount -t overlay "cplb-lab-$name" -o "lowerdir=/,upperdir=$upper,workdir=$work" "$merged" 2>/dev/null; do
  i=$((i + 1)); [ "$i" -lt 50 ] || { echo "overlay mount failed" >&2; exit 1; }; sleep 0.1
done
mount -t proc proc "$merged/proc"
mount -t sysfs sysfs "$merged/sys"
mount --rbind /dev "$merged/dev"
mount -t tmpfs -o mode=755,size=64m cplb-run "$merged/run"
mount -t tmpfs -o mode=1777,size=256m cplb-tmp "$merged/tmp"
mkdir -p "$merged/run/sshd" "$merged/run/cplb-lab" "$merged/var/log/cplb-lab"
if [ "$init" = openrc ]; then
  for d in daemons exclusive failed hotplugged inactive options scheduled started starting stopping tmp wasinactive; do
    mkdir -p "$merged/run/openrc/$d"
  done
  echo default >"$merged/run/openrc/softlevel"
fi
cd "$merged"
exec chroot "$merged" /bin/sh -c '
  set -e
  cd /
  /usr/sbin/sshd -E /var/log/cplb-lab/sshd.log
  if [ "$1" = 1 ]; then
    shift
    ( exec node "$@" </dev/null >>/var/log/cplb-lab/standin.log 2>&1 & )
  fi
  exec sleep infinity
' sh "$controller" "$@"
`;

export async function writePlainLauncher(labName: string): Promise<string> {
  const path = join(labPaths(labName).dir, 'launch-plain.sh');
  await writeFile(path, LAUNCH_PLAIN, { mode: 0o755 });
  return path;
}

/** Starts the host detached from this process; returns the PID of its init (`sleep infinity`). */
export async function startPlainHost(
  labName: string,
  host: HostPlan,
  init: 'none' | 'openrc',
): Promise<number> {
  const paths = hostPaths(labName, host.name);
  await Promise.all([paths.upper, paths.work, paths.merged].map((d) => mkdir(d, { recursive: true })));
  const log = await open(paths.log, 'a');
  try {
    const launcher = join(labPaths(labName).dir, 'launch-plain.sh');
    const isController = host.role === 'controller' ? '1' : '0';
    const child = spawn(
      'nsenter',
      [
        `--net=/run/netns/${host.netns}`,
        '--',
        'unshare',
        '--mount',
        '--uts',
        '--propagation',
        'private',
        '--',
        '/bin/sh',
        launcher,
        host.name,
        paths.upper,
        paths.work,
        paths.merged,
        isController,
        init,
        ...standinArgs(host.name),
      ],
      {
        detached: true,
        stdio: ['ignore', log.fd, log.fd],
        env: HOST_ENV,
      },
    );
    child.unref();
    if (!child.pid) throw new Error(`cannot start host ${host.name}`);
    return child.pid;
  } finally {
    await log.close();
  }
}

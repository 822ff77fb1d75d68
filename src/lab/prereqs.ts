/** What the lab needs on the machine, and the exact apt-get line that installs what is missing. */
import { access, constants } from 'node:fs/promises';
import { CplbError } from '../core/errors.js';
import type { LabFlavor } from './layout.js';
import { run } from './run.js';

interface Need {
  binary: string;
  pkg: string;
}

const COMMON: Need[] = [
  { binary: 'ip', pkg: 'iproute2' },
  { binary: 'nsenter', pkg: 'util-linux' },
  { binary: 'unshare', pkg: 'util-linux' },
  { binary: 'ssh-keygen', pkg: 'openssh-client' },
  { binary: 'ssh', pkg: 'openssh-client' },
  { binary: 'openssl', pkg: 'openssl' },
  { binary: 'sysctl', pkg: 'procps' },
];

/** Plain hosts run the machine's own binaries, so these must be installed on the machine itself. */
const PLAIN: Need[] = [
  { binary: 'sshd', pkg: 'openssh-server' },
  { binary: 'keepalived', pkg: 'keepalived' },
  { binary: 'iptables', pkg: 'iptables' },
  { binary: 'sudo', pkg: 'sudo' },
  // apply's pre-flight checks: lab hosts reach no package mirror, so apply cannot install them there.
  { binary: 'tcpdump', pkg: 'tcpdump' },
  { binary: 'arping', pkg: 'iputils-arping' },
  { binary: 'ndisc6', pkg: 'ndisc6' },
  { binary: 'ping', pkg: 'iputils-ping' },
];

/** OpenRC hosts are plain hosts: the machine's own OpenRC runs in them. */
const OPENRC: Need[] = [{ binary: 'openrc-run', pkg: 'openrc' }];

const SYSTEMD: Need[] = [
  { binary: 'systemd-nspawn', pkg: 'systemd-container' },
  { binary: 'debootstrap', pkg: 'debootstrap' },
];

const SEARCH = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

async function onPath(binary: string): Promise<boolean> {
  for (const dir of SEARCH) {
    const ok = await access(`${dir}/${binary}`, constants.X_OK).then(
      () => true,
      () => false,
    );
    if (ok) return true;
  }
  return false;
}

export async function missingPackages(flavor: LabFlavor): Promise<string[]> {
  // Plain needs are always checked: systemd hosts still use the machine's ssh client and tools.
  const needs = [
    ...COMMON,
    ...PLAIN,
    ...(flavor === 'systemd' ? SYSTEMD : []),
    ...(flavor === 'openrc' ? OPENRC : []),
  ];
  const missing = await Promise.all(needs.map(async (n) => ((await onPath(n.binary)) ? null : n.pkg)));
  return [...new Set(missing.filter((p): p is string => p !== null))].sort();
}

function aptInstallCommand(pkgs: readonly string[]): string {
  return `apt-get install -y --no-install-recommends ${pkgs.join(' ')}`;
}

export async function ensurePrerequisites(flavor: LabFlavor, install: boolean): Promise<void> {
  if (process.getuid?.() !== 0) {
    throw new CplbError('the lab needs root (namespaces, mounts, routes)', {
      code: 'LAB_NOT_ROOT',
      fault: 'usage',
    });
  }
  const missing = await missingPackages(flavor);
  if (missing.length === 0) return;
  if (!install) {
    throw new CplbError(`missing packages for the ${flavor} lab: ${missing.join(', ')}`, {
      code: 'LAB_PREREQUISITES',
      fault: 'usage',
      hint: `run: ${aptInstallCommand(missing)} (or pass --install-deps)`,
    });
  }
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const first = await run('apt-get', ['install', '-y', '--no-install-recommends', ...missing], {
    env,
    allowFailure: true,
  });
  if (first.code !== 0) {
    await run('apt-get', ['update'], { env });
    await run('apt-get', ['install', '-y', '--no-install-recommends', ...missing], { env });
  }
}

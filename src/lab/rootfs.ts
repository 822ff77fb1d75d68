/**
 * The systemd hosts' shared lower root: a Debian bookworm made once with debootstrap (about a minute)
 * and cached. Hosts never write to it; each gets its own overlay upper dir.
 */
import { mkdir, readFile, readdir, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CplbError } from '../core/errors.js';
import { run, sleep } from './run.js';

const ROOTFS_CACHE = process.env.CPLBCTL_ROOTFS_CACHE ?? '/var/cache/cplbctl';
const ROOTFS_DIR = join(ROOTFS_CACHE, 'rootfs-bookworm');
const ROOTFS_PACKAGES = [
  'systemd',
  'systemd-sysv',
  'dbus',
  'openssh-server',
  'keepalived',
  'iptables',
  'iproute2',
  'sudo',
  'ca-certificates',
  'procps',
  // apply's pre-flight checks (src/plan/preflight.ts): lab hosts cannot reach a package mirror.
  'tcpdump',
  'iputils-arping',
  'ndisc6',
  'iputils-ping',
];
const STAMP = '.cplbctl-rootfs.json';
const STAMP_VERSION = 1;

function stampText(): string {
  return JSON.stringify({ version: STAMP_VERSION, suite: 'bookworm', packages: ROOTFS_PACKAGES }) + '\n';
}

/** The Debian mirror the machine's apt uses (deb822 `URIs:` or a `deb` line), else deb.debian.org. */
export function debianMirrorFrom(sources: readonly string[]): string {
  for (const text of sources) {
    for (const line of text.split('\n')) {
      const m = /^\s*(?:URIs:\s*|deb\s+(?:\[[^\]]*\]\s+)?)(\S+)/.exec(line);
      const uri = m?.[1];
      if (uri && /\/debian\/?$/.test(uri)) return uri.replace(/\/$/, '');
    }
  }
  return 'http://deb.debian.org/debian';
}

async function machineMirror(): Promise<string> {
  const dir = '/etc/apt/sources.list.d';
  const names = await readdir(dir).catch(() => [] as string[]);
  const files = [
    ...names.filter((n) => /\.(sources|list)$/.test(n)).map((n) => join(dir, n)),
    '/etc/apt/sources.list',
  ];
  const texts = await Promise.all(files.map((f) => readFile(f, 'utf8').catch(() => '')));
  return debianMirrorFrom(texts);
}

async function rootfsReady(dir = ROOTFS_DIR): Promise<boolean> {
  return (await readFile(join(dir, STAMP), 'utf8').catch(() => '')) === stampText();
}

/** Shared by all hosts, so per-host identity (keys, machine-id) is stripped and services the agent owns are off. */
async function finish(dir: string): Promise<void> {
  const sshDir = join(dir, 'etc/ssh');
  for (const f of await readdir(sshDir)) if (f.startsWith('ssh_host_')) await rm(join(sshDir, f));
  await writeFile(join(dir, 'etc/machine-id'), '');
  await rm(join(dir, 'etc/systemd/system/multi-user.target.wants/keepalived.service'), { force: true });
  // No one reads the container console; a getty there would only respawn.
  await symlink('/dev/null', join(dir, 'etc/systemd/system/console-getty.service')).catch(() => undefined);
  await rm(join(dir, 'var/cache/apt/archives'), { recursive: true, force: true });
  await mkdir(join(dir, 'var/cache/apt/archives/partial'), { recursive: true });
  await writeFile(join(dir, STAMP), stampText());
}

/** Returns the cached rootfs, making it first if needed (one maker at a time, others wait). */
export async function ensureRootfs(log: (msg: string) => void = () => undefined): Promise<string> {
  if (await rootfsReady()) return ROOTFS_DIR;
  await mkdir(ROOTFS_CACHE, { recursive: true });
  const lock = `${ROOTFS_DIR}.lock`;
  for (let waited = 0; ; waited += 1000) {
    try {
      await mkdir(lock);
      break;
    } catch {
      if (waited > 600_000) {
        throw new CplbError(`${lock} held for 10 minutes`, {
          code: 'LAB_ROOTFS',
          fault: 'internal',
          hint: `remove ${lock}`,
        });
      }
      await sleep(1000);
      if (await rootfsReady()) return ROOTFS_DIR;
    }
  }
  try {
    if (await rootfsReady()) return ROOTFS_DIR;
    const mirror = await machineMirror();
    const tmp = `${ROOTFS_DIR}.tmp-${process.pid}`;
    await rm(tmp, { recursive: true, force: true });
    log(`making the bookworm rootfs with debootstrap from ${mirror} (once; about a minute)`);
    await run(
      'debootstrap',
      ['--variant=minbase', `--include=${ROOTFS_PACKAGES.join(',')}`, 'bookworm', tmp, mirror],
      {
        timeoutMs: 900_000,
      },
    ).catch(async (err) => {
      await rm(tmp, { recursive: true, force: true });
      throw new CplbError(`debootstrap failed: ${(err as Error).message}`, {
        code: 'LAB_ROOTFS',
        fault: 'internal',
        cause: err,
      });
    });
    await finish(tmp);
    await rm(ROOTFS_DIR, { recursive: true, force: true });
    await rename(tmp, ROOTFS_DIR);
    return ROOTFS_DIR;
  } finally {
    await rm(lock, { recursive: true, force: true });
  }
}

/**
 * A host's own files, written straight into its overlay upper dir before it starts: identity, sshd,
 * users, the stand-in. Writing the upper dir from outside is a plain file copy: no process per file.
 */
import { randomBytes } from 'node:crypto';
import { chmod, chown, mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { HostPlan, LabFlavor, LabLayout } from './layout.js';
import { NON_ROOT_USER } from './layout.js';
import { ensureEd25519, makeCertificate } from './keys.js';
import {
  STANDIN_CERT_PATH,
  STANDIN_KEY_PATH,
  STANDIN_SCRIPT,
  STANDIN_SCRIPT_PATH,
  standinArgs,
} from './standin.js';

const STANDIN_UNIT = 'cplb-lab-standin.service';

export function renderSshdConfig(host: HostPlan, flavor: LabFlavor): string {
  return [
    `# cplbctl lab host ${host.name} (generated)`,
    `ListenAddress ${host.address}:${host.sshPort}`,
    'HostKey /etc/ssh/ssh_host_ed25519_key',
    `PermitRootLogin ${host.rootLogin ? 'prohibit-password' : 'no'}`,
    'PubkeyAuthentication yes',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    // PAM inside a plain chroot adds nothing but latency; systemd hosts keep Debian's default.
    `UsePAM ${flavor === 'systemd' ? 'yes' : 'no'}`,
    'UseDNS no',
    'PrintMotd no',
    'PrintLastLog no',
    'PidFile /run/sshd.pid',
    // Tests open many connections at once.
    'MaxStartups 200:30:400',
    'MaxSessions 64',
    'AcceptEnv LANG LC_*',
    'Subsystem sftp internal-sftp',
    '',
  ].join('\n');
}

function renderEtcHosts(layout: LabLayout): string {
  const lines = ['127.0.0.1\tlocalhost', '::1\tlocalhost ip6-localhost ip6-loopback'];
  for (const h of layout.hosts) lines.push(`${h.address}\t${h.name}`);
  return lines.join('\n') + '\n';
}

function renderStandinUnit(hostName: string): string {
  return [
    '[Unit]',
    'Description=cplbctl lab kube-apiserver stand-in',
    'After=network.target',
    '',
    '[Service]',
    `ExecStart=/usr/bin/node ${standinArgs(hostName).join(' ')}`,
    'Restart=on-failure',
    'RestartSec=1',
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');
}

/** The first uid >= 1000 not in `passwd`. */
export function freeUid(passwd: string): number {
  const used = new Set(passwd.split('\n').map((l) => Number(l.split(':')[2])));
  let uid = 1000;
  while (used.has(uid)) uid++;
  return uid;
}

async function put(root: string, path: string, content: string | Buffer, mode = 0o644): Promise<void> {
  const full = join(root, path);
  await mkdir(dirname(full), { recursive: true });
  await writeFile(full, content, { mode });
  await chmod(full, mode);
}

async function addSudoUser(upper: string, lowerRoot: string, authorizedKey: string): Promise<void> {
  const read = (p: string) => readFile(join(lowerRoot, p), 'utf8');
  const [passwd, shadow, group] = await Promise.all([
    read('etc/passwd'),
    read('etc/shadow'),
    read('etc/group'),
  ]);
  const uid = freeUid(passwd);
  const nl = (s: string) => (s.endsWith('\n') ? s : s + '\n');
  const home = `/home/${NON_ROOT_USER}`;
  await put(
    upper,
    'etc/passwd',
    nl(passwd) + `${NON_ROOT_USER}:x:${uid}:${uid}:cplb lab user:${home}:/bin/bash\n`,
  );
  // `*` (not `!`): no password, but not locked, so key logins are allowed without PAM.
  await put(upper, 'etc/shadow', nl(shadow) + `${NON_ROOT_USER}:*:19000:0:99999:7:::\n`, 0o640);
  await put(upper, 'etc/group', nl(group) + `${NON_ROOT_USER}:x:${uid}:\n`);
  await put(
    upper,
    `etc/sudoers.d/${NON_ROOT_USER}-lab`,
    `${NON_ROOT_USER} ALL=(ALL:ALL) NOPASSWD:ALL\n`,
    0o440,
  );
  await put(upper, `${home.slice(1)}/.ssh/authorized_keys`, authorizedKey + '\n', 0o600);
  await put(upper, `${home.slice(1)}/.bashrc`, '');
  for (const p of [home, `${home}/.ssh`, `${home}/.ssh/authorized_keys`, `${home}/.bashrc`]) {
    await chown(join(upper, p), uid, uid);
  }
  await chmod(join(upper, home, '.ssh'), 0o700);
}

export interface PreparedHost {
  hostKey: string;
}

/** Writes every per-host file into `upper`; returns the host's public host key line. */
export async function prepareHostFiles(
  layout: LabLayout,
  host: HostPlan,
  upper: string,
  lowerRoot: string,
  clientPublicKey: string,
): Promise<PreparedHost> {
  await mkdir(join(upper, 'etc/ssh'), { recursive: true });
  const hostKeyPath = join(upper, 'etc/ssh/ssh_host_ed25519_key');
  const [hostKey] = await Promise.all([
    ensureEd25519(hostKeyPath, `root@${host.name}`),
    put(upper, 'etc/hostname', host.name + '\n'),
    put(upper, 'etc/hosts', renderEtcHosts(layout)),
    // No nameserver: lookups fail at once on localhost instead of waiting on an unreachable resolver.
    put(upper, 'etc/resolv.conf', '# cplbctl lab: no resolver\n'),
    put(upper, 'etc/ssh/sshd_config', renderSshdConfig(host, layout.flavor)),
    // The machine's own .bashrc slows every login.
    put(upper, 'root/.bashrc', ''),
    host.rootLogin
      ? put(upper, 'root/.ssh/authorized_keys', clientPublicKey + '\n', 0o600)
      : Promise.resolve(),
    host.rootLogin ? Promise.resolve() : addSudoUser(upper, lowerRoot, clientPublicKey),
  ]);
  await chmod(join(upper, 'root'), 0o700);
  if (host.role === 'controller') {
    await put(upper, STANDIN_SCRIPT_PATH.slice(1), STANDIN_SCRIPT);
    await mkdir(dirname(join(upper, STANDIN_CERT_PATH)), { recursive: true, mode: 0o700 });
    await makeCertificate(
      join(upper, STANDIN_CERT_PATH),
      join(upper, STANDIN_KEY_PATH),
      host.name,
      host.address,
    );
  }
  if (layout.flavor === 'systemd') {
    await put(upper, 'etc/machine-id', randomBytes(16).toString('hex') + '\n', 0o444);
    if (host.role === 'controller') {
      await put(upper, `etc/systemd/system/${STANDIN_UNIT}`, renderStandinUnit(host.name));
      const wants = join(upper, 'etc/systemd/system/multi-user.target.wants');
      await mkdir(wants, { recursive: true });
      await symlink(`/etc/systemd/system/${STANDIN_UNIT}`, join(wants, STANDIN_UNIT));
    }
  }
  return { hostKey };
}

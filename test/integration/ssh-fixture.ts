import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A real OpenSSH server per test file: its own host key, authorized_keys and pid file in a temp
 * dir, on a free high port, in the foreground as our child (so we kill exactly what we started).
 */

export interface KeyPair {
  path: string;
  pub: string;
}

export function tempDir(prefix = 'cplb-ssh-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function makeKeyPair(
  dir: string,
  name: string,
  opts: { type?: string; passphrase?: string } = {},
): KeyPair {
  const path = join(dir, name);
  const type = opts.type ?? 'ed25519';
  execFileSync('ssh-keygen', ['-q', '-t', type, '-N', opts.passphrase ?? '', '-C', name, '-f', path]);
  return { path, pub: readFileSync(`${path}.pub`, 'utf8').trim() };
}

/** `SHA256:...` of a public key file, as printed by ssh-keygen itself (the reference). */
export function keygenFingerprint(pubPath: string): string {
  return (
    execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', pubPath], { encoding: 'utf8' }).split(/\s+/)[1] ??
    ''
  );
}

export interface Sshd {
  address: string;
  port: number;
  dir: string;
  hostKey: KeyPair;
  extraHostKeys: KeyPair[];
  /** `address port keytype base64` style line for known_hosts. */
  knownHostsLine(): string;
  log(): string;
  /** Kills every process under the listener (sessions and their commands), not the listener. */
  killSessions(): number;
  /** Processes under the listener: one or more per open connection, 0 when all are closed. */
  sessionProcesses(): number;
  stop(): Promise<void>;
}

export interface SshdOptions {
  address?: string;
  authorizedKeys: string[];
  extraConfig?: string[];
  hostKeyType?: string;
  /** More host keys the server offers besides the main one. */
  extraHostKeyTypes?: string[];
}

// sshd's privilege separation needs this directory; left in place afterwards because other
// processes (other test files, other sshds) may rely on it and an empty dir in /run is harmless.
function ensurePrivsepDir(): void {
  if (!existsSync('/run/sshd')) mkdirSync('/run/sshd', { mode: 0o755 });
}

export async function freePort(address: string): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = 22000 + Math.floor(Math.random() * 1000);
    const ok = await new Promise<boolean>((resolve) => {
      const server = createServer();
      server.once('error', () => resolve(false));
      server.listen(port, address, () => server.close(() => resolve(true)));
    });
    if (ok) return port;
  }
  throw new Error('no free port in 22000-22999');
}

export async function startSshd(opts: SshdOptions): Promise<Sshd> {
  ensurePrivsepDir();
  const address = opts.address ?? '127.0.0.1';
  const dir = tempDir('cplb-sshd-');
  const hostKey = makeKeyPair(dir, 'host_key', { type: opts.hostKeyType ?? 'ed25519' });
  const extraKeys = (opts.extraHostKeyTypes ?? []).map((type) =>
    makeKeyPair(dir, `host_key_${type}`, { type }),
  );
  writeFileSync(join(dir, 'authorized_keys'), opts.authorizedKeys.join('\n') + '\n');
  const port = await freePort(address);
  const config = [
    `ListenAddress ${address}:${port}`,
    `HostKey ${hostKey.path}`,
    ...extraKeys.map((k) => `HostKey ${k.path}`),
    `PidFile ${join(dir, 'sshd.pid')}`,
    `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
    'StrictModes no',
    'UsePAM no',
    'PermitRootLogin prohibit-password',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'AllowTcpForwarding yes',
    'MaxStartups 100',
    'LogLevel DEBUG1',
    // bash sources ~/.bashrc for commands that arrive over ssh unless SHLVL says it is nested;
    // this machine's root .bashrc is slow and noisy, and a test host should not depend on it.
    'SetEnv SHLVL=1',
    ...(opts.extraConfig ?? []),
  ];
  writeFileSync(join(dir, 'sshd_config'), config.join('\n') + '\n');
  // -E, not -e: with -e and debug logging, sshd copies its debug lines into sessions' stderr.
  const logFile = join(dir, 'sshd.log');
  const child = spawn('/usr/sbin/sshd', ['-D', '-E', logFile, '-f', join(dir, 'sshd_config')], {
    stdio: 'ignore',
  });
  const log = () => {
    try {
      return readFileSync(logFile, 'utf8');
    } catch {
      return '';
    }
  };
  await waitForListening(child, log, port);
  return {
    address,
    port,
    dir,
    hostKey,
    extraHostKeys: extraKeys,
    knownHostsLine: () => `[${address}]:${port} ${hostKey.pub.split(' ').slice(0, 2).join(' ')}`,
    log,
    killSessions: () => killDescendants(child.pid ?? -1),
    sessionProcesses: () => childrenOf(child.pid ?? -1).length,
    stop: () => stopChild(child, dir),
  };
}

function waitForListening(child: ChildProcess, log: () => string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const deadline = setTimeout(() => done(new Error(`sshd did not start:\n${log()}`)), 10_000);
    const poll = setInterval(() => {
      if (log().includes(`Server listening on`) && log().includes(`port ${port}`)) done();
    }, 20);
    const onExit = () => done(new Error(`sshd exited:\n${log()}`));
    child.once('exit', onExit);
    function done(err?: Error) {
      clearTimeout(deadline);
      clearInterval(poll);
      child.off('exit', onExit);
      if (err) reject(err);
      else resolve();
    }
  });
}

function childrenOf(pid: number): number[] {
  const kids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) kids.push(Number(entry));
    } catch {
      // the process ended while we looked
    }
  }
  return kids;
}

function killDescendants(pid: number): number {
  const all: number[] = [];
  const walk = (p: number) => childrenOf(p).forEach((c) => (all.push(c), walk(c)));
  walk(pid);
  for (const p of all) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  return all.length;
}

async function stopChild(child: ChildProcess, dir: string): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    killDescendants(child.pid ?? -1);
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  }
  rmSync(dir, { recursive: true, force: true });
}

export interface Agent {
  socket: string;
  add(keyPath: string): void;
  stop(): void;
}

/** An ssh-agent in the foreground (-D) on a temp socket, killed by its pid afterwards. */
export async function startAgent(dir: string): Promise<Agent> {
  const socket = join(dir, 'agent.sock');
  const child = spawn('ssh-agent', ['-D', '-a', socket], { stdio: 'ignore' });
  for (let i = 0; i < 200 && !existsSync(socket); i++) await new Promise((r) => setTimeout(r, 10));
  if (!existsSync(socket)) throw new Error('ssh-agent did not create its socket');
  return {
    socket,
    add: (keyPath) =>
      execFileSync('ssh-add', ['-q', keyPath], {
        env: { ...process.env, SSH_AUTH_SOCK: socket },
        stdio: 'ignore',
      }),
    stop: () => child.kill('SIGTERM'),
  };
}

import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CplbError } from '../../src/core/errors.js';
import { connect, type ConnectOptions, type Remote } from '../../src/ssh/index.js';
import {
  keygenFingerprint,
  makeKeyPair,
  startAgent,
  startSshd,
  tempDir,
  type KeyPair,
  type Sshd,
} from './ssh-fixture.js';

/** Connecting to a real OpenSSH server: auth methods, host key policy, connect failures. */

let dir: string;
let key: KeyPair;
let encrypted: KeyPair;
let agentOnly: KeyPair;
let sshd: Sshd;
let noConfig: string;
const savedEnv = { ...process.env };

beforeAll(async () => {
  dir = tempDir();
  key = makeKeyPair(dir, 'id_plain');
  encrypted = makeKeyPair(dir, 'id_encrypted', { passphrase: 'correct horse' });
  agentOnly = makeKeyPair(dir, 'id_agent');
  noConfig = join(dir, 'no-ssh-config');
  // Keep the machine's own agent, passphrase and known_hosts out of every case.
  for (const v of ['SSH_AUTH_SOCK', 'SSH_KNOWN_HOSTS', 'CPLBCTL_SSH_PASSPHRASE']) delete process.env[v];
  sshd = await startSshd({
    authorizedKeys: [key.pub, encrypted.pub, agentOnly.pub],
    extraHostKeyTypes: ['rsa'],
  });
});

afterAll(async () => {
  await sshd?.stop();
  rmSync(dir, { recursive: true, force: true });
  process.env = savedEnv;
});

function knownHosts(...lines: string[]): string {
  const file = join(dir, `known_hosts_${Math.random().toString(36).slice(2)}`);
  writeFileSync(file, lines.map((l) => l + '\n').join(''));
  return file;
}

const target = (extra: object = {}) => ({
  address: '127.0.0.1',
  port: sshd.port,
  keyPath: key.path,
  ...extra,
});

async function withRemote<T>(remote: Promise<Remote>, fn: (r: Remote) => Promise<T>): Promise<T> {
  const r = await remote;
  try {
    return await fn(r);
  } finally {
    await r.close();
  }
}

async function failure(p: Promise<unknown>): Promise<CplbError> {
  const err = await p.then(
    (r) => {
      void (r as Remote | undefined)?.close?.();
      throw new Error('expected a failure');
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(CplbError);
  return err as CplbError;
}

describe('authentication', () => {
  it('logs in with a key file on a non-22 port, fast', async () => {
    const opts: ConnectOptions = {
      knownHostsFiles: [knownHosts(sshd.knownHostsLine())],
      sshConfigPath: noConfig,
    };
    const started = performance.now();
    const remote = await connect(target(), opts);
    const connected = performance.now();
    for (let i = 0; i < 10; i++) expect((await remote.exec(`echo ${i}`)).stdout).toBe(`${i}\n`);
    const total = performance.now() - started;
    await remote.close();
    console.log(`connect ${(connected - started).toFixed(1)} ms, connect + 10 execs ${total.toFixed(1)} ms`);
    expect(remote).toMatchObject({ name: `127.0.0.1:${sshd.port}`, user: 'root', isRoot: true });
    expect(total).toBeLessThan(1_000);
  });

  it('decrypts an encrypted key with the passphrase from CPLBCTL_SSH_PASSPHRASE', async () => {
    const opts = { knownHostsFiles: [knownHosts(sshd.knownHostsLine())], sshConfigPath: noConfig };
    const noPassphrase = await failure(connect(target({ keyPath: encrypted.path }), opts));
    expect(noPassphrase).toMatchObject({ code: 'SSH_AUTH', fault: 'config', host: `127.0.0.1:${sshd.port}` });
    expect(noPassphrase.hint).toContain('CPLBCTL_SSH_PASSPHRASE is not set');

    process.env.CPLBCTL_SSH_PASSPHRASE = 'wrong';
    const wrong = await failure(connect(target({ keyPath: encrypted.path }), opts));
    expect(wrong.hint).toContain('wrong passphrase');
    expect(`${wrong.message} ${wrong.hint}`).not.toContain('wrong,');

    process.env.CPLBCTL_SSH_PASSPHRASE = 'correct horse';
    try {
      const out = await withRemote(connect(target({ keyPath: encrypted.path }), opts), (r) =>
        r.exec('echo in'),
      );
      expect(out.stdout).toBe('in\n');
    } finally {
      delete process.env.CPLBCTL_SSH_PASSPHRASE;
    }
  });

  it('uses ssh-agent (SSH_AUTH_SOCK) for a key that exists nowhere else', async () => {
    const agent = await startAgent(dir);
    try {
      agent.add(agentOnly.path);
      rmSync(agentOnly.path); // only the agent holds it now
      const config = join(dir, 'agent_config');
      writeFileSync(
        config,
        `Host agent-host\n  HostName 127.0.0.1\n  Port ${sshd.port}\n  IdentityFile ${dir}/none\n`,
      );
      const opts = { knownHostsFiles: [knownHosts(sshd.knownHostsLine())], sshConfigPath: config };
      const without = await failure(connect({ address: 'agent-host' }, opts));
      expect(without.code).toBe('SSH_AUTH');
      process.env.SSH_AUTH_SOCK = agent.socket;
      const out = await withRemote(connect({ address: 'agent-host' }, opts), (r) => r.exec('echo agent'));
      expect(out.stdout).toBe('agent\n');
    } finally {
      delete process.env.SSH_AUTH_SOCK;
      agent.stop();
    }
  });

  it('takes HostName, Port, User and IdentityFile from ~/.ssh/config', async () => {
    const config = join(dir, 'config');
    writeFileSync(
      config,
      `Host node-*\n  HostName 127.0.0.1\n  Port ${sshd.port}\n  User root\n  IdentityFile ${key.path}\nHost *\n  Port 1\n`,
    );
    const opts = { knownHostsFiles: [knownHosts(sshd.knownHostsLine())], sshConfigPath: config };
    await withRemote(connect({ address: 'node-7' }, opts), async (r) => {
      expect(r.name).toBe(`node-7:${sshd.port}`);
      expect((await r.exec('echo $SSH_CONNECTION')).stdout.trim().split(' ').slice(2)).toEqual([
        '127.0.0.1',
        `${sshd.port}`,
      ]);
    });
  });

  it('reaches an alias that an Included file defines, under a Match on the expanded host', async () => {
    // Before Include and Match were read, this alias did not resolve: getaddrinfo ENOTFOUND.
    mkdirSync(join(dir, 'config.d'), { recursive: true });
    writeFileSync(join(dir, 'config.d', 'lab.conf'), `Host lab-ctl\n  HostName 127.0.0.1\n`);
    const config = join(dir, 'config-include');
    writeFileSync(
      config,
      `Include ${dir}/config.d/*\nMatch host 127.0.0.1 originalhost lab-*\n  Port ${sshd.port}\n  IdentityFile ${key.path}\nHost *\n  Port 1\n`,
    );
    const opts = { knownHostsFiles: [knownHosts(sshd.knownHostsLine())], sshConfigPath: config };
    await withRemote(connect({ address: 'lab-ctl' }, opts), async (r) => {
      expect(r.name).toBe(`lab-ctl:${sshd.port}`);
      expect((await r.exec('echo included')).stdout).toBe('included\n');
    });
  });

  it('fails with SSH_AUTH (no retries) when the key is not authorized', async () => {
    const stranger = makeKeyPair(dir, 'id_stranger');
    const events: string[] = [];
    const opts = {
      knownHostsFiles: [knownHosts(sshd.knownHostsLine())],
      sshConfigPath: noConfig,
      onEvent: (m: string) => events.push(m),
    };
    const err = await failure(connect(target({ keyPath: stranger.path }), opts));
    expect(err).toMatchObject({ code: 'SSH_AUTH', host: `127.0.0.1:${sshd.port}` });
    expect(err.hint).toContain(stranger.path);
    expect(events.filter((e) => e.includes('retry'))).toEqual([]);
  });

  it('reports a missing key file as a config error', async () => {
    const err = await failure(connect(target({ keyPath: join(dir, 'nope') }), { sshConfigPath: noConfig }));
    expect(err).toMatchObject({ code: 'SSH_KEY', fault: 'config' });
  });
});

describe('host keys', () => {
  const fingerprint = () => keygenFingerprint(`${sshd.hostKey.path}.pub`);

  it('refuses an unknown host, showing the ssh-keygen fingerprint and how to trust it', async () => {
    const file = knownHosts();
    const err = await failure(connect(target(), { knownHostsFiles: [file], sshConfigPath: noConfig }));
    expect(err).toMatchObject({ code: 'SSH_HOST_UNKNOWN', fault: 'remote', host: `127.0.0.1:${sshd.port}` });
    expect(err.message).toContain(fingerprint());
    expect(err.hint).toContain(`ssh-keyscan -p ${sshd.port} 127.0.0.1 >> ${file}`);
    expect(err.hint).toContain('--accept-new-host-keys');
  });

  it('accepts a new host once when asked, writing an entry OpenSSH itself finds', async () => {
    const file = knownHosts();
    const events: string[] = [];
    const opts = {
      knownHostsFiles: [file],
      acceptNewHostKeys: true,
      sshConfigPath: noConfig,
      onEvent: (m: string) => events.push(m),
    };
    await withRemote(connect(target(), opts), (r) => r.exec('true'));
    expect(events.join('\n')).toContain(fingerprint());
    const found = execFileSync('ssh-keygen', ['-F', `[127.0.0.1]:${sshd.port}`, '-f', file], {
      encoding: 'utf8',
    });
    expect(found).toContain(sshd.hostKey.pub.split(' ')[1]);
    // Known now: a strict second connection succeeds and adds nothing.
    await withRemote(connect(target(), { knownHostsFiles: [file], sshConfigPath: noConfig }), (r) =>
      r.exec('true'),
    );
    expect(readFileSync(file, 'utf8').trim().split('\n')).toHaveLength(1);
  });

  it('treats a changed key as a hard error, even with accept-new', async () => {
    const other = makeKeyPair(dir, 'other_host_key');
    const line = `[127.0.0.1]:${sshd.port} ${other.pub.split(' ').slice(0, 2).join(' ')}`;
    const file = knownHosts(line);
    for (const acceptNewHostKeys of [false, true]) {
      const err = await failure(
        connect(target(), { knownHostsFiles: [file], acceptNewHostKeys, sshConfigPath: noConfig }),
      );
      expect(err).toMatchObject({ code: 'SSH_HOST_KEY_MISMATCH', host: `127.0.0.1:${sshd.port}` });
      expect(err.message).toContain(fingerprint());
      expect(err.hint).toContain(`ssh-keygen -R '[127.0.0.1]:${sshd.port}'`);
    }
    expect(readFileSync(file, 'utf8')).toBe(line + '\n');
  });

  it('matches entries hashed by ssh-keygen -H', async () => {
    const file = knownHosts(sshd.knownHostsLine());
    execFileSync('ssh-keygen', ['-H', '-f', file], { stdio: 'ignore' });
    expect(readFileSync(file, 'utf8')).toMatch(/^\|1\|/);
    await withRemote(connect(target(), { knownHostsFiles: [file], sshConfigPath: noConfig }), (r) =>
      r.exec('true'),
    );
  });

  it('prefers the key type known_hosts holds (an RSA-only entry still verifies)', async () => {
    const rsa = sshd.extraHostKeys[0];
    if (!rsa) throw new Error('fixture has no RSA host key');
    const file = knownHosts(`[127.0.0.1]:${sshd.port} ${rsa.pub.split(' ').slice(0, 2).join(' ')}`);
    await withRemote(connect(target(), { knownHostsFiles: [file], sshConfigPath: noConfig }), (r) =>
      r.exec('true'),
    );
  });

  it('reads SSH_KNOWN_HOSTS when no file is given', async () => {
    process.env.SSH_KNOWN_HOSTS = knownHosts(sshd.knownHostsLine());
    try {
      await withRemote(connect(target(), { sshConfigPath: noConfig }), (r) => r.exec('true'));
    } finally {
      delete process.env.SSH_KNOWN_HOSTS;
    }
  });

  it('accepts a new host once for concurrent first contacts: one decision, one line', async () => {
    const file = knownHosts();
    const opts = { knownHostsFiles: [file], acceptNewHostKeys: true, sshConfigPath: noConfig };
    await Promise.all(
      Array.from({ length: 4 }, () => withRemote(connect(target(), opts), (r) => r.exec('true'))),
    );
    expect(readFileSync(file, 'utf8')).toBe(sshd.knownHostsLine() + '\n');
  });

  it('treats a second, different key for the same target as changed, even among concurrent first contacts', async () => {
    // A relay that sends its first connection to the real sshd and the next to another one with its
    // own host key: what an interceptor on one path looks like.
    const other = await startSshd({ authorizedKeys: [key.pub] });
    const backends = [sshd.port, other.port];
    const sockets: Socket[] = [];
    const relay = createServer((c) => {
      const s = createConnection({ host: '127.0.0.1', port: backends.shift() ?? other.port });
      sockets.push(c, s);
      c.pipe(s).pipe(c);
      c.on('error', () => s.destroy());
      s.on('error', () => c.destroy());
    });
    await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r));
    const port = (relay.address() as { port: number }).port;
    try {
      const file = knownHosts();
      const opts = { knownHostsFiles: [file], acceptNewHostKeys: true, sshConfigPath: noConfig, retries: 0 };
      const results = await Promise.all(
        [0, 1].map(() =>
          connect(target({ port }), opts).then(
            (r) => r.close().then(() => 'ok'),
            (e: unknown) => e,
          ),
        ),
      );
      expect(results.filter((r) => r === 'ok')).toHaveLength(1);
      expect(results.find((r) => r !== 'ok')).toMatchObject({ code: 'SSH_HOST_KEY_MISMATCH' });
      expect(readFileSync(file, 'utf8').trim().split('\n')).toHaveLength(1);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((r) => relay.close(r));
      await other.stop();
    }
  });

  it('refuses a pinned hostKey whose key known_hosts marks @revoked', async () => {
    const file = knownHosts(`@revoked * ${sshd.hostKey.pub.split(' ').slice(0, 2).join(' ')}`);
    const err = await failure(
      connect(target({ hostKey: fingerprint() }), { knownHostsFiles: [file], sshConfigPath: noConfig }),
    );
    expect(err).toMatchObject({ code: 'SSH_HOST_KEY_REVOKED', host: `127.0.0.1:${sshd.port}` });
    expect(err.message).toContain(`${file}:1`);
  });

  it('verifies a pinned hostKey fingerprint instead of known_hosts', async () => {
    const empty = knownHosts();
    const opts = { knownHostsFiles: [empty], sshConfigPath: noConfig };
    await withRemote(connect(target({ hostKey: fingerprint() }), opts), (r) => r.exec('true'));
    const other = makeKeyPair(dir, 'pin_other');
    const err = await failure(connect(target({ hostKey: keygenFingerprint(`${other.path}.pub`) }), opts));
    expect(err).toMatchObject({ code: 'SSH_HOST_KEY_MISMATCH' });
    expect(err.message).toContain(fingerprint());
  });
});

describe('connect failures', () => {
  it('retries a refused connection with backoff, then fails with SSH_CONNECT', async () => {
    const server = createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    await new Promise((r) => server.close(r)); // now nothing listens there
    const events: string[] = [];
    const err = await failure(
      connect(
        { address: '127.0.0.1', port, keyPath: key.path },
        { retries: 2, sshConfigPath: noConfig, onEvent: (m) => events.push(m) },
      ),
    );
    expect(err).toMatchObject({ code: 'SSH_CONNECT', host: `127.0.0.1:${port}`, fault: 'remote' });
    expect(err.hint).toContain('sshd running');
    expect(events.filter((e) => e.includes('retry'))).toHaveLength(2);
  });

  describe('against a server that accepts but never speaks SSH', () => {
    let silent: Server;
    let port: number;
    const sockets: Socket[] = [];
    beforeAll(async () => {
      silent = createServer((s) => sockets.push(s));
      await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
      port = (silent.address() as { port: number }).port;
    });
    afterAll(() => {
      sockets.forEach((s) => s.destroy());
      silent.close();
    });

    it('times out the handshake with SSH_TIMEOUT', async () => {
      const started = performance.now();
      const err = await failure(
        connect(
          { address: '127.0.0.1', port, keyPath: key.path },
          { connectTimeoutMs: 300, retries: 0, sshConfigPath: noConfig },
        ),
      );
      expect(err).toMatchObject({ code: 'SSH_TIMEOUT', host: `127.0.0.1:${port}` });
      expect(performance.now() - started).toBeLessThan(2_000);
    });

    it('stops at once when cancelled', async () => {
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 100);
      const started = performance.now();
      const err = await failure(
        connect(
          { address: '127.0.0.1', port, keyPath: key.path },
          { connectTimeoutMs: 5_000, signal: controller.signal, sshConfigPath: noConfig },
        ),
      );
      expect(err).toMatchObject({ code: 'CANCELLED', fault: 'cancelled' });
      expect(performance.now() - started).toBeLessThan(1_000);
    });
  });
});

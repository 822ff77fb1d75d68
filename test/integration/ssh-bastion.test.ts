import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CplbError } from '../../src/core/errors.js';
import { connect, type ConnectOptions } from '../../src/ssh/index.js';
import { freePort, makeKeyPair, startSshd, tempDir, type KeyPair, type Sshd } from './ssh-fixture.js';

/**
 * Jump hosts: a second sshd (only on 127.0.0.2) reached through the first one. The jump sshd logs
 * at DEBUG1, so the test can see the forwarded connection it made.
 */

let dir: string;
let key: KeyPair;
let jump: Sshd;
let inner: Sshd;
let opts: ConnectOptions;

beforeAll(async () => {
  dir = tempDir();
  key = makeKeyPair(dir, 'id');
  [jump, inner] = await Promise.all([
    startSshd({ authorizedKeys: [key.pub] }),
    startSshd({ address: '127.0.0.2', authorizedKeys: [key.pub] }),
  ]);
  const knownHosts = join(dir, 'known_hosts');
  writeFileSync(knownHosts, `${jump.knownHostsLine()}\n${inner.knownHostsLine()}\n`);
  opts = { knownHostsFiles: [knownHosts], sshConfigPath: join(dir, 'none') };
});

afterAll(async () => {
  await Promise.all([jump?.stop(), inner?.stop()]);
  rmSync(dir, { recursive: true, force: true });
});

const bastion = () => ({ address: '127.0.0.1', port: jump.port, keyPath: key.path });

async function waitFor(check: () => boolean): Promise<boolean> {
  for (let i = 0; i < 100 && !check(); i++) await new Promise((r) => setTimeout(r, 20));
  return check();
}

describe('bastion', () => {
  it('reaches the target through the bastion, and closing the Remote closes both', async () => {
    const remote = await connect(
      { address: '127.0.0.2', port: inner.port, keyPath: key.path, bastion: bastion() },
      opts,
    );
    const seen = (await remote.exec('echo $SSH_CONNECTION')).stdout.trim().split(' ');
    expect(seen.slice(2)).toEqual(['127.0.0.2', `${inner.port}`]);
    expect(remote.name).toBe(`127.0.0.2:${inner.port}`);
    expect(jump.log()).toContain(`target 127.0.0.2 port ${inner.port}`);
    expect(jump.sessionProcesses()).toBeGreaterThan(0);
    await remote.close();
    expect(await waitFor(() => jump.sessionProcesses() === 0 && inner.sessionProcesses() === 0)).toBe(true);
  });

  it('follows ProxyJump from ssh config', async () => {
    const config = join(dir, 'ssh_config');
    writeFileSync(
      config,
      [
        'Host inner',
        '  HostName 127.0.0.2',
        `  Port ${inner.port}`,
        '  ProxyJump jumphost',
        'Host jumphost',
        '  HostName 127.0.0.1',
        `  Port ${jump.port}`,
        'Host *',
        `  IdentityFile ${key.path}`,
        '',
      ].join('\n'),
    );
    const before = (jump.log().match(/target 127\.0\.0\.2/g) ?? []).length;
    const remote = await connect({ address: 'inner' }, { ...opts, sshConfigPath: config });
    try {
      expect((await remote.exec('echo $SSH_CONNECTION')).stdout).toContain(`127.0.0.2 ${inner.port}`);
      expect((jump.log().match(/target 127\.0\.0\.2/g) ?? []).length).toBe(before + 1);
    } finally {
      await remote.close();
    }
  });

  it('checks the bastion host key too, naming the bastion', async () => {
    const empty = join(dir, 'known_hosts_inner_only');
    writeFileSync(empty, `${inner.knownHostsLine()}\n`);
    const err = await connect(
      { address: '127.0.0.2', port: inner.port, keyPath: key.path, bastion: bastion() },
      { ...opts, knownHostsFiles: [empty] },
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CplbError);
    expect(err).toMatchObject({ code: 'SSH_HOST_UNKNOWN', host: `127.0.0.1:${jump.port}` });
  });

  it('accepts a new bastion key once for several hosts behind it', async () => {
    const third = await startSshd({ address: '127.0.0.3', authorizedKeys: [key.pub] });
    try {
      const file = join(dir, 'known_hosts_accept_new');
      writeFileSync(file, '');
      const hosts = [inner, third, inner, third];
      const remotes = await Promise.all(
        hosts.map((h) =>
          connect(
            { address: h.address, port: h.port, keyPath: key.path, bastion: bastion() },
            { ...opts, knownHostsFiles: [file], acceptNewHostKeys: true },
          ),
        ),
      );
      await Promise.all(remotes.map((r) => r.close()));
      const lines = readFileSync(file, 'utf8').trim().split('\n').sort();
      expect(lines).toEqual([jump, inner, third].map((s) => s.knownHostsLine()).sort());
    } finally {
      await third.stop();
    }
  });

  it('reports a target the bastion cannot reach as SSH_CONNECT on the target', async () => {
    const closed = await freePort('127.0.0.2');
    const err = await connect(
      { address: '127.0.0.2', port: closed, keyPath: key.path, bastion: bastion() },
      { ...opts, retries: 1 },
    ).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'SSH_CONNECT', host: `127.0.0.2:${closed}` });
    expect((err as Error).message).toContain(`via bastion 127.0.0.1:${jump.port}`);
    expect(await waitFor(() => jump.sessionProcesses() === 0)).toBe(true); // the bastion hop was closed
  });
});

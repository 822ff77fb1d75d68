/**
 * An upload whose connection is cut midway, over a real sshd: the connection runs through a TCP relay
 * in this process that the test cuts while the temp file on the host is half written.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CplbError } from '../../src/core/errors.js';
import { connect, type Remote } from '../../src/ssh/index.js';
import { makeKeyPair, startSshd, tempDir, type KeyPair, type Sshd } from './ssh-fixture.js';

let dir: string;
let key: KeyPair;
let sshd: Sshd;
let relay: Server;
let relayPort: number;
const relayed = new Set<Socket>();

/** Ends every relayed connection at once, as a network that drops does for both ends. */
function cutAll(): void {
  for (const s of relayed) s.destroy();
  relayed.clear();
}

async function open(): Promise<Remote> {
  const knownHosts = join(dir, 'known_hosts');
  const line = sshd.knownHostsLine().replace(`]:${sshd.port} `, `]:${relayPort} `);
  writeFileSync(knownHosts, line + '\n');
  return connect(
    { address: '127.0.0.1', port: relayPort, keyPath: key.path },
    { knownHostsFiles: [knownHosts], sshConfigPath: join(dir, 'none'), commandTimeoutMs: 60_000 },
  );
}

beforeAll(async () => {
  dir = tempDir();
  key = makeKeyPair(dir, 'id');
  sshd = await startSshd({ authorizedKeys: [key.pub] });
  relay = createServer((client) => {
    const server = createConnection({ host: sshd.address, port: sshd.port });
    relayed.add(client).add(server);
    client.pipe(server).pipe(client);
    const end = () => (client.destroy(), server.destroy());
    client.on('error', end).on('close', end);
    server.on('error', end).on('close', end);
  });
  await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r));
  relayPort = (relay.address() as { port: number }).port;
});

afterAll(async () => {
  cutAll();
  await new Promise((r) => relay?.close(r));
  await sshd?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const tempFiles = (d: string) => readdirSync(d).filter((n) => n.includes('.cplb-'));

describe('an upload cut midway', () => {
  it('leaves the old file intact, fails naming host and file, and a re-run completes', async () => {
    const folder = join(dir, 'agent');
    mkdirSync(folder);
    const target = join(folder, 'cplb-agent');
    writeFileSync(target, 'the old agent\n');
    const data = randomBytes(96 * 1024 * 1024);

    const remote = await open();
    const upload = remote.upload(target, data, { mode: 0o755 }).then(
      () => null,
      (e: unknown) => e,
    );
    // Cut once the host has written part of the file, well before all of it.
    let cutAt = -1;
    for (let i = 0; i < 3000 && cutAt < 0; i++) {
      const half = tempFiles(folder)
        .map((n) => statSync(join(folder, n)).size)
        .find((size) => size >= 4 * 1024 * 1024);
      if (half !== undefined) {
        cutAll();
        cutAt = half;
      } else await sleep(5);
    }
    expect(cutAt).toBeGreaterThan(0);
    expect(cutAt).toBeLessThan(data.length);

    const err = await upload;
    expect(err).toBeInstanceOf(CplbError);
    expect(err).toMatchObject({ host: `127.0.0.1:${relayPort}` });
    expect((err as Error).message).toContain(target);
    await remote.close();

    // The host finishes what it was doing on its own: wait until its temp file is gone.
    for (let i = 0; i < 1000 && tempFiles(folder).length > 0; i++) await sleep(10);
    expect(tempFiles(folder)).toEqual([]);
    expect(readFileSync(target, 'utf8')).toBe('the old agent\n');

    const again = await open();
    try {
      expect(await again.upload(target, data, { mode: 0o755 })).toMatchObject({ changed: true });
    } finally {
      await again.close();
    }
    expect(readFileSync(target).equals(data)).toBe(true);
    expect(tempFiles(folder)).toEqual([]);
  }, 120_000);
});

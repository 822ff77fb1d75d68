/**
 * The SSH engine against real lab hosts: key and agent logins, a non-22 port, a sudo user, a bastion,
 * known_hosts decisions (also through the CLI), failing commands and hostile strings.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { parseDocument } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadClusterText } from '../../src/config/load.js';
import { labDown, labExec, labUp, type LabHost, type LabInfo } from '../../src/lab/index.js';
import { connect, type ConnectOptions, type Remote, type SshTarget } from '../../src/ssh/index.js';
import { shq } from '../../src/contract/quote.js';
import { cli } from './apply-support.js';
import { ssh } from './lab-helpers.js';
import { clusterWithoutHostKeys, HOSTILE_STRINGS, startAgent, withEnv } from './ssh-lab-support.js';

const LAB = 't-sshlab';
let lab: LabInfo;
let tmp: string;
let c1: LabHost, c2: LabHost, c3: LabHost;
const opened: Remote[] = [];

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'cplb-sshlab-'));
  lab = await labUp({ name: LAB, hosts: 3 });
  [c1, c2, c3] = ['c1', 'c2', 'c3'].map((n) => lab.hosts.find((h) => h.name === n)!) as [
    LabHost,
    LabHost,
    LabHost,
  ];
}, 120_000);

afterAll(async () => {
  await Promise.allSettled(opened.map((r) => r.close()));
  await labDown(LAB);
  await rm(tmp, { recursive: true, force: true });
}, 60_000);

const options = (extra: ConnectOptions = {}): ConnectOptions => ({
  knownHostsFiles: [lab.knownHosts],
  sshConfigPath: '/dev/null',
  retries: 0,
  connectTimeoutMs: 5000,
  ...extra,
});
const targetOf = (h: LabHost, extra: Partial<SshTarget> = {}): SshTarget => ({
  address: h.address,
  port: h.sshPort,
  user: h.user,
  keyPath: lab.keyPath,
  ...extra,
});
async function open(h: LabHost, extra: Partial<SshTarget> = {}, opts: ConnectOptions = {}): Promise<Remote> {
  const remote = await connect(targetOf(h, extra), options(opts));
  opened.push(remote);
  return remote;
}
/** The lab's known_hosts line for a host (what OpenSSH itself writes). */
async function keyLine(h: LabHost): Promise<string> {
  const token = h.sshPort === 22 ? `${h.address} ` : `[${h.address}]:${h.sshPort} `;
  return (await readFile(lab.knownHosts, 'utf8')).split('\n').find((l) => l.startsWith(token))!;
}
const out = async (r: Remote, cmd: string, sudo?: boolean) => (await r.exec(cmd, { sudo })).stdout.trim();

describe('logins', () => {
  it('logs in as root with a key file on port 22', async () => {
    const r = await open(c1);
    expect(r).toMatchObject({ name: `${c1.address}:22`, user: 'root', isRoot: true });
    expect(await out(r, 'hostname; id -u')).toBe('c1\n0');
    expect(await out(r, 'echo $SSH_CONNECTION')).toMatch(new RegExp(` ${c1.address} 22$`));
  });

  it('reaches a host whose sshd listens on 2222', async () => {
    const r = await open(c2);
    expect(r.name).toBe(`${c2.address}:2222`);
    expect(await out(r, 'hostname; echo $SSH_CONNECTION')).toMatch(
      new RegExp(`^c2\\n.* ${c2.address} 2222$`),
    );
  });

  it('logs in through ssh-agent when no key file is named or found', async () => {
    const home = await mkdtemp(join(tmp, 'home-'));
    const agent = await startAgent(tmp, lab.keyPath);
    try {
      const target = { address: c1.address, port: 22, user: 'root' };
      const viaAgent = await withEnv({ HOME: home, SSH_AUTH_SOCK: agent.sock }, () =>
        connect(target, options()),
      );
      expect(await out(viaAgent, 'hostname')).toBe('c1');
      await viaAgent.close();
      // The same login without the agent: nothing else could have supplied the key.
      const without = withEnv({ HOME: home, SSH_AUTH_SOCK: undefined }, () => connect(target, options()));
      await expect(without).rejects.toMatchObject({
        code: 'SSH_AUTH',
        hint: expect.stringContaining('no keys'),
      });
    } finally {
      await agent.stop();
    }
  });
});

describe('sudo user on c3 (root logins refused)', () => {
  const dir = '/etc/cplb-ssh-lab';
  let r: Remote;
  beforeAll(async () => {
    r = await open(c3);
  });

  it('refuses root and runs commands as root through sudo -n for cplb', async () => {
    await expect(open(c3, { user: 'root' })).rejects.toMatchObject({ code: 'SSH_AUTH' });
    expect(r).toMatchObject({ user: 'cplb', isRoot: false });
    expect(await out(r, 'id -u')).toBe('0');
    expect(await out(r, 'id -un', false)).toBe('cplb');
  });

  it('runs its root commands one after another in one root shell: sudo once per connection', async () => {
    const first = await out(r, 'echo $$; id -u');
    const [shellPid, uid] = first.split('\n');
    expect(uid).toBe('0');
    expect(await out(r, 'echo $$')).toBe(shellPid);
    // The shell is a root sh under one sudo, in the login's session; the user's own commands stay the user's.
    const proc = await labExec(LAB, 'c3', [
      'sh',
      '-c',
      `ps -o user=,comm= -p ${shellPid} -p $(ps -o ppid= -p ${shellPid})`,
    ]);
    expect(
      proc.stdout
        .trim()
        .split('\n')
        .map((l) => l.trim().split(/\s+/)),
    ).toEqual([
      ['root', 'sudo'],
      ['root', 'sh'],
    ]);
    expect(await out(r, 'id -un', false)).toBe('cplb');
  });

  it('uploads a root-owned 0600 file to /etc and reads it back only through sudo', async () => {
    const path = `${dir}/secret.conf`;
    const opts = { mode: 0o600, owner: 'root', group: 'root' };
    expect((await r.upload(path, 'authPass lab\n', opts)).changed).toBe(true);
    // Checked from outside the SSH session too.
    expect((await labExec(LAB, 'c3', ['stat', '-c', '%a %U %G %s', path])).stdout.trim()).toBe(
      '600 root root 13',
    );
    expect((await r.upload(path, 'authPass lab\n', opts)).changed).toBe(false);
    expect((await r.readFile(path))?.toString()).toBe('authPass lab\n');
    await expect(r.readFile(path, { sudo: false })).rejects.toMatchObject({
      code: 'SSH_COMMAND_FAILED',
      message: expect.stringContaining('Permission denied'),
    });
    expect(await r.readFile(`${dir}/missing`)).toBeNull();
    expect(await out(r, `ls -A ${dir}`)).toBe('secret.conf');
  });

  it('kills a timed-out command that runs as root under sudo', async () => {
    const marker = `${(Date.now() % 100000) + 1}.25`;
    await expect(r.exec(`sleep ${marker}`, { timeoutMs: 400 })).rejects.toMatchObject({
      code: 'SSH_TIMEOUT',
    });
    await new Promise((res) => setTimeout(res, 300));
    expect(
      (await labExec(LAB, 'c3', ['sh', '-c', `pgrep -f ${shq(`^sleep ${marker}$`)} || true`])).stdout,
    ).toBe('');
  });
});

describe('bastion', () => {
  it('reaches c2 only through c1 when c2 accepts SSH from c1 alone', async () => {
    const reject = [
      'INPUT',
      '-p',
      'tcp',
      '--dport',
      '2222',
      '!',
      '-s',
      c1.address,
      '-j',
      'REJECT',
      '--reject-with',
      'tcp-reset',
    ];
    await labExec(LAB, 'c2', ['iptables', '-I', ...reject]);
    try {
      await expect(open(c2)).rejects.toMatchObject({ code: 'SSH_CONNECT', host: `${c2.address}:2222` });
      // The target as a cluster file spells it.
      const doc = parseDocument(await readFile(lab.clusterFile, 'utf8'));
      doc.setIn(['spec', 'hosts', 1, 'ssh', 'bastion'], { address: c1.address, keyPath: lab.keyPath });
      const { cluster } = loadClusterText(doc.toString(), 'bastion.yaml');
      const host = cluster!.controllers[1]!;
      expect(host.ssh.bastion).toMatchObject({ address: c1.address, port: 22, user: 'root' });
      const r = await connect(host.ssh, options());
      try {
        expect(r.name).toBe(`${c2.address}:2222`);
        expect(await out(r, 'hostname')).toBe('c2');
        // sshd on c2 saw the connection come from c1's address.
        const [client, , server, port] = (await out(r, 'echo $SSH_CONNECTION')).split(' ');
        expect([client, server, port]).toEqual([c1.address, c2.address, '2222']);
      } finally {
        await r.close();
      }
    } finally {
      await labExec(LAB, 'c2', ['iptables', '-D', ...reject]);
    }
  });
});

describe('known_hosts', () => {
  it('refuses an unknown host, showing its fingerprint and how to trust it', async () => {
    const empty = join(tmp, 'empty_known_hosts');
    await writeFile(empty, '');
    const err = await open(c1, {}, { knownHostsFiles: [empty] }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'SSH_HOST_UNKNOWN', host: `${c1.address}:22` });
    const e = err as { message: string; hint: string };
    expect(e.message).toContain(c1.hostKeyFingerprint);
    expect(e.hint).toContain(`ssh-keyscan -p 22 ${c1.address} >> ${empty}`);
    expect(e.hint).toContain('--accept-new-host-keys');
    expect(await readFile(empty, 'utf8')).toBe('');
  });

  it('refuses a host whose key differs from known_hosts, also with acceptNewHostKeys', async () => {
    const wrong = join(tmp, 'wrong_known_hosts');
    const c2Key = (await keyLine(c2)).split(' ').slice(1).join(' ');
    await writeFile(wrong, `${c1.address} ${c2Key}\n`);
    for (const acceptNewHostKeys of [false, true]) {
      const err = await open(c1, {}, { knownHostsFiles: [wrong], acceptNewHostKeys }).catch(
        (e: unknown) => e,
      );
      expect(err).toMatchObject({
        code: 'SSH_HOST_KEY_MISMATCH',
        message: expect.stringContaining(c1.hostKeyFingerprint),
      });
    }
    expect(await readFile(wrong, 'utf8')).toBe(`${c1.address} ${c2Key}\n`);
  });

  it('records a new key with accept-new, then trusts it without', async () => {
    const file = join(tmp, 'accept_known_hosts');
    await (await open(c2, {}, { knownHostsFiles: [file], acceptNewHostKeys: true })).close();
    expect((await readFile(file, 'utf8')).trim()).toBe(await keyLine(c2));
    expect(await out(await open(c2, {}, { knownHostsFiles: [file] }), 'hostname')).toBe('c2');
    // OpenSSH agrees with what was written.
    expect((await ssh(lab, c2, 'hostname', { knownHosts: file })).stdout.trim()).toBe('c2');
  });
});

describe('commands', () => {
  it('fails a command with its exit code and stderr in the error, also through sudo', async () => {
    for (const h of [c1, c3]) {
      const r = await open(h);
      const err = await r.exec("echo 'disk on fire' >&2; exit 7").catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'SSH_COMMAND_FAILED', host: r.name, fault: 'remote' });
      expect((err as Error).message).toMatch(/exit code 7.*\n.*disk on fire/s);
      const res = await r.exec('echo out; echo err >&2; exit 3', { allowFailure: true });
      expect(res).toMatchObject({ exitCode: 3, stdout: 'out\n', stderr: 'err\n' });
    }
  });

  it('passes hostile strings byte-exact, as root and through sudo', async () => {
    const remotes = [await open(c1), await open(c3)];
    const sha = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');
    for (const r of remotes) {
      for (const s of HOSTILE_STRINGS) {
        expect(await r.exec(`printf '%s' ${shq(s)}`).then((x) => x.stdout)).toBe(s);
        expect((await r.exec(`printf '%s' ${shq(s)} | sha256sum`)).stdout.split(' ')[0]).toBe(sha(s));
      }
      await fc.assert(
        fc.asyncProperty(fc.string({ unit: 'binary', maxLength: 40 }), async (raw) => {
          const s = raw.replaceAll('\0', '');
          expect((await r.exec(`printf '%s' ${shq(s)}`)).stdout).toBe(s);
        }),
        { numRuns: 40 },
      );
    }
  });
});

describe('cplbctl apply --dry-run and host keys', () => {
  const controllers = () => [c1, c2, c3];

  it('fails on unknown hosts naming each host and fingerprint, and records them with --accept-new-host-keys', async () => {
    const cluster = await clusterWithoutHostKeys(lab.clusterFile, tmp);
    const known = join(tmp, 'cli_known_hosts');
    await writeFile(known, '');
    const args = ['apply', '--dry-run', '-o', 'logfmt', '--known-hosts', known];
    const refused = await cli([...args, cluster]);
    expect(refused.code).toBe(1);
    const text = refused.stdout + refused.stderr;
    for (const h of controllers()) {
      expect(text).toContain(`${h.address}:${h.sshPort}`);
      expect(text).toContain(h.hostKeyFingerprint);
    }
    expect(text).toContain('SSH_HOST_UNKNOWN');
    expect(await readFile(known, 'utf8')).toBe('');

    const accepted = await cli([...args, '--accept-new-host-keys', cluster]);
    expect(accepted.stderr).toBe('');
    expect(accepted.code).toBe(0);
    const recorded = (await readFile(known, 'utf8')).trim().split('\n').sort();
    expect(recorded).toEqual((await Promise.all(controllers().map((h) => keyLine(h)))).sort());
  });

  it("names the host and shows sudo's stderr when sudo needs a password", async () => {
    const sudoers = '/etc/sudoers.d/cplb-lab';
    await labExec(LAB, 'c3', ['mv', sudoers, `${sudoers}.off`]);
    try {
      const res = await cli([
        'apply',
        '--dry-run',
        '-o',
        'logfmt',
        '--known-hosts',
        lab.knownHosts,
        lab.clusterFile,
      ]);
      expect(res.code).toBe(1);
      const text = res.stdout + res.stderr;
      expect(text).toContain(`${c3.address}:22`);
      expect(text).toContain('SSH_SUDO_PASSWORD');
      expect(text).toMatch(/sudo: (a password is required|a terminal is required)/);
    } finally {
      await labExec(LAB, 'c3', ['mv', `${sudoers}.off`, sudoers]);
    }
  });
});

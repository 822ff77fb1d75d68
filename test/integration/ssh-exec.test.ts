import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CplbError } from '../../src/core/errors.js';
import { connect, MAX_CHANNELS, MAX_OUTPUT_BYTES, type Remote } from '../../src/ssh/index.js';
import { shJoin, shq } from '../../src/contract/quote.js';
import { makeKeyPair, startSshd, tempDir, type KeyPair, type Sshd } from './ssh-fixture.js';

/** Commands and files over a real OpenSSH server. */

let dir: string;
let key: KeyPair;
let sshd: Sshd;
let remote: Remote;
let knownHosts: string;

async function open(server: Sshd): Promise<Remote> {
  writeFileSync(knownHosts, [sshd, server].map((s) => s.knownHostsLine()).join('\n') + '\n');
  return connect(
    { address: server.address, port: server.port, keyPath: key.path },
    { knownHostsFiles: [knownHosts], sshConfigPath: join(dir, 'none'), commandTimeoutMs: 10_000 },
  );
}

beforeAll(async () => {
  dir = tempDir();
  key = makeKeyPair(dir, 'id');
  knownHosts = join(dir, 'known_hosts');
  sshd = await startSshd({ authorizedKeys: [key.pub], extraConfig: ['MaxSessions 20'] });
  remote = await open(sshd);
});

afterAll(async () => {
  await remote?.close();
  await sshd?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('exec', () => {
  it('returns exit code, signal, stdout, stderr and duration', async () => {
    const r = await remote.exec('echo out; echo err >&2');
    expect(r).toMatchObject({
      command: 'echo out; echo err >&2',
      exitCode: 0,
      signal: null,
      stdout: 'out\n',
      stderr: 'err\n',
    });
    expect(r.durationMs).toBeGreaterThanOrEqual(0);
  });

  it('fails with the command, exit code and stderr tail in the error', async () => {
    const cmd = 'for i in $(seq 1 25); do echo problem-$i >&2; done; exit 3';
    const err = (await remote.exec(cmd).catch((e: unknown) => e)) as CplbError;
    expect(err).toBeInstanceOf(CplbError);
    expect(err).toMatchObject({
      code: 'SSH_COMMAND_FAILED',
      fault: 'remote',
      host: `127.0.0.1:${sshd.port}`,
    });
    expect(err.message).toContain(cmd);
    expect(err.message).toContain('exit code 3');
    expect(err.message).toContain('problem-25');
    expect(err.message).not.toContain('problem-5\n');
    expect(await remote.exec('exit 4', { allowFailure: true })).toMatchObject({ exitCode: 4 });
  });

  it('reports a command killed by a signal', async () => {
    const r = await remote.exec('kill -TERM $$', { allowFailure: true });
    expect(r).toMatchObject({ exitCode: null, signal: 'SIGTERM' });
    await expect(remote.exec('kill -TERM $$')).rejects.toThrow(/killed by SIGTERM/);
  });

  it('echoes hostile strings back byte-exact through quoting over ssh', async () => {
    const hostile = fc
      .oneof(
        fc.string({
          unit: fc.constantFrom(...Array.from(`'"\`$(){}[]<>|&;*?~#!\\ \t\n=%\u00e9\u{1F600}\x01`)),
        }),
        fc.string({ unit: 'binary', maxLength: 40 }),
      )
      .map((s) => s.replaceAll('\0', ''));
    await fc.assert(
      fc.asyncProperty(fc.array(hostile, { minLength: 1, maxLength: 4 }), async (argv) => {
        // Started together: one runs in the command shell, the other on a channel of its own.
        const [one, all] = await Promise.all([
          remote.exec(`printf '%s' ${shq(argv[0] ?? '')}`),
          remote.exec(shJoin(['printf', '%s\\0', ...argv])),
        ]);
        expect(one.stdout).toBe(argv[0]);
        expect(all.stdout.split('\0').slice(0, -1)).toEqual(argv);
        // And both through the shell, one after the other.
        expect((await remote.exec(shJoin(['printf', '%s\\0', ...argv]))).stdout).toBe(all.stdout);
      }),
      { numRuns: 60 },
    );
  });

  it('passes large binary stdin intact', async () => {
    const data = Buffer.alloc(300_000, 0);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7919) % 256;
    const r = await remote.exec('sha256sum', { stdin: data });
    const { createHash } = await import('node:crypto');
    expect(r.stdout.split(' ')[0]).toBe(createHash('sha256').update(data).digest('hex'));
  });

  it('kills a command at its timeout and keeps the connection usable', async () => {
    const marker = `${Date.now() % 100000}.5`;
    const started = performance.now();
    const err = (await remote
      .exec(`sleep ${marker}`, { timeoutMs: 300 })
      .catch((e: unknown) => e)) as CplbError;
    expect(err).toMatchObject({ code: 'SSH_TIMEOUT', host: `127.0.0.1:${sshd.port}` });
    expect(err.message).toContain(`sleep ${marker}`);
    expect(performance.now() - started).toBeLessThan(1_500);
    await new Promise((r) => setTimeout(r, 200));
    const left = await remote.exec(`pgrep -f ${shq(`^sleep ${marker}$`)} || true`);
    expect(left.stdout).toBe('');
    expect((await remote.exec('echo alive')).stdout).toBe('alive\n');
  });

  it(`runs many commands at once, at most ${MAX_CHANNELS} channels at a time`, async () => {
    const running = join(dir, 'running');
    mkdirSync(running);
    const started = performance.now();
    // Each command counts how many are running on the server while it runs.
    const job = (i: number) => `touch ${running}/${i}; ls ${running} | wc -l; sleep 0.2; rm ${running}/${i}`;
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => remote.exec(job(i))));
    const seen = results.map((r) => Number(r.stdout.trim()));
    expect(Math.max(...seen)).toBeLessThanOrEqual(8); // OpenSSH allows 10 by default: keep headroom
    expect(Math.max(...seen)).toBeGreaterThanOrEqual(4);
    // 20 commands, 8 at a time: three rounds of 0.2 s.
    expect(performance.now() - started).toBeGreaterThan(550);
  });

  it('rides out a server at its MaxSessions limit (sessions are freed late)', async () => {
    const tight = await startSshd({
      authorizedKeys: [key.pub],
      extraConfig: [`MaxSessions ${MAX_CHANNELS}`],
    });
    const r = await open(tight);
    try {
      const results = await Promise.all(
        Array.from({ length: 40 }, (_, i) => r.exec(`sleep 0.05; echo ${i}`)),
      );
      expect(results.map((x) => x.stdout.trim())).toEqual(Array.from({ length: 40 }, (_, i) => `${i}`));
    } finally {
      await r.close();
      await tight.stop();
    }
  });
});

describe('command shell (one session for commands run one after another)', () => {
  const pidOf = async (r: Remote = remote) => (await r.exec('echo $$')).stdout.trim();

  it('runs sequential commands in one shell, each in a subshell that leaks nothing', async () => {
    const shell = await pidOf();
    expect(shell).toMatch(/^\d+$/);
    await remote.exec('cd /; X=leaked; export Y=leaked; trap "echo trapped" EXIT; umask 077');
    const after = await remote.exec('pwd; echo "${X:-unset} ${Y:-unset}"; umask');
    expect(after.stdout).toBe(`${process.env.HOME ?? '/root'}\nunset unset\n0022\n`);
    expect(await pidOf()).toBe(shell);
  });

  it('keeps exact bytes, exit codes and stdin, and survives exit, exec and syntax errors', async () => {
    const shell = await pidOf();
    expect(await remote.exec('printf abc; printf err >&2; exit 5', { allowFailure: true })).toMatchObject({
      exitCode: 5,
      signal: null,
      stdout: 'abc',
      stderr: 'err',
    });
    expect((await remote.exec('exec printf done')).stdout).toBe('done');
    const broken = await remote.exec('if then', { allowFailure: true });
    expect(broken.exitCode).toBe(2);
    expect(broken.stderr).toMatch(/syntax error/i);
    const text = "line one\n'quoted' $HOME `x` \\ \u00e9\nno newline at the end";
    expect((await remote.exec('cat', { stdin: text })).stdout).toBe(text);
    expect((await remote.exec('cat', { stdin: Buffer.from(text) })).stdout).toBe(text);
    expect((await remote.exec('read -r l; echo "[$l]"')).stdout).toBe('[]\n'); // no stdin: EOF at once
    // 300 kB of output: the end marker lands in a later chunk than the output starts in.
    const big = await remote.exec("head -c 300000 /dev/zero | tr '\\0' a");
    expect(big.stdout).toBe('a'.repeat(300_000));
    expect(await pidOf()).toBe(shell);
  });

  it('gives binary stdin and commands that overlap a channel of their own', async () => {
    const shell = await pidOf();
    const binary = await remote.exec('echo $$; cat >/dev/null', { stdin: Buffer.from([0, 1, 2]) });
    expect(binary.stdout.trim()).not.toBe(shell);
    const [slow, quick] = await Promise.all([remote.exec('sleep 0.3; echo $$'), remote.exec('echo $$')]);
    expect(slow.stdout.trim()).toBe(shell);
    expect(quick.stdout.trim()).not.toBe(shell);
  });

  it('opens a new shell after a command killed the old one', async () => {
    const shell = await pidOf();
    const r = await remote.exec('kill -KILL $$', { allowFailure: true });
    expect(r).toMatchObject({ exitCode: null, signal: 'SIGKILL' });
    const next = await pidOf();
    expect(next).not.toBe(shell);
    expect(await pidOf()).toBe(next);
  });
});

describe('output bound', () => {
  it(`fails a command past ${MAX_OUTPUT_BYTES / 2 ** 20} MiB of output, kills it, and keeps the connection`, async () => {
    const marker = `${Date.now() % 100000}.25`;
    // More than the bound, then a sleep that must not outlive the kill. Started together: one runs
    // in the command shell, the other on a channel of its own; one floods stdout, one stderr.
    const flood = (to: string) =>
      `head -c ${MAX_OUTPUT_BYTES + 4 * 2 ** 20} /dev/zero ${to}; sleep ${marker}`;
    const errs = (await Promise.all(
      [flood(''), flood('>&2')].map((c) => remote.exec(c).catch((e: unknown) => e)),
    )) as CplbError[];
    for (const [i, err] of errs.entries()) {
      expect(err, `command ${i}`).toBeInstanceOf(CplbError);
      expect(err).toMatchObject({ code: 'SSH_OUTPUT_TOO_LARGE', host: `127.0.0.1:${sshd.port}` });
      expect(err.message).toContain('head -c');
    }
    await new Promise((r) => setTimeout(r, 300));
    expect((await remote.exec(`pgrep -f ${shq(`^sleep ${marker}$`)} || true`)).stdout).toBe('');
    expect((await remote.exec('echo alive')).stdout).toBe('alive\n');
  }, 60_000);
});

describe('files', () => {
  it('reads a missing file as null and bytes as they are', async () => {
    expect(await remote.readFile(join(dir, 'missing', 'file'))).toBeNull();
    const bytes = Buffer.from([0, 1, 2, 255, 10, 0, 13]);
    writeFileSync(join(dir, 'bytes'), bytes);
    expect(await remote.readFile(join(dir, 'bytes'))).toEqual(bytes);
  });

  it('uploads atomically (new inode, mode, owner) and skips when the sha256 matches', async () => {
    const target = join(dir, 'etc', 'cplb', 'keepalived.conf');
    const first = await remote.upload(target, 'vrrp_instance a {}\n', {
      mode: 0o600,
      owner: 'root',
      group: 'root',
    });
    expect(first.changed).toBe(true);
    expect(readFileSync(target, 'utf8')).toBe('vrrp_instance a {}\n');
    const st = statSync(target);
    expect(st.mode & 0o7777).toBe(0o600);
    expect([st.uid, st.gid]).toEqual([0, 0]);

    await new Promise((r) => setTimeout(r, 30));
    const again = await remote.upload(target, 'vrrp_instance a {}\n', {
      mode: 0o600,
      owner: 'root',
      group: 'root',
    });
    expect(again).toEqual({ path: target, changed: false, sha256: first.sha256 });
    expect(statSync(target).mtimeMs).toBe(st.mtimeMs);
    expect(statSync(target).ino).toBe(st.ino);

    const binary = Buffer.from(Array.from({ length: 1024 }, (_, i) => i % 256));
    const changed = await remote.upload(target, binary, { mode: 0o640 });
    expect(changed.changed).toBe(true);
    expect(statSync(target).ino).not.toBe(st.ino); // renamed into place, never rewritten in place
    expect(await remote.readFile(target)).toEqual(binary);
    expect(readdirSync(join(dir, 'etc', 'cplb'))).toEqual(['keepalived.conf']);
  });

  it('uploads to paths that need quoting', async () => {
    const weird = join(dir, "we'ird $(dir)", 'a file;`x`');
    mkdirSync(join(dir, "we'ird $(dir)"), { recursive: true });
    await remote.upload(weird, 'ok', { mode: 0o644 });
    expect(readFileSync(weird, 'utf8')).toBe('ok');
    expect((await remote.readFile(weird))?.toString()).toBe('ok');
  });
});

describe('lost connections', () => {
  it('fails a running command with SSH_CHANNEL_CLOSED naming the host when sshd dies', async () => {
    const victim = await startSshd({ authorizedKeys: [key.pub] });
    const r = await open(victim);
    try {
      const running = r.exec('sleep 30').catch((e: unknown) => e);
      await new Promise((res) => setTimeout(res, 300));
      expect(victim.killSessions()).toBeGreaterThan(0);
      const err = (await running) as CplbError;
      expect(err).toBeInstanceOf(CplbError);
      expect(err).toMatchObject({
        code: 'SSH_CHANNEL_CLOSED',
        host: `127.0.0.1:${victim.port}`,
        fault: 'remote',
      });
      expect(err.message).toContain('sleep 30');
      await expect(r.exec('true')).rejects.toMatchObject({ code: 'SSH_CHANNEL_CLOSED' });
    } finally {
      await r.close();
      await victim.stop();
    }
  });

  it('closes cleanly: the server sees the session end, later commands fail', async () => {
    const r = await open(sshd);
    const before = sshd.sessionProcesses();
    await r.close();
    for (let i = 0; i < 50 && sshd.sessionProcesses() >= before; i++)
      await new Promise((res) => setTimeout(res, 20));
    expect(sshd.sessionProcesses()).toBeLessThan(before);
    await expect(r.exec('true')).rejects.toMatchObject({ code: 'SSH_CHANNEL_CLOSED' });
  });
});

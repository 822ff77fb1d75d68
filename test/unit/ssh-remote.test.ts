import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CplbError } from '../../src/core/errors.js';
import { PRIVILEGE_CHECK, trackedCommand, withSudo } from '../../src/ssh/commands.js';
import { splitPidLine } from '../../src/ssh/transport.js';
import { SshRemote, type RawResult, type RunOptions, type Transport } from '../../src/ssh/ssh-remote.js';

/**
 * SshRemote over a transport that runs each command with the local /bin/sh (what sshd would do),
 * with a stand-in `sudo` and `id` first on PATH. Real integration with sshd is in test/integration.
 */
/** Like Ssh2Transport: tracked commands print their PID first, which the caller never sees. */
function trackedOutput(stdout: Buffer, opts: RunOptions): { stdout: Buffer } {
  return { stdout: opts.killCommand ? (splitPidLine(stdout)?.rest ?? stdout) : stdout };
}

class LocalShell implements Transport {
  readonly commands: string[] = [];
  constructor(private readonly path: string) {}
  run(command: string, opts: RunOptions): Promise<RawResult> {
    this.commands.push(command);
    const started = performance.now();
    return new Promise((resolve) => {
      const child = spawn('/bin/sh', ['-c', command], { env: { ...process.env, PATH: this.path } });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      child.stdout.on('data', (d: Buffer) => out.push(d));
      child.stderr.on('data', (d: Buffer) => err.push(d));
      child.on('close', (exitCode, signal) =>
        resolve({
          ...trackedOutput(Buffer.concat(out), opts),
          exitCode,
          signal,
          stderr: Buffer.concat(err),
          durationMs: performance.now() - started,
        }),
      );
      child.stdin.end(opts.stdin);
    });
  }
  async close(): Promise<void> {}
}

let dir: string;
let bin: string;
let sudoLog: string;
const PATH = () => `${bin}:${process.env.PATH}`;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'cplb-remote-'));
  bin = join(dir, 'bin');
  sudoLog = join(dir, 'sudo.log');
  // Stand-ins: `sudo` logs its argv and execs it unless SUDO_MODE says otherwise; `id -u` says 1000.
  const sudo = `#!/bin/sh
printf '%s\\n' "$*" >> ${sudoLog}
[ "$1" = -n ] || { echo "sudo: -n missing" >&2; exit 99; }
if [ "$SUDO_MODE" = password ]; then echo "sudo: a password is required" >&2; exit 1; fi
shift; exec "$@"
`;
  mkdirSync(bin);
  writeFileSync(join(bin, 'sudo'), sudo);
  writeFileSync(join(bin, 'id'), '#!/bin/sh\n[ "$1" = -u ] && echo 1000 || exec /usr/bin/id "$@"\n');
  chmodSync(join(bin, 'sudo'), 0o755);
  chmodSync(join(bin, 'id'), 0o755);
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('SshRemote as a non-root user', () => {
  it('checks sudo right after login and wraps every command in sudo -n sh -c', async () => {
    const shell = new LocalShell(PATH());
    const remote = await SshRemote.open('h:22', 'cplb', shell, 5_000);
    expect(remote.isRoot).toBe(false);
    expect(shell.commands[0]).toBe(PRIVILEGE_CHECK);
    const res = await remote.exec(`printf '%s' "it's $((1+1))"`);
    expect(res.stdout).toBe("it's 2");
    expect(shell.commands[1]).toBe(trackedCommand(withSudo(`printf '%s' "it's $((1+1))"`)));
    expect(readFileSync(sudoLog, 'utf8')).toContain(`-n sh -c printf '%s' "it's $((1+1))"`);
    const plain = await remote.exec('echo plain', { sudo: false });
    expect(shell.commands.at(-1)).toBe(trackedCommand('echo plain'));
    expect(plain.stdout).toBe('plain\n');
  });

  it('fails with SSH_SUDO_PASSWORD when sudo wants a password', async () => {
    process.env.SUDO_MODE = 'password';
    try {
      const err = await SshRemote.open('h:22', 'cplb', new LocalShell(PATH()), 5_000).catch(
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(CplbError);
      expect(err).toMatchObject({ code: 'SSH_SUDO_PASSWORD', host: 'h:22', fault: 'remote' });
      expect((err as CplbError).hint).toMatch(/NOPASSWD/);
    } finally {
      delete process.env.SUDO_MODE;
    }
  });

  it('fails with SSH_SUDO_MISSING when there is no sudo at all', async () => {
    const noSudo = join(dir, 'nosudo-bin');
    mkdirSync(noSudo);
    writeFileSync(join(noSudo, 'id'), '#!/bin/sh\necho 1000\n');
    chmodSync(join(noSudo, 'id'), 0o755);
    const err = await SshRemote.open('h:22', 'cplb', new LocalShell(noSudo), 5_000).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'SSH_SUDO_MISSING' });
  });

  it('uploads through sudo: atomic rename, mode set, skipped when the sha256 matches', async () => {
    const remote = await SshRemote.open('h:22', 'cplb', new LocalShell(PATH()), 5_000);
    const target = join(dir, 'etc', 'cplb', 'conf');
    const first = await remote.upload(target, 'secret\n', { mode: 0o600, owner: 'root', group: 'root' });
    expect(first.changed).toBe(true);
    expect(first.sha256).toBe(createHash('sha256').update('secret\n').digest('hex'));
    expect(readFileSync(target, 'utf8')).toBe('secret\n');
    expect(statSync(target).mode & 0o777).toBe(0o600);
    const mtime = statSync(target).mtimeMs;
    await new Promise((r) => setTimeout(r, 20));
    const second = await remote.upload(target, 'secret\n', { mode: 0o600, owner: 'root' });
    expect(second).toEqual({ path: target, changed: false, sha256: first.sha256 });
    expect(statSync(target).mtimeMs).toBe(mtime);
    // Same content, wrong mode: fixed in place, no rewrite.
    const third = await remote.upload(target, 'secret\n', { mode: 0o640 });
    expect(third.changed).toBe(true);
    expect(statSync(target).mode & 0o777).toBe(0o640);
    expect(statSync(target).mtimeMs).toBe(mtime);
    expect(readdirSync(join(dir, 'etc', 'cplb'))).toEqual(['conf']); // no temp files left behind
  });

  it('leaves no temp file and the old content when a step fails', async () => {
    const remote = await SshRemote.open('h:22', 'cplb', new LocalShell(PATH()), 5_000);
    const target = join(dir, 'etc', 'keep');
    await remote.upload(target, 'old', { mode: 0o644 });
    const err = await remote
      .upload(target, 'new', { mode: 0o644, owner: 'no-such-user-cplb' })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'SSH_COMMAND_FAILED' });
    expect((err as Error).message).toMatch(/no-such-user-cplb/);
    expect(readFileSync(target, 'utf8')).toBe('old');
    expect(readdirSync(join(dir, 'etc')).filter((f) => f.includes('cplb-'))).toEqual([]);
  });

  it('reads files as bytes, null when missing, and fails on other errors', async () => {
    const remote = await SshRemote.open('h:22', 'cplb', new LocalShell(PATH()), 5_000);
    const bin = join(dir, 'bytes');
    writeFileSync(bin, Buffer.from([0, 255, 10, 13, 0x80]));
    expect(await remote.readFile(bin)).toEqual(Buffer.from([0, 255, 10, 13, 0x80]));
    expect(await remote.readFile(join(dir, 'missing'))).toBeNull();
    await expect(remote.readFile(dir)).rejects.toMatchObject({ code: 'SSH_COMMAND_FAILED', host: 'h:22' });
  });
});

describe('SshRemote as root', () => {
  it('runs commands as they are and reports failures with command, code and stderr tail', async () => {
    const shell = new LocalShell(PATH());
    const remote = await SshRemote.open('10.0.0.1:22', 'root', shell, 5_000);
    expect(remote.isRoot).toBe(true);
    expect(shell.commands).toEqual([]);
    const script = 'for i in $(seq 1 30); do echo line$i >&2; done; exit 7';
    const err = (await remote.exec(script).catch((e: unknown) => e)) as CplbError;
    expect(shell.commands).toEqual([trackedCommand(script)]);
    expect(err).toMatchObject({ code: 'SSH_COMMAND_FAILED', host: '10.0.0.1:22', fault: 'remote' });
    expect(err.message).toContain('exit code 7');
    expect(err.message).toContain(script);
    expect(err.message).toContain('line30');
    expect(err.message).toContain('line11');
    expect(err.message).not.toContain('line10\n');
    const allowed = await remote.exec('echo out; exit 3', { allowFailure: true });
    expect(allowed).toMatchObject({ exitCode: 3, stdout: 'out\n', signal: null });
  });

  it('passes stdin to the command and closes it', async () => {
    const remote = await SshRemote.open('h:22', 'root', new LocalShell(PATH()), 5_000);
    expect((await remote.exec('wc -c', { stdin: 'abc' })).stdout.trim()).toBe('3');
    expect((await remote.exec('cat')).stdout).toBe('');
  });
});

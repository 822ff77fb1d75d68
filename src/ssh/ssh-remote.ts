import { createHash } from 'node:crypto';
import { CplbError } from '../core/errors.js';
import {
  chmodCommand,
  killSessionCommand,
  trackedCommand,
  metadataMatches,
  MISSING_FILE_STATUS,
  parseProbe,
  probeFileCommand,
  PRIVILEGE_CHECK,
  readFileCommand,
  tempPathBeside,
  withSudo,
  writeFileCommand,
} from './commands.js';
import type { ExecOptions, ExecResult, Remote, UploadOptions, UploadResult } from './remote.js';

/** Remote on top of a bare command runner: sudo, errors, files. No ssh2 here (see connection.ts). */

export interface RawResult {
  exitCode: number | null;
  signal: string | null;
  stdout: Buffer;
  stderr: Buffer;
  durationMs: number;
}

export interface RunOptions {
  stdin?: string | Buffer;
  timeoutMs: number;
  /** The command as the caller wrote it (before sudo wrapping), for messages. */
  label: string;
  /**
   * Set when the command was built with trackedCommand(): the transport strips the PID line from
   * stdout and, on a timeout, runs this to kill what is left on the host.
   */
  killCommand?: (pid: number) => string;
  /**
   * Set for a command that runs as root through sudo: the command itself, neither wrapped nor
   * tracked. A transport with a root command shell runs it there, so a connection pays for sudo
   * once, not once per command; anywhere else it runs `command` (wrapped and tracked) as given.
   */
  asRoot?: string;
}

export interface Transport {
  /** Rejects only for transport trouble (timeout, lost connection); a non-zero exit resolves. */
  run(command: string, opts: RunOptions): Promise<RawResult>;
  close(): Promise<void>;
}

const STDERR_TAIL_LINES = 20;
const SUDO_PASSWORD = /sudo: (a password is required|a terminal is required)/;

export function stderrTail(stderr: string, lines = STDERR_TAIL_LINES): string {
  return stderr.trimEnd().split('\n').slice(-lines).join('\n');
}

/** The error for a command that ran and failed: command, exit code or signal, stderr tail. */
export function commandError(host: string, result: ExecResult): CplbError {
  const status =
    result.exitCode !== null
      ? `exit code ${result.exitCode}`
      : result.signal
        ? `killed by ${result.signal}`
        : 'no exit status (channel closed early)';
  const tail = stderrTail(result.stderr);
  const shown = result.command.length > 400 ? `${result.command.slice(0, 400)}...` : result.command;
  const sudoPassword = SUDO_PASSWORD.test(result.stderr);
  return new CplbError(`command failed (${status}): ${shown}${tail ? `\n${tail}` : ''}`, {
    code: sudoPassword ? 'SSH_SUDO_PASSWORD' : 'SSH_COMMAND_FAILED',
    fault: 'remote',
    host,
    hint: sudoPassword ? sudoHint() : undefined,
  });
}

function sudoHint(user = 'the user'): string {
  return `give ${user} passwordless sudo (a sudoers line "${user} ALL=(ALL) NOPASSWD: ALL") or connect as root`;
}

export class SshRemote implements Remote {
  constructor(
    readonly name: string,
    readonly user: string,
    readonly isRoot: boolean,
    private readonly transport: Transport,
    private readonly commandTimeoutMs: number,
  ) {}

  /** Logs in as a non-root user: proves `sudo -n` works before any phase depends on it. */
  static async open(
    name: string,
    user: string,
    transport: Transport,
    commandTimeoutMs: number,
  ): Promise<SshRemote> {
    if (user === 'root') return new SshRemote(name, user, true, transport, commandTimeoutMs);
    const raw = await transport.run(PRIVILEGE_CHECK, { timeoutMs: commandTimeoutMs, label: 'sudo -n true' });
    const stdout = raw.stdout.toString('utf8').trim();
    if (raw.exitCode === 0 && (stdout === 'root' || stdout === 'sudo')) {
      return new SshRemote(name, user, stdout === 'root', transport, commandTimeoutMs);
    }
    const stderr = raw.stderr.toString('utf8');
    const base = { fault: 'remote' as const, host: name };
    if (raw.exitCode === 127 || /sudo: (command )?not found/.test(stderr)) {
      throw new CplbError(`user ${user} is not root and sudo is not installed`, {
        ...base,
        code: 'SSH_SUDO_MISSING',
        hint: 'install sudo on the host or connect as root',
      });
    }
    throw new CplbError(
      `user ${user} cannot use sudo without a password: ${stderrTail(stderr, 3) || 'sudo -n true failed'}`,
      {
        ...base,
        code: 'SSH_SUDO_PASSWORD',
        hint: sudoHint(user),
      },
    );
  }

  async exec(command: string, opts: ExecOptions = {}): Promise<ExecResult> {
    const raw = await this.run(command, opts.sudo, {
      stdin: opts.stdin,
      timeoutMs: opts.timeoutMs,
      label: command,
    });
    const result: ExecResult = {
      command,
      exitCode: raw.exitCode,
      signal: raw.signal,
      stdout: raw.stdout.toString('utf8'),
      stderr: raw.stderr.toString('utf8'),
      durationMs: raw.durationMs,
    };
    if (!opts.allowFailure && result.exitCode !== 0) throw commandError(this.name, result);
    return result;
  }

  async readFile(path: string, opts: { sudo?: boolean } = {}): Promise<Buffer | null> {
    const command = readFileCommand(path);
    const raw = await this.run(command, opts.sudo, { label: `cat ${path}` });
    if (raw.exitCode === MISSING_FILE_STATUS) return null;
    if (raw.exitCode !== 0) throw commandError(this.name, this.toResult(`cat ${path}`, raw));
    return raw.stdout;
  }

  async upload(path: string, content: string | Buffer, opts: UploadOptions): Promise<UploadResult> {
    const data = typeof content === 'string' ? Buffer.from(content, 'utf8') : content;
    const sha256 = createHash('sha256').update(data).digest('hex');
    const probe = await this.exec(probeFileCommand(path));
    const state = parseProbe(probe.stdout);
    if (state?.sha256 === sha256) {
      if (metadataMatches(state, opts)) return { path, changed: false, sha256 };
      await this.exec(chmodCommand(path, opts));
      return { path, changed: true, sha256 };
    }
    // The error names the file, not the install script (which says nothing to a reader).
    const label = `write ${path} (${data.length} bytes, mode ${opts.mode.toString(8)})`;
    const gunzip = opts.gzipped !== undefined;
    const expected = { size: data.length, sha256 };
    const command = writeFileCommand(path, tempPathBeside(path), opts, expected, gunzip);
    const raw = await this.run(command, undefined, {
      stdin: opts.gzipped ?? data,
      label,
    });
    if (raw.exitCode !== 0) throw commandError(this.name, this.toResult(label, raw));
    return { path, changed: true, sha256 };
  }

  close(): Promise<void> {
    return this.transport.close();
  }

  private run(
    command: string,
    sudo: boolean | undefined,
    opts: { stdin?: string | Buffer; timeoutMs?: number; label: string },
  ): Promise<RawResult> {
    const elevate = !this.isRoot && sudo !== false;
    return this.transport.run(trackedCommand(elevate ? withSudo(command) : command), {
      ...opts,
      ...(elevate ? { asRoot: command } : {}),
      timeoutMs: opts.timeoutMs ?? this.commandTimeoutMs,
      killCommand: (pid) => (elevate ? withSudo(killSessionCommand(pid)) : killSessionCommand(pid)),
    });
  }

  private toResult(command: string, raw: RawResult): ExecResult {
    const { exitCode, signal, durationMs } = raw;
    return { command, exitCode, signal, durationMs, stdout: '', stderr: raw.stderr.toString('utf8') };
  }
}

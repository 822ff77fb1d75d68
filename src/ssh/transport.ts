import pLimit from 'p-limit';
import type { Client, ClientChannel } from 'ssh2';
import { CplbError } from '../core/errors.js';
import {
  cancelledError,
  channelClosedError,
  commandTimeoutError,
  connectionGoneError,
  outputTooLargeError,
} from './ssh-errors.js';
import type { RawResult, RunOptions, Transport } from './ssh-remote.js';
import { CommandShell, fitsCommandShell, shellBootstrap } from './command-shell.js';

/**
 * Runs commands on one ssh2 connection (types only from ssh2: connection.ts opens it). OpenSSH
 * refuses more than MaxSessions (default 10) channels per connection, so at most 8 sessions are open
 * at once and the rest queue: two command shells (command-shell.ts), one as the login user and, for
 * a sudo user, one as root, each running a command whenever it is idle, and up to 6 channels of one
 * command each.
 */
export const MAX_CHANNELS = 8;
/**
 * What one command may print (stdout and stderr together) before it is killed and fails: a host is
 * not trusted to keep cplbctl's memory bounded. Every command cplbctl runs prints far less.
 */
export const MAX_OUTPUT_BYTES = 16 * 2 ** 20;
const CLOSE_GRACE_MS = 2_000;
const KILL_TIMEOUT_MS = 5_000;
const OPEN_RETRIES = 8;
const SHELL_EXIT_WAIT_MS = 1_000;
const SHELL_KINDS = ['user', 'root'] as const;
type ShellKind = (typeof SHELL_KINDS)[number];

/** `<pid>\n<rest>` from trackedCommand(); null when the first line is not a PID. */
export function splitPidLine(stdout: Buffer): { pid: number; rest: Buffer } | null {
  const newline = stdout.indexOf(10);
  if (newline < 1 || newline > 10) return null;
  const text = stdout.subarray(0, newline).toString('latin1');
  if (!/^\d+$/.test(text)) return null;
  return { pid: Number(text), rest: stdout.subarray(newline + 1) };
}

export class Ssh2Transport implements Transport {
  private readonly limit = pLimit(MAX_CHANNELS - 2);
  private readonly shells: Partial<Record<ShellKind, CommandShell>> = {};
  private readonly shellBusy = new Set<ShellKind>();
  /** Set per kind when the server refuses the shell's session (or sudo fails); for both when it needs the sessions back. */
  private readonly shellOff = new Set<ShellKind>();
  /** Set once the connection is gone: every later run fails fast with it. */
  private dead: CplbError | null = null;
  private readonly pending = new Set<(err: CplbError) => void>();
  private readonly closedHops = new WeakSet<Client>();

  constructor(
    private readonly client: Client,
    private readonly name: string,
    private readonly bastions: Client[],
    private readonly signal?: AbortSignal,
  ) {
    client.on('error', (err: Error) => this.markDead(connectionGoneError(name, err.message, err)));
    client.on('close', () => this.markDead(connectionGoneError(name, 'the server or network ended it')));
    for (const hop of [client, ...bastions]) hop.once('close', () => this.closedHops.add(hop));
    signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  run(command: string, opts: RunOptions): Promise<RawResult> {
    const kind: ShellKind = opts.asRoot !== undefined ? 'root' : 'user';
    if (!this.dead && !this.shellOff.has(kind) && !this.shellBusy.has(kind) && fitsCommandShell(opts.stdin)) {
      this.shellBusy.add(kind);
      return this.runInShell(kind, command, opts).finally(() => {
        this.shellBusy.delete(kind);
      });
    }
    return this.runOnChannel(command, opts);
  }

  private runOnChannel(command: string, opts: RunOptions): Promise<RawResult> {
    return this.limit(() => this.runNow(command, opts));
  }

  /** The live shell of a kind, opened on first use; undefined when the server will not give it a session. */
  private openShell(kind: ShellKind): Promise<CommandShell | undefined> {
    const live = this.shells[kind];
    if (live?.alive) return Promise.resolve(live);
    return new Promise((resolve, reject) => {
      const onLost = (err: CplbError) => reject(err);
      this.pending.add(onLost);
      const settle = (shell: CommandShell | undefined) => {
        this.pending.delete(onLost);
        if (!shell) this.shellOff.add(kind);
        this.shells[kind] = shell;
        resolve(shell);
      };
      try {
        this.client.exec(shellBootstrap(kind === 'root'), (err, ch) =>
          settle(err ? undefined : new CommandShell(ch, MAX_OUTPUT_BYTES)),
        );
      } catch {
        settle(undefined);
      }
    });
  }

  /** A root shell runs the bare command (`asRoot`); the user's shell runs it as given, tracked. */
  private async runInShell(kind: ShellKind, command: string, opts: RunOptions): Promise<RawResult> {
    if (this.dead) throw this.dead;
    const shell = await this.openShell(kind);
    if (!shell) return this.runOnChannel(command, opts);
    const tracked = kind === 'user' && opts.killCommand !== undefined;
    return new Promise<RawResult>((resolve, reject) => {
      const started = performance.now();
      let done = false;
      const finish = (err: CplbError | null, raw?: RawResult) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        this.pending.delete(onConnectionLost);
        if (err) reject(err);
        else resolve(raw!);
      };
      const onConnectionLost = (err: CplbError) => finish(this.lostWhile(opts.label, err));
      this.pending.add(onConnectionLost);
      // Killing the shell's session ends the command and the shell.
      const kill = (err: CplbError) => {
        killChannel(shell.channel);
        shell.close();
        const pid = shell.sessionPid ?? (tracked ? splitPidLine(job.stdout.output())?.pid : undefined);
        this.killSession(pid, opts);
        finish(err);
      };
      const job = shell.start(
        kind === 'root' ? opts.asRoot! : command,
        opts.stdin,
        (outcome) => {
          if (!outcome) return finish(this.lostWhile(opts.label, this.dead));
          const pidLine = tracked ? splitPidLine(outcome.stdout) : null;
          finish(null, {
            ...outcome,
            stdout: pidLine?.rest ?? outcome.stdout,
            durationMs: Math.round(performance.now() - started),
          });
        },
        () => kill(outputTooLargeError(this.name, opts.label, MAX_OUTPUT_BYTES)),
      );
      const timer = setTimeout(
        () => kill(commandTimeoutError(this.name, opts.label, opts.timeoutMs)),
        opts.timeoutMs,
      );
    });
  }

  /**
   * After a timeout: kills what is left of a command on the host by its session's PID (printed by a
   * tracked command or a shell's bootstrap), on a channel of its own (the shell may be what hangs).
   */
  private killSession(pid: number | undefined, opts: RunOptions): void {
    if (pid === undefined || !opts.killCommand) return;
    const kill = opts.killCommand(pid);
    this.runOnChannel(kill, { timeoutMs: KILL_TIMEOUT_MS, label: kill }).catch(() => undefined);
  }

  async close(): Promise<void> {
    this.signal?.removeEventListener('abort', this.onAbort);
    this.markDead(connectionGoneError(this.name, 'closed by cplbctl'));
    // EOF ends the shell; waiting for that lets sshd reap it instead of leaving it to the host's init.
    if (!this.closedHops.has(this.client))
      await Promise.all(
        Object.values(this.shells).map((s) => (s.idle ? s.end(SHELL_EXIT_WAIT_MS) : undefined)),
      );
    // Inner hop first: its socket is a channel of the bastion behind it.
    for (const hop of [this.client, ...this.bastions]) {
      if (!this.closedHops.has(hop)) await endAndWait(hop);
    }
  }

  private readonly onAbort = () => {
    this.markDead(cancelledError(this.name));
    void this.close();
  };

  private markDead(err: CplbError): void {
    // Keep the first cause: a later "closed" should not hide "cancelled" or the real error.
    this.dead ??= err;
    for (const reject of this.pending) reject(err);
    this.pending.clear();
  }

  /** Names the command that was cut off, unless the cause says more (cancelled). */
  private lostWhile(label: string, cause: unknown): CplbError {
    if (cause instanceof CplbError && cause.code === 'CANCELLED') return cause;
    return channelClosedError(this.name, label, cause ?? undefined);
  }

  private runNow(command: string, opts: RunOptions): Promise<RawResult> {
    if (this.dead) return Promise.reject(this.dead);
    return new Promise<RawResult>((resolve, reject) => {
      const started = performance.now();
      const stdout: Buffer[] = [];
      const stderr: Buffer[] = [];
      let exitCode: number | null = null;
      let signal: string | null = null;
      let channel: ClientChannel | undefined;
      let done = false;
      const finish = (err: CplbError | null) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        this.pending.delete(onConnectionLost);
        if (err) return reject(err);
        if (exitCode === null && signal === null) return reject(this.lostWhile(opts.label, this.dead));
        const durationMs = Math.round(performance.now() - started);
        const out = Buffer.concat(stdout);
        const tracked = opts.killCommand ? splitPidLine(out) : null;
        resolve({
          exitCode,
          signal,
          stdout: tracked?.rest ?? out,
          stderr: Buffer.concat(stderr),
          durationMs,
        });
      };
      const onConnectionLost = (err: CplbError) => finish(this.lostWhile(opts.label, err));
      this.pending.add(onConnectionLost);
      // A channel signal works for non-root logins only (OpenSSH needs privilege separation for
      // it); the kill command by session PID covers root and sudo.
      const kill = (err: CplbError) => {
        if (channel) killChannel(channel);
        this.killSession(opts.killCommand ? splitPidLine(Buffer.concat(stdout))?.pid : undefined, opts);
        finish(err);
      };
      const timer = setTimeout(
        () => kill(commandTimeoutError(this.name, opts.label, opts.timeoutMs)),
        opts.timeoutMs,
      );
      let printed = 0;
      const collect = (into: Buffer[]) => (d: Buffer) => {
        if (done) return;
        printed += d.length;
        into.push(d);
        if (printed > MAX_OUTPUT_BYTES) kill(outputTooLargeError(this.name, opts.label, MAX_OUTPUT_BYTES));
      };
      const open = (attempt: number) => {
        try {
          this.client.exec(command, onOpen(attempt));
        } catch (err) {
          // ssh2 throws synchronously once the socket is gone.
          finish(this.lostWhile(opts.label, this.dead ?? err));
        }
      };
      const onOpen = (attempt: number) => (err: Error | undefined, ch: ClientChannel) => {
        if (done) return void ch?.close();
        if (err) {
          // sshd frees a closed session only after draining its input, so an open right after a
          // close can briefly exceed MaxSessions: the command never started, so just try again.
          if (!this.dead && attempt < OPEN_RETRIES && /open failed/i.test(err.message)) {
            // A server with fewer sessions than we use: give the idle shell's session to channels.
            if (attempt >= 2)
              for (const kind of SHELL_KINDS) {
                const shell = this.shells[kind];
                if (!shell?.idle) continue;
                this.shellOff.add(kind);
                shell.close();
              }
            return void setTimeout(() => open(attempt + 1), Math.min(10 * 2 ** attempt, 200));
          }
          return finish(this.lostWhile(opts.label, this.dead ?? err));
        }
        channel = ch;
        ch.on('data', collect(stdout));
        ch.stderr.on('data', collect(stderr));
        ch.on('exit', (code: number | null, sig?: string) => {
          exitCode = typeof code === 'number' ? code : null;
          signal = sig ?? null;
        });
        ch.on('close', () => setImmediate(() => finish(null)));
        // Always end stdin: a command that reads it must see EOF, not wait forever.
        ch.end(opts.stdin);
      };
      open(0);
    });
  }
}

/**
 * ssh2's channel.signal() is a no-op once stdin is ended, and we always end stdin: send the
 * request through the protocol object then (RFC 4254 allows signals at any time).
 */
function killChannel(channel: ClientChannel): void {
  const internals = channel as unknown as {
    outgoing?: { id: number; state: string };
    _client?: { _protocol?: { signal(id: number, name: string): void } };
  };
  try {
    if (channel.writable) channel.signal('KILL');
    else if (internals.outgoing && internals.outgoing.state !== 'closed') {
      internals._client?._protocol?.signal(internals.outgoing.id, 'KILL');
    }
  } catch {
    // the channel is already going away
  }
  channel.close();
}

function endAndWait(client: Client): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, CLOSE_GRACE_MS);
    client.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
    client.end();
  });
}

import { randomBytes } from 'node:crypto';
import type { ClientChannel } from 'ssh2';
import { shq } from '../contract/quote.js';

/**
 * One long-lived `sh` per connection that runs small commands one after another, each in a subshell
 * of its own, with no SSH session per command. A session costs the host a fork of sshd and a login
 * shell (~2-3 ms of CPU) and the client a channel round trip; a command through this shell costs a
 * fork (~0.3 ms). The transport sends a command here only when the shell is idle and the command's
 * stdin is short text; everything else still gets a channel of its own.
 *
 * The wire format is plain shell: the command and its stdin travel as single-quoted assignments
 * (shq: nothing inside is special), then the shell prints a marker line with the exit status on
 * stdout and a marker line on stderr. Each command gets a fresh random marker, so nothing a command
 * prints can end another's output.
 */

/** Stdin passes through a shell variable: text only (no NUL), and not too much of it. */
const MAX_STDIN_BYTES = 64 * 1024;

export function fitsCommandShell(stdin: string | Buffer | undefined): boolean {
  if (stdin === undefined) return true;
  const bytes = typeof stdin === 'string' ? Buffer.byteLength(stdin) : stdin.length;
  if (bytes > MAX_STDIN_BYTES) return false;
  const text = typeof stdin === 'string' ? stdin : stdin.toString('utf8');
  if (text.includes('\0')) return false;
  // A Buffer must survive the trip through a JS string unchanged.
  return typeof stdin === 'string' || Buffer.from(text, 'utf8').equals(stdin);
}

/** The text written to the shell for one command. `( eval )` keeps exit, exec, cd and traps in a subshell. */
export function shellRequest(command: string, stdin: string | Buffer | undefined, marker: string): string {
  const lines = [`c=${shq(command)}`];
  if (stdin === undefined) {
    lines.push('( eval "$c" ) </dev/null');
  } else {
    lines.push(`i=${shq(typeof stdin === 'string' ? stdin : stdin.toString('utf8'))}`);
    lines.push(`printf %s "$i" | ( eval "$c" )`);
  }
  lines.push(`s=$?; unset c i; printf '\\n%s:%s\\n' ${marker} "$s"; printf '\\n%s\\n' ${marker} >&2`);
  return lines.join('\n') + '\n';
}

/**
 * What starts a command shell: it prints its session ID (sshd made the login shell a session leader;
 * sudo without a terminal starts no session of its own), the PID a timeout kills by, then becomes
 * `sh`. `exec sh -c` first: the login shell may not be a POSIX shell.
 */
export function shellBootstrap(asRoot: boolean): string {
  const boot = 'read -r l </proc/$$/stat; set -- ${l##*") "}; echo "$4"; exec sh';
  return `exec ${asRoot ? 'sudo -n ' : ''}sh -c ${shq(boot)}`;
}

export function newMarker(): string {
  return `@@cplb-done-${randomBytes(9).toString('hex')}`;
}

/** Collects one stream until `\n<marker>` appears, searching only the bytes not searched before. */
export class MarkerScanner {
  private readonly chunks: Buffer[] = [];
  private length = 0;
  private readonly needle: Buffer;
  /** Where `\n<marker>` starts in the stream; -1 until seen. */
  at = -1;

  constructor(marker: string) {
    this.needle = Buffer.from(`\n${marker}`);
  }

  /** Bytes collected so far. */
  get size(): number {
    return this.length;
  }

  push(chunk: Buffer): void {
    if (this.at < 0) {
      // Search from where a marker split across chunks could start.
      const keep = Math.min(this.length, this.needle.length - 1);
      const window = keep > 0 ? Buffer.concat([this.tail(keep), chunk]) : chunk;
      const found = window.indexOf(this.needle);
      if (found >= 0) this.at = this.length - keep + found;
    }
    this.chunks.push(chunk);
    this.length += chunk.length;
  }

  /** Everything before the marker (all of it while none was seen). */
  output(): Buffer {
    const all = Buffer.concat(this.chunks);
    return this.at >= 0 ? all.subarray(0, this.at) : all;
  }

  /** The line after the marker: `:STATUS` on stdout; undefined while incomplete. */
  afterMarker(): string | undefined {
    if (this.at < 0) return undefined;
    const rest = Buffer.concat(this.chunks).subarray(this.at + this.needle.length);
    const newline = rest.indexOf(10);
    return newline < 0 ? undefined : rest.subarray(0, newline).toString('latin1');
  }

  private tail(n: number): Buffer {
    const parts: Buffer[] = [];
    let need = n;
    for (let i = this.chunks.length - 1; i >= 0 && need > 0; i--) {
      const c = this.chunks[i]!;
      parts.unshift(c.length <= need ? c : c.subarray(c.length - need));
      need -= Math.min(need, c.length);
    }
    return Buffer.concat(parts);
  }
}

export interface ShellOutcome {
  exitCode: number | null;
  signal: string | null;
  stdout: Buffer;
  stderr: Buffer;
}

/**
 * The shell's side of one command. `finish` is called once: with the outcome when both markers
 * arrived, or when the shell itself ended while the command ran (the command may have killed it:
 * its exit status or signal is the command's then, as with a channel of its own).
 */
export interface ShellJob {
  stdout: MarkerScanner;
  stderr: MarkerScanner;
  finish(outcome: ShellOutcome | null): void;
  /** Called (instead of finish) once the job printed more than maxOutputBytes; the job is dropped. */
  overflow(): void;
}

/** Holds the shell's channel and routes its streams to the one job running. */
export class CommandShell {
  private job: ShellJob | undefined;
  private ended = false;
  private exit: { code: number | null; signal: string | null } = { code: null, signal: null };
  /** The bootstrap's line (shellBootstrap) until it is complete. */
  private preamble: Buffer | undefined = Buffer.alloc(0);
  /** The session the shell runs in: what a timeout kills. */
  sessionPid: number | undefined;

  constructor(
    readonly channel: ClientChannel,
    private readonly maxOutputBytes = Infinity,
  ) {
    channel.on('data', (d: Buffer) => {
      const rest = this.takePreamble(d);
      if (rest.length > 0) this.job?.stdout.push(rest);
      this.check();
    });
    channel.stderr.on('data', (d: Buffer) => {
      this.job?.stderr.push(d);
      this.check();
    });
    channel.on('exit', (code: number | null, signal?: string) => {
      this.exit = { code: typeof code === 'number' ? code : null, signal: signal ?? null };
    });
    channel.on('close', () => {
      this.ended = true;
      const job = this.job;
      this.job = undefined;
      if (!job) return;
      const { code, signal } = this.exit;
      const noStatus = code === null && signal === null;
      job.finish(
        noStatus
          ? null
          : { exitCode: code, signal, stdout: job.stdout.output(), stderr: job.stderr.output() },
      );
    });
  }

  get idle(): boolean {
    return !this.ended && this.job === undefined;
  }

  get alive(): boolean {
    return !this.ended;
  }

  start(
    command: string,
    stdin: string | Buffer | undefined,
    finish: ShellJob['finish'],
    overflow: ShellJob['overflow'] = () => undefined,
  ): ShellJob {
    const marker = newMarker();
    const job: ShellJob = {
      stdout: new MarkerScanner(marker),
      stderr: new MarkerScanner(marker),
      finish,
      overflow,
    };
    this.job = job;
    this.channel.write(shellRequest(command, stdin, marker));
    return job;
  }

  /** Sends EOF (the shell exits after its current command) and waits up to `ms` for the session to end. */
  end(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.channel.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      this.channel.end();
    });
  }

  /** Ends the shell (its session goes with it); a running job is left to its caller. */
  close(): void {
    this.job = undefined;
    this.ended = true;
    this.channel.close();
  }

  private takePreamble(d: Buffer): Buffer {
    if (!this.preamble) return d;
    const data = Buffer.concat([this.preamble, d]);
    const newline = data.indexOf(10);
    if (newline < 0) {
      this.preamble = data;
      return Buffer.alloc(0);
    }
    this.preamble = undefined;
    const line = data.subarray(0, newline).toString('latin1');
    if (/^\d+$/.test(line)) this.sessionPid = Number(line);
    return data.subarray(newline + 1);
  }

  private check(): void {
    const job = this.job;
    if (!job) return;
    if (job.stdout.size + job.stderr.size > this.maxOutputBytes) {
      this.job = undefined;
      return job.overflow();
    }
    const status = job.stdout.afterMarker();
    if (status === undefined || job.stderr.at < 0) return;
    this.job = undefined;
    const code = Number(status.slice(1));
    job.finish({
      exitCode: Number.isInteger(code) ? code : null,
      signal: null,
      stdout: job.stdout.output(),
      stderr: job.stderr.output(),
    });
  }
}

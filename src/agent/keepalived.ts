/**
 * Runs keepalived in the foreground as the agent's child: restarts it with exponential backoff
 * when it dies, reloads it with SIGHUP, and relays its output into the agent's log.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { errorText, type Logger } from './log.js';
import { isAlive, isOurKeepalived, readPidFile } from './procs.js';
import { pidFiles, type KeepalivedPidFiles } from '../contract/keepalived.js';
import type { KeepalivedStatus } from '../contract/status.js';

export interface KeepalivedOptions {
  binary: string;
  configPath: string;
  pidDir: string;
  backoff: { initialMs: number; maxMs: number };
  /** The agent's logger; relayed lines get component=keepalived. */
  log: Logger;
  /** Called on every exit, so VRRP state known so far can be marked stale. */
  onExit?: () => void;
  /** Every line keepalived writes (console time stripped), after it is logged. */
  onMessage?: (msg: string) => void;
}

/**
 * Foreground, console logging only (the agent's stderr reaches the journal or its log file; syslog
 * would log every line twice), pid files of our own so a distro keepalived can run beside it.
 */
export function keepalivedArgs(configPath: string, pids: KeepalivedPidFiles): string[] {
  return [
    '--dont-fork',
    '--log-console',
    '--no-syslog',
    '--use-file',
    configPath,
    '--pid',
    pids.main,
    '--vrrp_pid',
    pids.vrrp,
    '--checkers_pid',
    pids.checkers,
    '--bfd_pid',
    pids.bfd,
  ];
}

const SETPRIV_PATHS = ['/usr/bin/setpriv', '/bin/setpriv', '/usr/sbin/setpriv', '/sbin/setpriv'];

/**
 * keepalived must not outlive the agent: an orphan keeps the VIP while the proxy behind it is gone
 * (VIP:6443 refused), and a SIGKILL of the whole group (systemd's last resort) leaves the address on
 * the NIC. util-linux setpriv (>= 2.33) gives keepalived a parent-death signal, so the kernel TERMs it
 * the moment the agent dies, however it dies, and it hands the VIP over with priority-0 adverts.
 * Returns the argv prefix, or [] where setpriv or --pdeathsig is missing.
 */
export function parentDeathPrefix(candidates: readonly string[] = SETPRIV_PATHS): string[] {
  for (const path of candidates) {
    if (!existsSync(path)) continue;
    try {
      execFileSync(path, ['--pdeathsig', 'TERM', '--', 'true'], { stdio: 'ignore', timeout: 5000 });
      return [path, '--pdeathsig', 'TERM', '--'];
    } catch {
      // an old setpriv without --pdeathsig: try the next, else run keepalived directly
    }
  }
  return [];
}

/** `Sun Nov 22 18:40:19 2026: ` prefix of --log-console lines: our log line has its own time. */
const CONSOLE_TIME = /^[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \d{4}: /;

export function stripConsoleTime(line: string): string {
  return line.replace(CONSOLE_TIME, '');
}

export function backoffDelay(consecutiveFailures: number, initialMs: number, maxMs: number): number {
  return Math.min(maxMs, initialMs * 2 ** Math.min(consecutiveFailures, 30));
}

/** A run this long counts as stable: the next crash starts the backoff afresh. */
const STABLE_RUN_MS = 30_000;

export class KeepalivedSupervisor {
  private child: ChildProcess | undefined;
  private restartTimer: NodeJS.Timeout | undefined;
  private stopping = false;
  private consecutiveFailures = 0;
  private startedAtMs = 0;
  private nextRestartAtMs: number | undefined;
  private readonly pids: KeepalivedPidFiles;
  private readonly kLog: Logger;
  private launchPrefix: string[] | undefined;
  restarts = 0;
  lastExit: KeepalivedStatus['lastExit'];

  constructor(private readonly opts: KeepalivedOptions) {
    this.pids = pidFiles(opts.pidDir);
    this.kLog = opts.log.child({ component: 'keepalived' });
  }

  status(): KeepalivedStatus {
    return {
      running:
        this.child?.exitCode === null && this.child.signalCode === null && this.child.pid !== undefined,
      pid: this.child?.pid,
      restarts: this.restarts,
      startedAt: this.child ? new Date(this.startedAtMs).toISOString() : undefined,
      lastExit: this.lastExit,
      consecutiveFailures: this.consecutiveFailures,
      ...(this.nextRestartAtMs !== undefined
        ? { nextRestartAt: new Date(this.nextRestartAtMs).toISOString() }
        : {}),
    };
  }

  /** Pids of our keepalived and its children (so they are not reported as foreign). */
  ownPids(): Set<number> {
    const set = new Set<number>();
    if (this.child?.pid) set.add(this.child.pid);
    for (const file of Object.values(this.pids)) {
      const pid = readPidFile(file);
      if (pid) set.add(pid);
    }
    return set;
  }

  async start(): Promise<void> {
    this.stopping = false;
    await this.reapLeftovers();
    this.removeStalePidFiles();
    if (this.launchPrefix === undefined) {
      this.launchPrefix = parentDeathPrefix();
      if (this.launchPrefix.length === 0)
        this.kLog.warn('setpriv --pdeathsig is not available: keepalived would outlive a killed agent', {
          hint: 'install util-linux (setpriv)',
        });
    }
    this.spawnChild();
  }

  /** SIGHUP: keepalived re-reads its config and keeps the VIP where it is. */
  reload(): boolean {
    const pid = this.child?.pid;
    if (!pid || !this.status().running) return false;
    process.kill(pid, 'SIGHUP');
    this.kLog.info('reload signalled', { pid });
    return true;
  }

  /** `keepalived --config-test`: a reload with a broken file would leave keepalived without VRRP. */
  configTest(): Promise<{ ok: boolean; output: string }> {
    if (!existsSync(this.opts.configPath)) {
      return Promise.resolve({ ok: false, output: `${this.opts.configPath} does not exist` });
    }
    return new Promise((resolve) => {
      execFile(
        this.opts.binary,
        ['--config-test', '--use-file', this.opts.configPath],
        { timeout: 10_000 },
        (err, stdout, stderr) => resolve({ ok: !err, output: `${stdout}${stderr}`.trim() }),
      );
    });
  }

  /** SIGTERM, so keepalived sends priority-0 adverts and the VIP moves at once; SIGKILL after timeoutMs. */
  async stop(timeoutMs = 5000): Promise<void> {
    this.stopping = true;
    clearTimeout(this.restartTimer);
    this.nextRestartAtMs = undefined;
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    await exited;
    clearTimeout(timer);
    await this.waitGone(readPidFile(this.pids.vrrp), timeoutMs);
  }

  private spawnChild(): void {
    // setpriv execs keepalived: the child's pid is keepalived's own.
    const [cmd, ...args] = [
      ...(this.launchPrefix ?? []),
      this.opts.binary,
      ...keepalivedArgs(this.opts.configPath, this.pids),
    ];
    const child = spawn(cmd!, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    this.startedAtMs = Date.now();
    for (const stream of [child.stdout, child.stderr]) {
      if (!stream) continue;
      createInterface({ input: stream }).on('line', (line) => this.relay(line, child.pid));
    }
    let ended = false;
    const onEnd = (code: number | null, signal: NodeJS.Signals | null, err?: Error) => {
      if (ended) return;
      ended = true;
      this.lastExit = { code, signal, at: new Date().toISOString() };
      this.opts.onExit?.();
      if (this.stopping) {
        this.kLog.info('keepalived stopped', { pid: child.pid, code, signal });
        return;
      }
      this.kLog.error('keepalived exited', { pid: child.pid, code, signal, error: err && errorText(err) });
      this.scheduleRestart();
    };
    child.once('error', (err) => onEnd(null, null, err));
    child.once('exit', (code, signal) => onEnd(code, signal));
    if (child.pid) this.kLog.info('keepalived started', { pid: child.pid, config: this.opts.configPath });
  }

  private relay(line: string, pid: number | undefined): void {
    const msg = stripConsoleTime(line);
    if (!msg.trim()) return;
    const level = /\b(error|fail(ed|ure)?|unable|cannot)\b/i.test(msg) ? 'warn' : 'info';
    this.kLog[level](msg, { pid });
    this.opts.onMessage?.(msg);
  }

  private scheduleRestart(): void {
    if (Date.now() - this.startedAtMs >= STABLE_RUN_MS) this.consecutiveFailures = 0;
    const delay = backoffDelay(
      this.consecutiveFailures,
      this.opts.backoff.initialMs,
      this.opts.backoff.maxMs,
    );
    this.consecutiveFailures++;
    this.nextRestartAtMs = Date.now() + delay;
    this.kLog.info('restarting keepalived', {
      inMs: delay,
      restarts: this.restarts + 1,
      consecutiveFailures: this.consecutiveFailures,
    });
    this.restartTimer = setTimeout(() => {
      void (async () => {
        this.nextRestartAtMs = undefined;
        // A kill -9 leaves the VRRP child running for a moment; a new keepalived would refuse to start.
        await this.waitGone(readPidFile(this.pids.vrrp), 5000);
        if (this.stopping) return;
        this.removeStalePidFiles();
        this.restarts++;
        this.spawnChild();
      })();
    }, delay);
  }

  /**
   * keepalived refuses to start ("daemon is already running", exit 0) while a pid file names any live
   * process. A killed keepalived leaves its files behind, and with pid_max at 32768 its PID is soon
   * another process's: the restart then fails every time, for as long as that process lives, and
   * this controller is out of VRRP. A pid file that does not name our keepalived is stale: remove it.
   */
  private removeStalePidFiles(): void {
    for (const file of Object.values(this.pids)) {
      const pid = readPidFile(file);
      if (pid === undefined || (isAlive(pid) && isOurKeepalived(pid, this.opts.configPath))) continue;
      rmSync(file, { force: true });
      this.kLog.info('removed a stale keepalived pid file', { file, pid, alive: isAlive(pid) });
    }
  }

  /** A keepalived of a previous agent run (agent killed with -9) is ours: stop it before starting. */
  private async reapLeftovers(): Promise<void> {
    for (const file of [this.pids.main, this.pids.vrrp, this.pids.checkers, this.pids.bfd]) {
      const pid = readPidFile(file);
      if (!pid || !isAlive(pid) || !isOurKeepalived(pid, this.opts.configPath)) continue;
      this.kLog.warn('stopping keepalived left by a previous agent run', { pid });
      process.kill(pid, 'SIGTERM');
      await this.waitGone(pid, 5000);
    }
  }

  private async waitGone(pid: number | undefined, timeoutMs: number): Promise<void> {
    if (!pid) return;
    const deadline = Date.now() + timeoutMs;
    while (isAlive(pid) && isOurKeepalived(pid, this.opts.configPath)) {
      if (Date.now() > deadline) {
        process.kill(pid, 'SIGKILL');
        return;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

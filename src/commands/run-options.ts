/** Options every command that reaches hosts shares, and the way they become reporters and SSH settings. */
import { Option, type Command } from 'commander';
import { randomBytes } from 'node:crypto';
import { hostname, userInfo } from 'node:os';
import type { SshSettings } from '../apply/state.js';
import { CplbError } from '../core/errors.js';
import { createReporters, type OutputFormat, type ReporterSet } from '../pipeline/index.js';
import type { LockOwner } from '../lock/host-lock.js';

export interface RunOptions {
  output: OutputFormat;
  color: boolean;
  debug: boolean;
  concurrency: number;
  knownHosts: string[];
  acceptNewHostKeys: boolean;
  connectTimeout: number;
  commandTimeout: number;
}

function positiveInt(name: string) {
  return (value: string) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1)
      throw new CplbError(`--${name} ${value}: expected a whole number above 0`, {
        code: 'USAGE',
        fault: 'usage',
      });
    return n;
  };
}

export function addRunOptions(cmd: Command): Command {
  return cmd
    .addOption(
      new Option(
        '-o, --output <format>',
        'console output: auto (listr2 on a TTY, logfmt otherwise), logfmt, json, tty',
      )
        .choices(['auto', 'logfmt', 'json', 'tty'])
        .default('auto'),
    )
    .option('--no-color', 'no colours (NO_COLOR works too)')
    .option('--debug', 'show debug messages (the log file under ~/.cache/cplbctl always has them)', false)
    .option('--concurrency <n>', 'hosts worked on at once', positiveInt('concurrency'), 30)
    .option(
      '--known-hosts <file>',
      'known_hosts file to verify host keys against (repeatable; default $SSH_KNOWN_HOSTS or ~/.ssh/known_hosts)',
      (v: string, prev: string[]) => [...prev, v],
      [] as string[],
    )
    .option(
      '--accept-new-host-keys',
      'trust unknown host keys on first use and record them (a changed key still fails)',
      false,
    )
    .option('--connect-timeout <seconds>', 'SSH connect timeout', positiveInt('connect-timeout'), 10)
    .option(
      '--command-timeout <seconds>',
      'time limit of a command on a host that has no limit of its own (package installs keep theirs: 10 min)',
      positiveInt('command-timeout'),
      120,
    );
}

export function sshSettingsOf(opts: RunOptions): SshSettings {
  return {
    knownHostsFiles: opts.knownHosts.length ? opts.knownHosts : undefined,
    acceptNewHostKeys: opts.acceptNewHostKeys,
    connectTimeoutMs: opts.connectTimeout * 1000,
    commandTimeoutMs: opts.commandTimeout * 1000,
  };
}

export function reportersOf(opts: RunOptions, command: string): ReporterSet {
  return createReporters({
    output: opts.output,
    color: opts.color && !process.env.NO_COLOR,
    debug: opts.debug,
    command,
  });
}

export function lockOwner(command: string): LockOwner {
  let user = 'unknown';
  try {
    user = userInfo().username;
  } catch {
    // No passwd entry (some containers): the uid is still in the pid line.
  }
  return {
    owner: `${user}@${hostname()}`,
    pid: process.pid,
    token: randomBytes(12).toString('hex'),
    command: `cplbctl ${command}`,
    startedAt: new Date().toISOString(),
  };
}

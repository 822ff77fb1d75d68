/**
 * The debug log every run writes (all events, debug included, logfmt with time=), so a failed run in CI
 * can be explained after the fact. Written synchronously: the second Ctrl-C exits the process at once
 * and must not lose the lines that explain what was going on.
 */
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Reporter } from '../events.js';
import { eventToLogfmt } from './logfmt.js';

/** `$XDG_CACHE_HOME/cplbctl` or `~/.cache/cplbctl`. */
export function logDirectory(env: NodeJS.ProcessEnv = process.env): string {
  const cache = env.XDG_CACHE_HOME || join(env.HOME || homedir(), '.cache');
  return join(cache, 'cplbctl');
}

/** e.g. ~/.cache/cplbctl/apply-2025-01-02T03-04-05.678Z.log (colons are awkward in file names). */
export function debugLogPath(
  command: string,
  now = new Date(),
  env: NodeJS.ProcessEnv = process.env,
): string {
  const stamp = now.toISOString().replaceAll(':', '-');
  return join(logDirectory(env), `${command}-${stamp}.log`);
}

/** Opens (creates) the file now, so a path that cannot be written is known before the run starts. */
export function createLogFileReporter(path: string): Reporter {
  mkdirSync(join(path, '..'), { recursive: true, mode: 0o700 });
  // 0600: the log holds host names, users and command lines (secrets are redacted, the rest is private).
  let fd: number | undefined = openSync(path, 'a', 0o600);
  return {
    onEvent(event) {
      if (fd === undefined) return;
      const lines = eventToLogfmt(event, { debug: true, time: true, phaseKeys: true });
      if (lines.length) writeSync(fd, lines.join('\n') + '\n');
    },
    async close() {
      if (fd !== undefined) closeSync(fd);
      fd = undefined;
    },
  };
}

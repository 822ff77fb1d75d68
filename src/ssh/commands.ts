import { randomBytes } from 'node:crypto';
import { posix } from 'node:path';
import { shq } from '../contract/quote.js';

/** The shell text behind Remote's operations: pure, so tests can read exactly what a host runs. */

/** `sudo -n` never asks for a password: a host without NOPASSWD fails fast instead of hanging. */
export function withSudo(command: string): string {
  return `sudo -n sh -c ${shq(command)}`;
}

/**
 * Commands start by printing the login shell's PID: sshd made it a session leader, so on a timeout
 * `killSessionCommand` can end the whole tree. (OpenSSH refuses channel signals for root logins,
 * which do not use privilege separation, so a signal request alone would leave it running.)
 */
export function trackedCommand(command: string): string {
  return `echo $$; ${command}`;
}

export function killSessionCommand(pid: number): string {
  return `kill -KILL -- -${pid} 2>/dev/null; pkill -KILL -s ${pid} 2>/dev/null; true`;
}

/**
 * Run right after login for non-root users: prints `root` when the account is uid 0 under another
 * name (no sudo needed), otherwise proves that passwordless sudo works.
 */
export const PRIVILEGE_CHECK = 'if [ "$(id -u)" = 0 ]; then echo root; else sudo -n true && echo sudo; fi';

/** Exit status readFile uses for "no such file", distinct from cat's and sudo's own 1. */
export const MISSING_FILE_STATUS = 3;

export function readFileCommand(path: string): string {
  return `[ -e ${shq(path)} ] || exit ${MISSING_FILE_STATUS}; exec cat -- ${shq(path)}`;
}

/** Prints `<sha256>  -` and `<octal mode> <owner> <group>` when the file exists, nothing otherwise. */
export function probeFileCommand(path: string): string {
  const p = shq(path);
  return `if [ -f ${p} ]; then sha256sum < ${p} && stat -c '%a %U %G' -- ${p}; fi`;
}

export interface FileState {
  sha256: string;
  mode: string;
  owner: string;
  group: string;
}

export function parseProbe(stdout: string): FileState | null {
  const [shaLine, statLine] = stdout.trim().split('\n');
  const sha256 = shaLine?.split(/\s+/)[0];
  const [mode, owner, group] = statLine?.trim().split(/\s+/) ?? [];
  if (!sha256 || !/^[0-9a-f]{64}$/.test(sha256) || !mode || !owner || !group) return null;
  return { sha256, mode, owner, group };
}

export interface Ownership {
  mode: number;
  owner?: string;
  group?: string;
}

export function metadataMatches(state: Omit<FileState, 'sha256'>, want: Ownership): boolean {
  return (
    state.mode === want.mode.toString(8) &&
    (want.owner === undefined || want.owner === state.owner) &&
    (want.group === undefined || want.group === state.group)
  );
}

function chownArg(want: Ownership): string | null {
  if (want.owner === undefined && want.group === undefined) return null;
  return shq(`${want.owner ?? ''}${want.group === undefined ? '' : `:${want.group}`}`);
}

/** Fixes mode and owner of an already correct file without rewriting it. */
export function chmodCommand(path: string, want: Ownership): string {
  const chown = chownArg(want);
  const p = shq(path);
  return `chmod ${want.mode.toString(8)} -- ${p}${chown ? ` && chown ${chown} -- ${p}` : ''}`;
}

export function tempPathBeside(path: string): string {
  return posix.join(posix.dirname(path), `.${posix.basename(path)}.cplb-${randomBytes(6).toString('hex')}`);
}

/** What the host must have received before it may rename an upload into place. */
export interface Expected {
  size: number;
  sha256: string;
}

/**
 * Content arrives on stdin. The temp file sits beside the target (same filesystem, so `mv` is an
 * atomic rename), is private from its first byte (umask 077), gets mode and owner before the
 * rename, and is removed if any step fails. A cut connection ends stdin early and `cat` still
 * succeeds, so the host checks the size and sha256 it was told to expect before the rename, and
 * syncs the file (then its directory, after the rename) so a power loss cannot leave a torn file
 * under the real name. The same identity (root or sudo) does every step.
 */
export function writeFileCommand(
  path: string,
  tempPath: string,
  want: Ownership,
  expected: Expected,
  gunzip = false,
): string {
  const tmp = shq(tempPath);
  const chown = chownArg(want);
  const dir = shq(posix.dirname(path));
  const fail = (what: string) => `{ echo ${shq(`cplb: ${path}: ${what}`)} >&2; exit 1; }`;
  return [
    'set -e',
    `trap ${shq(`rm -f -- ${tmp}`)} EXIT`,
    `mkdir -p -- ${dir}`,
    'umask 077',
    gunzip ? `gzip -dc > ${tmp}` : `cat > ${tmp}`,
    `n=$(wc -c < ${tmp})`,
    `[ "$n" -eq ${expected.size} ] || ${fail(`incomplete upload, expected ${expected.size} bytes; left the old file in place`)}`,
    `set -- $(sha256sum < ${tmp})`,
    `[ "$1" = ${expected.sha256} ] || ${fail(`upload does not match sha256 ${expected.sha256}; left the old file in place`)}`,
    `chmod ${want.mode.toString(8)} -- ${tmp}`,
    ...(chown ? [`chown ${chown} -- ${tmp}`] : []),
    // sync(1) with file arguments fsyncs just those (coreutils 8.24+); older ones sync everything.
    `sync -- ${tmp} 2>/dev/null || sync`,
    `mv -f -- ${tmp} ${shq(path)}`,
    'trap - EXIT',
    `sync -- ${dir} 2>/dev/null || sync`,
  ].join('; ');
}

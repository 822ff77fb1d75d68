/**
 * The per-host exclusive lock, as shell scripts (rendered here, pure) run over SSH.
 *
 * The lock is an owner file in a directory only root may write (a world-writable /run/lock would let
 * any local user block apply forever or forge the owner). Every script that reads or changes it first
 * takes flock(1) on a guard file beside it, so checking the lock and taking, breaking, refreshing or
 * releasing it is one atomic step: of any number of runs that find a lock stale, exactly one breaks it.
 * flock's lock dies with the script, so a killed run never leaves the guard held. The owner file
 * records who, pid and when; the holder touches it while working, so an owner file not touched for ttl
 * seconds belongs to a run that died and may be broken.
 */
import { shq } from '../contract/quote.js';

export const LOCK_DIR = '/run/cplb-lock';
export const DEFAULT_LOCK_TTL_SECONDS = 60;
/** How long a script waits for another's guard: the guarded steps take milliseconds. */
const GUARD_WAIT_SECONDS = 15;

export interface LockOwner {
  /** operator@machine */
  owner: string;
  pid: number;
  /** A random token, so a holder only ever releases its own lock. */
  token: string;
  command: string;
  startedAt: string;
}

export type AcquireResult =
  | { acquired: true; brokeStale?: LockOwner & { ageSeconds: number } }
  | { acquired: false; holder: LockOwner | null; ageSeconds: number; refused?: string };

function ownerLines(o: LockOwner): string {
  return [
    `owner=${o.owner}`,
    `pid=${o.pid}`,
    `token=${o.token}`,
    `command=${o.command}`,
    `started=${o.startedAt}`,
  ].join('\n');
}

/**
 * Defines `guarded FN`: makes the lock directory (0700 root) or refuses one that is a symlink,
 * not root's, or writable by group or others (prints `refused WHY`), then runs the function FN in a subshell
 * holding flock on the guard file. The subshell's exit releases it.
 */
function guardFunction(dir: string): string {
  const d = shq(dir);
  const refuse = (why: string) => `{ echo ${shq(`refused ${dir} ${why}`)}; return 2; }`;
  return [
    'guarded() {',
    `  [ -d ${d} ] || [ -L ${d} ] || mkdir -m 700 ${d} 2>/dev/null || [ -d ${d} ] || ${refuse('cannot be created')}`,
    `  [ ! -L ${d} ] && [ -d ${d} ] || ${refuse('is not a directory')}`,
    `  fn=$1; set -- $(stat -c '%u %a' ${d}) x x`,
    `  [ "$1" = 0 ] || ${refuse('is not owned by root: remove it')}`,
    `  [ $(( 0$2 & 022 )) = 0 ] || ${refuse('is writable by group or others: remove it')}`,
    `  command -v flock >/dev/null 2>&1 || { echo 'refused flock(1) is missing: install util-linux'; return 2; }`,
    `  ( exec 9>>${d}/guard && flock -w ${GUARD_WAIT_SECONDS} 9 || { echo busy; exit 3; }; "$fn" )`,
    '}',
  ].join('\n');
}

/**
 * Prints `acquired`, `acquired-stale AGE` + the old owner, `held AGE` + the owner, or `refused WHY`.
 * All under the guard, so the lock cannot change between reading its age and breaking it. `whileHeld`
 * runs right after a success, in the same round trip: what must be read under the lock costs no
 * session of its own. Its output follows the lock's lines.
 */
export function acquireScript(
  o: LockOwner,
  ttlSeconds = DEFAULT_LOCK_TTL_SECONDS,
  dir = LOCK_DIR,
  whileHeld = '',
): string {
  const f = shq(`${dir}/owner`);
  const tmp = shq(`${dir}/owner.tmp`);
  const info = shq(ownerLines(o) + '\n');
  return [
    guardFunction(dir),
    'cplb_take() {',
    `  take() { printf %s ${info} > ${tmp} && mv -f ${tmp} ${f}; }`,
    // No owner file (also one removed a moment ago): free. Nobody changes it while we hold the guard.
    `  m=$(stat -c %Y ${f} 2>/dev/null) || { take && echo acquired; return; }`,
    `  age=$(( $(date +%s) - m ))`,
    `  if [ "$age" -gt ${Math.floor(ttlSeconds)} ]; then`,
    `    old=$(cat ${f}); take || return 1; echo "acquired-stale $age"; printf '%s\\n' "$old"; return 0`,
    `  fi`,
    `  echo "held $age"; cat ${f}; return 1`,
    '}',
    whileHeld ? `if guarded cplb_take; then\n${whileHeld}\nfi\nexit 0` : 'guarded cplb_take; exit 0',
  ].join('\n');
}

/** True when the owner file holds our token (read by the shell itself: no grep). */
const ifOurs = (token: string, f: string) =>
  `ours=; while IFS= read -r l; do [ "$l" = ${shq(`token=${token}`)} ] && ours=1; done 2>/dev/null < ${f}; [ -n "$ours" ]`;

/** Touches the owner file while the token is ours; otherwise prints `lost` and who holds it now. */
export function refreshScript(token: string, dir = LOCK_DIR): string {
  const f = shq(`${dir}/owner`);
  return [
    guardFunction(dir),
    `cplb_refresh() { if ${ifOurs(token, f)}; then touch ${f}; echo ok; else echo lost; cat ${f} 2>/dev/null; fi; }`,
    'guarded cplb_refresh; exit 0',
  ].join('\n');
}

/** Removes the lock only if it is still ours. */
export function releaseScript(token: string, dir = LOCK_DIR): string {
  const f = shq(`${dir}/owner`);
  return [
    guardFunction(dir),
    `cplb_release() { if ${ifOurs(token, f)}; then rm -f ${f}; echo released; else echo not-ours; fi; }`,
    'guarded cplb_release; exit 0',
  ].join('\n');
}

/** A refresh's answer: still ours, lost (and to whom, when the host says), or no answer (busy, refused). */
export type RefreshResult =
  { state: 'ok' } | { state: 'lost'; holder: LockOwner | null } | { state: 'unknown' };

export function parseRefresh(stdout: string): RefreshResult {
  const [first = '', ...rest] = stdout.trim().split('\n');
  if (first === 'ok') return { state: 'ok' };
  if (first === 'lost') return { state: 'lost', holder: parseOwner(rest.join('\n')) };
  return { state: 'unknown' };
}

function parseOwner(text: string): LockOwner | null {
  const kv = new Map<string, string>();
  for (const line of text.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) kv.set(line.slice(0, eq), line.slice(eq + 1));
  }
  if (!kv.has('owner')) return null;
  return {
    owner: kv.get('owner') ?? '?',
    pid: Number(kv.get('pid') ?? 0),
    token: kv.get('token') ?? '',
    command: kv.get('command') ?? '',
    startedAt: kv.get('started') ?? '',
  };
}

/** The lock's own lines: everything before `whileHeld`'s output, which starts at its first marker. */
export function parseAcquire(stdout: string, whileHeldMarker?: string): AcquireResult {
  const cut = whileHeldMarker ? stdout.indexOf(whileHeldMarker) : -1;
  const own = (cut >= 0 ? stdout.slice(0, cut) : stdout).trim();
  const [first = '', ...rest] = own.split('\n');
  const body = rest.join('\n');
  if (first === 'acquired') return { acquired: true };
  const [word, age] = first.split(' ');
  const ageSeconds = Number(age ?? 0);
  if (word === 'refused') return { acquired: false, holder: null, ageSeconds: 0, refused: first.slice(8) };
  if (word === 'acquired-stale') {
    const old = parseOwner(body);
    return { acquired: true, brokeStale: old ? { ...old, ageSeconds } : undefined };
  }
  return { acquired: false, holder: parseOwner(body), ageSeconds };
}

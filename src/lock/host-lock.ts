/**
 * The per-host exclusive lock, as shell scripts (rendered here, pure) run over SSH.
 * `mkdir` is atomic on every filesystem, so two applies can never both take it. The owner file
 * records who, pid and when; the holder touches it while working, so a lock whose owner file has
 * not been touched for ttl seconds belongs to a run that died and may be broken.
 */
import { posix } from 'node:path';
import { shq } from '../ssh/quote.js';

export const LOCK_DIR = '/run/lock/cplbctl.lock';
export const DEFAULT_LOCK_TTL_SECONDS = 60;

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
  | { acquired: false; holder: LockOwner | null; ageSeconds: number };

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
 * Prints `acquired`, `acquired-stale AGE` + the old owner, or `held AGE` + the owner. Breaking a stale
 * lock renames it first (atomic), so of two runs breaking it at once only one proceeds. `whileHeld`
 * runs right after a success, in the same round trip: what must be read under the lock costs no
 * session of its own. Its output follows the lock's lines.
 */
export function acquireScript(
  o: LockOwner,
  ttlSeconds = DEFAULT_LOCK_TTL_SECONDS,
  dir = LOCK_DIR,
  whileHeld = '',
): string {
  const d = shq(dir);
  const info = shq(ownerLines(o) + '\n');
  const parent = shq(posix.dirname(dir));
  return [
    'cplb_lock() {',
    `  [ -d ${parent} ] || mkdir -p ${parent}`,
    `  take() { mkdir ${d} 2>/dev/null && printf %s ${info} > ${d}/owner.tmp && mv ${d}/owner.tmp ${d}/owner; }`,
    `  if take; then echo acquired; return 0; fi`,
    // The holder may be between mkdir and writing its owner file: the directory's own mtime counts then.
    `  m=$(stat -c %Y ${d}/owner 2>/dev/null || stat -c %Y ${d} 2>/dev/null || echo 0)`,
    `  age=$(( $(date +%s) - m ))`,
    `  if [ "$age" -gt ${Math.floor(ttlSeconds)} ]; then`,
    `    s=${d}.stale.$$`,
    `    if mv ${d} "$s" 2>/dev/null; then old=$(cat "$s/owner" 2>/dev/null); rm -rf "$s";`,
    `      if take; then echo "acquired-stale $age"; printf '%s\\n' "$old"; return 0; fi; fi`,
    `  fi`,
    `  echo "held $age"; cat ${d}/owner 2>/dev/null; return 1`,
    '}',
    whileHeld ? `if cplb_lock; then\n${whileHeld}\nfi\nexit 0` : 'cplb_lock; exit 0',
  ].join('\n');
}

/** Removes the lock only if it is still ours (the owner file is read by the shell itself: no grep). */
const ifOurs = (token: string, d: string) =>
  `ours=; while IFS= read -r l; do [ "$l" = ${shq(`token=${token}`)} ] && ours=1; done 2>/dev/null < ${d}/owner; if [ -n "$ours" ]`;

/** Touches the owner file, only while the token is ours; prints `lost` otherwise. */
export function refreshScript(token: string, dir = LOCK_DIR): string {
  const d = shq(dir);
  return `${ifOurs(token, d)}; then touch ${d}/owner; echo ok; else echo lost; fi`;
}

/** Removes the lock only if it is still ours. */
export function releaseScript(token: string, dir = LOCK_DIR): string {
  const d = shq(dir);
  return `${ifOurs(token, d)}; then rm -rf ${d}; echo released; else echo not-ours; fi`;
}

export function parseOwner(text: string): LockOwner | null {
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
  if (word === 'acquired-stale') {
    const old = parseOwner(body);
    return { acquired: true, brokeStale: old ? { ...old, ageSeconds } : undefined };
  }
  return { acquired: false, holder: parseOwner(body), ageSeconds };
}

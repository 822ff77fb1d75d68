/** Small /proc helpers: find keepalived processes and tell ours from a distro's. */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import type { ForeignProcess } from '../contract/status.js';

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function readPidFile(path: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(path, 'utf8').trim(), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** argv of a process, or undefined when it is gone. */
function readCmdline(pid: number): string[] | undefined {
  try {
    const raw = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return raw.split('\0').filter((a) => a.length > 0);
  } catch {
    return undefined;
  }
}

function readStat(pid: number): { state: string; ppid: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parens: parse after its closing paren.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { state: rest[0] ?? '', ppid: Number(rest[1]) };
  } catch {
    return undefined;
  }
}

function netns(pid: number | 'self'): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/ns/net`);
  } catch {
    return undefined;
  }
}

/** True when `pid` runs keepalived with our config file (so it is ours to stop, even if orphaned). */
export function isOurKeepalived(pid: number, configPath: string): boolean {
  const argv = readCmdline(pid);
  if (!argv || !/keepalived$/.test(argv[0] ?? '')) return false;
  return argv.some(
    (a, i) => a === `--use-file=${configPath}` || (a === '--use-file' && argv[i + 1] === configPath),
  );
}

/**
 * keepalived processes in this network namespace that the agent did not start (a distro service,
 * say). VRRP in one namespace cannot clash with another's, so other namespaces are ignored.
 * Reported only: the agent never kills what it did not start.
 */
export function findForeignKeepalived(ownPids: ReadonlySet<number>, configPath: string): ForeignProcess[] {
  const myNs = netns('self');
  const found: ForeignProcess[] = [];
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return found;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    let comm: string;
    try {
      comm = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
    } catch {
      continue;
    }
    if (comm !== 'keepalived' || ownPids.has(pid)) continue;
    const stat = readStat(pid);
    // Zombies (an orphaned VRRP child not yet reaped by init) hold no config and no namespace.
    if (!stat || stat.state === 'Z' || ownPids.has(stat.ppid)) continue;
    if (isOurKeepalived(pid, configPath)) continue;
    const ns = netns(pid);
    if (myNs && ns && ns !== myNs) continue;
    found.push({ pid, cmdline: (readCmdline(pid) ?? [comm]).join(' ') });
  }
  return found;
}

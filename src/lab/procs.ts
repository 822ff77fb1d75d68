/**
 * Finding and ending a host's processes by PID. A host's processes are those in its network namespace
 * (sshd sessions, the stand-in, whatever a test or the agent started there), found in one pass over
 * /proc, so `down` and `crash` end them all without guessing by name.
 */
import { readdir, readFile, readlink, stat } from 'node:fs/promises';
import { sleep } from './run.js';

async function netnsInode(netns: string): Promise<number | null> {
  try {
    return (await stat(`/run/netns/${netns}`)).ino;
  } catch {
    return null;
  }
}

/** PIDs per namespace name, for every namespace given that exists. */
export async function pidsInNetns(netnsNames: readonly string[]): Promise<Map<string, number[]>> {
  const byInode = new Map<number, string>();
  for (const name of netnsNames) {
    const ino = await netnsInode(name);
    if (ino !== null) byInode.set(ino, name);
  }
  const result = new Map<string, number[]>(netnsNames.map((n) => [n, []]));
  if (byInode.size === 0) return result;
  const entries = await readdir('/proc');
  await Promise.all(
    entries
      .filter((e) => /^\d+$/.test(e) && Number(e) !== process.pid)
      .map(async (e) => {
        const link = await readlink(`/proc/${e}/ns/net`).catch(() => '');
        const ino = Number(/\[(\d+)\]/.exec(link)?.[1]);
        const name = byInode.get(ino);
        if (name) result.get(name)?.push(Number(e));
      }),
  );
  return result;
}

/** Alive and not a zombie (a zombie has already left its namespaces). */
export async function isAlive(pid: number | null | undefined): Promise<boolean> {
  if (!pid) return false;
  try {
    const s = await readFile(`/proc/${pid}/stat`, 'utf8');
    return s.slice(s.lastIndexOf(')') + 2, s.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

export async function killAndWait(pids: readonly number[], timeoutMs = 5000): Promise<number[]> {
  // Every process stops before any dies: killed one by one, keepalived's VRRP child saw its parent
  // die (its death signal is SIGTERM) and sent a priority-0 advert before its own SIGKILL came, so a
  // lab "crash" was now and then a graceful hand-off (a 0.2 s move seen by two e2e files).
  for (const signal of ['SIGSTOP', 'SIGKILL'] as const)
    for (const pid of pids) {
      try {
        process.kill(pid, signal);
      } catch {
        // Already gone.
      }
    }
  const deadline = Date.now() + timeoutMs;
  let left = [...pids];
  while (left.length > 0 && Date.now() < deadline) {
    left = (await Promise.all(left.map(async (p) => ((await isAlive(p)) ? p : 0)))).filter((p) => p !== 0);
    if (left.length > 0) await sleep(10);
  }
  return left;
}

/** Kills everything in the given namespaces until none is left (processes may fork while dying). */
export async function killNetnsProcesses(netnsNames: readonly string[]): Promise<void> {
  for (let round = 0; round < 10; round++) {
    const pids = [...(await pidsInNetns(netnsNames)).values()].flat();
    if (pids.length === 0) return;
    await killAndWait(pids);
  }
}

/** True when `pid` is alive and its command line contains `marker`: guards against a recycled PID. */
export async function isProcessOf(pid: number | null | undefined, marker: string): Promise<boolean> {
  if (!pid || !(await isAlive(pid))) return false;
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  return cmdline.split('\0').join(' ').includes(marker);
}

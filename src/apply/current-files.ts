import { randomBytes } from 'node:crypto';
import type { HostPlan } from '../plan/plan.js';
import type { Remote } from '../ssh/remote.js';
import { shq } from '../ssh/quote.js';

/** Beside an uploaded agent build: its sha256, and the size, inode and ctime it had then. */
export const hashStampPath = (path: string) => `${path}.sha256`;

/** `size inode ctime` (ctime to the ns where stat shows it): any write or replacement changes one; ctime cannot be set back. */
const statKey = (p: string) => `stat -c '%s %i %z' ${p}`;

/**
 * Hashing an 80 MB agent build costs a host about 0.3 s of CPU on every run; the stamp written at
 * upload stands in for it while the file's size, inode and ctime are still the ones it recorded.
 */
function agentHashScript(path: string): string {
  const p = shq(path);
  const stamp = shq(hashStampPath(path));
  return `if [ "$(sed -n 2p ${stamp} 2>/dev/null)" = "$(${statKey(p)})" ]; then sed -n 1p ${stamp}; else sha256sum ${p} | cut -d' ' -f1; fi`;
}

/** Records the build's sha256 for agentHashScript; run right after the upload. */
export function writeHashStampScript(path: string, sha256: string): string {
  const stamp = shq(hashStampPath(path));
  return `{ echo ${shq(sha256)}; ${statKey(shq(path))}; } > ${stamp}.tmp && mv -f ${stamp}.tmp ${stamp}`;
}

/**
 * What is on the host now for every planned path, in one round trip: the text of rendered files,
 * the sha256 of the agent build, null when absent. A random marker separates the files, so no
 * file content can fake a boundary.
 */
export async function readCurrentFiles(remote: Remote, host: HostPlan): Promise<Map<string, string | null>> {
  const mark = `@@cplb-${randomBytes(8).toString('hex')}@@`;
  const script = host.files
    .map((f) => {
      const p = shq(f.path);
      const body = f.content === undefined ? agentHashScript(f.path) : `cat ${p}`;
      return `if [ -f ${p} ]; then echo '${mark}present'; ${body}; else echo '${mark}absent'; fi`;
    })
    .join('\n');
  const res = await remote.exec(script, { timeoutMs: 20_000 });
  const parts = res.stdout.split(mark).slice(1);
  const files = new Map<string, string | null>();
  host.files.forEach((f, i) => {
    const part = parts[i] ?? 'absent';
    if (part.startsWith('absent')) files.set(f.path, null);
    else {
      const body = part.slice('present\n'.length);
      files.set(f.path, f.content === undefined ? body.trim() : body);
    }
  });
  return files;
}

import { randomBytes } from 'node:crypto';
import type { HostPlan } from '../plan/plan.js';
import type { Remote } from '../ssh/remote.js';
import { shq } from '../ssh/quote.js';

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
      const body = f.content === undefined ? `sha256sum ${p} | cut -d' ' -f1` : `cat ${p}`;
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

import { createHash } from 'node:crypto';
import type { HostPlan } from '../plan/plan.js';
import type { Remote } from '../ssh/remote.js';

/**
 * What is on the host now for every planned path: the text of rendered files, the sha256 of the
 * agent build (null when absent). Reads in parallel; the Remote queues channels itself.
 */
export async function readCurrentFiles(remote: Remote, host: HostPlan): Promise<Map<string, string | null>> {
  const entries = await Promise.all(
    host.files.map(async (f): Promise<[string, string | null]> => {
      const data = await remote.readFile(f.path);
      if (data === null) return [f.path, null];
      return [f.path, f.content === undefined ? createHash('sha256').update(data).digest('hex') : data.toString('utf8')];
    }),
  );
  return new Map(entries);
}

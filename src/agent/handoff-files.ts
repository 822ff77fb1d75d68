/**
 * cplbctl's hand-off files (`prefer-<instance>` beside the track file): cplbctl writes one to make
 * this node take a VIP from its holder and removes it once the VIP moved. A run cut off in between
 * would leave this node preferred for good, taking the VIP back after every later failover; so a
 * file older than the TTL is removed here. keepalived sees the removal and drops the priority back.
 */
import { readdir, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { PREFER_FILE_PREFIX } from '../contract/paths.js';

/** Removes the hand-off files in `dir` last written more than `ttlMs` before `nowMs`; returns their names. */
export async function expireHandOffFiles(dir: string, ttlMs: number, nowMs = Date.now()): Promise<string[]> {
  const names = await readdir(dir).catch(() => [] as string[]);
  const removed: string[] = [];
  for (const name of names.filter((n) => n.startsWith(PREFER_FILE_PREFIX))) {
    const path = join(dir, name);
    const st = await stat(path).catch(() => undefined);
    if (!st?.isFile() || nowMs - st.mtimeMs <= ttlMs) continue;
    if (
      await unlink(path).then(
        () => true,
        () => false,
      )
    )
      removed.push(name);
  }
  return removed;
}

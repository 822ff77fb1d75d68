import { mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { expireHandOffFiles } from '../../src/agent/handoff-files.js';

describe('expireHandOffFiles', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cplb-handoff-'));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('removes only hand-off files older than the TTL, and nothing else in the folder', async () => {
    const now = Date.now();
    for (const name of ['prefer-k0s-vip-0', 'prefer-k0s-vip-1', 'health', 'status'])
      await writeFile(join(dir, name), '1\n');
    const old = new Date(now - 121_000);
    await utimes(join(dir, 'prefer-k0s-vip-0'), old, old);
    await utimes(join(dir, 'health'), old, old);
    expect(await expireHandOffFiles(dir, 120_000, now)).toEqual(['prefer-k0s-vip-0']);
    expect((await readdir(dir)).sort()).toEqual(['health', 'prefer-k0s-vip-1', 'status']);
  });

  it('leaves a fresh file and is quiet about a missing folder', async () => {
    await writeFile(join(dir, 'prefer-k0s-vip-0'), '1\n');
    expect(await expireHandOffFiles(dir, 120_000)).toEqual([]);
    expect(await expireHandOffFiles(join(dir, 'nope'), 120_000)).toEqual([]);
  });
});

/**
 * readCurrentFiles' script run for real by the local sh: rendered files come back verbatim, the agent
 * build as its sha256, and the upload's hash stamp stands in for hashing only while the file is the
 * one it was written for.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { hashStampPath, readCurrentFiles, writeHashStampScript } from '../../src/apply/current-files.js';
import type { HostPlan, PlannedFile } from '../../src/plan/plan.js';
import type { Remote } from '../../src/ssh/remote.js';

const dir = mkdtempSync(join(tmpdir(), 'cplb-current-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const sh = (script: string) => execFileSync('sh', ['-c', script], { encoding: 'utf8' });
const local: Remote = {
  name: 'local',
  user: 'root',
  isRoot: true,
  exec: async (command) => ({
    command,
    exitCode: 0,
    signal: null,
    stdout: sh(command),
    stderr: '',
    durationMs: 0,
  }),
  readFile: async () => null,
  upload: async () => ({ path: '', changed: false, sha256: '' }),
  close: async () => undefined,
};
const sha = (s: string) => createHash('sha256').update(s).digest('hex');
const agent = join(dir, 'cplb-agent');
const conf = join(dir, 'keepalived.conf');
const file = (path: string, content?: string): PlannedFile => ({
  path,
  mode: 0o600,
  owner: 'root',
  group: 'root',
  content,
  secret: false,
});
const host = { files: [file(agent), file(conf, 'x'), file(join(dir, 'absent'), 'y')] } as HostPlan;

describe('readCurrentFiles', () => {
  it('reads text verbatim, hashes the agent build, and says null for what is absent', async () => {
    writeFileSync(agent, 'build one');
    writeFileSync(conf, 'a @@cplb-fake@@ b\n');
    const files = await readCurrentFiles(local, host);
    expect([...files.values()]).toEqual([sha('build one'), 'a @@cplb-fake@@ b\n', null]);
  });

  it('takes the sha256 from the stamp while the build is unchanged', async () => {
    writeFileSync(agent, 'build one');
    sh(writeHashStampScript(agent, 'f'.repeat(64))); // a stamp that lies proves it was used
    expect((await readCurrentFiles(local, host)).get(agent)).toBe('f'.repeat(64));
  });

  it('hashes again once the build was rewritten or replaced', async () => {
    sh(writeHashStampScript(agent, 'f'.repeat(64)));
    writeFileSync(join(dir, 'new'), 'build two!');
    sh(`mv ${join(dir, 'new')} ${agent}`);
    expect((await readCurrentFiles(local, host)).get(agent)).toBe(sha('build two!'));
    sh(writeHashStampScript(agent, 'f'.repeat(64)));
    sh(`sleep 0.1; printf 'build 2!!!' > ${agent}`); // same size and inode: the ctime tells
    expect((await readCurrentFiles(local, host)).get(agent)).toBe(sha('build 2!!!'));
    rmSync(hashStampPath(agent));
    expect((await readCurrentFiles(local, host)).get(agent)).toBe(sha('build 2!!!'));
  });
});

/**
 * readCurrentFiles' script run for real by the local sh: rendered files come back verbatim, the agent
 * build as its sha256, and the upload's hash stamp stands in for hashing only while the file is the
 * one it was written for. The rendered keepalived.conf is checked by this machine's keepalived in the
 * same round trip, unless it is what the host has already.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  hashStampPath,
  readCurrentFiles,
  testKeepalivedConfig,
  writeHashStampScript,
} from '../../src/apply/current-files.js';
import type { HostPlan, PlannedFile } from '../../src/plan/plan.js';
import type { Remote } from '../../src/ssh/remote.js';

const dir = mkdtempSync(join(tmpdir(), 'cplb-current-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const sh = (script: string, input?: string | Buffer) =>
  execFileSync('sh', ['-c', script], { encoding: 'utf8', input });
/** The host is this machine: its sh, its keepalived (or, with `path`, only what that PATH finds). */
const localWith = (path?: string): Remote => ({
  name: 'local',
  user: 'root',
  isRoot: true,
  exec: async (command, opts) => ({
    command,
    exitCode: 0,
    signal: null,
    stdout: sh(path ? command.replace(/^PATH=.*$/m, `PATH=${path}; export PATH`) : command, opts?.stdin),
    stderr: '',
    durationMs: 0,
  }),
  readFile: async () => null,
  upload: async () => ({ path: '', changed: false, sha256: '' }),
  close: async () => undefined,
});
const local = localWith();
const sha = (s: string) => createHash('sha256').update(s).digest('hex');
const agent = join(dir, 'cplb-agent');
const conf = join(dir, 'keepalived.conf');
const file = (path: string, content?: string): PlannedFile => ({
  path,
  mode: 0o600,
  owner: 'root',
  group: 'root',
  content,
});
const host = { files: [file(agent), file(conf, 'x'), file(join(dir, 'absent'), 'y')] } as HostPlan;

describe('readCurrentFiles', () => {
  it('reads text verbatim, hashes the agent build, and says null for what is absent', async () => {
    writeFileSync(agent, 'build one');
    writeFileSync(conf, 'a @@cplb-fake@@ b\n');
    const { files } = await readCurrentFiles(local, host);
    expect([...files.values()]).toEqual([sha('build one'), 'a @@cplb-fake@@ b\n', null]);
  });

  it('takes the sha256 from the stamp while the build is unchanged', async () => {
    writeFileSync(agent, 'build one');
    sh(writeHashStampScript(agent, 'f'.repeat(64))); // a stamp that lies proves it was used
    expect((await readCurrentFiles(local, host)).files.get(agent)).toBe('f'.repeat(64));
  });

  it('hashes again once the build was rewritten or replaced', async () => {
    sh(writeHashStampScript(agent, 'f'.repeat(64)));
    writeFileSync(join(dir, 'new'), 'build two!');
    sh(`mv ${join(dir, 'new')} ${agent}`);
    expect((await readCurrentFiles(local, host)).files.get(agent)).toBe(sha('build two!'));
    sh(writeHashStampScript(agent, 'f'.repeat(64)));
    sh(`sleep 0.1; printf 'build 2!!!' > ${agent}`); // same size and inode: the ctime tells
    expect((await readCurrentFiles(local, host)).files.get(agent)).toBe(sha('build 2!!!'));
    rmSync(hashStampPath(agent));
    expect((await readCurrentFiles(local, host)).files.get(agent)).toBe(sha('build 2!!!'));
  });
});

describe('mode and owner of the planned paths', () => {
  it('come back for the files and directories that exist, in the same round trip', async () => {
    writeFileSync(conf, 'x', { mode: 0o640 });
    sh(`chmod 640 ${conf}`);
    const { meta } = await readCurrentFiles(local, { ...host, directories: [{ path: dir, mode: 0o700 }] });
    const me = sh('id -un').trim();
    const group = sh('id -gn').trim();
    expect(meta.get(conf)).toEqual({ mode: '640', owner: me, group });
    expect(meta.get(dir)).toEqual({ mode: '700', owner: me, group });
    expect(meta.has(join(dir, 'absent'))).toBe(false);
  });
});

describe('the keepalived config test in the same round trip', () => {
  // No vrrp_instance: this machine has none of the lab's interfaces. track_file is the keyword
  // keepalived before 2.1 would not know.
  const good =
    'global_defs {\n  router_id cplb-test\n}\ntrack_file cplb_health {\n  file /run/cplb-test.health\n}\n';
  const bad = good.replace('track_file', 'track_fiel');
  const temps = () => readdirSync('/tmp').filter((f) => f.startsWith('cplb-keepalived.'));
  const before = temps();

  it('passes a good config and names what keepalived refuses in a bad one, with its version', async () => {
    rmSync(conf, { force: true });
    const ok = await readCurrentFiles(local, host, { path: conf, content: good });
    expect(ok.configTest).toEqual({ result: 'passed' });
    const no = await readCurrentFiles(local, host, { path: conf, content: bad });
    expect(no.configTest).toMatchObject({
      result: 'failed',
      version: expect.stringMatching(/^Keepalived v2\./),
    });
    expect(no.configTest?.result === 'failed' && no.configTest.output).toMatch(
      /Unknown keyword 'track_fiel'/,
    );
    // The files are read as before, and the temp file is gone.
    expect([...no.files.values()][2]).toBeNull();
    expect(temps()).toEqual(before);
  });

  it('does not test what the host already has, and says when keepalived is missing', async () => {
    writeFileSync(conf, bad); // even a bad file: it is the host's own, checked when it was written
    expect((await readCurrentFiles(local, host, { path: conf, content: bad })).configTest).toEqual({
      result: 'unchanged',
    });
    const bare = localWith('/usr/bin:/bin'); // keepalived is in /usr/sbin
    expect(await testKeepalivedConfig(bare, good)).toEqual({ result: 'no-keepalived' });
    expect(await testKeepalivedConfig(local, good)).toEqual({ result: 'passed' });
  });
});

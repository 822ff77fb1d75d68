/** The switch and discard scripts, run by the real /bin/sh (dash) against files in a temp dir. */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { hashStampPath } from '../../src/apply/current-files.js';
import { discardScript, switchScript } from '../../src/apply/staging.js';
import { stagedPath } from '../../src/contract/paths.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'cplb-staging-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const sh = (script: string) => spawnSync('/bin/sh', ['-c', script], { encoding: 'utf8' });
const read = (p: string) => readFileSync(p, 'utf8');

describe('staging', () => {
  it('stages beside the target, hidden, so the switch is a rename on one filesystem', () => {
    expect(stagedPath('/etc/cplb/agent.json')).toBe('/etc/cplb/.agent.json.cplb-staged');
  });

  it('switches every staged file in and stamps the agent build it moved', () => {
    const conf = join(dir, 'keepalived.conf');
    const agent = join(dir, 'cplb-agent');
    writeFileSync(conf, 'old');
    writeFileSync(stagedPath(conf), 'new');
    writeFileSync(stagedPath(agent), 'build');
    const res = sh(switchScript([{ path: conf }, { path: agent, stampSha256: 'abc123' }]));
    expect(res.status, res.stderr).toBe(0);
    expect(read(conf)).toBe('new');
    expect(read(agent)).toBe('build');
    expect(existsSync(stagedPath(conf))).toBe(false);
    const stat = execFileSync('stat', ['-c', '%s %i %z', agent], { encoding: 'utf8' });
    expect(read(hashStampPath(agent))).toBe(`abc123\n${stat}`);
  });

  it('moves nothing when one staged file is missing, and says which', () => {
    const a = join(dir, 'agent.json');
    const b = join(dir, 'keepalived.conf');
    writeFileSync(a, 'old a');
    writeFileSync(stagedPath(a), 'new a');
    writeFileSync(b, 'old b');
    const res = sh(switchScript([{ path: a }, { path: b }]));
    expect(res.status).toBe(3);
    expect(res.stderr).toContain(`${stagedPath(b)} is missing`);
    expect(read(a)).toBe('old a');
    expect(read(stagedPath(a))).toBe('new a');
  });

  it('discards staged files and leaves the targets', () => {
    const a = join(dir, 'agent.json');
    writeFileSync(a, 'old');
    writeFileSync(stagedPath(a), 'new');
    expect(sh(discardScript([a, join(dir, 'never-staged')])).status).toBe(0);
    expect(existsSync(stagedPath(a))).toBe(false);
    expect(read(a)).toBe('old');
  });
});

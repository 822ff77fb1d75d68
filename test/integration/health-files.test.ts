/**
 * The credential-file check's script, run by a real /bin/sh against real files (what a controller
 * does in Gather facts), then parsed and judged: exists, regular, the secrets private.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { healthFileProblems, healthFilesScript, parseHealthFiles } from '../../src/plan/health-files.js';
import { clusterYaml, loadCluster, SCENARIOS } from '../unit/plan-fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'cplb-hcfiles-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, mode: number): string {
  const path = join(dir, name);
  writeFileSync(path, 'x');
  chmodSync(path, mode);
  return path;
}

const run = (paths: string[]) =>
  parseHealthFiles(paths, execFileSync('sh', ['-c', healthFilesScript(paths)], { encoding: 'utf8' }));

describe('health check credential files on a host', () => {
  it('reads kind and mode through symlinks, whatever the names hold', () => {
    const cert = file('hc.crt', 0o644);
    const key = file("it's a key; $(reboot)", 0o600);
    const link = join(dir, 'link.key');
    symlinkSync(key, link);
    mkdirSync(join(dir, 'a-dir'));
    const paths = [cert, key, link, join(dir, 'a-dir'), join(dir, 'nope')];
    expect(run(paths)).toEqual([
      { path: cert, kind: 'file', mode: 0o644 },
      { path: key, kind: 'file', mode: 0o600 },
      { path: link, kind: 'file', mode: 0o600 },
      { path: join(dir, 'a-dir'), kind: 'other' },
      { path: join(dir, 'nope'), kind: 'missing' },
    ]);
  });

  it('finds a token others can read, and a missing one, naming the file', () => {
    const cluster = loadCluster(clusterYaml(SCENARIOS.multicast));
    const token = file('token', 0o644);
    cluster.cplb.healthCheck = { ...cluster.cplb.healthCheck, bearerTokenFile: token };
    expect(healthFileProblems(cluster, run([token])).map((p) => p.message)).toEqual([
      `healthCheck.bearerTokenFile ${token} has mode 0644: others may read the secret`,
    ]);
    chmodSync(token, 0o600);
    expect(healthFileProblems(cluster, run([token]))).toEqual([]);
    rmSync(token);
    expect(healthFileProblems(cluster, run([token])).map((p) => p.message)).toEqual([
      `healthCheck.bearerTokenFile ${token} does not exist`,
    ]);
  });
});

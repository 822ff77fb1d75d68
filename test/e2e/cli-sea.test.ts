/**
 * The CLI as one file (dist/sea/cplbctl, made by `npm run build`): no node_modules, no dist/agent
 * beside it. Copied alone into an empty directory and run with an empty cache, it applies to the
 * plain lab from the agent builds it carries, and the lab then has one VIP holder and agents of the
 * build it carried. Run under the lab lock.
 */
import { execFile } from 'node:child_process';
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createHash } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { labExec } from '../../src/lab/index.js';
import { agentStatus, waitHolders } from './apply-probes.js';
import { useLab } from './apply-support.js';

const exec = promisify(execFile);
const lab = useLab('t-sea', { flavor: 'plain' });
const controllers = () => lab().hosts.filter((h) => h.role === 'controller');
const dir = mkdtempSync(join(tmpdir(), 'cplb-sea-e2e-'));

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the CLI as a single executable', () => {
  it('applies from an empty directory with nothing but the file itself', async () => {
    const exe = join(dir, 'cplbctl');
    copyFileSync('dist/sea/cplbctl', exe);
    const cache = join(dir, 'cache');
    const run = await exec(
      exe,
      ['apply', '--known-hosts', lab().knownHosts, '-o', 'logfmt', lab().clusterFile],
      {
        cwd: dir,
        timeout: 240_000,
        maxBuffer: 64 << 20,
        // No PATH entry for node: the file runs on its own.
        env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', HOME: dir, XDG_CACHE_HOME: cache },
      },
    ).catch((err: { code?: number; stdout?: string; stderr?: string }) => err);
    expect('code' in run && run.code ? `${run.stdout}${run.stderr}` : 'ok').toBe('ok');
    const { holders } = await waitHolders(lab(), controllers(), (hs) => hs.length === 1, Date.now(), 15_000);
    expect(holders).toHaveLength(1);
    // The agents run the build the file carried, unpacked into the cache it was given.
    const agentDir = join(cache, 'cplbctl', readdirOne(join(cache, 'cplbctl'), 'agent-'));
    const sha = createHash('sha256')
      .update(readFileSync(join(agentDir, 'cplb-agent')))
      .digest('hex');
    for (const h of controllers()) {
      const onHost = await labExec(lab().name, h.name, ['sha256sum', '/usr/local/lib/cplb/cplb-agent']);
      expect(onHost.stdout.split(' ')[0]).toBe(sha);
    }
    for (const h of controllers())
      expect((await agentStatus(lab().name, h.name)).agent.version).toBe(pkgVersion());
  }, 300_000);
});

function readdirOne(path: string, prefix: string): string {
  const found = readdirSync(path).filter((n) => n.startsWith(prefix));
  expect(found).toHaveLength(1);
  return found[0]!;
}

function pkgVersion(): string {
  return (JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }).version;
}

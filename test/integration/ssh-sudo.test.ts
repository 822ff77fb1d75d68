import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { labStatus } from '../../src/lab/index.js';
import { connect, shq, type Remote } from '../../src/ssh/index.js';

/**
 * The sudo path needs a login that is not root, and this machine must not grow users for tests:
 * the lab provides one (user `cplb`, NOPASSWD sudo). Without a running lab the suite is skipped;
 * the sudo wrapping itself is unit-tested in test/unit/ssh-remote.test.ts.
 * Run: `cplbctl lab up` (or set CPLB_LAB_NAME to a running lab), then this file.
 */
const LAB_NAME = process.env.CPLB_LAB_NAME ?? 'lab';
const lab = await labStatus(LAB_NAME).catch(() => null);
const host = lab?.hosts.find((h) => h.user !== 'root' && h.running);
const SKIP_REASON = host
  ? ''
  : ` (skipped: no running lab "${LAB_NAME}" with a non-root host; run cplbctl lab up)`;

describe.skipIf(!host || !lab)(`sudo -n for a non-root user on a lab host${SKIP_REASON}`, () => {
  const testDir = `/etc/cplb-ssh-test-${process.pid}`;
  let remote: Remote;

  beforeAll(async () => {
    if (!host || !lab) return;
    remote = await connect(
      { address: host.address, port: host.sshPort, user: host.user, keyPath: lab.keyPath },
      { knownHostsFiles: [lab.knownHosts], sshConfigPath: '/dev/null' },
    );
  });

  afterAll(async () => {
    await remote?.exec(`rm -rf -- ${shq(testDir)}`).catch(() => undefined);
    await remote?.close();
  });

  it('checked sudo at login and runs commands as root through it', async () => {
    expect(remote).toMatchObject({ user: host?.user, isRoot: false });
    expect((await remote.exec('id -u')).stdout.trim()).toBe('0');
    expect((await remote.exec('id -u', { sudo: false })).stdout.trim()).not.toBe('0');
  });

  it('uploads root-owned files with the same identity that renames them, and skips unchanged ones', async () => {
    const path = `${testDir}/secret.conf`;
    const first = await remote.upload(path, 'authPass lab\n', { mode: 0o600, owner: 'root', group: 'root' });
    expect(first.changed).toBe(true);
    expect((await remote.exec(`stat -c '%a %U %G' ${shq(path)}`)).stdout.trim()).toBe('600 root root');
    expect(
      (await remote.upload(path, 'authPass lab\n', { mode: 0o600, owner: 'root', group: 'root' })).changed,
    ).toBe(false);
    expect((await remote.readFile(path))?.toString()).toBe('authPass lab\n');
    await expect(remote.readFile(path, { sudo: false })).rejects.toMatchObject({
      code: 'SSH_COMMAND_FAILED',
    });
    expect((await remote.exec(`ls -A ${shq(testDir)}`)).stdout.trim()).toBe('secret.conf');
  });

  it('keeps hostile strings intact through the extra quoting layer', async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ unit: 'binary', maxLength: 30 }), async (raw) => {
        const s = raw.replaceAll('\0', '');
        expect((await remote.exec(`printf '%s' ${shq(s)}`)).stdout).toBe(s);
      }),
      { numRuns: 30 },
    );
  });

  it('kills a timed-out command that runs as root under sudo', async () => {
    const marker = `${(Date.now() % 100000) + 1}.25`;
    await expect(remote.exec(`sleep ${marker}`, { timeoutMs: 400 })).rejects.toMatchObject({
      code: 'SSH_TIMEOUT',
    });
    await new Promise((r) => setTimeout(r, 300));
    expect((await remote.exec(`pgrep -f ${shq(`^sleep ${marker}$`)} || true`)).stdout).toBe('');
  });
});

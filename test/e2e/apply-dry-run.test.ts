/**
 * `apply --dry-run` on real lab hosts: every phase up to the plan runs over real SSH (a non-22 port,
 * a sudo user), prints each host's detected interface and diff, and changes nothing anywhere.
 */
import { describe, expect, it } from 'vitest';
import { acquireScript, parseAcquire, releaseScript, type LockOwner } from '../../src/lock/host-lock.js';
import { labExec } from '../../src/lab/index.js';
import { applyArgs, cli, hostChanges, markHost, useLab } from './apply-support.js';

const LAB = 't-dryrun';
const lab = useLab(LAB);
const controllers = () => lab().hosts.filter((h) => h.role === 'controller');

describe('apply --dry-run', () => {
  it("prints each host's interface and planned files, and changes no host", async () => {
    await Promise.all(controllers().map((h) => markHost(lab(), h.name)));
    const before = await Promise.all(controllers().map((h) => hostChanges(lab(), h.name)));
    const res = await cli(applyArgs(lab(), '--dry-run'));
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    for (const h of controllers()) {
      const name = `${h.address}:${h.sshPort}`;
      expect(res.stdout).toContain(
        `[ssh] ${name}: k0s-vip-0: using eth1 (default route) as private interface`,
      );
      expect(res.stdout).toMatch(
        new RegExp(`\\[ssh\\] ${name.replace(/\./g, '\\.')}: .*/etc/cplb/keepalived.conf \\(create\\)`),
      );
    }
    // The sudo user's host (root logins refused) went through the same phases.
    expect(res.stdout).toContain('connected as cplb (sudo -n works)');
    expect(res.stdout).toContain('+++ /etc/cplb/keepalived.conf\tplanned');
    expect(res.stdout).toContain('auth_pass [REDACTED]');
    expect(res.stdout).not.toContain('lab()-pass');
    const after = await Promise.all(controllers().map((h) => hostChanges(lab(), h.name)));
    for (const a of after) expect(a.changedFiles).toEqual([]);
    expect(after.map((a) => a.state)).toEqual(before.map((b) => b.state));
  });

  it('gives the same output twice (deterministic)', async () => {
    const strip = (s: string) => s.replace(/==> Finished in \S+/, '');
    const a = await cli(applyArgs(lab(), '--dry-run'));
    const b = await cli(applyArgs(lab(), '--dry-run'));
    expect(a.code).toBe(0);
    const sortLines = (s: string) => strip(s).split('\n').sort().join('\n');
    // Hosts report concurrently, so line order may differ; the content may not.
    expect(sortLines(b.stdout)).toBe(sortLines(a.stdout));
  });

  it('emits one JSON event per line with -o json, and the diff last', async () => {
    const res = await cli([
      'apply',
      '--dry-run',
      '--known-hosts',
      lab().knownHosts,
      '-o',
      'json',
      lab().clusterFile,
    ]);
    expect(res.code).toBe(0);
    const events = res.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(events.at(-1)?.type).toBe('plan-diff');
    expect(events.some((e) => e.type === 'phase-start' && e.phase === 'Gather host facts')).toBe(true);
  });
});

describe('host lock', () => {
  const owner = (n: number): LockOwner => ({
    owner: `test@${n}`,
    pid: 1000 + n,
    token: `tok${n}`,
    command: 'test',
    startedAt: 'now',
  });

  it('is taken by exactly one of many concurrent attempts on a host', async () => {
    const c1 = controllers()[0]!.name;
    const attempts = await Promise.all(
      Array.from({ length: 12 }, (_, i) => labExec(LAB, c1, ['sh', '-c', acquireScript(owner(i))])),
    );
    const won = attempts.map((a) => parseAcquire(a.stdout.trim())).filter((r) => r.acquired);
    expect(won).toHaveLength(1);
    const winner = attempts.findIndex((a) => parseAcquire(a.stdout.trim()).acquired);
    await labExec(LAB, c1, ['sh', '-c', releaseScript(`tok${winner}`)]);
  });

  it('makes a second apply fail naming the holder, and changes nothing', async () => {
    const c2 = controllers()[1]!.name;
    await labExec(LAB, c2, ['sh', '-c', acquireScript(owner(77))]);
    try {
      const res = await cli(applyArgs(lab()));
      expect(res.code).toBe(1);
      expect(res.stdout).toContain('locked by test@77 (pid 1077');
      // The other hosts' locks were released on the way out.
      for (const h of controllers().filter((h) => h.name !== c2)) {
        const ls = await labExec(LAB, h.name, ['sh', '-c', 'ls /run/cplb-lock/owner 2>&1 || true']);
        expect(ls.stdout).toContain('No such file');
        const conf = await labExec(LAB, h.name, ['sh', '-c', 'ls /etc/cplb 2>&1 || true']);
        expect(conf.stdout).toContain('No such file');
      }
    } finally {
      await labExec(LAB, c2, ['sh', '-c', releaseScript('tok77')]);
    }
  });

  it('breaks a stale lock (not refreshed for the TTL) with a warning', async () => {
    const c1 = controllers()[0]!.name;
    await labExec(LAB, c1, [
      'sh',
      '-c',
      `(${acquireScript(owner(5))}) >/dev/null; touch -d '10 minutes ago' /run/cplb-lock/owner`,
    ]);
    const res = await cli(applyArgs(lab(), '--dry-run'));
    expect(res.code).toBe(0);
    expect(res.stdout).toContain('broke a stale lock of test@5 (pid 1005)');
    const ls = await labExec(LAB, c1, ['sh', '-c', 'ls /run/cplb-lock/owner 2>&1 || true']);
    expect(ls.stdout).toContain('No such file');
  });
});

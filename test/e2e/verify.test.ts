/**
 * status and verify on real lab hosts (plain flavor): a healthy cluster passes; blocked VRRP, a
 * hand-edited keepalived.conf and a deleted REDIRECT rule fail with exit 3 and name the host; a
 * failover in both modes and both profiles (VRRPv2 1 s adverts, VRRPv3 0.1 s) keeps its bounds; and
 * status says what `ip` and `iptables` say on the hosts.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseJunit, type TestSuites } from 'junit2json';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { labExec, labFault } from '../../src/lab/index.js';
import type { CheckResult } from '../../src/verify/checks.js';
import type { ClusterReport } from '../../src/verify/host-report.js';
import type { VerifyResult } from '../../src/verify/verify-report.js';
import { cli, useLab } from './apply-support.js';

const LAB = 't-verify';
const useTheLab = useLab(LAB);
let lab: ReturnType<typeof useTheLab>;
let dir: string;
let fastFile: string;
const controllers = () => lab.hosts.filter((h) => h.role === 'controller');
const nameOf = (h: { address: string; sshPort: number }) => `${h.address}:${h.sshPort}`;
const vipAddress = () => lab.vip.split('/')[0]!;

const run = (cmd: string, file: string, ...extra: string[]) =>
  cli([cmd, '--known-hosts', lab.knownHosts, '-o', 'json', ...extra, file], { timeoutMs: 240_000 });

async function verify(
  file = lab.clusterFile,
  ...extra: string[]
): Promise<{ code: number; result: VerifyResult; stderr: string }> {
  const res = await run('verify', file, ...extra);
  return { code: res.code, result: JSON.parse(res.stdout) as VerifyResult, stderr: res.stderr };
}

async function status(): Promise<ClusterReport> {
  const res = await run('status', lab.clusterFile);
  expect(res.code).toBe(0);
  return JSON.parse(res.stdout) as ClusterReport;
}

const check = (r: VerifyResult, name: string) => r.checks.find((c) => c.name === name) as CheckResult;

async function apply(file: string): Promise<void> {
  const res = await cli(['apply', '--known-hosts', lab.knownHosts, '-o', 'logfmt', file], {
    timeoutMs: 240_000,
  });
  expect(res.code, res.stdout + res.stderr).toBe(0);
}

/** Polls status until the VIPs have `n` holders (VRRP settles over a few adverts). */
async function holders(n: (count: number) => boolean, timeoutMs = 20_000): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const got = (await status()).vips[0]!.holders;
    if (n(got.length) || Date.now() > deadline) return got;
    await new Promise((r) => setTimeout(r, 500));
  }
}

function expectFailoverWithinBounds(r: VerifyResult, mode: string, rounds: number): void {
  const f = r.failover!;
  expect(f.mode).toBe(mode);
  expect(f.rounds).toHaveLength(rounds);
  for (const round of f.rounds) {
    expect(round.problems).toEqual([]);
    expect(round.movedMs).toBeLessThanOrEqual(f.bounds.movedMs);
    expect(round.servedAgainMs).toBeLessThanOrEqual(f.bounds.servedMs);
    expect(round.to).not.toBe(round.from);
    // Equal priorities: with 0.1 s adverts both backups may claim the VIP for an advert; one remains.
    expect(round.holdersAfter).toHaveLength(1);
    expect(round.holdersAfter).not.toContain(round.from);
    expect(round.claimedBy).toContain(round.holdersAfter[0]);
    expect(round.vantages.map((v) => v.from)).toContain('this machine');
  }
  expect(f.summary.movedMs?.n).toBe(rounds);
}

beforeAll(async () => {
  lab = useTheLab();
  dir = mkdtempSync(join(tmpdir(), 'cplb-verify-e2e-'));
  fastFile = join(dir, 'fast.yaml');
  const text = readFileSync(lab.clusterFile, 'utf8');
  writeFileSync(
    fastFile,
    text
      .replace(/^ {4}keepalived:$/m, '    keepalived:\n      vrrpVersion: 3')
      .replace(/^( {10}authPass: .*)$/m, '$1\n          advertIntervalSeconds: 0.1'),
  );
  await apply(lab.clusterFile);
}, 300_000);

// Runs before useLab's own afterAll (hooks unwind in reverse): the lab is still up to unblock.
afterAll(async () => {
  await labFault(LAB, undefined, 'unblock-vrrp').catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
}, 60_000);

describe('verify and status on the lab', () => {
  it('verify passes on a healthy lab, with figures per check', async () => {
    const { code, result } = await verify();
    expect(result.checks.filter((c) => !c.ok)).toEqual([]);
    expect(code, JSON.stringify(result.checks.filter((c) => !c.ok))).toBe(0);
    expect(check(result, 'one-holder').figures).toMatchObject({ samples: 7, windowSeconds: 3 });
    const lb = check(result, 'load-balancing').figures as {
      vantages: { from: string; missed: string[]; backends: object }[];
    };
    expect(lb.vantages.map((v) => v.from)).toContain('this machine');
    for (const v of lb.vantages) expect(Object.keys(v.backends)).toHaveLength(3);
  }, 60_000);

  it('status -o json agrees with ip and iptables on every host', async () => {
    const report = await status();
    for (const h of controllers()) {
      const row = report.hosts.find((r) => r.host === nameOf(h))!;
      const ip = (await labExec(LAB, h.name, ['ip', '-o', 'addr', 'show'])).stdout;
      expect(row.vipsHeld.length > 0, `${h.name} holds the VIP`).toBe(ip.includes(`inet ${vipAddress()}/`));
      const nat = (await labExec(LAB, h.name, ['iptables', '-t', 'nat', '-S', 'CPLB'])).stdout;
      expect(row.redirect?.ok).toBe(
        /-d 198\.18\.\d+\.\d+\/32 .*--dport 6443 .*-j REDIRECT --to-ports 6444/.test(nat),
      );
      const pid = (await labExec(LAB, h.name, ['cat', '/run/cplb/keepalived.pid'])).stdout.trim();
      expect(String(row.keepalived?.pid)).toBe(pid);
      expect(row).toMatchObject({
        reachable: true,
        config: { state: 'match' },
        agent: { running: true, healthy: true },
      });
    }
    expect(report.vips[0]!.holders).toHaveLength(1);
  }, 60_000);

  it('--failover graceful and crash (VRRPv2, 1 s adverts) keep their bounds; --junit and --summary report them', async () => {
    const junit = join(dir, 'verify.xml');
    const summary = join(dir, 'summary.md');
    const github = join(dir, 'github-step-summary.md');
    writeFileSync(github, '# an earlier step\n');
    for (const mode of ['graceful', 'crash']) {
      const reports = mode === 'crash' ? ['--junit', junit, '--summary', summary] : [];
      const res = await cli(
        ['verify', '--known-hosts', lab.knownHosts, '-o', 'json', '--failover', '--mode', mode, '--rounds', '2', ...reports, lab.clusterFile],
        { timeoutMs: 240_000, env: mode === 'crash' ? { GITHUB_STEP_SUMMARY: github } : {} },
      ); // prettier-ignore
      const result = JSON.parse(res.stdout) as VerifyResult;
      expect(result.failoverSkipped).toBeUndefined();
      expectFailoverWithinBounds(result, mode, 2);
      expect(res.code, JSON.stringify(result.checks.filter((c) => !c.ok))).toBe(0);
      if (mode !== 'crash') continue;
      const doc = (await parseJunit(readFileSync(junit, 'utf8'))) as TestSuites;
      expect(doc).toMatchObject({ tests: result.checks.length + 2, failures: 0 });
      const rounds = doc.testsuite![0]!.testcase!.filter((c) => c.name!.startsWith('failover round'));
      const moved = rounds.map(
        (c) =>
          (c as { properties: { name: string; value: number }[] }).properties.find(
            (p) => p.name === 'movedMs',
          )?.value,
      );
      expect(moved).toEqual(result.failover!.rounds.map((r) => Math.round(r.movedMs!)));
      const md = readFileSync(summary, 'utf8');
      expect(md).toContain(':white_check_mark: verified: every check holds');
      expect(md).toContain('Failover (crash)');
      expect(readFileSync(github, 'utf8')).toBe(`# an earlier step\n${md}`);
    }
  }, 180_000);

  it('fails on a hand-edited keepalived.conf, naming the host and the file', async () => {
    const h = controllers()[1]!;
    await labExec(LAB, h.name, ['sh', '-c', 'echo "# edited by hand" >> /etc/cplb/keepalived.conf']);
    const junit = join(dir, 'edited.xml');
    const { code, result } = await verify(lab.clusterFile, '--junit', junit);
    expect(code).toBe(3);
    const config = (
      (await parseJunit(readFileSync(junit, 'utf8'))) as TestSuites
    ).testsuite![0]!.testcase!.find((c) => c.name === 'config')!;
    expect(config.failure![0]!.inner).toContain(`[${nameOf(h)}] /etc/cplb/keepalived.conf differs`);
    expect(check(result, 'config').problems).toEqual([
      `[${nameOf(h)}] /etc/cplb/keepalived.conf differs from what the cluster file renders (edited on the host, or applied from another file)`,
    ]);
    await apply(lab.clusterFile);
    expect((await verify()).code).toBe(0);
  }, 120_000);

  it('exits 3 and names every holder when VRRP is blocked between the hosts', async () => {
    await labFault(LAB, undefined, 'block-vrrp');
    try {
      expect(await holders((n) => n === 3)).toHaveLength(3);
      const { code, result } = await verify();
      expect(code).toBe(3);
      const [problem, ...why] = check(result, 'one-holder').problems;
      expect(problem).toContain(`is held by 3 hosts at once: ${controllers().map(nameOf).join(', ')}`);
      expect(why[0]).toMatch(
        /^ {2}VRRP is blocked between .*: in 3 s each holder received no advert while the others sent them/,
      );
    } finally {
      await labFault(LAB, undefined, 'unblock-vrrp');
    }
    expect(await holders((n) => n === 1)).toHaveLength(1);
  }, 90_000);

  it("--failover in both modes keeps the fast profile's bounds (VRRPv3, 0.1 s adverts)", async () => {
    await apply(fastFile);
    for (const mode of ['crash', 'graceful']) {
      const { code, result } = await verify(fastFile, '--failover', '--mode', mode, '--rounds', '2');
      expectFailoverWithinBounds(result, mode, 2);
      expect(result.failover!.bounds.movedMs).toBeLessThanOrEqual(mode === 'crash' ? 500 : 200);
      expect(code, JSON.stringify(result.checks.filter((c) => !c.ok))).toBe(0);
    }
    expect(check((await verify(fastFile)).result, 'one-holder').figures).toMatchObject({
      windowSeconds: 0.3,
    });
  }, 180_000);

  // Last: the agent's repair stays "recent" (a failed redirect check) for a minute.
  it('fails right after a REDIRECT rule is deleted by hand, though the agent puts it back', async () => {
    const h = controllers()[0]!;
    const rule = (await labExec(LAB, h.name, ['iptables', '-t', 'nat', '-S', 'CPLB'])).stdout
      .split('\n')
      .find((l) => l.includes('REDIRECT'))!;
    await labExec(LAB, h.name, ['sh', '-c', `iptables -t nat ${rule.replace(/^-A/, '-D')}`]);
    const { code, result } = await verify(fastFile);
    expect(code).toBe(3);
    const problems = check(result, 'redirect').problems;
    expect(problems.length).toBeGreaterThan(0);
    for (const p of problems)
      expect(p).toMatch(
        new RegExp(
          `^\\[${nameOf(h).replace(/\./g, '\\.')}\\] (missing REDIRECT ${vipAddress()}:6443 -> :6444|the REDIRECT rules vanished and the agent put them back)`,
        ),
      );
  }, 60_000);
});

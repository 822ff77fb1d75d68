/**
 * The deployment modes a user meets beyond the lab's default, on one plain lab (issue 14, item 3):
 * unicast VRRP across a switch that drops multicast VRRP, a link flap of the holder (kube-vip
 * #1385), and two instances on two NICs and subnets that fail over independently. Each scenario
 * prints its own figures. The tests run in order and build on the cluster the one before left.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { labExec, labFault, type LabInfo } from '../../src/lab/index.js';
import type { CheckResult } from '../../src/verify/checks.js';
import type { VerifyResult } from '../../src/verify/verify-report.js';
import { pinAgentBuild, probeVip } from './apply-probes.js';
import { cli, useLab } from './apply-support.js';
import {
  bare,
  holdersByVip,
  sampleHolders,
  secondaryVip,
  waitFor,
  writeVariant,
  timedProbes,
  type Sample,
  type TimedProbe,
} from './modes-support.js';

const LAB = 't-modes';
const ADVERT_MS = 1000;
const useTheLab = useLab(LAB);
let lab: LabInfo;
let dir: string;
let agentDir: string;
const files = { multicast: '', unicast: '', twoNics: '' };
const controllers = () => lab.hosts.filter((h) => h.role === 'controller');
const host = (name: string) => lab.hosts.find((h) => h.name === name)!;
const nameOf = (h: { address: string; sshPort: number }) => `${h.address}:${h.sshPort}`;
const figures: Record<string, unknown> = {};
const record = (what: string, value: unknown) => {
  figures[what] = value;
  console.log(`[modes] ${what}: ${JSON.stringify(value)}`);
};

async function apply(file: string): Promise<void> {
  const started = Date.now();
  const res = await cli(['apply', '--known-hosts', lab.knownHosts, '-o', 'logfmt', file], {
    timeoutMs: 240_000,
    env: { CPLBCTL_AGENT_DIR: agentDir },
  });
  expect(res.code, res.stdout + res.stderr).toBe(0);
  console.log(`[modes] apply ${file.split('/').pop()}: ${Date.now() - started} ms`);
}

async function verify(file: string, ...extra: string[]): Promise<{ code: number; result: VerifyResult }> {
  const res = await cli(['verify', '--known-hosts', lab.knownHosts, '-o', 'json', ...extra, file], {
    timeoutMs: 240_000,
  });
  return { code: res.code, result: JSON.parse(res.stdout) as VerifyResult };
}

const check = (r: VerifyResult, name: string) => r.checks.find((c) => c.name === name) as CheckResult;
const failed = (r: VerifyResult) => JSON.stringify(r.checks.filter((c) => !c.ok));

/** Waits until every VIP has exactly one holder; returns them. */
async function settled(vips: readonly string[], timeoutMs = 20_000): Promise<Record<string, string>> {
  const got = await waitFor(
    `one holder for each of ${vips.join(', ')}`,
    timeoutMs,
    () => holdersByVip(controllers(), vips),
    (h) => vips.every((v) => h[v]!.length === 1),
  );
  return Object.fromEntries(vips.map((v) => [v, got[v]![0]!]));
}

/** The first sample at or after `fromMs` in which `vip` is held by exactly one host other than `from`. */
function movedAt(samples: readonly Sample[], vip: string, from: string, fromMs: number): number | undefined {
  const s = samples.find(
    (x) => x.at >= fromMs && x.holders[vip]!.length === 1 && x.holders[vip]![0] !== from,
  );
  return s && s.at - fromMs;
}

/** `ip route get` from a host to another's address: the source it would use for its own traffic. */
async function sourceTo(from: string, to: string): Promise<string> {
  const r = await labExec(LAB, from, ['ip', '-o', 'route', 'get', to]);
  const src = / src (\S+)/.exec(r.stdout)?.[1];
  if (r.code !== 0 || !src) throw new Error(`${from}: ip route get ${to}: ${r.stdout}${r.stderr}`);
  return src;
}

beforeAll(async () => {
  lab = useTheLab();
  dir = mkdtempSync(join(tmpdir(), 'cplb-modes-e2e-'));
  agentDir = await pinAgentBuild();
  const [c1, ...peers] = controllers();
  files.multicast = lab.clusterFile;
  // k0s's fields: one controller's address as the source, the others as peers (see rules/unicast.ts).
  files.unicast = writeVariant(lab, join(dir, 'unicast.yaml'), [
    `          unicastSourceIP: ${c1!.address}`,
    `          unicastPeers: [${peers.map((p) => p.address).join(', ')}]`,
  ]);
  files.twoNics = writeVariant(lab, join(dir, 'two-nics.yaml'), [
    '          interface: eth1',
    `        - virtualIPs: ["${secondaryVip(lab)}"]`,
    '          authPass: "lab-pass"',
    '          interface: eth0',
  ]);
}, 60_000);

afterAll(async () => {
  await labFault(LAB, undefined, 'unblock-vrrp').catch(() => undefined);
  for (const h of controllers()) await labFault(LAB, h.name, 'link-up').catch(() => undefined);
  console.log(`[modes] figures: ${JSON.stringify(figures)}`);
  rmSync(dir, { recursive: true, force: true });
  if (agentDir) rmSync(agentDir, { recursive: true, force: true });
}, 60_000);

describe('unicast VRRP behind a switch that drops multicast VRRP', () => {
  it('the switch really drops multicast VRRP: the multicast cluster splits into three holders', async () => {
    await apply(files.multicast);
    await settled([lab.vip]);
    await labFault(LAB, undefined, 'block-vrrp-multicast');
    const split = await waitFor(
      'multicast VRRP split by the switch',
      15_000,
      () => holdersByVip(controllers(), [lab.vip]),
      (h) => h[lab.vip]!.length === 3,
    );
    record('multicast cluster behind the switch: holders', split[lab.vip]);
  }, 300_000);

  it('a unicast cluster behind the same switch has one holder, serves, and verify passes', async () => {
    await apply(files.unicast);
    const conf = (await labExec(LAB, 'c2', ['cat', '/etc/cplb/keepalived.conf'])).stdout;
    expect(conf).toContain(`unicast_src_ip ${host('c2').address}`);
    const holder = (await settled([lab.vip]))[lab.vip]!;
    // Several adverts later still one: the holders agree over unicast, not by chance of timing.
    await new Promise((r) => setTimeout(r, 3 * ADVERT_MS));
    expect((await holdersByVip(controllers(), [lab.vip]))[lab.vip]).toEqual([holder]);
    const probes = await probeVip(lab, 6, 0);
    expect(probes.filter((p) => p.error)).toEqual([]);
    const { code, result } = await verify(files.unicast);
    expect(code, failed(result)).toBe(0);
    record('unicast: holder, served by', { holder, servedBy: probes.map((p) => p.cn) });
  }, 300_000);

  it('crash failover over unicast keeps the VRRPv2 crash bound (verify --failover)', async () => {
    const { code, result } = await verify(files.unicast, '--failover', '--mode', 'crash', '--rounds', '2');
    const f = result.failover!;
    record('unicast crash failover', {
      boundMs: f.bounds.movedMs,
      movedMs: f.rounds.map((r) => r.movedMs),
      servedAgainMs: f.rounds.map((r) => r.servedAgainMs),
    });
    expect(f.rounds).toHaveLength(2);
    for (const round of f.rounds) {
      expect(round.problems).toEqual([]);
      expect(round.movedMs).toBeLessThanOrEqual(f.bounds.movedMs);
      expect(round.holdersAfter).toHaveLength(1);
      expect(round.holdersAfter).not.toContain(round.from);
    }
    expect(code, failed(result)).toBe(0);
  }, 240_000);

  it('split brain is still detected: with all VRRP blocked, verify exits 3 naming three holders', async () => {
    await labFault(LAB, undefined, 'block-vrrp');
    try {
      await waitFor(
        'split brain',
        15_000,
        () => holdersByVip(controllers(), [lab.vip]),
        (h) => h[lab.vip]!.length === 3,
      );
      const { code, result } = await verify(files.unicast);
      expect(code).toBe(3);
      const [problem] = check(result, 'one-holder').problems;
      expect(problem).toContain(`is held by 3 hosts at once: ${controllers().map(nameOf).join(', ')}`);
      record('unicast split brain: verify', { code, problem });
    } finally {
      await labFault(LAB, undefined, 'unblock-vrrp');
    }
    await settled([lab.vip]);
  }, 120_000);
});

describe('link flap of the holder (kube-vip #1385), unicast cluster', () => {
  it('one holder within two adverts of the link coming back and after; the VIP is never its source', async () => {
    const flapped = (await settled([lab.vip]))[lab.vip]!;
    const sampler = sampleHolders(controllers(), [lab.vip]);
    const downAt = Date.now() - sampler.t0;
    await labFault(LAB, flapped, 'link-down');
    await waitFor(
      'the VIP to move off the cut host',
      10_000,
      () => holdersByVip(controllers(), [lab.vip]),
      (h) => h[lab.vip]!.length === 1 && h[lab.vip]![0] !== flapped,
    );
    await new Promise((r) => setTimeout(r, 3 * ADVERT_MS)); // well past failover
    const upAt = Date.now() - sampler.t0;
    await labFault(LAB, flapped, 'link-up');
    await new Promise((r) => setTimeout(r, 8 * ADVERT_MS));
    const samples = await sampler.stop();

    const moved = movedAt(samples, lab.vip, flapped, downAt);
    const after = samples.filter((s) => s.at >= upAt);
    const settle = after.filter((s) => s.at < upAt + 2 * ADVERT_MS);
    const steady = after.filter((s) => s.at >= upAt + 2 * ADVERT_MS);
    const newHolder = steady[0]?.holders[lab.vip]?.[0];
    record('link flap', {
      flapped,
      movedMs: moved,
      samplesAfterUp: after.length,
      twoHoldersInFirstTwoAdverts: settle.filter((s) => s.holders[lab.vip]!.length > 1).length,
      noHolderInFirstTwoAdverts: settle.filter((s) => s.holders[lab.vip]!.length === 0).length,
      holderAfter: newHolder,
    });
    expect(moved).toBeDefined();
    expect(steady.length).toBeGreaterThan(30);
    expect(steady.filter((s) => s.holders[lab.vip]!.length !== 1)).toEqual([]);
    // Equal priorities, no preemption: the returning host does not take the VIP back.
    expect(new Set(steady.map((s) => s.holders[lab.vip]![0]))).toEqual(new Set([newHolder]));
    expect(newHolder).not.toBe(flapped);

    // Every controller's own traffic to its peers leaves from its own address, the holder's too.
    const sources: Record<string, string> = {};
    for (const from of controllers())
      for (const to of controllers().filter((h) => h !== from)) {
        const src = await sourceTo(from.name, to.address);
        sources[`${from.name}->${to.name}`] = src;
        expect(src, `${from.name} -> ${to.name}`).toBe(from.address);
      }
    record('link flap: ip route get sources', sources);
    expect(await probeVip(lab, 3, 0).then((p) => p.filter((x) => x.error))).toEqual([]);
  }, 60_000);
});

describe('two instances on two NICs and subnets', () => {
  const vips = () => [lab.vip, secondaryVip(lab)];

  it('each VIP has its own holder on its own NIC, both serve VIP:6443 to the client, verify passes', async () => {
    await apply(files.twoNics);
    const held = await settled(vips());
    for (const [vip, nic] of [
      [lab.vip, 'eth1'],
      [secondaryVip(lab), 'eth0'],
    ] as const) {
      const ip = (await labExec(LAB, held[vip]!, ['ip', '-o', '-4', 'addr', 'show', 'dev', nic])).stdout;
      expect(ip, `${vip} on ${held[vip]} ${nic}`).toContain(` ${bare(vip)}/`);
    }
    // The client has a NIC on each subnet. (This machine reaches only the main /24: the lab routes
    // its one veth into br0, and the rest of the prefix unreachable.)
    const served: Record<string, (string | undefined)[]> = {};
    for (const vip of vips()) {
      const probes = await probeVip({ ...lab, vip }, 6, 0);
      expect(
        probes.filter((p) => p.error),
        vip,
      ).toEqual([]);
      served[vip] = probes.map((p) => p.cn);
    }
    const { code, result } = await verify(files.twoNics);
    expect(code, failed(result)).toBe(0);
    record('two NICs: holders, served by', { held, served });
  }, 300_000);

  /**
   * A holder whose eth1 (the API servers' network) is cut keeps the eth0 VIP: its proxy then dials
   * peers it cannot reach until its health checks mark them down, and each such dial costs the
   * dial timeout before the next upstream is tried. So the other VIP's clients are served, some
   * late: the figures say how late.
   */
  for (const [which, nic] of [
    [0, 'eth1'],
    [1, 'eth0'],
  ] as const) {
    it(`${nic} cut on its VIP's holder moves that VIP only; the other VIP keeps serving`, async () => {
      const vip = vips()[which]!;
      const other = vips()[1 - which]!;
      const before = await settled(vips());
      const sampler = sampleHolders(controllers(), vips());
      let probes: TimedProbe[];
      let downAt = 0;
      try {
        await new Promise((r) => setTimeout(r, 300));
        downAt = Date.now() - sampler.t0;
        const serving = timedProbes(LAB, other, { everyMs: 250, forMs: 8000, timeoutMs: 10_000 });
        await labFault(LAB, before[vip]!, `link-down-${nic}`);
        try {
          await waitFor(
            `${vip} to move`,
            10_000,
            () => holdersByVip(controllers(), [vip]),
            (h) => h[vip]!.length === 1 && h[vip]![0] !== before[vip],
          );
          probes = await serving;
        } finally {
          await labFault(LAB, before[vip]!, `link-up-${nic}`);
        }
      } finally {
        await sampler.stop();
      }
      const otherHolders = new Set(sampler.samples.map((s) => s.holders[other]!.join(',')));
      record(`two NICs: ${nic} cut on ${before[vip]}`, {
        moved: vip,
        movedMs: movedAt(sampler.samples, vip, before[vip]!, downAt),
        otherVip: other,
        otherHolders: [...otherHolders],
        samples: sampler.samples.length,
        otherVipProbes: probes.length,
        otherVipFailed: probes.filter((p) => p.error).length,
        otherVipSlowestMs: Math.max(...probes.map((p) => p.ms)),
        otherVipOver1s: probes.filter((p) => p.ms > 1000).length,
      });
      expect([...otherHolders]).toEqual([before[other]]);
      expect(probes.filter((p) => p.error)).toEqual([]);
      await settled(vips());
    }, 60_000);
  }
});

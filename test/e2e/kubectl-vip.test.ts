/**
 * A real client through the VIP, on the plain lab: kubectl 1.20 (Debian's kubernetes-client) from the
 * lab's client host, `get --raw /healthz` against the stand-in in a loop, across a rolling apply
 * (health-check settings), a `verify --failover --mode crash` round and a crash of the holder host.
 * Per scenario: kubectl's failed calls and longest gap, and both disruption samplers' figures
 * (printed); verify's own round carries the same two samplers' figures in its JSON and event lines.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { labExec, labFault, type LabHost } from '../../src/lab/index.js';
import { describeDisruption, type Disruption } from '../../src/verify/disruption.js';
import { startBothSamplers } from '../../src/verify/disruption-sampler.js';
import type { VerifyResult } from '../../src/verify/verify-report.js';
import { cli, useLab } from './apply-support.js';
import { longestGapMs, parseWrites } from './etcd-support.js';
import { vipHolders } from './lab-helpers.js';

const LAB = 't-kubectl';
const KUBECTL = '/usr/local/bin/kubectl-1.20';
const useTheLab = useLab(LAB);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const t0 = Date.now();

let controllers: LabHost[];
let client: LabHost;
let vip: string;
/** The cluster file the hosts run now (the rolling apply changes it). */
let clusterFile: string;

/** kubectl in a loop until the stop file exists: `A n start end` per answered call, `F ...` per failed one. */
function kubectlLoop(stop: string): string {
  return `i=0
while [ ! -e ${stop} ]; do
  i=$((i + 1)); s=$(date +%s%N)
  if ${KUBECTL} --server=https://${vip}:6443 --insecure-skip-tls-verify --token=x --request-timeout=2s get --raw /healthz >/dev/null 2>&1; then
    echo "A $i $s $(date +%s%N)"
  else
    echo "F $i $s $(date +%s%N)"
  fi
done
`;
}

interface Scenario {
  calls: number;
  failed: number;
  gapMs: number;
  /** The last call, made after the scenario had settled, was answered. */
  lastOk: boolean;
  disruption: Disruption[];
}

/** kubectl and both samplers through the VIP while `action` runs, and 2 s after. */
async function underClients<T>(name: string, action: () => Promise<T>): Promise<Scenario & { out: T }> {
  const stop = `/tmp/kubectl-stop-${name.replace(/\W+/g, '-')}`;
  const samplers = startBothSamplers({ host: vip, port: 6443, path: '/readyz' });
  const loop = labExec(LAB, client.name, ['sh', '-c', kubectlLoop(stop)]);
  await sleep(1500);
  const out = await action();
  await sleep(2000);
  await labExec(LAB, client.name, ['touch', stop]);
  const [calls, disruption] = await Promise.all([loop, samplers.stop()]);
  const list = parseWrites(calls.stdout);
  const s = {
    calls: list.length,
    failed: list.filter((c) => !c.acked).length,
    gapMs: longestGapMs(list),
    lastOk: list.at(-1)?.acked === true,
    disruption,
  };
  console.log(
    `[kubectl] ${name}: ${s.failed} of ${s.calls} kubectl calls failed, longest gap ${(s.gapMs / 1000).toFixed(2)} s`,
  );
  for (const d of disruption) console.log(`[kubectl] disruption, ${name}: ${describeDisruption(d)}`);
  return { ...s, out };
}

beforeAll(async () => {
  const lab = useTheLab();
  controllers = lab.hosts.filter((h) => h.role === 'controller');
  client = lab.hosts.find((h) => h.role === 'client')!;
  vip = lab.vip.split('/')[0]!;
  clusterFile = lab.clusterFile;
  const res = await cli(['apply', '--known-hosts', lab.knownHosts, '-o', 'logfmt', lab.clusterFile], {
    timeoutMs: 240_000,
  });
  expect(res.code, res.stdout + res.stderr).toBe(0);
}, 300_000);

afterAll(() => {
  console.log(`[kubectl] file wall time ${((Date.now() - t0) / 1000).toFixed(1)} s`);
});

describe('kubectl through the VIP (plain lab)', () => {
  it('answers through a rolling apply (health-check settings) without a failed call', async () => {
    const lab = useTheLab();
    const doc = parse(await readFile(lab.clusterFile, 'utf8')) as {
      spec: { controlPlaneLoadBalancing: Record<string, unknown> };
    };
    doc.spec.controlPlaneLoadBalancing.healthCheck = { intervalSeconds: 2 };
    const file = `${lab.dir}/rolling.yaml`;
    await writeFile(file, stringify(doc));
    clusterFile = file;
    const s = await underClients('rolling apply', () =>
      cli(['apply', '--known-hosts', lab.knownHosts, '-o', 'logfmt', file], { timeoutMs: 240_000 }),
    );
    expect(s.out.code, s.out.stdout + s.out.stderr).toBe(0);
    expect(s.out.stdout).toMatch(/rollout: rolling/);
    expect(s.calls).toBeGreaterThan(3);
    expect(s.failed).toBe(0);
  }, 120_000);

  it('answers again after a verify --failover crash round, whose JSON and events carry both samplers', async () => {
    const lab = useTheLab();
    const s = await underClients(
      'verify --failover crash round',
      () =>
      cli(['verify', '--known-hosts', lab.knownHosts, '-o', 'json', '--failover', '--mode', 'crash', '--rounds', '1', clusterFile], {
        timeoutMs: 240_000,
      }), // prettier-ignore
    );
    const result = JSON.parse(s.out.stdout) as VerifyResult;
    const why = {
      checks: result.checks.filter((c) => !c.ok),
      problems: result.failover?.rounds[0]?.problems,
    };
    expect(s.out.code, JSON.stringify(why)).toBe(0);
    const round = result.failover!.rounds[0]!;
    expect(round.disruption?.map((d) => d.sampler)).toEqual(['new-connections', 'reused-connection']);
    for (const d of round.disruption!) console.log(`[kubectl] verify's own round: ${describeDisruption(d)}`);
    const line = s.out.stderr.split('\n').find((l) => l.includes('"round":1'));
    expect(JSON.parse(line!).data).toMatchObject({
      disruptionNewSeconds: round.disruption![0]!.disruptionSeconds,
      disruptionReusedSeconds: round.disruption![1]!.disruptionSeconds,
    });
    expect(s.lastOk).toBe(true);
  }, 180_000);

  it('answers again after the holder host crashes', async () => {
    const [holder] = await vipHolders(LAB, controllers, vip);
    const s = await underClients('crash of the holder', () =>
      labFault(LAB, holder, 'crash').then(() => sleep(6000)),
    );
    expect(s.lastOk).toBe(true);
    expect(s.disruption.map((d) => d.requests > 0)).toEqual([true, true]);
  }, 120_000);
});

/**
 * A real TLS server with long-lived HTTP/2 (gRPC) streams behind the VIP, on the plain lab: a
 * three-member etcd cluster on the controllers (the stand-in stopped), fronted by cplbctl with
 * `apiServerPort: 2379` and `healthCheck.path: /health`. `etcdctl put` in a loop and an `etcdctl
 * watch` run through the VIP from the client host while the holder crashes, which takes its etcd
 * member with it. No acknowledged write may be missing afterwards, and the watch must have seen every
 * revision; the longest write gap and both disruption samplers' figures are printed.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { labExec, labFault, type LabHost } from '../../src/lab/index.js';
import { describeDisruption } from '../../src/verify/disruption.js';
import type { VerifyResult } from '../../src/verify/verify-report.js';
import { startBothSamplers } from '../../src/verify/disruption-sampler.js';
import { agentStatus } from './apply-probes.js';
import { cli, useLab } from './apply-support.js';
import {
  CLIENT_PORT,
  etcdctl,
  etcdctlFlags,
  installPki,
  longestGapMs,
  makePki,
  parseWrites,
  revisionGaps,
  startMember,
  stopMembers,
  stopStandin,
  STOP_FILE,
  watchedRevisions,
  watchScript,
  writerScript,
} from './etcd-support.js';
import { pollUntil, vipHolders } from './lab-helpers.js';

const LAB = 't-etcd';
const useTheLab = useLab(LAB);
const started: number[] = [];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const t0 = Date.now();

let members: LabHost[];
let client: LabHost;
let vip: string;

beforeAll(async () => {
  const lab = useTheLab();
  members = lab.hosts.filter((h) => h.role === 'controller');
  client = lab.hosts.find((h) => h.role === 'client')!;
  vip = lab.vip.split('/')[0]!;
  await installPki(LAB, await makePki(members, vip), lab.hosts);
  for (const m of members) await stopStandin(LAB, m.name);
  for (const m of members) started.push(await startMember(LAB, m, members));
  await pollUntil(
    'a healthy etcd cluster',
    30_000,
    () =>
      etcdctl(LAB, client.name, members[0]!.address, 'endpoint health --cluster').catch(
        (e: Error) => e.message,
      ),
    (out) => (out.match(/is healthy/g) ?? []).length === 3,
  );
  const doc = parse(await readFile(lab.clusterFile, 'utf8')) as {
    spec: { controlPlaneLoadBalancing: Record<string, unknown> };
  };
  Object.assign(doc.spec.controlPlaneLoadBalancing, {
    apiServerPort: CLIENT_PORT,
    healthCheck: { path: '/health' },
  });
  const file = `${lab.dir}/etcd.yaml`;
  await writeFile(file, stringify(doc));
  const res = await cli(['apply', '--known-hosts', lab.knownHosts, '-o', 'logfmt', file], {
    timeoutMs: 240_000,
  });
  expect(res.code, res.stdout + res.stderr).toBe(0);
}, 300_000);

afterAll(async () => {
  await stopMembers(started);
  console.log(`[etcd] file wall time ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}, 30_000);

describe('etcd behind the VIP (plain lab)', () => {
  it('the agents check etcd itself: every member healthy by /health over TLS, and etcdctl is served through the VIP', async () => {
    const out = await etcdctl(LAB, client.name, vip, 'endpoint health');
    expect(out).toContain(`https://${vip}:${CLIENT_PORT} is healthy`);
    for (const m of members) {
      // Nothing else answers: the stand-in is gone from every controller.
      expect((await labExec(LAB, m.name, ['ss', '-Hltn', 'sport = :6443'])).stdout).toBe('');
      const { proxy } = await agentStatus(LAB, m.name);
      expect(proxy.upstreams.map((u) => [u.port, u.health, u.note])).toEqual(
        Array(3).fill([2379, 'healthy', undefined]),
      );
    }
  }, 60_000);

  it('verify --failover (crash) passes against etcd, its samplers asking etcd for /health', async () => {
    const res = await cli(
      ['verify', '--known-hosts', useTheLab().knownHosts, '-o', 'json', '--failover', '--mode', 'crash', '--rounds', '1', `${useTheLab().dir}/etcd.yaml`],
      { timeoutMs: 240_000 },
    ); // prettier-ignore
    const result = JSON.parse(res.stdout) as VerifyResult;
    const why = {
      checks: result.checks.filter((c) => !c.ok),
      problems: result.failover?.rounds[0]?.problems,
    };
    expect(res.code, JSON.stringify(why)).toBe(0);
    const figures = result.failover!.rounds[0]!.disruption!;
    for (const d of figures) console.log(`[etcd] verify --failover crash round: ${describeDisruption(d)}`);
    expect(figures.map((d) => d.sampler)).toEqual(['new-connections', 'reused-connection']);
  }, 120_000);

  it('puts and a watch through the VIP across a crash of the holder (and its member): no acknowledged write lost, no revision missed', async () => {
    const [holder] = await vipHolders(LAB, members, vip);
    expect(holder).toBeDefined();
    const survivor = members.find((m) => m.name !== holder)!;
    const samplers = startBothSamplers({ host: vip, port: CLIENT_PORT, path: '/health' });
    const watch = labExec(LAB, client.name, ['sh', '-c', watchScript(vip)]);
    await sleep(500);
    const writer = labExec(LAB, client.name, ['sh', '-c', writerScript(vip)]);
    await sleep(3000);
    const crashAt = Date.now();
    await labFault(LAB, holder, 'crash');
    await sleep(8000);
    await labExec(LAB, client.name, ['touch', STOP_FILE]);
    const [w, wt] = await Promise.all([writer, watch]);
    const figures = await samplers.stop();

    const writes = parseWrites(w.stdout);
    const acked = writes.filter((x) => x.acked);
    const after = acked.filter((x) => x.startMs > crashAt);
    const stored = new Set(
      (await etcdctl(LAB, client.name, survivor.address, 'get --prefix k/ --keys-only'))
        .split('\n')
        .filter((l) => l.startsWith('k/')),
    );
    const missing = acked.map((x) => `k/${String(x.i).padStart(6, '0')}`).filter((k) => !stored.has(k));
    const revs = watchedRevisions(wt.stdout);
    const unseen = acked.filter((x) => x.revision !== undefined && !revs.includes(x.revision));
    const gap = longestGapMs(writes);
    console.log(
      `[etcd] crash of ${holder}: ${acked.length} of ${writes.length} puts acknowledged (${after.length} after the crash), longest write gap ${(gap / 1000).toFixed(2)} s, watch saw ${revs.length} revisions, ${revisionGaps(revs).length} missing`,
    );
    for (const d of figures) console.log(`[etcd] disruption, crash of the holder: ${describeDisruption(d)}`);

    expect(after.length, w.stdout.slice(-2000)).toBeGreaterThan(0);
    expect(missing).toEqual([]);
    expect(revisionGaps(revs)).toEqual([]);
    expect(unseen.map((x) => x.revision)).toEqual([]);
    // Every acknowledged put's revision is one the watch saw, from the first to the last.
    expect(Math.max(...revs)).toBeGreaterThanOrEqual(Math.max(...acked.map((x) => x.revision ?? 0)));
    expect(figures.map((d) => d.requests > 0)).toEqual([true, true]);
    // The crash took the holder's member with it: two of three members serve the cluster.
    const lost = members.find((m) => m.name === holder)!;
    const health = await labExec(LAB, client.name, [
      'sh',
      '-c',
      `ETCDCTL_API=3 etcdctl ${etcdctlFlags(survivor.address)} endpoint health --cluster 2>&1`,
    ]);
    expect(health.stdout).toContain(`https://${lost.address}:${CLIENT_PORT} is unhealthy`);
    expect(health.stdout.match(/ is healthy/g)).toHaveLength(2);
  }, 120_000);
});

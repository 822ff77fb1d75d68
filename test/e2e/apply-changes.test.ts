/**
 * Config changes under client load, on the plain lab: for each kind of change, a new TLS connection
 * through the VIP every 100 ms must all succeed and every 100 ms sample of the hosts' addresses must
 * show exactly one holder, while apply stages, switches and reloads in the rollout it names. And a
 * write that fails on one host leaves every host on the configuration it had.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { labDown, labHosts, labUp, type LabHost, type LabInfo } from '../../src/lab/index.js';
import { agentStatus, pinAgentBuild, sh } from './apply-probes.js';
import { cli, type CliResult } from './apply-support.js';
import { clientLoad, holderSampler, holdersOf, type HolderReport, type LoadReport } from './under-load.js';

const NAME = 't-change';
const SECOND_VIP = (vip: string) => vip.replace(/\.100\//, '.101/');

interface Cplb {
  keepalived: { vrrpInstances: Record<string, unknown>[]; userSpaceProxyBindPort?: number };
  healthCheck?: Record<string, unknown>;
}

describe('config changes under client load (plain)', () => {
  let lab: LabInfo;
  let controllers: LabHost[];
  let agentDir: string;
  let doc: { spec: { controlPlaneLoadBalancing: Cplb } };
  const figures: Record<string, string> = {};

  const applyFile = async (file: string): Promise<CliResult> =>
    cli(['apply', '--known-hosts', lab.knownHosts, '-o', 'logfmt', file], {
      env: { CPLBCTL_AGENT_DIR: agentDir },
    });

  /** Edits the cluster file, applies it under load, and returns what the clients and samples saw. */
  const changeUnderLoad = async (
    what: string,
    edit: (c: Cplb) => void,
    secondVip = false,
    allowed?: (holders: number) => boolean,
  ) => {
    edit(doc.spec.controlPlaneLoadBalancing);
    const file = `${lab.dir}/changed.yaml`;
    await writeFile(file, stringify(doc));
    const vip = lab.vip.split('/')[0]!;
    const load = clientLoad(vip);
    const holders = holderSampler(controllers, lab.vip, { allowed });
    const second = secondVip
      ? holderSampler(controllers, SECOND_VIP(lab.vip), { allowed: (n) => n <= 1 })
      : undefined;
    const t0 = Date.now();
    const res = await applyFile(file);
    const ms = Date.now() - t0;
    // Clients and samples go on a while after apply returns: a reload still settling shows here.
    await new Promise((r) => setTimeout(r, 2000));
    const [l, h, s] = await Promise.all([load.stop(), holders.stop(), second?.stop()]);
    const fig = `apply ${ms} ms, ${l.attempts - l.failures.length}/${l.attempts} connections served, ${h.single}/${h.samples} samples with one holder${s ? `, second VIP ${s.samples - s.bad.length}/${s.samples} samples with at most one` : ''}`;
    figures[what] = fig;
    console.log(`[plain] ${what}: ${fig}`);
    return { res, load: l, holders: h, second: s };
  };

  const expectServedThroughout = (r: { res: CliResult; load: LoadReport; holders: HolderReport }) => {
    expect(r.res.code, r.res.stdout + r.res.stderr).toBe(0);
    expect(r.load.failures, JSON.stringify(r.load.failures)).toEqual([]);
    expect(r.holders.bad, JSON.stringify(r.holders.bad)).toEqual([]);
    expect(r.load.attempts).toBeGreaterThan(10);
  };
  const rolloutLine = (res: CliResult) => /rollout: (together|rolling)/.exec(res.stdout)?.[1];
  const onEveryHost = (script: string) => Promise.all(controllers.map((h) => sh(NAME, h.name, script)));

  beforeAll(async () => {
    await labDown(NAME);
    agentDir = await pinAgentBuild();
    lab = await labUp({ name: NAME, flavor: 'plain', hosts: 3 });
    controllers = (await labHosts(NAME)).filter((h) => h.role === 'controller');
    doc = parse(await readFile(lab.clusterFile, 'utf8')) as typeof doc;
    const res = await applyFile(lab.clusterFile);
    expect(res.code, res.stdout + res.stderr).toBe(0);
  }, 240_000);

  afterAll(async () => {
    console.log(`[plain] change figures: ${JSON.stringify(figures)}`);
    await labDown(NAME);
  }, 60_000);

  it('moves the proxy port host by host: no failed connection, one holder in every sample', async () => {
    const r = await changeUnderLoad('proxy port', (c) => (c.keepalived.userSpaceProxyBindPort = 7444));
    expectServedThroughout(r);
    expect(rolloutLine(r.res)).toBe('rolling');
    for (const nat of await onEveryHost('iptables-save -t nat')) expect(nat).toContain('--to-ports 7444');
    for (const h of controllers) expect((await agentStatus(NAME, h.name)).proxy.bindPort).toBe(7444);
  }, 120_000);

  it('changes health-check settings host by host, with the same guarantees', async () => {
    const r = await changeUnderLoad('health checks', (c) => (c.healthCheck = { intervalSeconds: 2 }));
    expectServedThroughout(r);
    expect(rolloutLine(r.res)).toBe('rolling');
    for (const json of await onEveryHost('cat /etc/cplb/agent.json'))
      expect(JSON.parse(json).proxy.healthCheck.intervalMs).toBe(2000);
  }, 120_000);

  it('adds a VIP host by host: the first keeps one holder, the new one never has two and ends with one', async () => {
    const r = await changeUnderLoad(
      'added VIP',
      (c) => c.keepalived.vrrpInstances.push({ virtualIPs: [SECOND_VIP(lab.vip)], authPass: 'second' }),
      true,
    );
    expectServedThroughout(r);
    expect(rolloutLine(r.res)).toBe('rolling');
    expect(r.second!.bad, JSON.stringify(r.second!.bad)).toEqual([]);
    expect(await holdersOf(controllers, SECOND_VIP(lab.vip))).toHaveLength(1);
  }, 120_000);

  it('changes authPass on every host at once: the holder keeps the VIP, no failed connection', async () => {
    const r = await changeUnderLoad(
      'authPass',
      (c) => (c.keepalived.vrrpInstances[0]!.authPass = 'new-pass'),
    );
    expectServedThroughout(r);
    expect(rolloutLine(r.res)).toBe('together');
    expect(r.res.stdout).not.toContain('new-pass');
    for (const conf of await onEveryHost('cat /etc/cplb/keepalived.conf'))
      expect(conf).toContain('auth_pass new-pass');
  }, 120_000);

  it('changes virtualRouterID on every host at once: never two holders, one at the end, no failed connection', async () => {
    // keepalived takes a new router ID for a new router and elects afresh: a window without a holder
    // (at most one master-down interval) is VRRP's, and the plan says so. Two holders never.
    const r = await changeUnderLoad(
      'virtualRouterID',
      (c) => (c.keepalived.vrrpInstances[0]!.virtualRouterID = 61),
      false,
      (n) => n <= 1,
    );
    expect(r.res.code, r.res.stdout + r.res.stderr).toBe(0);
    expect(r.load.failures, JSON.stringify(r.load.failures)).toEqual([]);
    expect(r.holders.bad, JSON.stringify(r.holders.bad)).toEqual([]);
    expect(r.holders.last).toHaveLength(1);
    expect(r.res.stdout).toContain('elects the VIP afresh');
    const gaps = r.holders.empty;
    console.log(
      `[plain] virtualRouterID: no holder in ${gaps.length} samples, ${gaps.length ? gaps[gaps.length - 1]! - gaps[0]! : 0} ms from first to last`,
    );
    expect(rolloutLine(r.res)).toBe('together');
    for (const conf of await onEveryHost('cat /etc/cplb/keepalived.conf'))
      expect(conf).toContain('virtual_router_id 61');
  }, 120_000);

  it('leaves every host on its old configuration when a write fails on the third, one holder throughout', async () => {
    const third = controllers[2]!;
    const fingerprint = 'sha256sum /etc/cplb/keepalived.conf /etc/cplb/agent.json';
    const before = await onEveryHost(fingerprint);
    const hashes = await Promise.all(
      controllers.map(async (h) => (await agentStatus(NAME, h.name)).agent.configHash),
    );
    // A read-only /etc/cplb on the third host only (its own mount namespace): the write fails there.
    await sh(NAME, third.name, 'mount --bind /etc/cplb /etc/cplb && mount -o remount,bind,ro /etc/cplb');
    try {
      const r = await changeUnderLoad('failed write on the third host', (c) => {
        c.keepalived.vrrpInstances[0]!.authPass = 'never';
        c.keepalived.userSpaceProxyBindPort = 8444;
      });
      expect(r.res.code, r.res.stdout + r.res.stderr).toBe(1);
      expect(r.res.stdout + r.res.stderr).toContain(`${third.address}:${third.sshPort}`);
      expect(r.load.failures).toEqual([]);
      expect(r.holders.bad).toEqual([]);
    } finally {
      await sh(NAME, third.name, 'umount /etc/cplb');
    }
    expect(await onEveryHost(fingerprint)).toEqual(before);
    expect(
      await Promise.all(controllers.map(async (h) => (await agentStatus(NAME, h.name)).agent.configHash)),
    ).toEqual(hashes);
    // Nothing staged is left behind where the run could clean up.
    for (const h of controllers.slice(0, 2))
      expect(
        await sh(NAME, h.name, 'ls -a /etc/cplb /usr/local/lib/cplb | grep -c cplb-staged || true'),
      ).toBe('0\n');
  }, 120_000);
});

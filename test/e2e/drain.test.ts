/**
 * `cplbctl drain` and `uncordon` on the plain lab, under client load (a new TLS connection through the
 * VIP every 100 ms, the holders sampled every 100 ms from the hosts' own addresses): the holder is
 * drained with no failed connection; the drain survives an agent restart and a re-apply; the new
 * holder's crash sends the VIP to the third host and never to the drained one; uncordoned, the host
 * takes nothing back; once it is the only host left it takes the VIP; and draining it then is
 * refused, changing nothing, unless --force. One lab, the tests in order.
 */
import { rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { labDown, labFault, labHosts, labUp, type LabHost, type LabInfo } from '../../src/lab/index.js';
import type { ClusterReport } from '../../src/verify/host-report.js';
import { agentStatus, hostFingerprint, markHost, pidsOf, pinAgentBuild, sh } from './apply-probes.js';
import { applyArgs, cli } from './apply-support.js';
import { clientLoad, holderSampler, holdersOf, straddlesMove } from './under-load.js';
import { holds, parseMonitor, startMonitor } from '../../bench/vip-timeline.js';

const NAME = 't-drain';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface DrainResult {
  type: 'drain-result';
  host: string;
  changed: boolean;
  handOffMs?: number;
  vips: { vip: string; holders: string[] }[];
}

describe('drain and uncordon under client load (plain)', () => {
  let lab: LabInfo;
  let controllers: LabHost[];
  let agentDir: string;
  const live = new Set<string>();
  const figures: Record<string, string | number> = {};
  const startedAt = Date.now();
  // Roles, by lab host name: the first holder (drained), the host it hands to, and the third one.
  let drained: string;
  let next: string;
  let third: string;
  /** Samples of the holders taken after the drain: one that shows the drained host fails the file. */
  const drainedHeld: { at: number; holders: string[] }[] = [];
  let watching = false;
  let watcher: Promise<void> | undefined;

  const host = (n: string) => controllers.find((h) => h.name === n)!;
  const nameOf = (n: string) => `${host(n).address}:${host(n).sshPort}`;
  const liveHolders = () =>
    holdersOf(
      controllers.filter((h) => live.has(h.name)),
      lab.vip,
    );
  const run = (args: string[], env: NodeJS.ProcessEnv = {}) =>
    cli([...args, '--known-hosts', lab.knownHosts, '--connect-timeout', '2'], {
      timeoutMs: 180_000,
      env: { CPLBCTL_AGENT_DIR: agentDir, ...env },
    });
  const drainResult = (stdout: string): DrainResult =>
    JSON.parse(stdout.split('\n').find((l) => l.startsWith('{"type":"drain-result"'))!) as DrainResult;
  const waitFor = async (what: string, ok: (h: string[]) => boolean, t0: number, timeoutMs = 20_000) => {
    for (;;) {
      const h = await liveHolders();
      if (ok(h)) return { ms: Date.now() - t0, holders: h };
      if (Date.now() - t0 > timeoutMs) throw new Error(`${what}: after ${timeoutMs} ms the holders are [${h.join(', ')}]`);
      await sleep(50);
    }
  }; // prettier-ignore
  /** A power loss: every process gone and the cable with them (a dead host answers no ARP). */
  const crash = async (n: string) => {
    live.delete(n);
    await labFault(NAME, n, 'crash');
    await labFault(NAME, n, 'link-down');
  };

  beforeAll(async () => {
    await labDown(NAME);
    agentDir = await pinAgentBuild();
    lab = await labUp({ name: NAME, flavor: 'plain', hosts: 3 });
    controllers = (await labHosts(NAME)).filter((h) => h.role === 'controller');
    for (const h of controllers) live.add(h.name);
    const res = await cli(applyArgs(lab), { env: { CPLBCTL_AGENT_DIR: agentDir } });
    expect(res.code, res.stdout + res.stderr).toBe(0);
    drained = (await waitFor('one holder after apply', (h) => h.length === 1, Date.now())).holders[0]!;
  }, 240_000);

  afterAll(async () => {
    watching = false;
    await watcher;
    figures['file wall time s'] = Math.round((Date.now() - startedAt) / 1000);
    console.log(`[drain] figures: ${JSON.stringify(figures)}`);
    await labDown(NAME);
    if (agentDir) await rm(agentDir, { recursive: true, force: true });
  }, 60_000);

  it('an unknown HOST is exit 2, naming what it was matched against', async () => {
    const res = await run(['drain', 'no-such-host', lab.clusterFile]);
    expect(res.code, res.stderr).toBe(2);
    expect(res.stderr).toMatch(/no-such-host is no controller of the cluster file: matched against/);
    expect(res.stderr).toContain(`${nameOf(drained)} / ${drained}`);
  });

  it('drains the holder (by address) under load: 0 failed connections, the VIP moves, status and verify show it', async () => {
    const vip = lab.vip.split('/')[0]!;
    const load = clientLoad(vip);
    await sleep(1000);
    // Make-before-break: another host preempts the drained one before its marker, so every sample
    // sees one holder.
    const monitors = controllers.map((h) => ({ host: h.name, m: startMonitor(h.netns) }));
    await sleep(300); // the monitors are listening
    const sampler = holderSampler(controllers, lab.vip);
    const t0 = Date.now();
    const moved = waitFor('the VIP off the drained host', (h) => h.length === 1 && h[0] !== drained, t0, 60_000);
    const res = await run(['drain', host(drained).address, '-o', 'json', lab.clusterFile]);
    const { ms, holders } = await moved;
    await sleep(2000);
    const [l, s] = await Promise.all([load.stop(), sampler.stop()]);
    for (const { m } of monitors) m.stop();
    const events = monitors.flatMap(({ host, m }) => parseMonitor(host, m.text(), vip));
    const timeline = holds([{ host: drained, ms: t0 - 1, kind: 'add' as const }, ...events], Date.now());
    expect(res.code, res.stdout + res.stderr).toBe(0);
    const out = drainResult(res.stdout);
    expect(out).toMatchObject({ host: nameOf(drained), changed: true });
    next = holders[0]!;
    third = controllers.map((h) => h.name).find((n) => n !== drained && n !== next)!;
    expect(out.vips[0]!.holders).toEqual([nameOf(next)]);
    figures['drain: failed connections'] = `${l.failures.length}/${l.attempts}`;
    figures['drain: command start -> new holder ms'] = ms;
    figures['drain: hand-off start -> done ms (drain-result)'] = out.handOffMs ?? -1;
    figures['drain: holder samples'] = `${s.single}/${s.samples} with one (${s.empty.length} none, ${s.bad.length - s.empty.length} two)`;
    figures['drain: command ms'] = Date.now() - t0 - 2000;
    console.log(`[drain] drained ${drained}: ${l.failures.length}/${l.attempts} connections failed, new holder ${next} ${ms} ms after the command started (hand-off ${out.handOffMs} ms), ${s.single}/${s.samples} samples with one holder`);
    expect(l.failures, JSON.stringify(l.failures)).toEqual([]);
    // One holder in every sample, but for one whose reads straddled the move (see straddlesMove);
    // the monitors show the next holder had the VIP before the drained one let it go.
    expect(s.bad.filter((b) => !straddlesMove(b, events.map((e) => e.ms))), JSON.stringify(s.bad)).toEqual([]);
    const [was, now] = [timeline.find((h) => h.host === drained)!, timeline.find((h) => h.host === next)!];
    figures['drain: VIP on both hosts ms (ip monitor)'] = Math.round((was.endMs - now.startMs) * 10) / 10;
    expect(now.startMs).toBeLessThan(was.endMs + 50);
    expect(res.stderr + res.stdout).toMatch(/handed [\d.]+ \(k0s-vip-0\) to \S+ \(make-before-break\)/);
    expect(l.attempts).toBeGreaterThan(20);

    // From here on, a sample that shows the drained host holding the VIP fails the file.
    watching = true;
    watcher = (async () => {
      while (watching) {
        const h = await liveHolders();
        if (h.includes(drained)) drainedHeld.push({ at: Date.now(), holders: h });
        await sleep(100);
      }
    })();

    const status = await run(['status', '-o', 'json', lab.clusterFile]);
    expect(status.code, status.stderr).toBe(0);
    const report = JSON.parse(status.stdout) as ClusterReport;
    expect(report.hosts.find((h) => h.host === nameOf(drained))).toMatchObject({ drained: true, agent: { drained: true } });
    expect(report.hosts.filter((h) => h.drained)).toHaveLength(1);
    const text = await run(['status', lab.clusterFile]);
    expect(text.stdout).toContain(`[${nameOf(drained)}] drained: holds no VIP until \`cplbctl uncordon\``);
    const verify = await run(['verify', lab.clusterFile]);
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
    expect(verify.stdout).toContain(`drained: ${nameOf(drained)}`);
  }, 240_000); // prettier-ignore

  it('drain again changes nothing (idempotent), named by its hostname', async () => {
    const res = await run(['drain', drained, '-o', 'json', lab.clusterFile]);
    expect(res.code, res.stdout + res.stderr).toBe(0);
    expect(drainResult(res.stdout)).toMatchObject({ host: nameOf(drained), changed: false });
    expect(await liveHolders()).toEqual([next]);
  }, 120_000);

  it('stays drained across an agent restart, a re-apply and a reboot', async () => {
    await sh(NAME, drained, '/usr/local/lib/cplb/cplb-agent-ctl restart >/dev/null');
    await sleep(4000);
    expect((await agentStatus(NAME, drained)).health).toMatchObject({ ok: false, drained: true });
    const res = await cli(applyArgs(lab), { env: { CPLBCTL_AGENT_DIR: agentDir } });
    expect(res.code, res.stdout + res.stderr).toBe(0);
    await sleep(3000);
    expect(await sh(NAME, drained, 'cat /etc/cplb/drained')).toMatch(/^\d{4}-/);
    expect((await agentStatus(NAME, drained)).health).toMatchObject({ ok: false, drained: true });
    expect(await liveHolders()).toEqual([next]);
    // A reboot: the host goes down and boots again with its disk. A plain host has no init, so the
    // agent comes back with the next apply, and it comes back drained.
    await labFault(NAME, drained, 'crash');
    await labUp({ name: NAME, flavor: 'plain', hosts: 3 });
    const again = await cli(applyArgs(lab), { env: { CPLBCTL_AGENT_DIR: agentDir } });
    expect(again.code, again.stdout + again.stderr).toBe(0);
    expect(again.stdout).toContain(`[ssh] ${nameOf(drained)}: started cplb-agent`);
    await sleep(3000);
    expect((await agentStatus(NAME, drained)).health).toMatchObject({ ok: false, drained: true });
    expect(await liveHolders()).toEqual([next]);
    expect(drainedHeld).toEqual([]);
  }, 300_000);

  it('the new holder crashes under load: the VIP goes to the third host, never to the drained one', async () => {
    const load = clientLoad(lab.vip.split('/')[0]!);
    await sleep(1000);
    const t0 = Date.now();
    await crash(next);
    const { ms } = await waitFor('the third host to take the VIP', (h) => h.length === 1 && h[0] === third, t0);
    await sleep(3000);
    const l = await load.stop();
    figures['crash of the new holder: VIP on the third host ms'] = ms;
    figures['crash of the new holder: failed connections'] = `${l.failures.length}/${l.attempts}`;
    console.log(`[drain] crashed ${next}: ${third} holds the VIP after ${ms} ms, ${l.failures.length}/${l.attempts} connections failed meanwhile`);
    expect(await liveHolders()).toEqual([third]);
    expect(drainedHeld).toEqual([]);
  }, 120_000); // prettier-ignore

  it('uncordon (by hostname): the host takes no VIP back from the healthy holder; again changes nothing', async () => {
    const res = await run(['uncordon', drained, '-o', 'json', lab.clusterFile]);
    expect(res.code, res.stdout + res.stderr).toBe(0);
    expect(drainResult(res.stdout)).toMatchObject({ host: nameOf(drained), changed: true });
    watching = false;
    await watcher;
    expect(drainedHeld).toEqual([]);
    await sleep(4000);
    expect(await liveHolders()).toEqual([third]);
    expect((await agentStatus(NAME, drained)).health).toMatchObject({ ok: true });
    const again = await run(['uncordon', drained, '-o', 'json', lab.clusterFile]);
    expect(again.code, again.stderr).toBe(0);
    expect(drainResult(again.stdout)).toMatchObject({ changed: false });
  }, 180_000);

  it('with only the uncordoned host left, it takes the VIP', async () => {
    const t0 = Date.now();
    await crash(third);
    const { ms } = await waitFor('the uncordoned host to take the VIP', (h) => h.length === 1 && h[0] === drained, t0);
    figures['only the uncordoned host left: VIP on it ms'] = ms;
    console.log(`[drain] crashed ${third}: ${drained} (uncordoned) holds the VIP after ${ms} ms`);
  }, 60_000); // prettier-ignore

  it('refuses to drain the last host that could hold the VIP: exit 2, nothing on it changed', async () => {
    await markHost(NAME, drained);
    const before = await pidsOf(NAME, drained);
    const fp = await hostFingerprint(NAME, drained);
    await sleep(1100); // mtimes have one-second resolution on some filesystems
    const res = await run(['drain', host(drained).address, lab.clusterFile]);
    expect(res.code, res.stdout + res.stderr).toBe(2);
    expect(res.stderr).toContain(`${nameOf(drained)} is the last host that could hold the VIPs`);
    expect(res.stderr).toContain(`${nameOf(next)} unreachable`);
    const after = await hostFingerprint(NAME, drained);
    // The host lock's own files come and go with every run that takes it.
    expect(after.changed.filter((f) => !f.startsWith('/run/cplb-lock/'))).toEqual([]);
    expect(after.files).toBe(fp.files);
    expect(await pidsOf(NAME, drained)).toEqual(before);
    expect(await sh(NAME, drained, 'ls /etc/cplb')).not.toContain('drained');
    expect(await liveHolders()).toEqual([drained]);
  }, 120_000);

  it('--force drains the last host anyway: then no host holds the VIP', async () => {
    const res = await run(['drain', host(drained).address, '--force', '-o', 'json', lab.clusterFile]);
    expect(res.code, res.stdout + res.stderr).toBe(0);
    expect(res.stdout).toContain('draining anyway (--force)');
    expect(drainResult(res.stdout)).toMatchObject({ changed: true, vips: [{ holders: [] }] });
    expect(await liveHolders()).toEqual([]);
  }, 120_000);
});

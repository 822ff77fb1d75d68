/**
 * The lab's behaviour, proven on real namespaces, sshd, keepalived and TLS: shared by the plain and the
 * systemd flavor's test files.
 */
import { execFile } from 'node:child_process';
import { access, readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { CplbError } from '../../src/core/errors.js';
import {
  type LabFlavor,
  type LabHost,
  type LabInfo,
  labDown,
  labExec,
  labFault,
  labHosts,
  labStatus,
  labUp,
} from '../../src/lab/index.js';
import { tcpOpen } from '../../src/lab/probe.js';
import { pidsInNetns } from '../../src/lab/procs.js';
import { readState } from '../../src/lab/state.js';
import {
  type MachineSnapshot,
  httpsGet,
  peerCertificate,
  pollUntil,
  snapshotMachine,
  ssh,
  startKeepalived,
  vipHolders,
} from './lab-helpers.js';

const execFileAsync = promisify(execFile);

export interface SuiteOptions {
  name: string;
  flavor: LabFlavor;
  /** What `lab up` of 3 hosts may take (the rootfs is cached before timing). */
  upBudgetMs: number;
  prepare?: () => Promise<void>;
}

export function defineLabSuite(opts: SuiteOptions): void {
  const { name, flavor } = opts;

  describe(`lab (${flavor})`, () => {
    let before: MachineSnapshot;
    let info: LabInfo;
    let hosts: LabHost[];
    let upMs = 0;
    const controllers = () => hosts.filter((h) => h.role === 'controller');
    const host = (n: string) => hosts.find((h) => h.name === n) as LabHost;

    beforeAll(async () => {
      await labDown(name); // a lab left by an interrupted run
      await opts.prepare?.();
      before = await snapshotMachine();
      const started = Date.now();
      info = await labUp({ name, flavor, hosts: 3 });
      upMs = Date.now() - started;
      hosts = await labHosts(name);
    });

    afterAll(async () => {
      await labDown(name);
    });

    it(`comes up fast (3 hosts + client)`, () => {
      expect(info.created).toBe(true);
      expect(upMs).toBeLessThan(opts.upBudgetMs);
      expect(hosts.map((h) => h.name)).toEqual(['c1', 'c2', 'c3', 'client']);
      for (const h of hosts) expect(h.netns.startsWith('cplb-')).toBe(true);
    });

    it('up twice keeps the same lab', async () => {
      // Without --flavor an existing lab keeps its own.
      const again = await labUp({ name });
      expect(again.created).toBe(false);
      expect(again.flavor).toBe(flavor);
      expect(again.hosts.map((h) => [h.name, h.hostKeyFingerprint, h.pid])).toEqual(
        info.hosts.map((h) => [h.name, h.hostKeyFingerprint, h.pid]),
      );
    });

    it('writes the cluster file in the native format with real host key fingerprints', async () => {
      const doc = parseYaml(await readFile(info.clusterFile, 'utf8'));
      expect(doc.apiVersion).toBe('cplbctl/v1beta1');
      expect(doc.kind).toBe('Cluster');
      expect(doc.spec.controlPlaneLoadBalancing).toEqual({
        enabled: true,
        type: 'Keepalived',
        keepalived: { vrrpInstances: [{ virtualIPs: [info.vip], authPass: 'lab-pass' }] },
      });
      expect(doc.spec.hosts).toHaveLength(3);
      for (const [i, entry] of (
        doc.spec.hosts as { role: string; ssh: Record<string, unknown> }[]
      ).entries()) {
        const h = controllers()[i] as LabHost;
        const pub = await labExec(name, h.name, ['cat', '/etc/ssh/ssh_host_ed25519_key.pub']);
        const { stdout } = await execFileAsync('sh', ['-c', `echo "$K" | ssh-keygen -lf -`], {
          env: { ...process.env, K: pub.stdout },
        });
        expect(entry).toEqual({
          role: 'controller',
          ssh: {
            address: h.address,
            port: h.sshPort,
            user: h.user,
            keyPath: info.keyPath,
            hostKey: stdout.split(' ')[1],
          },
        });
      }
      expect(host('c2').sshPort).toBe(2222);
      expect(host('c3').user).toBe('cplb');
      const knownHosts = await readFile(info.knownHosts, 'utf8');
      expect(knownHosts).toContain(`[${host('c2').address}]:2222 ssh-ed25519 `);
      expect(knownHosts).toContain(`\n${host('c3').address} ssh-ed25519 `);
    });

    it('ssh works on every host with host keys verified; c3 refuses root, cplb has sudo', async () => {
      const results = await Promise.all(hosts.map((h) => ssh(info, h, 'hostname; sudo -n id -u')));
      results.forEach((r, i) => {
        expect(r.stderr).not.toMatch(/warning|denied/i);
        expect(r.stdout.split('\n').slice(0, 2)).toEqual([hosts[i]?.name, '0']);
      });
      const root = await ssh(info, host('c3'), 'true', { user: 'root' });
      expect(root.code).toBe(255);
      expect(root.stderr).toMatch(/Permission denied/);
      // A known_hosts without the host must fail: the check is real.
      const strict = await ssh(info, host('c1'), 'true', { knownHosts: '/dev/null' });
      expect(strict.code).toBe(255);
      expect(strict.stderr).toMatch(/Host key verification failed/);
    });

    it.runIf(flavor === 'systemd')(
      'boots systemd with the stand-in as a unit and CAP_NET_ADMIN',
      async () => {
        for (const h of hosts) {
          const r = await labExec(name, h.name, [
            'sh',
            '-c',
            'cat /proc/1/comm; systemctl is-system-running --wait',
          ]);
          expect(r.stdout.split('\n').slice(0, 2)).toEqual([
            'systemd',
            expect.stringMatching(/^(running|degraded)$/),
          ]);
        }
        const unit = await labExec(name, 'c1', ['systemctl', 'is-active', 'cplb-lab-standin.service']);
        expect(unit.stdout.trim()).toBe('active');
        const caps = await labExec(name, 'c1', [
          'sh',
          '-c',
          'ip link add cplbcap type bridge && ip link del cplbcap',
        ]);
        expect(caps.code).toBe(0);
      },
    );

    it('has the default route on eth1, not on the first NIC, and fixed MACs', async () => {
      const c1 = host('c1');
      const r = await labExec(name, 'c1', ['ip', '-j', 'link', 'show']);
      const links = JSON.parse(r.stdout) as { ifname: string; ifindex: number; address: string }[];
      const eth0 = links.find((l) => l.ifname === 'eth0');
      const eth1 = links.find((l) => l.ifname === 'eth1');
      expect(eth0 && eth1 && eth0.ifindex < eth1.ifindex).toBe(true);
      expect(eth0?.address).toMatch(/^02:cb:[0-9a-f]{2}:00:00:01$/);
      expect(eth1?.address).toMatch(/^02:cb:[0-9a-f]{2}:01:00:01$/);
      const route = await labExec(name, 'c1', ['ip', '-j', 'route', 'show', 'default']);
      expect(JSON.parse(route.stdout)).toMatchObject([{ dev: 'eth1' }]);
      const addrs = await labExec(name, 'c1', ['ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0']);
      expect(addrs.stdout).toContain(c1.secondaryAddress);
    });

    it('keeps lab traffic on the machine: prefix unreachable, nothing forwards', async () => {
      const routes = (await execFileAsync('ip', ['route', 'show', 'exact', info.prefix])).stdout;
      expect(routes).toMatch(/^unreachable /m);
      const secondary = await execFileAsync('ip', ['route', 'get', host('c1').secondaryAddress]).catch(
        (e) => e,
      );
      expect(String(secondary.stderr ?? secondary.stdout)).toMatch(/unreachable|No route/i);
      const status = await labStatus(name);
      const bridge = `cplb-${name}-net`;
      const fwd = await execFileAsync('nsenter', [
        `--net=/run/netns/${bridge}`,
        'cat',
        '/proc/sys/net/ipv4/ip_forward',
      ]);
      expect(fwd.stdout.trim()).toBe('0');
      expect(status.prefix).toBe(info.prefix);
    });

    it('keeps each host’s files private (/etc, /usr/local, /run)', async () => {
      const paths = ['/etc/lab-private-test', '/usr/local/lab-private-test', '/run/lab-private-test'];
      const w = await labExec(name, 'c1', ['sh', '-c', paths.map((p) => `echo c1 > ${p}`).join('; ')]);
      expect(w.code).toBe(0);
      for (const p of paths) {
        expect((await labExec(name, 'c1', ['cat', p])).stdout).toBe('c1\n');
        expect((await labExec(name, 'c2', ['test', '-e', p])).code).toBe(1);
        await expect(access(p)).rejects.toThrow();
      }
      expect((await labExec(name, 'c2', ['hostname'])).stdout.trim()).toBe('c2');
    });

    it('runs stand-ins with distinct certificates naming each host', async () => {
      const certs = await Promise.all(controllers().map((h) => peerCertificate(h.address)));
      controllers().forEach((h, i) => {
        expect(certs[i]?.subjectCN).toBe(h.name);
        expect(certs[i]?.subjectAltName).toContain(`DNS:${h.name}`);
        expect(certs[i]?.subjectAltName).toContain(`IP Address:${h.address}`);
      });
      expect(new Set(certs.map((c) => c.fingerprint256)).size).toBe(3);
      for (const path of ['/healthz', '/readyz', '/livez'])
        expect((await httpsGet(host('c1').address, path)).status).toBe(200);
      const version = await httpsGet(host('c2').address, '/version');
      expect(JSON.parse(version.body)).toMatchObject({ major: '1', cplbLabHost: 'c2' });
    });

    it('apiserver-sick turns the health endpoints non-200 until apiserver-healthy', async () => {
      await labFault(name, 'c2', 'apiserver-sick');
      for (const path of ['/healthz', '/readyz', '/livez'])
        expect((await httpsGet(host('c2').address, path)).status).toBe(500);
      expect((await httpsGet(host('c1').address, '/readyz')).status).toBe(200);
      expect((await labStatus(name)).hosts.find((h) => h.name === 'c2')?.apiserver).toBe('sick');
      await labFault(name, 'c2', 'apiserver-healthy');
      expect((await httpsGet(host('c2').address, '/readyz')).status).toBe(200);
    });

    it('link-down makes a host unreachable; link-up brings it back', async () => {
      const c1 = host('c1');
      await labFault(name, 'c1', 'link-down');
      expect(await tcpOpen(c1.address, c1.sshPort, 1000)).toBe(false);
      const fromC2 = await labExec(name, 'c2', [
        'bash',
        '-c',
        `timeout 2 bash -c '</dev/tcp/${c1.address}/6443'`,
      ]);
      expect(fromC2.code).not.toBe(0);
      expect((await labStatus(name)).hosts.find((h) => h.name === 'c1')?.link).toBe('down');
      await labFault(name, 'c1', 'link-up');
      await pollUntil('c1 back', 5000, () => tcpOpen(c1.address, c1.sshPort, 500), Boolean);
      expect((await ssh(info, c1, 'hostname')).stdout.trim()).toBe('c1');
    });

    it('block-vrrp splits real keepalived into three masters; unblock-vrrp heals it', async () => {
      for (const h of controllers()) await startKeepalived(name, h.name, info.vip);
      const one = (v: string[]) => v.length === 1;
      await pollUntil('one VIP holder', 10_000, () => vipHolders(name, controllers(), info.vip), one);
      await labFault(name, undefined, 'block-vrrp');
      expect((await labStatus(name)).vrrpBlocked).toBe(true);
      await pollUntil(
        'split brain',
        10_000,
        () => vipHolders(name, controllers(), info.vip),
        (v) => v.length === 3,
      );
      await labFault(name, undefined, 'unblock-vrrp');
      await pollUntil('one VIP holder again', 10_000, () => vipHolders(name, controllers(), info.vip), one);
      expect((await labStatus(name)).vrrpBlocked).toBe(false);
    }, 40_000);

    it('crash kills a host; up boots it again with its disk and host key', async () => {
      const c2 = host('c2');
      await labExec(name, 'c2', ['sh', '-c', 'echo kept > /etc/lab-crash-test']);
      await labFault(name, 'c2', 'crash');
      expect(await tcpOpen(c2.address, c2.sshPort, 500)).toBe(false);
      expect((await labStatus(name)).hosts.find((h) => h.name === 'c2')?.running).toBe(false);
      const again = await labUp({ name, flavor });
      expect(again.created).toBe(false);
      const r = await ssh(info, c2, 'cat /etc/lab-crash-test');
      expect(r.stdout).toBe('kept\n');
      hosts = await labHosts(name);
    });

    it('refuses a prefix that overlaps the machine or another lab', async () => {
      const overlapMachine = labUp({ name: `${name}-x`, flavor, prefix: '192.0.2.0/23' });
      await expect(overlapMachine).rejects.toMatchObject({ code: 'LAB_PREFIX_OVERLAP', fault: 'usage' });
      const overlapLab = labUp({ name: `${name}-x`, flavor, prefix: info.prefix });
      await expect(overlapLab).rejects.toBeInstanceOf(CplbError);
      await expect(access(`/run/cplbctl/lab/${name}-x/state.json`)).rejects.toThrow();
    });

    it('down leaves the machine as it was', async () => {
      const netnsNames = hosts.map((h) => h.netns).concat(`cplb-${name}-net`);
      const labPids = [...(await pidsInNetns(netnsNames)).values()].flat();
      const state = await readState(name);
      const rootVeth = state?.layout.rootVeth as string;
      const labNet = (state?.layout.mainNet as string).replace(/\.0\/24$/, '.');
      expect(labPids.length).toBeGreaterThan(0);
      expect(await labDown(name)).toBe(true);
      const after = await snapshotMachine();
      const mine = (s: string) => s.includes(`cplb-${name}-`) || s.includes(`/run/cplbctl/lab/${name}`);
      expect(after.netns.filter(mine)).toEqual([]);
      expect(after.mounts.filter(mine)).toEqual([]);
      // Every route and link this lab added is gone, and none of the machine's own changed. (Other
      // labs, e.g. a developer's, may come and go meanwhile: they live in 198.18.0.0/15 on cplb* links.)
      // The IPv6 block too (its /48 unreachable and the /64 on the veth): both start with its /48's groups.
      const block6 = info.ipv6?.prefix.replace(/::\/48$/, ':');
      const ours = (r: string) =>
        r.includes(rootVeth) ||
        r.includes(` ${info.prefix}`) ||
        r.includes(labNet) ||
        (block6 !== undefined && r.includes(block6));
      expect(after.routes.filter(ours)).toEqual([]);
      const machines = (rs: string[]) => rs.filter((r) => !r.includes('198.18.') && !/ dev cplb/.test(r));
      expect(machines(after.routes)).toEqual(machines(before.routes));
      expect(after.links.filter((l) => l.startsWith(rootVeth))).toEqual([]);
      for (const pid of labPids) expect(after.processes.has(pid) && !before.processes.has(pid)).toBe(false);
      expect([...after.processes.values()].filter(mine)).toEqual([]);
      await expect(access(`/run/cplbctl/lab/${name}`)).rejects.toThrow();
      await expect(labHosts(name)).rejects.toMatchObject({ code: 'LAB_NOT_FOUND' });
    });
  });
}

import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { renderClusterFile, renderKnownHosts } from '../../src/lab/cluster-file.js';
import { renderSshdConfig, freeUid } from '../../src/lab/hostfiles.js';
import { fingerprintOf } from '../../src/lab/keys.js';
import { parsePrefix, planLayout, tryParseCidr, validateLabName } from '../../src/lab/layout.js';
import { type MachineNet, findConflicts, parseResolvConf, pickPrefix } from '../../src/lab/prefix.js';
import { debianMirrorFrom } from '../../src/lab/rootfs.js';

const cidr = (s: string) => tryParseCidr(s)!;
const machine = (routes: string[], addresses: string[] = [], nameservers: string[] = []): MachineNet => ({
  routes: routes.map((r) => ({ cidr: cidr(r), text: `route ${r}` })),
  addresses: addresses.map((a) => ({ cidr: cidr(a), text: `address ${a}` })),
  nameservers: nameservers.map((n) => ({ cidr: cidr(n), text: `nameserver ${n}` })),
});

describe('lab layout', () => {
  const layout = planLayout('lab', 'plain', parsePrefix('198.18.0.0/23'), 3);

  it('builds the realistic quirks into the hosts', () => {
    expect(layout.hosts.map((h) => [h.name, h.address, h.sshPort, h.user, h.role])).toEqual([
      ['c1', '198.18.0.11', 22, 'root', 'controller'],
      ['c2', '198.18.0.12', 2222, 'root', 'controller'],
      ['c3', '198.18.0.13', 22, 'cplb', 'controller'],
      ['client', '198.18.0.200', 22, 'root', 'client'],
    ]);
    expect(layout.vip).toBe('198.18.0.100/24');
    expect(layout.secondaryNet).toBe('198.18.1.0/24');
    expect(layout.hosts[0]?.secondaryAddress).toBe('198.18.1.11');
  });

  it('gives fixed, distinct MACs and short interface names', () => {
    const again = planLayout('lab', 'plain', parsePrefix('198.18.0.0/23'), 3);
    expect(again.hosts.map((h) => h.macs)).toEqual(layout.hosts.map((h) => h.macs));
    const macs = layout.hosts.flatMap((h) => h.macs);
    expect(new Set(macs).size).toBe(macs.length);
    for (const m of macs) expect(m).toMatch(/^02(:[0-9a-f]{2}){5}$/);
    const big = planLayout('a-long-lab-name-here', 'plain', parsePrefix('198.18.0.0/23'), 80);
    for (const n of [big.rootVeth, ...big.hosts.flatMap((h) => h.bridgePorts)])
      expect(n.length).toBeLessThanOrEqual(15);
    for (const h of big.hosts) expect(h.netns.startsWith('cplb-')).toBe(true);
  });

  it('rejects bad names, sizes and prefixes as usage errors', () => {
    expect(() => validateLabName('Bad_Name')).toThrow(/not valid/);
    expect(() => planLayout('lab', 'plain', parsePrefix('198.18.0.0/23'), 0)).toThrow(/--hosts/);
    expect(() => parsePrefix('198.18.0.0/24')).toThrow(/too small/);
    expect(() => parsePrefix('fd00::/64')).toThrow(/not an IPv4 CIDR/);
    expect(() => parsePrefix('127.0.0.0/8')).toThrow(/not a usable/);
  });
});

describe('lab prefix safety', () => {
  const net = machine(['192.0.2.0/24', '10.0.0.0/8'], ['192.0.2.2/24'], ['10.255.255.53']);

  it('finds overlaps with routes, addresses and the resolver', () => {
    expect(findConflicts(cidr('198.18.0.0/15'), net)).toEqual([]);
    expect(findConflicts(cidr('10.255.0.0/16'), machine([], [], ['10.255.255.53']))).toEqual([
      'nameserver 10.255.255.53',
    ]);
    expect(findConflicts(cidr('192.0.2.0/23'), net)).toEqual(['route 192.0.2.0/24', 'address 192.0.2.2/24']);
  });

  it('refuses an explicit overlapping prefix and picks the first free /23 otherwise', () => {
    expect(() => pickPrefix(cidr('192.0.2.0/23'), net)).toThrow(/overlaps/);
    expect(pickPrefix(undefined, net)).toEqual(cidr('198.18.0.0/23'));
    const withLab = machine(['192.0.2.0/24', '198.18.0.0/23', '198.18.2.0/24']);
    expect(pickPrefix(undefined, withLab)).toEqual(cidr('198.18.4.0/23'));
  });

  it('reads nameservers from resolv.conf', () => {
    expect(parseResolvConf('# x\nnameserver 10.255.255.53\nsearch a\n nameserver fd00::1\n')).toEqual([
      '10.255.255.53',
      'fd00::1',
    ]);
  });
});

describe('lab files', () => {
  const layout = planLayout('lab', 'plain', parsePrefix('198.18.0.0/23'), 3);
  const keyLine = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILT6sQBvP/9scE6EIeJewDXDrmJgua3trBM+3aYNBuhd root@c1';
  const keys = Object.fromEntries(
    layout.hosts.map((h) => [h.name, { hostKey: keyLine, hostKeyFingerprint: fingerprintOf(keyLine) }]),
  );

  it('fingerprints like ssh-keygen -lf', () => {
    expect(fingerprintOf(keyLine)).toBe('SHA256:K+b3QJ923WvB/Vo5cQMvq4Yapmz1BSgle4Q36XTCV4U');
  });

  it('renders the native cluster file with controllers only', () => {
    const doc = parseYaml(renderClusterFile(layout, '/run/cplbctl/lab/lab/id_ed25519', keys));
    expect(doc.metadata).toEqual({ name: 'lab' });
    expect(doc.spec.hosts).toHaveLength(3);
    expect(doc.spec.hosts[2]).toEqual({
      role: 'controller',
      ssh: {
        address: '198.18.0.13',
        port: 22,
        user: 'cplb',
        keyPath: '/run/cplbctl/lab/lab/id_ed25519',
        hostKey: 'SHA256:K+b3QJ923WvB/Vo5cQMvq4Yapmz1BSgle4Q36XTCV4U',
      },
    });
    expect(doc.spec.controlPlaneLoadBalancing.keepalived.vrrpInstances).toEqual([
      { virtualIPs: ['198.18.0.100/24'], authPass: 'lab-pass' },
    ]);
  });

  it('writes known_hosts with [addr]:port for non-22 ports', () => {
    const lines = renderKnownHosts(layout, keys).trim().split('\n');
    expect(lines).toHaveLength(4);
    expect(lines[1]).toMatch(/^\[198\.18\.0\.12\]:2222 ssh-ed25519 AAAA/);
    expect(lines[0]).toMatch(/^198\.18\.0\.11 ssh-ed25519 AAAA\S+$/);
  });

  it('configures sshd per host', () => {
    const c3 = renderSshdConfig(layout.hosts[2]!, 'plain');
    expect(c3).toContain('ListenAddress 198.18.0.13:22');
    expect(c3).toContain('PermitRootLogin no');
    expect(renderSshdConfig(layout.hosts[1]!, 'systemd')).toContain('ListenAddress 198.18.0.12:2222');
    expect(freeUid('root:x:0:0::/root:/bin/sh\na:x:1000:1000::/:/bin/sh\n')).toBe(1001);
  });

  it('takes the Debian mirror from apt sources', () => {
    const deb822 = 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm\n';
    expect(debianMirrorFrom(['URIs: http://deb.debian.org/debian-security\n', deb822])).toBe(
      'http://deb.debian.org/debian',
    );
    expect(debianMirrorFrom(['deb [arch=amd64] http://mirror.example/debian/ bookworm main\n'])).toBe(
      'http://mirror.example/debian',
    );
    expect(debianMirrorFrom([])).toBe('http://deb.debian.org/debian');
  });
});

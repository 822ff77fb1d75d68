/**
 * One describe per named rule in RULES (a rule without one fails the last test), plus the
 * defaults, the k0sctl → Cluster mapping and unicast's set semantics. Files are built as objects
 * and turned into YAML, then go through loadClusterText like any file, so paths are checked too.
 */
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { formatPath } from '../../src/config/diagnostics.js';
import { loadClusterText } from '../../src/config/load.js';
import { RULES } from '../../src/config/rules/index.js';
import type { Cluster } from '../../src/config/types.js';

type Obj = Record<string, unknown>;

const controllers = (n = 3, role = 'controller'): Obj[] =>
  Array.from({ length: n }, (_, i) => ({ role, ssh: { address: `192.168.122.${11 + i}` } }));
const inst = (extra: Obj = {}): Obj => ({
  virtualIPs: ['192.168.122.200/24'],
  authPass: 'Example',
  ...extra,
});
const cplbOf = (keepalived: Obj = { vrrpInstances: [inst()] }, extra: Obj = {}): Obj => ({
  enabled: true,
  keepalived,
  ...extra,
});

/** `cplb: null` leaves the section out. */
function nativeFile(cplb: Obj | null = cplbOf(), hosts: Obj[] = controllers()): string {
  const spec: Obj = { hosts };
  if (cplb) spec.controlPlaneLoadBalancing = cplb;
  return stringify({ apiVersion: 'cplbctl/v1beta1', kind: 'Cluster', spec });
}

function k0sctlFile(cplb: Obj | null = cplbOf(), hosts: Obj[] = controllers(), k0sSpec: Obj = {}): string {
  const network: Obj = { provider: 'kuberouter' };
  if (cplb) network.controlPlaneLoadBalancing = cplb;
  const spec = { hosts, k0s: { version: 'v1.31.2+k0s.0', config: { spec: { ...k0sSpec, network } } } };
  return stringify({
    apiVersion: 'k0sctl.k0sproject.io/v1beta1',
    kind: 'Cluster',
    metadata: { name: 'k0s-cluster' },
    spec,
  });
}

const load = (text: string) => loadClusterText(text, 'cluster.yaml');

/** The findings of one rule as "path: message"; checks the message form on the way. */
function problems(rule: string, text: string): string[] {
  const found = load(text).diagnostics.filter((d) => d.rule === rule);
  for (const d of found) {
    expect(d.hint, d.message).toBeTruthy();
    const unquoted = d.message.replace(/"[^"]*"/g, '""');
    expect(unquoted, 'the message says what is wrong; the hint, after ";", what to do').not.toContain(';');
    expect(d.line).toBeGreaterThan(0);
  }
  return found.map(
    (d) => `${formatPath(d.path)}: ${d.severity === 'warning' ? 'warning: ' : ''}${d.message}`,
  );
}

function cluster(text: string): Cluster {
  const r = load(text);
  expect(r.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  return r.cluster!;
}

const I0 = 'spec.controlPlaneLoadBalancing.keepalived.vrrpInstances[0]';
const I1 = 'spec.controlPlaneLoadBalancing.keepalived.vrrpInstances[1]';
const VS0 = 'spec.controlPlaneLoadBalancing.keepalived.virtualServers[0]';

const described = new Set<string>();
/** describe() for a rule, by its name in RULES. */
function rule(name: string, body: () => void): void {
  described.add(name);
  describe(`rule ${name}`, body);
}

rule('cplb-enabled', () => {
  it('names the missing section and how to add it, in either format', () => {
    expect(problems('cplb-enabled', nativeFile(null))).toEqual([
      'spec.controlPlaneLoadBalancing: controlPlaneLoadBalancing is missing, so there is nothing to deploy',
    ]);
    const text = k0sctlFile(null);
    const r = load(text).diagnostics.find((d) => d.rule === 'cplb-enabled')!;
    expect(formatPath(r.path)).toBe('spec.k0s.config.spec.network.controlPlaneLoadBalancing');
    expect(r.hint).toContain('cplbctl init --k0sctl');
    // The deepest part of the path the file has: the `network:` key.
    expect(text.split('\n')[r.line - 1]!.slice(r.col - 1)).toBe('network:');
  });

  it('refuses enabled: false and a missing enabled (k0s defaults it to false)', () => {
    expect(problems('cplb-enabled', nativeFile(cplbOf(undefined, { enabled: false })))).toEqual([
      'spec.controlPlaneLoadBalancing.enabled: control plane load balancing is not enabled (enabled defaults to false)',
    ]);
    expect(problems('cplb-enabled', nativeFile({ keepalived: { vrrpInstances: [inst()] } }))).toHaveLength(1);
    expect(problems('cplb-enabled', nativeFile())).toEqual([]);
  });
});

rule('cplb-has-instances', () => {
  it('needs at least one VRRP instance', () => {
    const want = [
      `spec.controlPlaneLoadBalancing.keepalived.vrrpInstances: no VRRP instance, so no virtual IP would float`,
    ];
    expect(problems('cplb-has-instances', nativeFile({ enabled: true }))).toEqual(want);
    expect(problems('cplb-has-instances', nativeFile(cplbOf({ vrrpInstances: [] })))).toEqual(want);
    expect(problems('cplb-has-instances', nativeFile())).toEqual([]);
  });
});

rule('controllers-present', () => {
  it('needs one controller or controller+worker', () => {
    expect(problems('controllers-present', nativeFile(cplbOf(), controllers(2, 'worker')))).toEqual([
      'spec.hosts: no controller among the hosts',
    ]);
    expect(problems('controllers-present', nativeFile(cplbOf(), []))).toHaveLength(1);
    expect(
      problems('controllers-present', nativeFile(cplbOf(), controllers(2, 'controller+worker'))),
    ).toEqual([]);
  });

  it('leaves a single host to role-single, which says what to change', () => {
    expect(problems('controllers-present', nativeFile(cplbOf(), controllers(1, 'single')))).toEqual([]);
  });
});

rule('role-single', () => {
  it('refuses role single: k0s --single has no CPLB', () => {
    const found = problems('role-single', nativeFile(cplbOf(), controllers(1, 'single')));
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(
      /^spec\.hosts\[0\]\.role: role single is incompatible with control plane load balancing/,
    );
  });
});

rule('single-controller', () => {
  it('warns (without failing) when one controller takes part', () => {
    const text = nativeFile(cplbOf(), [
      ...controllers(1),
      { role: 'worker', ssh: { address: '192.168.122.21' } },
    ]);
    expect(problems('single-controller', text)).toEqual([
      'spec.hosts: warning: only one controller: the VIP cannot fail over anywhere',
    ]);
    expect(load(text).cluster).toBeDefined();
    expect(
      problems('single-controller', nativeFile(cplbOf(), controllers(1, 'controller+worker'))),
    ).toHaveLength(1);
    expect(problems('single-controller', nativeFile(cplbOf(), controllers(2)))).toEqual([]);
  });
});

rule('ssh-present', () => {
  it('needs ssh on controllers of a k0sctl file (k0sctl also knows localhost and winRM)', () => {
    const hosts = [
      ...controllers(2),
      { role: 'controller', localhost: { enabled: true } },
      { role: 'worker', winRM: { address: 'w' } },
    ];
    expect(problems('ssh-present', k0sctlFile(cplbOf(), hosts))).toEqual([
      'spec.hosts[2]: controller has no ssh section',
    ]);
  });
});

rule('unique-hosts', () => {
  it('refuses the same address:port twice, names compared without case', () => {
    const hosts = [
      { role: 'controller', ssh: { address: 'cp-0.lab' } },
      { role: 'controller', ssh: { address: 'CP-0.lab', port: 22 } },
      { role: 'controller', ssh: { address: 'cp-0.lab', port: 2222 } },
    ];
    expect(problems('unique-hosts', nativeFile(cplbOf(), hosts))).toEqual([
      'spec.hosts[1].ssh.address: cp-0.lab:22 is also spec.hosts[0]',
    ]);
  });
});

rule('key-path-exists', () => {
  let home: string;
  const savedHome = process.env.HOME;
  beforeAll(() => {
    home = mkdtempSync(join(tmpdir(), 'cplbctl-keys-'));
    mkdirSync(join(home, '.ssh'));
    writeFileSync(join(home, '.ssh', 'id_ed25519'), 'placeholder');
    process.env.HOME = home;
  });
  afterAll(() => {
    process.env.HOME = savedHome;
    rmSync(home, { recursive: true, force: true });
  });
  const withKeys = (keyPath: string, bastionKey?: string) =>
    nativeFile(cplbOf(), [
      ...controllers(2),
      {
        role: 'controller',
        ssh: {
          address: '192.168.122.13',
          keyPath,
          ...(bastionKey ? { bastion: { address: 'jump', keyPath: bastionKey } } : {}),
        },
      },
    ]);

  it('accepts an existing key, with ~ expanded to $HOME', () => {
    expect(problems('key-path-exists', withKeys('~/.ssh/id_ed25519'))).toEqual([]);
    expect(problems('key-path-exists', withKeys(join(home, '.ssh', 'id_ed25519')))).toEqual([]);
  });

  it('refuses a key file that does not exist, for the host and its bastion', () => {
    expect(problems('key-path-exists', withKeys('~/.ssh/id_rsa', '/nonexistent/jump'))).toEqual([
      'spec.hosts[2].ssh.keyPath: key file ~/.ssh/id_rsa does not exist',
      'spec.hosts[2].ssh.bastion.keyPath: key file /nonexistent/jump does not exist',
    ]);
  });
});

rule('host-key-format', () => {
  const withHostKey = (hostKey: string) =>
    nativeFile(cplbOf(), [...controllers(2), { role: 'controller', ssh: { address: 'x', hostKey } }]);
  it('takes SHA256 fingerprints as ssh-keygen -l prints them', () => {
    expect(problems('host-key-format', withHostKey('SHA256:' + 'A'.repeat(43)))).toEqual([]);
    expect(problems('host-key-format', withHostKey('MD5:aa:bb'))).toEqual([
      'spec.hosts[2].ssh.hostKey: hostKey is not a SHA256 fingerprint',
    ]);
  });
  it("checks the bastion's hostKey too, at its line and column", () => {
    const bastion = (hostKey: string) =>
      nativeFile(cplbOf(), [
        ...controllers(2),
        { role: 'controller', ssh: { address: 'x', bastion: { address: 'jump', hostKey } } },
      ]);
    expect(problems('host-key-format', bastion('SHA256:' + 'B'.repeat(43)))).toEqual([]);
    const text = bastion('SHA256:short');
    expect(problems('host-key-format', text)).toEqual([
      'spec.hosts[2].ssh.bastion.hostKey: hostKey is not a SHA256 fingerprint',
    ]);
    const d = load(text).diagnostics.find((x) => x.rule === 'host-key-format')!;
    expect(text.split('\n')[d.line - 1]!.slice(d.col - 1)).toMatch(/^(hostKey: )?SHA256:short$/);
  });
});

rule('ssh-address', () => {
  const at = (address: string, bastion?: string) =>
    nativeFile(cplbOf(), [
      ...controllers(2),
      { role: 'controller', ssh: { address, ...(bastion ? { bastion: { address: bastion } } : {}) } },
    ]);
  it('takes names and plain addresses', () => {
    for (const ok of ['cp-2.example', '192.168.122.13', '2001:db8::13', 'fe80::13'])
      expect(problems('ssh-address', at(ok, ok)), ok).toEqual([]);
  });
  it('refuses IPv6 zone IDs, on the host and on its bastion', () => {
    expect(problems('ssh-address', at('fe80::13%eth0', 'fe80::1%25eth1'))).toEqual([
      'spec.hosts[2].ssh.address: "fe80::13%eth0" has an IPv6 zone ID (%eth0)',
      'spec.hosts[2].ssh.bastion.address: "fe80::1%25eth1" has an IPv6 zone ID (%25eth1)',
    ]);
  });
});

rule('private-interface', () => {
  const withNic = (privateInterface: string) =>
    nativeFile(cplbOf(), [
      ...controllers(2),
      { role: 'controller', ssh: { address: '192.168.122.13' }, privateInterface },
    ]);
  it('takes a Linux interface name or a MAC', () => {
    for (const ok of ['eth1', 'enp0s31f6', 'bond0.100', '52:54:00:ab:cd:ef'])
      expect(problems('private-interface', withNic(ok)), ok).toEqual([]);
    expect(problems('private-interface', withNic('eth0/1'))).toEqual([
      'spec.hosts[2].privateInterface: "eth0/1" is not a valid interface name or MAC address',
    ]);
  });
});

rule('vip-cidr', () => {
  const vips = (...virtualIPs: string[]) => nativeFile(cplbOf({ vrrpInstances: [inst({ virtualIPs })] }));
  it('takes IPv4 and IPv6 CIDRs up to their full prefix length', () => {
    expect(problems('vip-cidr', vips('192.168.122.200/32', '192.168.122.201/24'))).toEqual([]);
    expect(problems('vip-cidr', vips('2001:db8::100/128'))).toEqual([]);
  });
  it('refuses a missing or too long prefix and non-addresses', () => {
    expect(
      problems('vip-cidr', vips('192.168.122.200', '192.168.122.201/33', 'vip.lab/24', '192.168.122.202/x')),
    ).toEqual([
      `${I0}.virtualIPs[0]: "192.168.122.200" is not a CIDR: has no prefix length`,
      `${I0}.virtualIPs[1]: "192.168.122.201/33" is not a CIDR: prefix length 33 is above 32 for IPv4`,
      `${I0}.virtualIPs[2]: "vip.lab/24" is not a CIDR: "vip.lab" is not an IP address`,
      `${I0}.virtualIPs[3]: "192.168.122.202/x" is not a CIDR: "x" is not a prefix length`,
    ]);
    expect(problems('vip-cidr', vips('2001:db8::100/129'))).toEqual([
      `${I0}.virtualIPs[0]: "2001:db8::100/129" is not a CIDR: prefix length 129 is above 128 for IPv6`,
    ]);
  });
  it('refuses IPv6 zone IDs, at their line and column', () => {
    const text = vips('fe80::1%eth0/64');
    expect(problems('vip-cidr', text)).toEqual([
      `${I0}.virtualIPs[0]: "fe80::1%eth0/64" is not a CIDR: "fe80::1%eth0" has an IPv6 zone ID (%eth0)`,
    ]);
    const d = load(text).diagnostics.find((x) => x.rule === 'vip-cidr')!;
    expect(text.split('\n')[d.line - 1]!.slice(d.col - 1)).toBe('fe80::1%eth0/64');
  });
});

rule('vip-family', () => {
  it('keeps one address family per instance', () => {
    const mixed = nativeFile(
      cplbOf({ vrrpInstances: [inst({ virtualIPs: ['192.168.122.200/24', '2001:db8::100/64'] })] }),
    );
    expect(problems('vip-family', mixed)).toEqual([
      `${I0}.virtualIPs: mixes IPv4 and IPv6 addresses: keepalived ignores the VIPs of the other family`,
    ]);
    const split = nativeFile(cplbOf({ vrrpInstances: [inst(), inst({ virtualIPs: ['2001:db8::100/64'] })] }));
    expect(problems('vip-family', split)).toEqual([]);
  });
});

rule('vip-unique', () => {
  it('refuses a VIP in two instances or twice in one, comparing addresses (not prefixes or spellings)', () => {
    const two = nativeFile(cplbOf({ vrrpInstances: [inst(), inst({ virtualIPs: ['192.168.122.200/16'] })] }));
    expect(problems('vip-unique', two)).toEqual([
      `${I1}.virtualIPs[0]: VIP 192.168.122.200 is already in vrrpInstances[0]`,
    ]);
    const v6 = nativeFile(
      cplbOf({ vrrpInstances: [inst({ virtualIPs: ['2001:db8::100/64', '2001:DB8:0:0::100/64'] })] }),
    );
    expect(problems('vip-unique', v6)).toEqual([
      `${I0}.virtualIPs[1]: VIP 2001:DB8:0:0::100 is already in vrrpInstances[0]`,
    ]);
  });
});

rule('vip-not-host-address', () => {
  it('refuses a VIP that a host (controller or worker) already owns', () => {
    const hosts = [...controllers(3), { role: 'worker', ssh: { address: '192.168.122.50' } }];
    const text = nativeFile(
      cplbOf({ vrrpInstances: [inst({ virtualIPs: ['192.168.122.12/24', '192.168.122.50/24'] })] }),
      hosts,
    );
    expect(problems('vip-not-host-address', text)).toEqual([
      `${I0}.virtualIPs[0]: VIP 192.168.122.12 is the address of spec.hosts[1]`,
      `${I0}.virtualIPs[1]: VIP 192.168.122.50 is the address of spec.hosts[3]`,
    ]);
  });
});

rule('auth-pass', () => {
  const withPass = (authPass: string) => nativeFile(cplbOf({ vrrpInstances: [inst({ authPass })] }));
  it('takes 1 to 8 printable characters', () => {
    for (const ok of ['a', 'Example', '12345678', 'a-b_c.d@', 'x$%&()*+'])
      expect(problems('auth-pass', withPass(ok)), ok).toEqual([]);
  });
  it('refuses empty and long passwords, saying keepalived would truncate', () => {
    expect(problems('auth-pass', withPass(''))).toEqual([`${I0}.authPass: authPass is empty`]);
    expect(problems('auth-pass', withPass('123456789'))).toEqual([
      `${I0}.authPass: authPass is 9 characters long, and keepalived silently truncates it to 8`,
    ]);
  });
  it('refuses characters that break keepalived.conf, and non-ASCII', () => {
    for (const bad of ['a b', 'a#b', 'a!b', 'a"b', "a'b", 'a{b', 'a}b', 'a\\b'])
      expect(problems('auth-pass', withPass(bad)), JSON.stringify(bad)).toEqual([
        `${I0}.authPass: authPass holds a character that breaks keepalived's config syntax (whitespace, #, !, quotes, backslash or braces)`,
      ]);
    for (const bad of ['pässwd', 'a\tb', 'a\u0007b'])
      expect(problems('auth-pass', withPass(bad)), JSON.stringify(bad)).toEqual([
        `${I0}.authPass: authPass holds non-printable or non-ASCII characters`,
      ]);
  });
  it('reports every problem of one password, and never its text', () => {
    const secret = 'my secret pw';
    const { diagnostics } = load(withPass(secret));
    expect(diagnostics.map((d) => d.message)).toHaveLength(2);
    expect(JSON.stringify(diagnostics)).not.toContain(secret);
    expect(JSON.stringify(diagnostics)).not.toContain('secret');
  });
});

rule('auth-pass-v3', () => {
  it('warns that VRRP version 3 ignores authPass, once per instance', () => {
    const v3 = nativeFile(
      cplbOf({ vrrpVersion: 3, vrrpInstances: [inst(), inst({ virtualIPs: ['192.168.122.201/24'] })] }),
    );
    expect(problems('auth-pass-v3', v3)).toEqual([
      `${I0}.authPass: warning: VRRP version 3 ignores authPass, so it keeps no other VRRP router out`,
      `${I1}.authPass: warning: VRRP version 3 ignores authPass, so it keeps no other VRRP router out`,
    ]);
    expect(problems('auth-pass-v3', nativeFile())).toEqual([]);
  });

  it('warns for an IPv6 instance under VRRP version 2 too: keepalived runs it as version 3', () => {
    const v6 = nativeFile(cplbOf({ vrrpInstances: [inst(), inst({ virtualIPs: ['fd00::100/64'] })] }));
    expect(problems('auth-pass-v3', v6)).toEqual([
      `${I1}.authPass: warning: an IPv6 instance always runs VRRP version 3, which ignores authPass, so it keeps no other VRRP router out`,
    ]);
  });
});

rule('virtual-router-id', () => {
  const ids = (...vrids: (number | undefined)[]) =>
    nativeFile(
      cplbOf({
        vrrpInstances: vrids.map((id, i) =>
          inst({
            virtualIPs: [`192.168.122.${200 + i}/24`],
            ...(id === undefined ? {} : { virtualRouterID: id }),
          }),
        ),
      }),
    );
  it('defaults to 51 + the instance index', () => {
    expect(cluster(ids(undefined, 60, undefined)).cplb.vrrpInstances.map((i) => i.virtualRouterID)).toEqual([
      51, 60, 53,
    ]);
  });
  it('refuses IDs outside 1-255', () => {
    expect(problems('virtual-router-id', ids(0))).toEqual([
      `${I0}.virtualRouterID: virtualRouterID 0 is outside 1-255`,
    ]);
    expect(problems('virtual-router-id', ids(256))).toEqual([
      `${I0}.virtualRouterID: virtualRouterID 256 is outside 1-255`,
    ]);
    expect(problems('virtual-router-id', ids(1, 255))).toEqual([]);
  });
  it('refuses duplicates, defaults included, pointing at the instance that takes the default', () => {
    expect(problems('virtual-router-id', ids(70, 70))).toEqual([
      `${I1}.virtualRouterID: virtualRouterID 70 is also used by vrrpInstances[0]`,
    ]);
    expect(problems('virtual-router-id', ids(52, undefined))).toEqual([
      `${I1}: virtualRouterID 52 (the default, 51 + index) is also used by vrrpInstances[0]`,
    ]);
    expect(problems('virtual-router-id', ids(undefined, 51))).toEqual([
      `${I1}.virtualRouterID: virtualRouterID 51 is also used by vrrpInstances[0]`,
    ]);
  });
  it('asks for an explicit ID where the default would pass 255', () => {
    const many = Array.from({ length: 206 }, (_, i) =>
      inst({ virtualIPs: [`10.1.${i >> 7}.${(i & 127) + 1}/16`] }),
    );
    expect(problems('virtual-router-id', nativeFile(cplbOf({ vrrpInstances: many })))).toEqual([
      'spec.controlPlaneLoadBalancing.keepalived.vrrpInstances[205]: the default virtualRouterID (51 + 205) is above 255',
    ]);
  });
});

rule('advert-interval', () => {
  const advert = (advertIntervalSeconds: number, vrrpVersion?: number) =>
    nativeFile(
      cplbOf({ ...(vrrpVersion ? { vrrpVersion } : {}), vrrpInstances: [inst({ advertIntervalSeconds })] }),
    );
  it('defaults to 1 second', () => {
    expect(cluster(nativeFile()).cplb.vrrpInstances[0]!.advertIntervalSeconds).toBe(1);
  });
  it('must be above 0', () => {
    expect(problems('advert-interval', advert(0))).toEqual([
      `${I0}.advertIntervalSeconds: advertIntervalSeconds must be above 0, got 0`,
    ]);
    expect(problems('advert-interval', advert(-1, 3))).toHaveLength(1);
  });
  it('allows sub-second adverts only with VRRP version 3, and says so', () => {
    const [v2] = problems('advert-interval', advert(0.5));
    expect(v2).toBe(
      `${I0}.advertIntervalSeconds: advertIntervalSeconds 0.5 is sub-second, which VRRP version 2 rounds to whole seconds`,
    );
    expect(load(advert(0.5)).diagnostics[0]!.hint).toContain('vrrpVersion: 3');
    expect(problems('advert-interval', advert(0.5, 3))).toEqual([]);
    expect(problems('advert-interval', advert(0.01, 3))).toEqual([]);
  });
  it('keeps to what each version can carry', () => {
    expect(problems('advert-interval', advert(255))).toEqual([]);
    expect(problems('advert-interval', advert(256))).toEqual([
      `${I0}.advertIntervalSeconds: advertIntervalSeconds 256 is above 255`,
    ]);
    expect(problems('advert-interval', advert(40.95, 3))).toEqual([]);
    expect(problems('advert-interval', advert(41, 3))).toHaveLength(1);
    expect(problems('advert-interval', advert(0.005, 3))).toHaveLength(1);
  });
});

rule('interface', () => {
  const nic = (name: string) => nativeFile(cplbOf({ vrrpInstances: [inst({ interface: name })] }));
  it('takes a Linux name of at most 15 characters, or a MAC', () => {
    for (const ok of ['eth0', 'a'.repeat(15), 'br-lab.10', 'AA:BB:CC:DD:EE:FF'])
      expect(problems('interface', nic(ok)), ok).toEqual([]);
  });
  it('refuses longer names, /, whitespace, shell characters and dot names', () => {
    for (const bad of [
      'a'.repeat(16),
      'eth0/1',
      'eth 0',
      'eth0;ls',
      '$(id)',
      'eth`x`',
      '..',
      '52:54:00:12:34',
    ])
      expect(problems('interface', nic(bad)), bad).toEqual([
        `${I0}.interface: ${JSON.stringify(bad)} is not a valid interface name or MAC address`,
      ]);
  });
});

rule('unicast', () => {
  const uni = (extra: Obj, hosts = controllers(3)) =>
    nativeFile(cplbOf({ vrrpInstances: [inst(extra)] }), hosts);
  const src = '192.168.122.11';

  it("reads unicastSourceIP + unicastPeers as the set of every controller's source", () => {
    const c = cluster(uni({ unicastSourceIP: src, unicastPeers: ['192.168.122.12', '192.168.122.13'] }));
    expect(c.cplb.vrrpInstances[0]!.unicastSources).toEqual([src, '192.168.122.12', '192.168.122.13']);
    expect(cluster(nativeFile()).cplb.vrrpInstances[0]!.unicastSources).toBeUndefined();
  });

  it('needs the source with peers, and peers with the source', () => {
    expect(problems('unicast', uni({ unicastPeers: ['192.168.122.12'] }))).toEqual([
      `${I0}.unicastPeers: unicastPeers need unicastSourceIP`,
    ]);
    expect(problems('unicast', uni({ unicastSourceIP: src }))).toEqual([
      `${I0}.unicastSourceIP: unicastSourceIP without unicastPeers`,
    ]);
  });

  it("takes IP addresses of the VIPs' family only", () => {
    expect(problems('unicast', uni({ unicastSourceIP: 'cp-0', unicastPeers: ['192.168.122.12'] }))).toEqual([
      `${I0}.unicastSourceIP: "cp-0" is not an IP address`,
    ]);
    expect(
      problems('unicast', uni({ unicastSourceIP: src, unicastPeers: ['192.168.122.12', 'cp-2'] })),
    ).toEqual([`${I0}.unicastPeers[1]: "cp-2" is not an IP address`]);
    expect(
      problems(
        'unicast',
        uni({ unicastSourceIP: '2001:db8::11', unicastPeers: ['2001:db8::12', '2001:db8::13'] }),
      ),
    ).toEqual([`${I0}.unicastSourceIP: unicastSourceIP is IPv6 but the VIPs are IPv4`]);
  });

  it('refuses IPv6 zone IDs in the source and the peers', () => {
    const v6 = (source: string, peers: string[]) =>
      nativeFile(
        cplbOf({
          vrrpInstances: [
            inst({ virtualIPs: ['2001:db8::100/64'], unicastSourceIP: source, unicastPeers: peers }),
          ],
        }),
      );
    expect(problems('unicast', v6('fe80::11%eth0', ['fe80::12', 'fe80::13']))).toEqual([
      `${I0}.unicastSourceIP: "fe80::11%eth0" has an IPv6 zone ID (%eth0)`,
    ]);
    expect(problems('unicast', v6('fe80::11', ['fe80::12%eth0', 'fe80::13']))).toEqual([
      `${I0}.unicastPeers[0]: "fe80::12%eth0" has an IPv6 zone ID (%eth0)`,
    ]);
  });

  it('keeps the source out of the peers and every address once (spellings compared canonically)', () => {
    expect(
      problems(
        'unicast',
        uni({ unicastSourceIP: src, unicastPeers: [src, '192.168.122.12', '192.168.122.13'] }),
      ),
    ).toEqual([`${I0}.unicastPeers[0]: peer ${src} is unicastSourceIP itself`]);
    const v6 = nativeFile(
      cplbOf({
        vrrpInstances: [
          inst({
            virtualIPs: ['2001:db8::100/64'],
            unicastSourceIP: '2001:db8::11',
            unicastPeers: ['2001:db8::12', '2001:db8:0::12'],
          }),
        ],
      }),
    );
    expect(problems('unicast', v6)).toEqual([
      `${I0}.unicastPeers: unicastSourceIP and unicastPeers name 2 addresses, but there are 3 controllers`,
      `${I0}.unicastPeers[1]: peer 2001:db8:0::12 is listed twice`,
    ]);
  });

  it('names exactly one address per controller (workers do not count)', () => {
    const hosts = [...controllers(3), { role: 'worker', ssh: { address: '192.168.122.21' } }];
    expect(
      problems(
        'unicast',
        uni({ unicastSourceIP: src, unicastPeers: ['192.168.122.12', '192.168.122.13'] }, hosts),
      ),
    ).toEqual([]);
    expect(problems('unicast', uni({ unicastSourceIP: src, unicastPeers: ['192.168.122.12'] }))).toEqual([
      `${I0}.unicastPeers: unicastSourceIP and unicastPeers name 2 addresses, but there are 3 controllers`,
    ]);
  });
});

rule('address-label', () => {
  const v6 = (extra: Obj = {}) => inst({ virtualIPs: ['fd00::100/64'], ...extra });
  const text = (...instances: Obj[]) => nativeFile(cplbOf({ vrrpInstances: instances }));
  const diagnosticsOf = (t: string) => load(t).diagnostics.map((d) => `${formatPath(d.path)}: ${d.message}`);

  it("is k0s's field: unset or 0 leaves it to the default (10000, applied by the agent), any other uint32 is carried", () => {
    expect(cluster(text(v6())).cplb.vrrpInstances[0]!.addressLabel).toBeUndefined();
    expect(cluster(text(v6({ addressLabel: 0 }))).cplb.vrrpInstances[0]!.addressLabel).toBeUndefined();
    expect(cluster(text(v6({ addressLabel: 30000 }))).cplb.vrrpInstances[0]!.addressLabel).toBe(30000);
    expect(cluster(text(v6({ addressLabel: 4294967294 }))).cplb.vrrpInstances[0]!.addressLabel).toBe(
      4294967294,
    );
    expect(problems('address-label', text(v6({ addressLabel: 30000 })))).toEqual([]);
  });

  it('refuses 0xffffffff, reserved as in k0s (and refused by the kernel)', () => {
    expect(problems('address-label', text(v6({ addressLabel: 4294967295 })))).toEqual([
      `${I0}.addressLabel: addressLabel 4294967295 (0xffffffff) is reserved`,
    ]);
  });

  it('refuses what a uint32 cannot hold, at its line and column', () => {
    expect(diagnosticsOf(text(v6({ addressLabel: -1 })))).toEqual([
      `${I0}.addressLabel: addressLabel -1 is below 0`,
    ]);
    expect(diagnosticsOf(text(v6({ addressLabel: 4294967296 })))).toEqual([
      `${I0}.addressLabel: addressLabel 4294967296 is above 4294967295`,
    ]);
    expect(diagnosticsOf(text(v6({ addressLabel: 1.5 })))).toEqual([
      `${I0}.addressLabel: addressLabel must be a whole number`,
    ]);
    const t = text(v6({ addressLabel: '30000' }));
    const d = load(t).diagnostics[0]!;
    expect(`${formatPath(d.path)}: ${d.message}; ${d.hint}`).toBe(
      `${I0}.addressLabel: addressLabel must be a number, not a string; remove the quotes`,
    );
    expect(t.split('\n')[d.line - 1]!.slice(d.col - 1)).toBe('"30000"');
  });

  it('warns that an IPv4 instance ignores it, as k0s does', () => {
    expect(problems('address-label', text(inst({ addressLabel: 30000 })))).toEqual([
      `${I0}.addressLabel: warning: addressLabel applies to IPv6 VIPs only, and this instance has none`,
    ]);
  });
});

rule('config-template', () => {
  const templates = (fields: Obj) => cplbOf({ vrrpInstances: [inst()], ...fields });
  it('accepts both k0s 1.35.1 fields (never "unknown field") and refuses a set one, saying what cplbctl renders', () => {
    const text = k0sctlFile(
      templates({
        virtualServers: [{ ipAddress: '192.168.122.200' }],
        configTemplateVRRP: '/path/to/custom-vrrp-template.conf',
        configTemplateVS: '/path/to/custom-virtualservers-template.conf',
      }),
    );
    const all = load(text).diagnostics;
    expect(all.map((d) => d.rule)).toEqual(['config-template', 'config-template']);
    const K = 'spec.k0s.config.spec.network.controlPlaneLoadBalancing.keepalived';
    expect(problems('config-template', text)).toEqual([
      `${K}.configTemplateVRRP: cplbctl renders keepalived.conf itself and does not read Go templates: one vrrp_instance per vrrpInstances entry (state BACKUP, equal priority, the agent's track_file and notify_fifo)`,
      `${K}.configTemplateVS: cplbctl renders keepalived.conf itself and does not read Go templates: one virtual_server per virtualServers entry, a real_server per controller`,
    ]);
    for (const d of all) {
      expect(d.severity).toBe('error');
      expect(d.hint).toContain('remove');
      expect(text.split('\n')[d.line - 1]!.slice(d.col - 1)).toMatch(/^\/path\/to\//);
    }
  });
  it('only warns about configTemplateVS without virtualServers: k0s does not read it then either', () => {
    expect(problems('config-template', nativeFile(templates({ configTemplateVS: '/etc/vs.tmpl' })))).toEqual([
      'spec.controlPlaneLoadBalancing.keepalived.configTemplateVS: warning: configTemplateVS has no effect without virtualServers (k0s ignores it then too)',
    ]);
  });
  it('lets an empty value be (k0s reads "" as unset)', () => {
    expect(
      problems('config-template', nativeFile(templates({ configTemplateVRRP: '', configTemplateVS: '' }))),
    ).toEqual([]);
  });
});

rule('virtual-servers', () => {
  const vs = (servers: Obj[], hosts = controllers(3)) =>
    nativeFile(cplbOf({ vrrpInstances: [inst()], virtualServers: servers }), hosts);
  it("fills in k0s's defaults", () => {
    expect(cluster(vs([{ ipAddress: '192.168.122.200' }])).cplb.virtualServers).toEqual([
      {
        ipAddress: '192.168.122.200',
        delayLoopSeconds: 60,
        lbAlgo: 'rr',
        lbKind: 'DR',
        persistenceTimeoutSeconds: 360,
        path: ['spec', 'controlPlaneLoadBalancing', 'keepalived', 'virtualServers', 0],
      },
    ]);
  });
  it('refuses an IPv6 zone ID in ipAddress', () => {
    const text = nativeFile(
      cplbOf({
        vrrpInstances: [inst({ virtualIPs: ['fe80::100/64'] })],
        virtualServers: [{ ipAddress: 'fe80::100%eth0' }],
      }),
    );
    expect(problems('virtual-servers', text)).toEqual([
      `${VS0}.ipAddress: "fe80::100%eth0" has an IPv6 zone ID (%eth0)`,
    ]);
  });
  it('needs ipAddress to be one of the VIPs, bare, once', () => {
    expect(problems('virtual-servers', vs([{ ipAddress: '192.168.122.200/24' }]))).toEqual([
      `${VS0}.ipAddress: "192.168.122.200/24" has a prefix length`,
    ]);
    expect(problems('virtual-servers', vs([{ ipAddress: '192.168.122.201' }]))).toEqual([
      `${VS0}.ipAddress: 192.168.122.201 is not one of the VIPs`,
    ]);
    expect(
      problems('virtual-servers', vs([{ ipAddress: '192.168.122.200' }, { ipAddress: '192.168.122.200' }])),
    ).toEqual([
      'spec.controlPlaneLoadBalancing.keepalived.virtualServers[1].ipAddress: 192.168.122.200 has a virtual server already',
    ]);
  });
  it('needs a positive delayLoop duration and persistence of 1 to 2678400 seconds', () => {
    expect(
      problems(
        'virtual-servers',
        vs([{ ipAddress: '192.168.122.200', delayLoop: '1m30s', persistenceTimeoutSeconds: 2678400 }]),
      ),
    ).toEqual([]);
    expect(
      cluster(vs([{ ipAddress: '192.168.122.200', delayLoop: '1m30s' }])).cplb.virtualServers[0]!
        .delayLoopSeconds,
    ).toBe(90);
    expect(
      problems(
        'virtual-servers',
        vs([{ ipAddress: '192.168.122.200', delayLoop: '0s', persistenceTimeoutSeconds: 0 }]),
      ),
    ).toEqual([
      `${VS0}.delayLoop: "0s" is not a positive duration`,
      `${VS0}.persistenceTimeoutSeconds: 0 is outside 1-2678400`,
    ]);
    expect(
      problems(
        'virtual-servers',
        vs([{ ipAddress: '192.168.122.200', delayLoop: '60', persistenceTimeoutSeconds: 2678401 }]),
      ),
    ).toHaveLength(2);
  });
  it('refuses controller+worker hosts (k0s supports only the userspace proxy there)', () => {
    const hosts = [
      ...controllers(2),
      ...controllers(1, 'controller+worker').map((h) => ({ ...h, ssh: { address: '192.168.122.13' } })),
    ];
    expect(problems('virtual-servers', vs([{ ipAddress: '192.168.122.200' }], hosts))).toEqual([
      'spec.hosts[2].role: keepalived virtualServers (IPVS) are incompatible with controller+worker hosts',
    ]);
    expect(problems('virtual-servers', nativeFile(cplbOf(), hosts))).toEqual([]);
  });
});

rule('metrics-port', () => {
  it('refuses a metrics port that the proxy or the API server already uses, at metrics.port', () => {
    expect(problems('metrics-port', nativeFile(cplbOf(undefined, { metrics: { port: 6444 } })))).toEqual([
      'spec.controlPlaneLoadBalancing.metrics.port: metrics.port 6444 is also the proxy port',
    ]);
    expect(problems('metrics-port', nativeFile(cplbOf(undefined, { metrics: { port: 6443 } })))).toEqual([
      'spec.controlPlaneLoadBalancing.metrics.port: metrics.port 6443 is also the API server port',
    ]);
    const c = cluster(nativeFile(cplbOf(undefined, { metrics: { bindAddress: '::' } })));
    expect(c.cplb.metrics).toEqual({ bindAddress: '::', port: 6445 });
    expect(cluster(nativeFile()).cplb.metrics).toEqual({ bindAddress: '127.0.0.1', port: 6445 });
  });
});

rule('ports', () => {
  it('defaults to proxy 6444 and API server 6443', () => {
    const c = cluster(nativeFile());
    expect([c.cplb.proxyPort, c.cplb.apiServerPort]).toEqual([6444, 6443]);
  });
  it('reads the API port of a k0sctl file from spec.k0s.config.spec.api.port', () => {
    expect(cluster(k0sctlFile(cplbOf(), controllers(), { api: { port: 7443 } })).cplb.apiServerPort).toBe(
      7443,
    );
  });
  it('refuses a proxy port equal to the API server port, pointing at the field the file sets', () => {
    expect(
      problems('ports', nativeFile(cplbOf({ vrrpInstances: [inst()], userSpaceProxyBindPort: 6443 }))),
    ).toEqual([
      'spec.controlPlaneLoadBalancing.keepalived.userSpaceProxyBindPort: the proxy port (userSpaceProxyBindPort) and the API server port are both 6443',
    ]);
    expect(problems('ports', nativeFile(cplbOf(undefined, { apiServerPort: 6444 })))).toEqual([
      'spec.controlPlaneLoadBalancing.apiServerPort: the proxy port (userSpaceProxyBindPort, default 6444) and the API server port are both 6444',
    ]);
    expect(problems('ports', k0sctlFile(cplbOf(), controllers(), { api: { port: 6444 } }))).toEqual([
      'spec.k0s.config.spec.api.port: the proxy port (userSpaceProxyBindPort, default 6444) and the API server port are both 6444',
    ]);
  });
});

rule('health-check', () => {
  it('has defaults, and warns when checks would overlap', () => {
    expect(cluster(nativeFile()).cplb.healthCheck).toEqual({
      path: '/readyz',
      intervalSeconds: 1,
      timeoutSeconds: 1,
      fallCount: 3,
      riseCount: 1,
    });
    expect(
      problems(
        'health-check',
        nativeFile(cplbOf(undefined, { healthCheck: { intervalSeconds: 1, timeoutSeconds: 2 } })),
      ),
    ).toEqual([
      'spec.controlPlaneLoadBalancing.healthCheck.timeoutSeconds: warning: timeoutSeconds 2 is longer than intervalSeconds 1',
    ]);
  });
});

const HC = 'spec.controlPlaneLoadBalancing.healthCheck';
const withHealthCheck = (healthCheck: Obj) => nativeFile(cplbOf(undefined, { healthCheck }));

rule('health-check-path', () => {
  it('takes URL paths, with a query and percent-escapes', () => {
    for (const path of ['/readyz', '/readyz?verbose', '/livez/etcd', '/ready%20z', "/a-b_c.d~!$&'()*+,;=:@"])
      expect(problems('health-check-path', withHealthCheck({ path })), path).toEqual([]);
  });

  it('refuses what node cannot send or a server would not read as a path, naming the character', () => {
    expect(problems('health-check-path', withHealthCheck({ path: '/ready\u0001z' }))).toEqual([
      `${HC}.path: "/ready\\u0001z" holds U+0001 (a control character) at character 7, which a URL path cannot hold`,
    ]);
    expect(problems('health-check-path', withHealthCheck({ path: '/réadyz' }))).toEqual([
      `${HC}.path: "/réadyz" holds "é" (U+00E9) at character 3, which a URL path cannot hold`,
    ]);
    expect(problems('health-check-path', withHealthCheck({ path: '/ready z' }))).toEqual([
      `${HC}.path: "/ready z" holds " " (U+0020) at character 7, which a URL path cannot hold`,
    ]);
    expect(problems('health-check-path', withHealthCheck({ path: '/readyz#x' }))).toHaveLength(1);
    expect(problems('health-check-path', withHealthCheck({ path: '/ready%zz' }))).toEqual([
      `${HC}.path: "/ready%zz" holds "%" not followed by two hex digits at character 7`,
    ]);
    expect(problems('health-check-path', withHealthCheck({ path: 'readyz' }))).toEqual([
      `${HC}.path: "readyz" does not start with /`,
    ]);
    const d = load(withHealthCheck({ path: '/réadyz' })).diagnostics.find(
      (x) => x.rule === 'health-check-path',
    )!;
    expect(d.hint).toContain('%C3%A9');
  });
});

rule('health-check-credentials', () => {
  it('takes a client certificate with its key, or a bearer token file, as absolute paths', () => {
    const cert = { clientCertificate: '/var/lib/k0s/pki/hc.crt', clientKey: '/var/lib/k0s/pki/hc.key' };
    expect(problems('health-check-credentials', withHealthCheck(cert))).toEqual([]);
    expect(cluster(withHealthCheck(cert)).cplb.healthCheck).toMatchObject(cert);
    const token = { bearerTokenFile: '/etc/cplb-health/token' };
    expect(problems('health-check-credentials', withHealthCheck(token))).toEqual([]);
    expect(cluster(withHealthCheck(token)).cplb.healthCheck).toMatchObject(token);
  });

  it('needs the certificate and the key together', () => {
    expect(
      problems('health-check-credentials', withHealthCheck({ clientCertificate: '/pki/hc.crt' })),
    ).toEqual([`${HC}.clientCertificate: clientCertificate without clientKey`]);
    expect(problems('health-check-credentials', withHealthCheck({ clientKey: '/pki/hc.key' }))).toEqual([
      `${HC}.clientKey: clientKey without clientCertificate`,
    ]);
  });

  it('refuses both kinds at once, and paths that are not absolute', () => {
    expect(
      problems(
        'health-check-credentials',
        withHealthCheck({ clientCertificate: '/a.crt', clientKey: '/a.key', bearerTokenFile: '/t' }),
      ),
    ).toEqual([`${HC}.bearerTokenFile: both a client certificate and a bearer token are set`]);
    expect(
      problems(
        'health-check-credentials',
        withHealthCheck({ clientCertificate: 'pki/hc.crt', clientKey: '~/hc.key' }),
      ),
    ).toEqual([
      `${HC}.clientCertificate: "pki/hc.crt" is not an absolute path`,
      `${HC}.clientKey: "~/hc.key" is not an absolute path`,
    ]);
    expect(problems('health-check-credentials', withHealthCheck({ bearerTokenFile: '/t\nx' }))).toEqual([
      `${HC}.bearerTokenFile: "/t\\nx" is not an absolute path`,
    ]);
  });
});

describe('defaults and the Cluster a native file makes', () => {
  it('fills in ssh user root and port 22, names hosts address:port, and keeps workers out of controllers', () => {
    const c = cluster(
      nativeFile(cplbOf(), [
        ...controllers(2),
        { role: 'worker', ssh: { address: 'w-0', user: 'ops', port: 2222 } },
      ]),
    );
    expect(c.format).toBe('native');
    expect(c.name).toBe('cplb');
    expect(c.hosts.map((h) => [h.name, h.role, h.ssh.user, h.ssh.port])).toEqual([
      ['192.168.122.11:22', 'controller', 'root', 22],
      ['192.168.122.12:22', 'controller', 'root', 22],
      ['w-0:2222', 'worker', 'ops', 2222],
    ]);
    expect(c.controllers.map((h) => h.name)).toEqual(['192.168.122.11:22', '192.168.122.12:22']);
    expect(c.cplb.vrrpInstances[0]).toMatchObject({
      index: 0,
      name: 'k0s-vip-0',
      virtualRouterID: 51,
      advertIntervalSeconds: 1,
    });
    expect(c.cplb.vrrpInstances[0]!.vips).toEqual([
      { cidr: '192.168.122.200/24', address: '192.168.122.200', prefix: 24, family: 4 },
    ]);
    expect([c.cplb.vrrpVersion, c.cplb.disableLoadBalancer, c.cplb.virtualServers]).toEqual([2, false, []]);
    expect(c.secrets).toEqual(['Example']);
  });
});

describe('k0sctl → Cluster', () => {
  it('reads hosts and the CPLB section of an unchanged k0sctl.yaml and ignores the rest', () => {
    const hosts = [
      {
        role: 'controller',
        ssh: { address: 'cp-0.lab', keyPath: '/dev/null' },
        k0sBinaryPath: '/opt/k0s',
        uploadBinary: true,
        installFlags: ['--debug'],
      },
      {
        role: 'controller+worker',
        ssh: { address: 'cp-1.lab', port: 2222 },
        privateInterface: 'eth1',
        files: [{ src: 'a', dstDir: '/b' }],
        hooks: { apply: { before: ['true'] } },
      },
      { role: 'worker', ssh: { address: 'w-0.lab' }, environment: { A: 'b' } },
    ];
    const c = cluster(
      k0sctlFile(cplbOf(), hosts, { api: { port: 9443, sans: ['x'] }, telemetry: { enabled: false } }),
    );
    expect(c.format).toBe('k0sctl');
    expect(c.name).toBe('k0s-cluster');
    expect(c.hosts.map((h) => h.name)).toEqual(['cp-0.lab:22', 'cp-1.lab:2222', 'w-0.lab:22']);
    expect(c.controllers.map((h) => h.role)).toEqual(['controller', 'controller+worker']);
    expect(c.hosts[0]!.ssh.keyPath).toBe('/dev/null');
    expect(c.hosts[1]!.privateInterface).toBe('eth1');
    expect(c.cplb.apiServerPort).toBe(9443);
    expect(c.paths.cplb).toEqual(['spec', 'k0s', 'config', 'spec', 'network', 'controlPlaneLoadBalancing']);
    expect(c.cplb.vrrpInstances[0]!.path).toEqual([...c.paths.cplb, 'keepalived', 'vrrpInstances', 0]);
  });

  it('leaves hosts without ssh out of the Cluster (k0sctl workers may use localhost or winRM)', () => {
    const c = cluster(
      k0sctlFile(cplbOf(), [...controllers(2), { role: 'worker', localhost: { enabled: true } }]),
    );
    expect(c.hosts).toHaveLength(2);
  });

  it('checks only what cplbctl owns: unknown keys outside the CPLB section and hosts are fine', () => {
    const text = k0sctlFile(cplbOf(), controllers(), { madeUp: { anything: 1 } }).replace(
      'spec:\n',
      'spec:\n  options:\n    wait: { enabled: true }\n',
    );
    expect(load(text).diagnostics).toEqual([]);
  });
});

describe('the rule list', () => {
  it('has a describe block here for every rule in RULES, and none for rules that are gone', () => {
    const names = RULES.map((r) => r.name);
    expect(new Set(names).size, 'rule names are unique').toBe(names.length);
    expect(
      names.filter((n) => !described.has(n)),
      'rules without tests',
    ).toEqual([]);
    expect(
      [...described].filter((n) => !names.includes(n)),
      'tests for unknown rules',
    ).toEqual([]);
  });
});

import { describe, expect, it } from 'vitest';
import type { HostFacts } from '../../src/plan/facts.js';
import { compareVersions, validateFacts } from '../../src/plan/validate-facts.js';
import { clusterYaml, hostName, labFactsAll, loadCluster, SCENARIOS } from './plan-fixtures.js';

const multicast = () => loadCluster(clusterYaml(SCENARIOS.multicast));
const brief = (ds: ReturnType<typeof validateFacts>) =>
  ds.map((d) => `${d.severity} ${d.check} ${d.host ?? '-'}: ${d.message}`);

function withHost(n: number, change: (f: HostFacts) => void): HostFacts[] {
  return labFactsAll().map((f) => {
    if (f.host === hostName(n)) change(f);
    return f;
  });
}

describe('validateFacts', () => {
  it('finds nothing wrong with the lab', () => {
    for (const s of Object.keys(SCENARIOS) as (keyof typeof SCENARIOS)[])
      expect(brief(validateFacts(loadCluster(clusterYaml(SCENARIOS[s])), labFactsAll())), s).toEqual([]);
  });

  it('missing facts for a controller', () => {
    expect(brief(validateFacts(multicast(), labFactsAll().slice(0, 2)))).toEqual([
      'error facts 198.18.0.13:22: no facts gathered',
    ]);
  });

  it('interface: default route NIC per family, privateInterface, instance interface, MAC', () => {
    const cluster = multicast();
    const noRoute = withHost(12, (f) => (f.defaultRoutes = []));
    expect(brief(validateFacts(cluster, noRoute))).toEqual([
      'error interface 198.18.0.12:22: k0s-vip-0: no interface named and the host has no default route to pick one from',
    ]);
    // privateInterface names a NIC the host lacks.
    cluster.controllers[0]!.privateInterface = 'bond0';
    expect(brief(validateFacts(cluster, labFactsAll()))[0]).toMatch(
      /error interface 198.18.0.11:22: k0s-vip-0: no interface named bond0 \(from privateInterface\)/,
    );
    // The instance's interface beats privateInterface; a MAC resolves too.
    cluster.cplb.vrrpInstances[0]!.interface = '52:54:00:CB:01:11';
    const ds = validateFacts(cluster, labFactsAll());
    expect(brief(ds)).toEqual([
      'error interface 198.18.0.12:22: k0s-vip-0: no interface has MAC 52:54:00:CB:01:11 (from instance)',
      'error interface 198.18.0.13:22: k0s-vip-0: no interface has MAC 52:54:00:CB:01:11 (from instance)',
    ]);
    expect(ds[0]!.hint).toMatch(/the host has lo, eth0, eth1; fix vrrpInstances\[0\]\.interface/);
  });

  it('an IPv6 VIP without an IPv6 default route falls back to the IPv4 one, with a warning', () => {
    const facts = labFactsAll().map((f) => ({
      ...f,
      defaultRoutes: f.defaultRoutes.filter((r) => r.family === 4),
    }));
    const ds = brief(validateFacts(loadCluster(clusterYaml(SCENARIOS.dualStack)), facts));
    expect(ds).toHaveLength(3);
    expect(ds[0]).toBe(
      'warning interface 198.18.0.11:22: k0s-vip-1: no IPv6 default route: using eth1, the NIC of the IPv4 default route',
    );
  });

  it('VIP outside the NIC subnets and a NIC without carrier are warnings', () => {
    const facts = withHost(13, (f) => {
      const eth1 = f.interfaces.find((i) => i.name === 'eth1')!;
      eth1.up = false;
      eth1.addresses = [{ address: '10.9.0.13', prefix: 16, family: 4, scope: 'global' }];
    });
    expect(brief(validateFacts(multicast(), facts))).toEqual([
      'warning interface 198.18.0.13:22: k0s-vip-0: interface eth1 is down or has no carrier',
      'warning vip-subnet 198.18.0.13:22: k0s-vip-0: VIP 198.18.0.100 is in no subnet of eth1 (10.9.0.13/16)',
    ]);
  });

  it('unicast: exactly one source address per host', () => {
    const cluster = loadCluster(clusterYaml(SCENARIOS.unicast));
    const none = withHost(12, (f) => (f.interfaces.find((i) => i.name === 'eth1')!.addresses = []));
    expect(brief(validateFacts(cluster, none)).filter((d) => d.includes('unicast'))).toEqual([
      'error unicast 198.18.0.12:22: k0s-vip-0: none of the unicast addresses (198.18.0.11, 198.18.0.12, 198.18.0.13) is an address of this host',
    ]);
    const two = withHost(11, (f) =>
      f.interfaces
        .find((i) => i.name === 'eth0')!
        .addresses.push({ address: '198.18.0.12', prefix: 24, family: 4, scope: 'global' }),
    );
    expect(brief(validateFacts(cluster, two))).toEqual([
      'error unicast 198.18.0.11:22: k0s-vip-0: several unicast addresses (198.18.0.11, 198.18.0.12) are addresses of this host',
    ]);
    const elsewhere = withHost(11, (f) => {
      const [eth0, eth1] = [f.interfaces[1]!, f.interfaces[2]!];
      eth0.addresses.push(eth1.addresses.shift()!);
      eth1.addresses.unshift({ address: '198.18.0.211', prefix: 24, family: 4, scope: 'global' });
    });
    expect(brief(validateFacts(cluster, elsewhere))).toEqual([
      'warning unicast 198.18.0.11:22: k0s-vip-0: unicast source 198.18.0.11 is not on eth1',
    ]);
  });

  it('clocks more than 30 s apart', () => {
    const facts = labFactsAll((n) => ({ clockOffsetMs: n === 12 ? -31_000 : n === 13 ? 500 : 0 }));
    expect(brief(validateFacts(multicast(), facts))).toEqual([
      'warning clock -: host clocks differ by 32 s (198.18.0.12:22 behind 198.18.0.13:22)',
    ]);
    expect(
      validateFacts(
        multicast(),
        labFactsAll((n) => ({ clockOffsetMs: n * 1000 })),
      ),
    ).toEqual([]);
  });

  it('tools: missing but installable is a warning; no package manager is an error', () => {
    const facts = withHost(11, (f) => {
      f.keepalived = { present: false };
      f.ip6tables = { present: false };
    });
    expect(brief(validateFacts(multicast(), facts))).toEqual([
      'warning tools 198.18.0.11:22: keepalived is not installed (it moves the VIP)',
    ]);
    expect(brief(validateFacts(loadCluster(clusterYaml(SCENARIOS.dualStack)), facts))).toEqual([
      'warning tools 198.18.0.11:22: keepalived is not installed (it moves the VIP)',
      'warning tools 198.18.0.11:22: ip6tables is not installed (an IPv6 VIP needs IPv6 redirect rules)',
    ]);
    delete facts[0]!.packageManager;
    expect(validateFacts(multicast(), facts).map((d) => d.severity)).toEqual(['error']);
  });

  it('agent packaging: x86_64 glibc gets the executable; elsewhere node >= 18 is needed', () => {
    const arm = (node: HostFacts['node']) => withHost(12, (f) => ((f.arch = 'aarch64'), (f.node = node)));
    expect(
      validateFacts(multicast(), arm({ present: true, path: '/usr/bin/node', version: '18.19.0' })),
    ).toEqual([]);
    const [old] = validateFacts(
      multicast(),
      arm({ present: true, path: '/usr/bin/node', version: '16.20.2' }),
    );
    expect(old).toMatchObject({ severity: 'error', check: 'agent', host: '198.18.0.12:22' });
    expect(old!.message).toBe(
      "linux aarch64 is not x86_64, so the agent runs on the host's node, but node 16.20.2 is older than 18",
    );
    const [none] = validateFacts(multicast(), arm(undefined));
    expect(none!.message).toMatch(/node is not installed/);
    expect(none!.hint).toMatch(/install Node.js 18 or newer/);
    const alpine = withHost(
      13,
      (f) => ((f.os = { id: 'alpine', idLike: [], prettyName: 'Alpine Linux v3.20' }), delete f.node),
    );
    expect(validateFacts(multicast(), alpine)[0]!.message).toMatch(/^Alpine Linux v3.20 uses musl libc/);
  });

  it('a VIP on two hosts right now', () => {
    const facts = labFactsAll((n) => ({ vipsHeld: n === 13 ? [] : ['198.18.0.100'] }));
    expect(brief(validateFacts(multicast(), facts))).toEqual([
      'warning vip-holders -: VIP 198.18.0.100 is on 2 hosts right now: 198.18.0.11:22, 198.18.0.12:22',
    ]);
  });

  it('health check credential files: on every host, regular, the secrets private', () => {
    const cluster = multicast();
    cluster.cplb.healthCheck = {
      ...cluster.cplb.healthCheck,
      clientCertificate: '/pki/hc.crt',
      clientKey: '/pki/hc.key',
    };
    const files = (n: number): HostFacts['healthCheckFiles'] =>
      n === 11
        ? [
            { path: '/pki/hc.crt', kind: 'file', mode: 0o644 },
            { path: '/pki/hc.key', kind: 'file', mode: 0o600 },
          ]
        : n === 12
          ? [
              { path: '/pki/hc.crt', kind: 'missing' },
              { path: '/pki/hc.key', kind: 'file', mode: 0o640 },
            ]
          : [
              { path: '/pki/hc.crt', kind: 'other' },
              { path: '/pki/hc.key', kind: 'file', mode: 0o400 },
            ];
    const facts = labFactsAll().map((f) => ({
      ...f,
      healthCheckFiles: files(Number(f.host.split('.')[3]!.split(':')[0])),
    }));
    expect(brief(validateFacts(cluster, facts))).toEqual([
      'error health-check-files 198.18.0.12:22: healthCheck.clientCertificate /pki/hc.crt does not exist',
      'error health-check-files 198.18.0.12:22: healthCheck.clientKey /pki/hc.key has mode 0640: others may read the secret',
      'error health-check-files 198.18.0.13:22: healthCheck.clientCertificate /pki/hc.crt is not a regular file',
    ]);
    expect(brief(validateFacts(cluster, labFactsAll()))).toHaveLength(3);
    expect(brief(validateFacts(multicast(), facts))).toEqual([]);
  });

  it('compareVersions', () => {
    expect(compareVersions('2.2.7', '2.1.0')).toBeGreaterThan(0);
    expect(compareVersions('2.0.19', '2.1')).toBeLessThan(0);
    expect(compareVersions('2.1', '2.1.0')).toBe(0);
  });
});

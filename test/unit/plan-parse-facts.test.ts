/**
 * The facts parsers against output recorded on a real machine (fixtures/facts/, captured in a
 * throwaway netns with veths, a VIP-like address and a secondary IPv6 address), and FACTS_SCRIPT
 * run for real under dash and bash, with all tools and with most of them missing.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  FACTS_SCRIPT,
  iptablesBackend,
  iptablesVersion,
  keepalivedVersion,
  nodeVersion,
  parseClockMs,
  parseDefaultRoute,
  parseFactsOutput,
  parseInit,
  parseIpAddr,
  parseOsRelease,
  parsePackageManager,
} from '../../src/plan/parse-facts.js';
import { sectionMap } from '../../src/contract/script.js';
import { clusterYaml, loadCluster, SCENARIOS } from './plan-fixtures.js';

const FACTS = join(import.meta.dirname, '../../fixtures/facts');
const fixture = (name: string) => readFileSync(join(FACTS, name), 'utf8');
const dualStack = () => loadCluster(clusterYaml(SCENARIOS.dualStack));

describe('ip -j addr show', () => {
  const ifaces = parseIpAddr(fixture('ip-addr.json'), ['198.18.0.100', 'fd5e:1:0::100']);
  const eth0 = ifaces.find((i) => i.name === 'eth0')!;

  it('reads every link with its MAC and state', () => {
    expect(ifaces.map((i) => [i.name, i.mac, i.up])).toEqual([
      ['lo', '00:00:00:00:00:00', true],
      ['peer0', 'e2:09:24:6e:81:78', true],
      ['eth0', '52:54:00:cb:00:01', true],
      ['peer1', 'ba:97:44:38:98:b6', false],
      ['eth1', '52:54:00:cb:01:01', false], // admin up, but NO-CARRIER
    ]);
  });

  it('puts the VIPs in vipsHeld and never among the host addresses (k0sctl #1100)', () => {
    expect(eth0.vipsHeld).toEqual(['198.18.0.100', 'fd5e:1::100']);
    expect(eth0.addresses).toEqual([
      { address: '198.18.0.11', prefix: 24, family: 4, scope: 'global' },
      { address: 'fd5e:1::11', prefix: 64, family: 6, scope: 'global' },
      { address: 'fe80::5054:ff:fecb:1', prefix: 64, family: 6, scope: 'link' },
    ]);
  });

  it('without VIPs to filter, the VIP-like address is just an address', () => {
    const plain = parseIpAddr(fixture('ip-addr.json')).find((i) => i.name === 'eth0')!;
    expect(plain.vipsHeld).toEqual([]);
    expect(plain.addresses.map((a) => a.address)).toContain('198.18.0.100');
  });

  it('empty output (no iproute2) is no interfaces; other text is an error', () => {
    expect(parseIpAddr('')).toEqual([]);
    expect(() => parseIpAddr('Object "addr" is unknown')).toThrow(/not JSON/);
  });
});

describe('ip -j route show default', () => {
  it('reads the NIC and gateway per family', () => {
    expect(parseDefaultRoute(fixture('route4.json'), 4)).toEqual({
      family: 4,
      interface: 'eth0',
      gateway: '198.18.0.1',
    });
    expect(parseDefaultRoute(fixture('route6.json'), 6)).toEqual({
      family: 6,
      interface: 'eth0',
      gateway: 'fd5e:1::1',
    });
  });

  it('picks the lowest metric among several, multipath included', () => {
    expect(parseDefaultRoute(fixture('route4-several.json'), 4)?.interface).toBe('eth0');
    const multipathOnly = JSON.stringify([JSON.parse(fixture('route4-several.json'))[2]]);
    expect(parseDefaultRoute(multipathOnly, 4)).toEqual({
      family: 4,
      interface: 'eth0',
      gateway: '198.18.0.2',
    });
  });

  it('no default route', () => {
    expect(parseDefaultRoute(fixture('route6-none.json'), 6)).toBeUndefined();
  });
});

describe('small parsers', () => {
  it('tool versions as the tools print them', () => {
    expect(keepalivedVersion(fixture('keepalived-version.txt').trim())).toBe('2.2.7');
    expect(iptablesVersion(fixture('iptables-version.txt').trim())).toBe('1.8.9');
    expect(iptablesVersion(fixture('ip6tables-version.txt').trim())).toBe('1.8.9');
    expect(iptablesBackend(fixture('iptables-version.txt').trim())).toBe('nft');
    expect(iptablesBackend(fixture('iptables-legacy-version.txt').trim())).toBe('legacy');
    expect(iptablesBackend('iptables v1.6.1')).toBe('legacy');
    expect(nodeVersion('v20.20.2')).toBe('20.20.2');
  });

  it('os-release, init, package manager, clock', () => {
    const os = parseOsRelease(
      'NAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.20.1\nPRETTY_NAME="Alpine Linux v3.20"\n',
    );
    expect(os).toEqual({ id: 'alpine', idLike: [], versionId: '3.20.1', prettyName: 'Alpine Linux v3.20' });
    expect(parseOsRelease('ID=rocky\nID_LIKE="rhel centos fedora"\n').idLike).toEqual([
      'rhel',
      'centos',
      'fedora',
    ]);
    expect([parseInit('systemd'), parseInit('openrc\n'), parseInit('none'), parseInit('')]).toEqual([
      'systemd',
      'openrc',
      'none',
      'none',
    ]);
    expect([parsePackageManager('apt-get'), parsePackageManager('apk'), parsePackageManager('')]).toEqual([
      'apt',
      'apk',
      undefined,
    ]);
    expect(parseClockMs('1795373148151887319')).toBe(1795373148152);
    expect(parseClockMs('1795373148N')).toBe(1795373148000); // busybox date has no %N
    expect(parseClockMs('1795382801.470066')).toBe(1795382801470); // bash's $EPOCHREALTIME
    expect(parseClockMs('')).toBeUndefined();
  });
});

describe('parseFactsOutput on the recorded script output', () => {
  const facts = parseFactsOutput('198.18.0.11:22', fixture('netns-facts.out'), dualStack(), 1795373148000);

  it('fills every field', () => {
    expect(facts).toMatchObject({
      host: '198.18.0.11:22',
      hostname: 'vm',
      os: { id: 'debian', versionId: '12' },
      init: 'none',
      arch: 'x86_64',
      node: { present: true, path: '/usr/bin/node', version: '20.20.2' },
      keepalived: { present: true, path: '/usr/sbin/keepalived', version: '2.2.7' },
      iptables: { present: true, version: '1.8.9', backend: 'nft' },
      ip6tables: { present: true, version: '1.8.9' },
      packageManager: 'apt',
      defaultRoutes: [
        { family: 4, interface: 'eth0' },
        { family: 6, interface: 'eth0' },
      ],
      agent: { running: false },
      clock: { remoteMs: 1795373148152, localMs: 1795373148000 },
    });
    expect(facts.interfaces.find((i) => i.name === 'eth0')?.vipsHeld).toEqual([
      '198.18.0.100',
      'fd5e:1::100',
    ]);
  });

  it('refuses output cut short', () => {
    const cut = fixture('netns-facts.out').split('@@cplb:route6')[0]!;
    expect(() => parseFactsOutput('h:22', cut, dualStack(), 0)).toThrow(/did not run to its end/);
  });
});

describe('facts from a hostile host', () => {
  type Link = {
    ifname: string;
    address?: string;
    addr_info: { family: string; local: string; prefixlen: number }[];
  };
  type Route = { dst?: string; dev: string; gateway?: string };
  const out = fixture('netns-facts.out');
  const section = (name: string) => sectionMap(out).get(name)!;
  /** The recorded output with one section's JSON changed. */
  const edited = <T>(name: string, change: (items: T[]) => void) => {
    const items = JSON.parse(section(name)) as T[];
    change(items);
    return out.replace(section(name), JSON.stringify(items));
  };
  const eth0 = (links: Link[]) => links.find((l) => l.ifname === 'eth0')!;
  const parse = (text: string) => () => parseFactsOutput('h:22', text, dualStack(), 0);
  const refused = (text: string, what: RegExp) => {
    expect(parse(text)).toThrow(what);
    expect(parse(text)).toThrow(expect.objectContaining({ code: 'FACTS_UNREADABLE', host: 'h:22' }));
  };

  it('refuses an interface name that is none (it would reach keepalived.conf and agent.json)', () => {
    const evil = 'eth0 }\nvrrp_script x { script "/bin/sh -c id" }';
    refused(
      edited<Link>('addr', (l) => (eth0(l).ifname = evil)),
      /interface name .*is not a valid/,
    );
    refused(
      edited<Route>('route4', (r) => (r[0]!.dev = evil)),
      /interface name .*is not a valid/,
    );
  });

  it('refuses a hostname that is none (it becomes router_id in keepalived.conf)', () => {
    const evil = out.replace(`@@cplb:hostname\n${section('hostname')}`, '@@cplb:hostname\nvm }');
    refused(evil, /hostname "vm }" is not a host name/);
  });

  it('refuses addresses that are no IP addresses of their family, and impossible prefixes', () => {
    refused(
      edited<Link>('addr', (l) => (eth0(l).addr_info[0]!.local = '198.18.0.11 }')),
      /"198.18.0.11 }" is not an IPv4 address/,
    );
    refused(
      edited<Link>('addr', (l) => (eth0(l).addr_info[0]!.local = 'fd5e:1::11')),
      /"fd5e:1::11" is not an IPv4 address/,
    );
    refused(
      edited<Link>('addr', (l) => (eth0(l).addr_info[0]!.prefixlen = 99)),
      /prefix length 99/,
    );
    refused(
      edited<Route>('route4', (r) => (r[0]!.gateway = '198.18.0.1;reboot')),
      /"198.18.0.1;reboot" is not an IP address/,
    );
  });

  it('reads a link address that is no MAC (tunnels, hostile hosts) as none', () => {
    const facts = parse(edited<Link>('addr', (l) => (eth0(l).address = '52:54:00:cb:00:01 }')))();
    expect(facts.interfaces.find((i) => i.name === 'eth0')!.mac).toBe('');
  });
});

describe.each(['dash', 'bash'])('FACTS_SCRIPT (OS_SCRIPT + NET_SCRIPT) under %s', (shell) => {
  it('runs on this machine in one go and parses', () => {
    const out = execFileSync(shell, ['-c', FACTS_SCRIPT], { encoding: 'utf8' });
    const facts = parseFactsOutput('local:22', out, dualStack(), Date.now());
    expect(facts.hostname).toBe(hostname());
    expect(facts.arch).toBe(execFileSync('uname', ['-m'], { encoding: 'utf8' }).trim());
    expect(facts.os.id).toBe('debian');
    expect(facts.keepalived).toEqual({ present: true, path: '/usr/sbin/keepalived' });
    expect(facts.iptables).toMatchObject({ present: true, version: expect.stringMatching(/^1\.8\./) });
    expect(facts.iptables.backend).toMatch(/^(nft|legacy)$/);
    expect(facts.ip6tables.present).toBe(true);
    // scripts/install-deps.sh installs the pre-flight tools on this machine.
    expect(facts.probeTools).toEqual(['tcpdump', 'arping', 'ndisc6', 'ping']);
    // x86_64 glibc runs the single executable: node's version is not asked for.
    if (facts.node) expect(facts.node.version).toBeUndefined();
    expect(facts.interfaces.some((i) => i.name === 'lo')).toBe(true);
    expect(Math.abs(facts.clock.remoteMs - facts.clock.localMs)).toBeLessThan(2000);
    expect([...sectionMap(out).keys()]).toEqual(
      ['hostname', 'arch', 'os', 'init', 'pkg', 'keepalived', 'iptables', 'ip6tables', 'probes', 'node', 'clock', 'addr', 'route4', 'route6', 'agent', 'end'],
    ); // prettier-ignore
  });

  it('asks node its version where the agent would run on it (not x86_64 glibc)', () => {
    const bin = mkdtempSync(join(tmpdir(), 'cplb-facts-'));
    try {
      // A fake node that answers --version, and an os-release that says Alpine (musl).
      writeFileSync(join(bin, 'node'), '#!/bin/sh\necho v22.1.0\n', { mode: 0o755 });
      const script = FACTS_SCRIPT.replace(/^PATH=.*$/gm, `PATH=${bin}:/usr/sbin:/usr/bin:/sbin:/bin`).replace(
        /f=\/etc\/os-release;/,
        `f=${join(bin, 'os-release')};`,
      );
      writeFileSync(join(bin, 'os-release'), 'NAME="Alpine Linux"\nID=alpine\n');
      const out = execFileSync(shell, ['-c', script], { encoding: 'utf8' });
      const facts = parseFactsOutput('alpine:22', out, dualStack(), Date.now());
      expect(facts.os.id).toBe('alpine');
      expect(facts.node).toEqual({ present: true, path: join(bin, 'node'), version: '22.1.0' });
    } finally {
      rmSync(bin, { recursive: true, force: true });
    }
  });

  it('tolerates missing tools: only sh builtins, date, uname and grep on PATH', () => {
    const bin = mkdtempSync(join(tmpdir(), 'cplb-facts-'));
    try {
      for (const tool of ['date', 'uname', 'grep']) symlinkSync(`/usr/bin/${tool}`, join(bin, tool));
      // Both halves (OS_SCRIPT, NET_SCRIPT) set PATH: replace every one.
      const script = FACTS_SCRIPT.replace(/^PATH=.*$/gm, `PATH=${bin}`);
      const out = execFileSync(shell === 'bash' ? '/bin/bash' : '/bin/dash', ['-c', script], {
        encoding: 'utf8',
      });
      const facts = parseFactsOutput('bare:22', out, dualStack(), Date.now());
      expect(facts).toMatchObject({
        keepalived: { present: false },
        iptables: { present: false },
        ip6tables: { present: false },
        probeTools: [],
        interfaces: [],
        defaultRoutes: [],
      });
      expect(facts.node).toBeUndefined();
      expect(facts.packageManager).toBeUndefined();
    } finally {
      rmSync(bin, { recursive: true, force: true });
    }
  });
});

import { describe, expect, it } from 'vitest';
import { parsePrefix, planLayout } from '../../src/lab/layout.js';
import { formatCidr6, parsePrefix6, tryParseCidr6, ulaCandidate, withIpv6 } from '../../src/lab/layout6.js';
import { type MachineNet6, findConflicts6, pickPrefix6 } from '../../src/lab/prefix6.js';

const cidr = (s: string) => tryParseCidr6(s)!;
const entries = (list: string[], kind: string) => list.map((x) => ({ cidr: cidr(x), text: `${kind} ${x}` }));
/** This machine's own IPv6: an uplink in fd00::/64, link-local, loopback, multicast. */
const machine: MachineNet6 = {
  routes: entries(['fd00::/64', 'fe80::/64', 'ff00::/8', '::1'], 'route'),
  addresses: entries(['fd00::2/64', 'fd00::2', '::1'], 'address'),
  nameservers: [],
};

describe('lab IPv6 block', () => {
  it('derives a ULA /48 from the lab name, the same every time', () => {
    const a = ulaCandidate('lab', 0);
    expect(formatCidr6(a)).toMatch(/^fd[0-9a-f]{2}:[0-9a-f]{1,4}:[0-9a-f]{1,4}::\/48$/);
    expect(ulaCandidate('lab', 0)).toEqual(a);
    expect(ulaCandidate('other', 0)).not.toEqual(a);
    expect(ulaCandidate('lab', 1)).not.toEqual(a);
  });

  it('finds overlaps with the machine, and none with a block beside them', () => {
    expect(findConflicts6(cidr('fd00::/48'), machine)).toEqual([
      'route fd00::/64',
      'address fd00::2/64',
      'address fd00::2',
    ]);
    expect(findConflicts6(cidr('fd00:1::/48'), machine)).toEqual([]);
    expect(findConflicts6(cidr('fd00::/8'), machine)).toContain('route fd00::/64');
  });

  it('refuses an explicit block the machine uses and otherwise picks the first free candidate', () => {
    expect(() => pickPrefix6('lab', cidr('fd00::/48'), machine)).toThrow(
      /fd00::\/48 overlaps the machine's network: route fd00::\/64/,
    );
    expect(pickPrefix6('lab', cidr('fd00:1::/48'), machine)).toEqual(cidr('fd00:1::/48'));
    expect(pickPrefix6('lab', undefined, machine)).toEqual(ulaCandidate('lab', 0));
    // The first candidate is taken (by another lab's unreachable route, say): the next one.
    const taken: MachineNet6 = {
      ...machine,
      routes: [...machine.routes, { cidr: ulaCandidate('lab', 0), text: 'route unreachable' }],
    };
    expect(pickPrefix6('lab', undefined, taken)).toEqual(ulaCandidate('lab', 1));
  });

  it('takes only ULA blocks of /64 or larger for --prefix6', () => {
    expect(formatCidr6(parsePrefix6('fd5c:1ab0:42::/48'))).toBe('fd5c:1ab0:42::/48');
    expect(() => parsePrefix6('198.18.0.0/23')).toThrow(/not an IPv6 CIDR/);
    expect(() => parsePrefix6('fd5c::1')).toThrow(/not an IPv6 CIDR/);
    expect(() => parsePrefix6('2001:db8::/48')).toThrow(/inside fd00::\/8/);
    expect(() => parsePrefix6('fd5c::/80')).toThrow(/\/64 or larger/);
  });
});

describe('lab IPv6 layout', () => {
  const v4 = planLayout('lab', 'plain', parsePrefix('198.18.0.0/23'), 3);
  const layout = withIpv6(v4, cidr('fd5c:1ab0:42::/48'));

  it('mirrors the IPv4 host numbers on the main /64', () => {
    expect(layout.ipv6).toEqual({
      prefix: 'fd5c:1ab0:42::/48',
      mainNet: 'fd5c:1ab0:42::/64',
      rootAddress: 'fd5c:1ab0:42::254',
      vip: 'fd5c:1ab0:42::100/64',
    });
    expect(layout.hosts.map((h) => [h.name, h.address, h.address6])).toEqual([
      ['c1', '198.18.0.11', 'fd5c:1ab0:42::11'],
      ['c2', '198.18.0.12', 'fd5c:1ab0:42::12'],
      ['c3', '198.18.0.13', 'fd5c:1ab0:42::13'],
      ['client', '198.18.0.200', 'fd5c:1ab0:42::200'],
    ]);
  });

  it('leaves the IPv4 layout as it was', () => {
    const { ipv6: _, hosts, ...rest } = layout;
    const { hosts: v4Hosts, ...v4Rest } = v4;
    expect(rest).toEqual(v4Rest);
    expect(hosts.map(({ address6: _a, ...h }) => h)).toEqual(v4Hosts);
    expect(v4.ipv6).toBeUndefined();
  });
});

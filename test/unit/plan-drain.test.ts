/** HOST as the operator types it, and the refusal to drain the last host that could hold a VIP. */
import { describe, expect, it } from 'vitest';
import { drainRefusal, matchHost, type Candidate, type HostNames } from '../../src/plan/drain.js';

const hosts: HostNames[] = [
  { name: '10.0.0.1:22', address: '10.0.0.1', port: 22, hostname: 'ctl1' },
  { name: '10.0.0.2:22', address: '10.0.0.2', port: 22, hostname: 'ctl2' },
  { name: 'ctl3-alias:22', address: 'ctl3-alias', port: 22, dialHost: '10.0.0.3', hostname: 'ctl3' },
  { name: '[fd00::4]:2222', address: 'fd00::4', port: 2222 },
];
const pick = (q: string, alias?: { host: string; port?: number }) => {
  const m = matchHost(q, hosts, alias);
  return m.ok ? m.host.name : m.message;
};

describe('matchHost (drain HOST)', () => {
  it('finds a controller by address:port, address, hostname or the alias it is reached by', () => {
    expect(pick('10.0.0.2:22')).toBe('10.0.0.2:22');
    expect(pick('10.0.0.2')).toBe('10.0.0.2:22');
    expect(pick('ctl1')).toBe('10.0.0.1:22');
    expect(pick('CTL1')).toBe('10.0.0.1:22');
    expect(pick('ctl3-alias')).toBe('ctl3-alias:22');
    expect(pick('10.0.0.3')).toBe('ctl3-alias:22');
    expect(pick('[fd00::4]:2222')).toBe('[fd00::4]:2222');
    expect(pick('fd00:0::4')).toBe('[fd00::4]:2222');
  });

  it('follows an ~/.ssh/config alias to its HostName, and its Port when set', () => {
    expect(pick('db', { host: '10.0.0.1' })).toBe('10.0.0.1:22');
    expect(pick('db', { host: '10.0.0.3', port: 22 })).toBe('ctl3-alias:22');
    expect(pick('db', { host: '10.0.0.1', port: 2200 })).toMatch(/^db is no controller/);
  });

  it('names what it matched against when nothing matches', () => {
    const m = pick('ctl9');
    expect(m).toMatch(
      /^ctl9 is no controller of the cluster file: matched against address:port, address, hostname/,
    );
    expect(m).toContain('10.0.0.1:22 / ctl1');
    expect(m).toContain('ctl3-alias:22 / ctl3 / 10.0.0.3');
    expect(m).toContain('(hostname not read from [fd00::4]:2222: unreachable)');
    expect(pick('10.0.0.1:2222')).toMatch(/no controller/);
  });

  it('refuses an address two controllers share: say address:port', () => {
    const twin = [...hosts, { name: '10.0.0.1:2200', address: '10.0.0.1', port: 2200 }];
    const m = matchHost('10.0.0.1', twin);
    expect(m.ok).toBe(false);
    expect(!m.ok && m.message).toMatch(/address of 2 controllers \(10\.0\.0\.1:22, 10\.0\.0\.1:2200\)/);
    expect(matchHost('10.0.0.1:2200', twin)).toMatchObject({ ok: true, host: { port: 2200 } });
  });
});

describe('drainRefusal (the last host that could hold a VIP)', () => {
  const up = (name: string, over: Partial<Candidate> = {}): Candidate => ({
    name,
    reachable: true,
    running: true,
    healthy: true,
    drained: false,
    ...over,
  });

  it('allows a drain while another healthy, undrained host remains', () => {
    expect(drainRefusal('a', [up('a'), up('b', { drained: true }), up('c')])).toBeUndefined();
  });

  it('refuses the last one, naming why each other host cannot take over', () => {
    expect(
      drainRefusal('a', [
        up('a'),
        up('b', { drained: true }),
        up('c', { reachable: false }),
        up('d', { healthy: false, reason: 'no healthy upstream' }),
        up('e', { running: false }),
      ]),
    ).toBe(
      'a is the last host that could hold the VIPs: b drained, c unreachable, d unhealthy (no healthy upstream), e agent or keepalived not running',
    );
    expect(drainRefusal('a', [up('a')])).toBe(
      'a is the last host that could hold the VIPs (the only controller)',
    );
  });
});

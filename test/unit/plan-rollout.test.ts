import { describe, expect, it } from 'vitest';
import type { CurrentFiles } from '../../src/plan/diff.js';
import { plan, type Plan } from '../../src/plan/plan.js';
import {
  describeRollingOrder,
  identityChanges,
  planRollout,
  rollingSteps,
  vrrpIdentities,
} from '../../src/plan/rollout.js';
import { KEEPALIVED_CONF } from '../../src/contract/paths.js';
import { clusterYaml, hostName, labFactsAll, loadCluster, SCENARIOS } from './plan-fixtures.js';

const planOf = (yaml: string) => plan(loadCluster(clusterYaml(yaml)), labFactsAll());
const confOf = (p: Plan, i = 0) => p.hosts[i]!.files.find((f) => f.path === KEEPALIVED_CONF)!.content!;
/** Every host runs what `before` renders for it. */
const running = (before: Plan): CurrentFiles =>
  new Map(before.hosts.map((h, i) => [h.host, new Map([[KEEPALIVED_CONF, confOf(before, i)]])]));
const rolloutOf = (before: string, after: string) => planRollout(planOf(after), running(planOf(before)));

const base = SCENARIOS.multicast;

describe('vrrpIdentities', () => {
  it('keeps every setting of an instance but its VIPs, with the block it sits in', () => {
    const ids = vrrpIdentities(confOf(planOf(SCENARIOS.unicast)));
    expect([...ids.keys()]).toEqual(['k0s-vip-0']);
    const entries = [...ids.get('k0s-vip-0')!];
    expect(entries).toContain('virtual_router_id 51');
    expect(entries).toContain('authentication/auth_pass uni-pass');
    expect(entries).toContain('unicast_peer/198.18.0.12');
    expect(entries.some((e) => e.includes('198.18.0.100'))).toBe(false);
  });

  it('reads two instances of a dual-stack file apart', () => {
    expect([...vrrpIdentities(confOf(planOf(SCENARIOS.dualStack))).keys()]).toEqual([
      'k0s-vip-0',
      'k0s-vip-1',
    ]);
  });
});

describe('planRollout', () => {
  it('rolls a fresh deploy and an unchanged one', () => {
    const p = planOf(base);
    expect(planRollout(p, new Map()).mode).toBe('rolling');
    expect(planRollout(p, running(p)).mode).toBe('rolling');
  });

  it.each([
    ['authPass', base.replace('authPass: Example', 'authPass: Changed'), 'auth_pass'],
    [
      'virtualRouterID',
      base.replace('authPass: Example', 'authPass: Example\n          virtualRouterID: 77'),
      'virtual_router_id',
    ],
    [
      'advertIntervalSeconds',
      base.replace('authPass: Example', 'authPass: Example\n          advertIntervalSeconds: 2'),
      'advert_int',
    ],
    ['unicast', SCENARIOS.unicast.replace('uni-pass', 'Example'), 'unicast_peer'],
  ])(
    'switches every host together when %s changes, naming the keyword and never the value',
    (_what, after, key) => {
      const r = rolloutOf(base, after);
      expect(r.mode).toBe('together');
      expect(r.reason).toContain('k0s-vip-0');
      expect(r.reason).toContain(key);
      expect(r.reason).not.toMatch(/Changed|Example/);
    },
  );

  it.each([
    [
      'a VIP added',
      base.replace(
        'authPass: Example',
        'authPass: Example\n        - virtualIPs: ["198.18.0.101/24"]\n          authPass: Other',
      ),
    ],
    ['a VIP moved', base.replace('198.18.0.100/24', '198.18.0.102/24')],
    [
      'the proxy port',
      base.replace('    keepalived:\n', '    keepalived:\n      userSpaceProxyBindPort: 7444\n'),
    ],
    ['health checks', `${base}    healthCheck:\n      intervalSeconds: 2\n`],
  ])('rolls %s host by host', (_what, after) => {
    expect(rolloutOf(base, after)).toEqual({ mode: 'rolling', reason: expect.stringContaining('holder') });
  });

  it('rolls host by host when only a track_file differs: adverts do not carry it (the hand-off files came so)', () => {
    const after = planOf(base);
    // What cplbctl rendered before the hand-off files: the same file without the prefer track.
    const before = confOf(after)
      .replace(/# cplbctl writes 1 here[^\n]*\n(track_file cplb_prefer_[^{]*\{[^}]*\}\n)\n/g, '')
      .replace(/\n +cplb_prefer_\S+ weight \d+/g, '');
    expect(before).not.toContain('cplb_prefer');
    const current: CurrentFiles = new Map(
      after.hosts.map((h) => [h.host, new Map([[KEEPALIVED_CONF, before]])]),
    );
    expect(identityChanges(before, confOf(after))).toEqual([]);
    expect(planRollout(after, current).mode).toBe('rolling');
  });

  it('names only the keys that differ', () => {
    const before = confOf(planOf(base));
    const after = before.replace('virtual_router_id 51', 'virtual_router_id 52');
    expect(identityChanges(before, after)).toEqual([{ instance: 'k0s-vip-0', keys: ['virtual_router_id'] }]);
  });
});

describe('rollingSteps', () => {
  // The first host holds the VIP: it must come last, after the others went at once.
  const p = plan(
    loadCluster(clusterYaml(base)),
    labFactsAll((n) => (n === 11 ? { vipsHeld: ['198.18.0.100'] } : {})),
  );

  it('replaces the hosts without a VIP at once, then the holder alone', () => {
    expect(rollingSteps(p)).toEqual([
      { hosts: [hostName(12), hostName(13)], vips: [] },
      { hosts: [hostName(11)], vips: ['198.18.0.100'] },
    ]);
  });

  it('says the order for the hosts that change, and leaves out those that do not', () => {
    const all = new Set(p.hosts.map((h) => h.host));
    expect(describeRollingOrder(p, all)).toBe(
      `${hostName(12)}, ${hostName(13)} at once, then ${hostName(11)} (holds 198.18.0.100)`,
    );
    expect(describeRollingOrder(p, new Set([hostName(13), hostName(11)]))).toBe(
      `${hostName(13)}, then ${hostName(11)} (holds 198.18.0.100)`,
    );
    expect(describeRollingOrder(p, new Set())).toBe('');
  });
});

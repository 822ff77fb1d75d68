/** One holder per VIP over a window, and the diagnosis when not: blocked VRRP, bad password, no holder, a move. */
import { describe, expect, it } from 'vitest';
import type { HostSamples, VipTimeline } from '../../src/verify/sampler.js';
import { judgeTimeline, type DiagnosisInput } from '../../src/verify/vrrp-diagnosis.js';
import { zeroCounters, type VrrpCounters } from '../../src/verify/vrrp-stats.js';

const counters = (c: Partial<VrrpCounters>): Map<string, VrrpCounters> =>
  new Map([['k0s-vip-0', { ...zeroCounters(), ...c }]]);

function host(name: string, before: Partial<VrrpCounters>, after: Partial<VrrpCounters>): HostSamples {
  return { host: name, samples: [], statsBefore: counters(before), statsAfter: counters(after) };
}

function input(
  perSample: string[][],
  hosts: HostSamples[],
  extra: Partial<DiagnosisInput> = {},
): DiagnosisInput {
  const timeline: VipTimeline = {
    vip: '198.18.6.100',
    instance: 'k0s-vip-0',
    perSample,
    seen: [...new Set(perSample.flat())],
  };
  return {
    timeline,
    hosts,
    windowSeconds: 3,
    stateOf: (h) => `MASTER (${h})`,
    drifted: [],
    multicast: true,
    ...extra,
  };
}

const all3 = Array.from({ length: 7 }, () => ['a', 'b', 'c']);

describe('judgeTimeline', () => {
  it('accepts one holder in every sample', () => {
    expect(
      judgeTimeline(
        input(
          Array.from({ length: 7 }, () => ['b']),
          [],
        ),
      ),
    ).toEqual({ ok: true, holder: 'b' });
  });

  it('names every holder and says VRRP is blocked when adverts go out and none come in', () => {
    const hosts = ['a', 'b', 'c'].map((h) => host(h, { sent: 10, received: 4 }, { sent: 13, received: 4 }));
    const v = judgeTimeline(input(all3, hosts));
    expect(v.ok).toBe(false);
    if (v.ok) return;
    expect(v.problem).toBe(
      'VIP 198.18.6.100 (k0s-vip-0) is held by 3 hosts at once: a, b, c (in 7 of 7 samples over 3 s)',
    );
    expect(v.diagnosis[0]).toMatch(
      /^VRRP is blocked between a, b, c: .*a sent 3, b sent 3, c sent 3.*multicast 224\.0\.0\.18, IP protocol 112/,
    );
    expect(v.diagnosis).toContain('[a] MASTER (a)');
  });

  it('blames authPass when adverts arrive and fail authentication', () => {
    const hosts = [
      host('a', { sent: 1, received: 1 }, { sent: 4, received: 4, authFailures: 3 }),
      host('b', { sent: 1 }, { sent: 4, received: 3, authFailures: 3 }),
    ];
    const v = judgeTimeline(
      input(
        Array.from({ length: 7 }, () => ['a', 'b']),
        hosts,
      ),
    );
    expect(!v.ok && v.diagnosis[0]).toBe(
      'adverts arrive but fail authentication on a (3), b (3): the controllers do not share one authPass',
    );
  });

  it('points at differing VRIDs when adverts arrive without errors, and at drifted files', () => {
    const hosts = [host('a', {}, { sent: 3, received: 3 }), host('b', {}, { sent: 3, received: 3 })];
    const v = judgeTimeline(
      input(
        Array.from({ length: 3 }, () => ['a', 'b']),
        hosts,
        { drifted: ['b'] },
      ),
    );
    expect(!v.ok && v.diagnosis[0]).toMatch(/differing virtualRouterID/);
    expect(!v.ok && v.diagnosis[1]).toMatch(/^keepalived\.conf differs from the cluster file on b/);
  });

  it('falls back to the usual suspects when the counters could not be read', () => {
    const v = judgeTimeline(input(all3, [{ host: 'a', samples: [] }], { multicast: false }));
    expect(!v.ok && v.diagnosis[0]).toMatch(
      /could not be read.*IP protocol 112 between the unicast addresses/,
    );
  });

  it("reports no holder with each host's state", () => {
    const v = judgeTimeline(
      input([[], [], []], [host('a', {}, {}), host('b', {}, {})], {
        stateOf: (h) => `FAULT (agent unhealthy: no healthy upstream) ${h}`,
      }),
    );
    expect(v.ok).toBe(false);
    if (v.ok) return;
    expect(v.problem).toBe('VIP 198.18.6.100 (k0s-vip-0) is held by no host (3 samples over 3 s)');
    expect(v.diagnosis).toEqual([
      '[a] FAULT (agent unhealthy: no healthy upstream) a',
      '[b] FAULT (agent unhealthy: no healthy upstream) b',
    ]);
  });

  it('fails a VIP that moved while watched', () => {
    const v = judgeTimeline(input([['a'], [], ['b']], []));
    expect(!v.ok && v.problem).toBe(
      'VIP 198.18.6.100 (k0s-vip-0) moved while watched: held by a then b, with no holder in 1 of 3 samples',
    );
  });
});

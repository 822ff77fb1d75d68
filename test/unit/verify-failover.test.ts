/** Failover timing: bounds from the VRRP timers, figures from probes, and the scripts' output parsed. */
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { boundsFor, masterDownSeconds, skewSeconds } from '../../src/verify/failover/bounds.js';
import {
  crashRestoreScript,
  crashScript,
  gracefulRestoreScript,
  gracefulScript,
  parseInjected,
} from '../../src/verify/failover/fault.js';
import { distribution, vantageFigures, type Probe } from '../../src/verify/failover/figures.js';
import { judgeRound, runRound, type RoundContext } from '../../src/verify/failover/round.js';
import { printedIp } from '../../src/verify/failover/run.js';
import type { RoundResult } from '../../src/verify/failover/types.js';
import {
  firstAdd,
  monitorScript,
  monitorStart,
  parseProbes,
  proberScript,
} from '../../src/verify/failover/watch.js';

describe('bounds', () => {
  it('follows keepalived: v2 skew is (256 - prio)/256 s, v3 scales it by the advert', () => {
    expect(skewSeconds(2, 1)).toBeCloseTo(0.21875);
    expect(skewSeconds(2, 3)).toBeCloseTo(0.21875);
    expect(skewSeconds(3, 0.1)).toBeCloseTo(0.021875);
    expect(masterDownSeconds(2, 1)).toBeCloseTo(3.21875);
  });

  it('gives the default and the fast profile their bounds', () => {
    expect(boundsFor('crash', 2, 1)).toMatchObject({ movedMs: 3369, servedMs: 3569 });
    expect(boundsFor('crash', 3, 0.1)).toMatchObject({ movedMs: 472, servedMs: 672 });
    expect(boundsFor('graceful', 2, 1)).toMatchObject({ movedMs: 369, servedMs: 569 });
    expect(boundsFor('crash', 3, 0.1).basis).toMatch(
      /^VRRPv3: 3 × 0.1 s advert \+ 0.022 s skew \+ 150 ms margin/,
    );
  });
});

describe('vantage figures', () => {
  const p = (startMs: number, endMs: number, ok: boolean): Probe => ({ startMs, endMs, ok });

  it('times the outage from the fault to the first handshake after the last failure', () => {
    const probes = [
      p(-100, -90, true),
      p(-50, 950, false),
      p(0, 1000, false),
      p(2900, 3900, false),
      p(2950, 2960, true),
      p(3000, 3010, true),
    ];
    expect(vantageFigures('h', probes, 0)).toEqual({
      from: 'h',
      probes: 6,
      failed: 3,
      slow: 0,
      servedAgainMs: 2960,
      failedBefore: 0,
    });
  });

  it('is 0 when nothing failed, null when it never served again', () => {
    expect(vantageFigures('h', [p(10, 20, true)], 0).servedAgainMs).toBe(0);
    expect(vantageFigures('h', [p(10, 1010, false)], 0).servedAgainMs).toBeNull();
  });

  it('counts a handshake that waited for ARP as part of the outage', () => {
    const probes = [p(50, 300, true), p(100, 310, true), p(350, 360, true)];
    expect(vantageFigures('h', probes, 0)).toMatchObject({ failed: 0, slow: 2, servedAgainMs: 360 });
  });

  it('counts failures that ended before the fault apart', () => {
    expect(vantageFigures('h', [p(-2000, -1000, false), p(10, 20, true)], 0)).toMatchObject({
      failed: 0,
      failedBefore: 1,
    });
  });

  it('summarizes min, median, p90 and max', () => {
    expect(distribution([5, 1, 4, 2, 3])).toEqual({ n: 5, min: 1, median: 3, p90: 5, max: 5 });
    expect(distribution([1, 2, 3, 4])).toMatchObject({ median: 2.5, p90: 4 });
    expect(distribution([])).toBeNull();
  });
});

describe('judgeRound', () => {
  const round = (over: Partial<RoundResult>): RoundResult => ({
    round: 1, mode: 'crash', vip: '198.18.6.100', from: 'a', to: 'b', claimedBy: ['b'], movedMs: 3000, servedAgainMs: null,
    failedProbes: 0, vantages: [{ from: 'c', probes: 100, failed: 50, slow: 0, servedAgainMs: 3100, failedBefore: 0 }],
    holdersAfter: ['b'], tookBack: false, bounds: boundsFor('crash', 2, 1), ok: false, problems: [], ...over,
  }); // prettier-ignore

  it('passes a round within its bounds that ends with one new holder', () => {
    const r = judgeRound(round({}));
    expect(r).toMatchObject({ ok: true, servedAgainMs: 3100, failedProbes: 50, problems: [] });
  });

  it('fails a slow move, a slow recovery, a split end and a take-back, each named', () => {
    const r = judgeRound(
      round({
        movedMs: 3500,
        vantages: [{ from: 'c', probes: 100, failed: 70, slow: 1, servedAgainMs: 4000, failedBefore: 2 }],
        holdersAfter: ['a', 'b'],
        tookBack: true,
      }),
    );
    expect(r.ok).toBe(false);
    expect(r.problems).toEqual([
      'the VIP moved after 3500 ms, above the 3369 ms bound',
      '[c] served again after 4000 ms, above the 3569 ms bound',
      '[c] 2 probes failed before the fault',
      'after the restore 198.18.6.100 is held by a, b',
      'a took 198.18.6.100 back after it was restored',
    ]);
  });
});

describe('fault scripts', () => {
  it('crash freezes the agent and keepalived, kills the VRRP child before its parent, deletes every VIP', () => {
    const s = crashScript(4242, ['198.18.6.100', 'fd00::100'], 35);
    expect(() => execFileSync('sh', ['-n', '-c', s])).not.toThrow();
    expect(s.indexOf('kill -STOP "$a"')).toBeLessThan(s.indexOf('kill -KILL "$vrrp" "$main"'));
    // keepalived's parent respawns a VRRP child it sees die: frozen first, it cannot before its own kill.
    expect(s).toMatch(/kill -STOP "\$main"[^\n]*\n(?:.*\n)*kill -KILL "\$vrrp" "\$main"/);
    expect(s).toContain("nohup sh -c 'sleep 35; iptables -w 5 -t raw -D PREROUTING -d 198.18.6.100");
    expect(s).toMatch(
      /ip6tables -w 5 -t raw -I PREROUTING -d fd00::100 -m comment --comment 'cplbctl verify --failover: host down' -j DROP/,
    );
    expect(s.indexOf('-t raw -I PREROUTING')).toBeLessThan(s.indexOf('kill -KILL'));
    expect(s).toContain('198.18.6.100|fd00::100) ip addr del');
    const undo = crashRestoreScript(4242, ['198.18.6.100'], 77);
    expect(undo).toMatch(
      /^kill 77 2>\/dev\/null\niptables -w 5 -t raw -D PREROUTING -d 198\.18\.6\.100 .*-j DROP 2>\/dev\/null\nkill -CONT 4242\n$/,
    );
    expect(() => execFileSync('sh', ['-n', '-c', undo])).not.toThrow();
  });

  it('graceful writes 1 into the track file atomically and restores only its own write', () => {
    const s = gracefulScript(30);
    expect(() => execFileSync('sh', ['-n', '-c', s])).not.toThrow();
    expect(s).toContain('mv -f /run/cplb/health.cplbctl /run/cplb/health');
    expect(s).toContain('ino="$ino" nohup sh -c');
    const r = gracefulRestoreScript('123', 9);
    expect(() => execFileSync('sh', ['-n', '-c', r])).not.toThrow();
    expect(r).toContain('= 123 ]; then printf');
    expect(gracefulRestoreScript(undefined, undefined)).toBe(':\n');
  });

  it('parses the fault time, watchdog pid and inode', () => {
    expect(parseInjected('I 99\nW 1234\nT 1795374854399285000\n')).toEqual({
      atMs: 1795374854399.285,
      watchdogPid: 1234,
      inode: '99',
    });
    expect(parseInjected('W 1\n')).toBeUndefined();
  });
});

describe('watchers', () => {
  it('takes the first addition of the VIP from ip -ts monitor (UTC), not a deletion', () => {
    const out = [
      'S 1795374586000000000',
      '[2026-11-22T19:09:46.100000] Deleted 3: eth1    inet 198.18.6.100/24 scope global secondary eth1',
      '[2026-11-22T19:09:46.347846] 3: eth1    inet 198.18.6.100/24 scope global secondary eth1',
      '       valid_lft forever preferred_lft forever',
      '[2026-11-22T19:09:47.000000] 3: eth1    inet 198.18.6.100/24 scope global secondary eth1',
    ].join('\n');
    expect(firstAdd(out, '198.18.6.100')).toBeCloseTo(Date.parse('2026-11-22T19:09:46.347Z') + 0.846, 3);
    expect(firstAdd(out, '198.18.6.101')).toBeUndefined();
    expect(monitorStart(out)).toBe(1795374586000);
  });

  it('parses probe lines', () => {
    expect(parseProbes('S 1\nP 1000000 2000000 ok\nP 3000000 4000000 fail\n')).toEqual([
      { startMs: 1, endMs: 2, ok: true },
      { startMs: 3, endMs: 4, ok: false },
    ]);
  });

  it('are scripts dash accepts', () => {
    for (const s of [monitorScript(2500), proberScript('fd00::100', 6443, 2000)])
      expect(() => execFileSync('sh', ['-n', '-c', s])).not.toThrow();
    expect(monitorScript(2500)).toContain('TZ=UTC timeout 2.50 ip -ts monitor address');
  });

  it('prints addresses the way ip does', () => {
    expect(printedIp('fd00:0:0::0100')).toBe('fd00::100');
    expect(printedIp('198.18.6.100')).toBe('198.18.6.100');
  });
});

describe('a round after the host lock was lost', () => {
  it('injects nothing: it fails LOCK_LOST before touching any host', async () => {
    const owner = { owner: 'ops@elsewhere', pid: 7, token: 't', command: 'apply', startedAt: 'now' };
    const touched: string[] = [];
    const state = {
      lock: { owner, ttlSeconds: 60, held: new Set<string>(), lost: { host: 'h1:22', holder: owner } },
      remotes: new Proxy(new Map(), {
        get: (target, prop) =>
          prop === 'get' ? (name: string) => void touched.push(name) : Reflect.get(target, prop),
      }),
    };
    const rc = { state, mode: 'graceful', round: 1 } as unknown as RoundContext;
    await expect(runRound(rc)).rejects.toMatchObject({ code: 'LOCK_LOST', host: 'h1:22' });
    expect(touched).toEqual([]);
  });
});

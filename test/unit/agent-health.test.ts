import { describe, expect, it } from 'vitest';
import { HealthChecker, HealthState, type Probe } from '../../src/agent/health.js';
import { Upstream } from '../../src/agent/pool.js';
import { nodeHealth } from '../../src/agent/trackfile.js';

describe('HealthState (fall/rise)', () => {
  it('starts unknown and takes the first answer at once', () => {
    const up = new HealthState(3, 2);
    expect(up.status).toBe('unknown');
    expect(up.record(true)).toBe(true);
    expect(up.status).toBe('healthy');
    const down = new HealthState(3, 2);
    expect(down.record(false, 'ECONNREFUSED')).toBe(true);
    expect(down.status).toBe('unhealthy');
    expect(down.lastError).toBe('ECONNREFUSED');
  });

  it('goes down only after fallCount consecutive failures', () => {
    const h = new HealthState(3, 1);
    h.record(true);
    expect(h.record(false)).toBe(false);
    expect(h.record(false)).toBe(false);
    expect(h.status).toBe('healthy');
    expect(h.record(false)).toBe(true);
    expect(h.status).toBe('unhealthy');
  });

  it('a success in between resets the failure count', () => {
    const h = new HealthState(2, 1);
    h.record(true);
    h.record(false);
    h.record(true);
    h.record(false);
    expect(h.status).toBe('healthy');
    h.record(false);
    expect(h.status).toBe('unhealthy');
  });

  it('comes back after riseCount consecutive successes', () => {
    const h = new HealthState(1, 3);
    h.record(false);
    h.record(true);
    h.record(true);
    expect(h.status).toBe('unhealthy');
    h.record(false);
    h.record(true);
    h.record(true);
    expect(h.status).toBe('unhealthy');
    expect(h.record(true)).toBe(true);
    expect(h.status).toBe('healthy');
    expect(h.lastError).toBeUndefined();
  });
});

describe('HealthState note (up, readiness unknown)', () => {
  const NOTE = '401: readiness not visible without credentials';
  it('keeps the note through failures that do not take the upstream down, and drops it when it goes down', () => {
    const h = new HealthState(2, 1);
    h.record(true, undefined, 1, NOTE);
    expect([h.status, h.note]).toEqual(['healthy', NOTE]);
    h.record(false, 'ECONNRESET', 2);
    expect([h.status, h.note]).toEqual(['healthy', NOTE]);
    h.record(true, undefined, 3, NOTE);
    h.record(false, 'HTTP 401: the health check credentials were refused', 4);
    h.record(false, 'HTTP 401: the health check credentials were refused', 5);
    expect([h.status, h.note]).toEqual(['unhealthy', undefined]);
    h.record(true, undefined, 6);
    expect([h.status, h.note]).toEqual(['healthy', undefined]);
  });
});

describe('HealthChecker', () => {
  const settings = { path: '/readyz', intervalMs: 20, timeoutMs: 50, fallCount: 2, riseCount: 1 };

  it('probes every target, reports changes and settles the first round', async () => {
    const answers = new Map([
      ['a', true],
      ['b', false],
    ]);
    const probe: Probe = async (address) => ({ ok: answers.get(address) ?? false });
    const a = new Upstream('a', 1, settings);
    const b = new Upstream('b', 1, settings);
    const changes: string[] = [];
    const checker = new HealthChecker(
      settings,
      (t) => changes.push(`${t.address}:${t.health.status}`),
      probe,
    );
    checker.start([a, b]);
    await checker.firstRound();
    expect(a.health.status).toBe('healthy');
    expect(b.health.status).toBe('unhealthy');
    answers.set('a', false);
    await new Promise((r) => setTimeout(r, 150));
    checker.stop();
    expect(a.health.status).toBe('unhealthy');
    expect(changes).toEqual(['a:healthy', 'b:unhealthy', 'a:unhealthy']);
  });

  it('never overlaps probes of one target, and stops probing removed targets', async () => {
    let inFlight = 0;
    let maxInFlight = 0;
    const calls = new Map<string, number>();
    const probe: Probe = async (address) => {
      calls.set(address, (calls.get(address) ?? 0) + 1);
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await new Promise((r) => setTimeout(r, 40));
      inFlight--;
      return { ok: true };
    };
    const a = new Upstream('a', 1, settings);
    const b = new Upstream('b', 1, settings);
    const checker = new HealthChecker({ ...settings, intervalMs: 1 }, () => undefined, probe);
    checker.start([a]);
    await new Promise((r) => setTimeout(r, 130));
    expect(maxInFlight).toBe(1);
    checker.setTargets([b]);
    const before = calls.get('a') ?? 0;
    await new Promise((r) => setTimeout(r, 130));
    checker.stop();
    expect(calls.get('a')).toBeLessThanOrEqual(before + 1);
    expect(calls.get('b') ?? 0).toBeGreaterThanOrEqual(2);
  });
});

describe('nodeHealth (may this node hold the VIP?)', () => {
  it('gives the VIP up when the proxy is not listening', () => {
    expect(nodeHealth({ proxyEnabled: true, proxyListening: false, healthyUpstreams: 3 })).toEqual({
      ok: false,
      reason: 'proxy not listening',
    });
  });
  it('gives the VIP up when no upstream is healthy', () => {
    expect(nodeHealth({ proxyEnabled: true, proxyListening: true, healthyUpstreams: 0 }).ok).toBe(false);
  });
  it('keeps the VIP while any upstream (not necessarily its own) is healthy', () => {
    expect(nodeHealth({ proxyEnabled: true, proxyListening: true, healthyUpstreams: 1 }).ok).toBe(true);
  });
  it('without a proxy only the upstreams count', () => {
    expect(nodeHealth({ proxyEnabled: false, proxyListening: false, healthyUpstreams: 1 }).ok).toBe(true);
  });
  it('a drained node holds no VIP however healthy, and says drained rather than a fault', () => {
    const h = nodeHealth({ drained: true, proxyEnabled: true, proxyListening: true, healthyUpstreams: 3 });
    expect(h).toMatchObject({ ok: false, drained: true });
    expect(h.reason).toMatch(/^drained/);
    expect(
      nodeHealth({ drained: false, proxyEnabled: true, proxyListening: true, healthyUpstreams: 3 }),
    ).toEqual({ ok: true, reason: '3 healthy upstream(s)' });
  });
});

/**
 * The alerting rules shipped in prometheus/ load in Prometheus's own checker, and each alert fires on
 * the series that should fire it and not on a healthy cluster or a one-sample election (promtool's
 * unit tests, prometheus/cplb-alerts.test.yaml). promtool comes from Debian's prometheus package
 * (scripts/install-deps.sh unpacks it).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { renderMetrics } from '../../src/agent/metrics.js';

const DIR = join(import.meta.dirname, '../../prometheus');

function promtool(...args: string[]): { code: number; out: string } {
  const r = spawnSync('promtool', args, { cwd: DIR, encoding: 'utf8' });
  if (r.error) throw new Error(`promtool is missing: run scripts/install-deps.sh (${r.error.message})`);
  return { code: r.status ?? -1, out: `${r.stdout}${r.stderr}` };
}

describe('prometheus/cplb-alerts.yaml', () => {
  it('passes promtool check rules', () => {
    const r = promtool('check', 'rules', 'cplb-alerts.yaml');
    expect(r.out).toContain('SUCCESS: 8 rules found');
    expect(r.code, r.out).toBe(0);
  });

  it('passes promtool test rules: every alert fires when it should and only then', () => {
    const r = promtool('test', 'rules', 'cplb-alerts.test.yaml');
    expect(r.code, r.out).toBe(0);
    // Every alert of the rules file is tested firing at least once.
    const rules = parse(readFileSync(join(DIR, 'cplb-alerts.yaml'), 'utf8')) as {
      groups: { rules: { alert: string }[] }[];
    };
    const tests = parse(readFileSync(join(DIR, 'cplb-alerts.test.yaml'), 'utf8')) as {
      tests: { alert_rule_test: { alertname: string; exp_alerts: unknown[] }[] }[];
    };
    const fired = new Set(
      tests.tests.flatMap((t) =>
        t.alert_rule_test.filter((a) => a.exp_alerts.length > 0).map((a) => a.alertname),
      ),
    );
    expect([...fired].sort()).toEqual(rules.groups.flatMap((g) => g.rules.map((r) => r.alert)).sort());
  });

  it('uses only metrics the agent exports, with the labels it exports', () => {
    const text = readFileSync(join(DIR, 'cplb-alerts.yaml'), 'utf8');
    const used = new Set(text.match(/\bcplb_[a-z_]+/g));
    const exported = renderMetrics(sampleStatus());
    for (const metric of used) expect(exported, metric).toContain(`# TYPE ${metric} `);
    expect(exported).toContain('cplb_vip_held{address="10.0.0.100",vrrp_instance="k0s-vip-0"} 1');
  });
});

function sampleStatus(): Parameters<typeof renderMetrics>[0] {
  return {
    agent: {
      hostName: 'c1',
      version: '0.1.0',
      pid: 1,
      startedAt: new Date(0).toISOString(),
      uptimeSeconds: 5,
      configHash: 'a',
      keepalivedConfigHash: 'b',
      revision: undefined,
    },
    health: { ok: true, reason: 'ok', trackFileValue: 0 },
    keepalived: {
      running: true,
      pid: 2,
      restarts: 0,
      startedAt: undefined,
      lastExit: undefined,
      foreign: [],
    },
    instances: [{ name: 'k0s-vip-0', state: 'MASTER', priority: 100, since: new Date(0).toISOString() }],
    vips: [{ address: '10.0.0.100', prefix: 24, instanceName: 'k0s-vip-0', held: true }],
    proxy: {
      enabled: true,
      listening: true,
      bindAddress: '0.0.0.0',
      bindPort: 6444,
      openConnections: 0,
      healthyUpstreams: 1,
      upstreams: [
        {
          address: '10.0.0.11',
          port: 6443,
          health: 'healthy',
          consecutiveFailures: 0,
          lastError: undefined,
          lastCheckAt: undefined,
          activeConnections: 0,
          totalConnections: 0,
          failedDials: 0,
        },
      ],
    },
    iptables: { backend: 'nft', chain: 'CPLB', reasserts: 1, rules: [], repairs: 0 },
  };
}

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { backoffDelay, keepalivedArgs, stripConsoleTime } from '../../src/agent/keepalived.js';
import { pidFiles } from '../../src/contract/keepalived.js';
import { formatLogLine, createLogger } from '../../src/agent/log.js';
import { formatLogfmtValue as logfmtValue } from '../../src/contract/logfmt.js';
import { MetricsServer, renderMetrics } from '../../src/agent/metrics.js';
import type { AgentStatus } from '../../src/contract/status.js';
import { TrackFile } from '../../src/agent/trackfile.js';
import { canonicalIp } from '../../src/contract/net.js';
import { heldVips, vipsToForget } from '../../src/agent/vrrp.js';

describe('keepalived supervision helpers', () => {
  it('runs keepalived in the foreground with pid files of its own', () => {
    expect(keepalivedArgs('/etc/cplb/keepalived.conf', pidFiles('/run/cplb'))).toEqual([
      '--dont-fork', '--log-console', '--no-syslog', '--use-file', '/etc/cplb/keepalived.conf',
      '--pid', '/run/cplb/keepalived.pid', '--vrrp_pid', '/run/cplb/keepalived-vrrp.pid',
      '--checkers_pid', '/run/cplb/keepalived-checkers.pid', '--bfd_pid', '/run/cplb/keepalived-bfd.pid',
    ]); // prettier-ignore
  });

  it('strips the console timestamp keepalived puts on each line', () => {
    expect(stripConsoleTime('Sun Nov 22 18:40:23 2026: (k0s-vip-0) Entering MASTER STATE')).toBe(
      '(k0s-vip-0) Entering MASTER STATE',
    );
    expect(stripConsoleTime('Mon Dec  1 08:00:00 2025: x')).toBe('x');
    expect(stripConsoleTime('no stamp here')).toBe('no stamp here');
  });

  it('backs off exponentially up to the cap', () => {
    expect([0, 1, 2, 3, 10, 100].map((n) => backoffDelay(n, 500, 30_000))).toEqual([
      500, 1000, 2000, 4000, 30_000, 30_000,
    ]);
  });
});

describe('logfmt', () => {
  it('quotes only what needs quoting', () => {
    expect(logfmtValue('plain')).toBe('plain');
    expect(logfmtValue('')).toBe('""');
    expect(logfmtValue('two words')).toBe('"two words"');
    expect(logfmtValue('say "hi"\nnow')).toBe('"say \\"hi\\"\\nnow"');
    expect(logfmtValue('a=b')).toBe('"a=b"');
    expect(logfmtValue(3)).toBe('3');
  });

  it('writes time, level, msg, then fields, skipping undefined', () => {
    const line = formatLogLine(
      'info',
      'Entering MASTER STATE',
      { component: 'keepalived', pid: 12, x: undefined },
      new Date(0),
    );
    expect(line).toBe(
      'time="1970-01-01T00:00:00.000Z" level=info msg="Entering MASTER STATE" component=keepalived pid=12',
    );
  });

  it('filters by level and binds child fields', () => {
    const lines: string[] = [];
    const log = createLogger('info', (l) => lines.push(l));
    log.debug('hidden');
    log.child({ component: 'proxy' }).warn('shown');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/level=warn msg=shown component=proxy\n$/);
  });
});

describe('TrackFile', () => {
  it('writes the value atomically and only on change', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cplb-track-'));
    try {
      const path = join(dir, 'sub', 'health');
      const t = new TrackFile(path);
      await t.set(1);
      expect(readFileSync(path, 'utf8')).toBe('1\n');
      rmSync(path);
      await t.set(1); // unchanged: no write
      expect(() => readFileSync(path)).toThrow();
      await t.set(0);
      expect(readFileSync(path, 'utf8')).toBe('0\n');
      expect(t.value).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('VIPs held', () => {
  it('compares canonical addresses', () => {
    expect(canonicalIp('fd00:0:0::0001')).toBe(canonicalIp('fd00::1'));
    expect(canonicalIp('FD00::1')).toBe(canonicalIp('fd00::1'));
    const vip = {
      address: 'fd00::1',
      prefix: 64,
      family: 6 as const,
      apiServerPort: 6443,
      instanceName: 'v',
    };
    expect(heldVips([vip], new Set([canonicalIp('fd00:0::1')]))[0]?.held).toBe(true);
    expect(heldVips([vip], new Set([canonicalIp('fd00::2')]))[0]?.held).toBe(false);
  });

  it("forgets the neighbour entries of an instance's VIPs only when it stops being MASTER", () => {
    const vip = (address: string, instanceName: string) => ({
      address,
      prefix: 24,
      family: 4 as const,
      apiServerPort: 6443,
      instanceName,
    });
    const vips = [vip('198.18.0.100', 'a'), vip('198.18.0.101', 'a'), vip('198.18.0.200', 'b')];
    expect(vipsToForget(vips, 'a', 'MASTER', 'BACKUP')).toEqual(['198.18.0.100', '198.18.0.101']);
    expect(vipsToForget(vips, 'b', 'MASTER', 'FAULT')).toEqual(['198.18.0.200']);
    expect(vipsToForget(vips, 'a', 'BACKUP', 'MASTER')).toEqual([]);
    expect(vipsToForget(vips, 'a', 'UNKNOWN', 'BACKUP')).toEqual([]);
    expect(vipsToForget(vips, 'a', 'FAULT', 'BACKUP')).toEqual([]);
  });
});

const STATUS: AgentStatus = {
  agent: { hostName: 'c0', version: '0.1.0', pid: 1, startedAt: '', uptimeSeconds: 5, configHash: 'abc', keepalivedConfigHash: undefined, revision: undefined },
  health: { ok: true, reason: '', trackFileValue: 0 },
  keepalived: { running: true, pid: 2, restarts: 1, startedAt: undefined, lastExit: undefined, foreign: [] },
  instances: [{ name: 'k0s-vip-0', state: 'MASTER', priority: 100, since: '' }],
  vips: [{ address: '198.18.0.100', prefix: 24, instanceName: 'k0s-vip-0', held: true }],
  proxy: {
    enabled: true, listening: true, bindAddress: '0.0.0.0', bindPort: 6444, openConnections: 0, healthyUpstreams: 1,
    upstreams: [{ address: '198.18.0.11', port: 6443, health: 'healthy', consecutiveFailures: 0, lastError: undefined, lastCheckAt: undefined, activeConnections: 2, totalConnections: 9, failedDials: 1 }],
  },
  iptables: { backend: 'nft', chain: 'CPLB', reasserts: 3, rules: [{ family: 4, kind: 'redirect', description: '198.18.0.100:6443 -> :6444', present: true }] },
}; // prettier-ignore

describe('metrics', () => {
  it('serves on the configured address only (metrics.bindAddress)', async () => {
    const log = createLogger('error', () => undefined);
    const port = 20_000 + Math.floor(Math.random() * 30_000);
    const server = new MetricsServer('127.0.0.2', port, () => STATUS, log);
    await server.listen();
    try {
      const res = await fetch(`http://127.0.0.2:${port}/metrics`);
      expect(res.status).toBe(200);
      await expect(fetch(`http://127.0.0.1:${port}/metrics`)).rejects.toThrow();
    } finally {
      await server.close();
    }
  });

  it('renders the status as Prometheus text', () => {
    const status = STATUS;
    const text = renderMetrics(status);
    expect(text).toContain('cplb_agent_info{version="0.1.0",config_hash="abc",host="c0"} 1');
    expect(text).toContain('cplb_vrrp_state{vrrp_instance="k0s-vip-0",state="MASTER"} 1');
    expect(text).toContain('cplb_vrrp_state{vrrp_instance="k0s-vip-0",state="BACKUP"} 0');
    expect(text).toContain('cplb_keepalived_restarts_total 1');
    expect(text).toContain('cplb_keepalived_consecutive_failures 0');
    expect(text).toContain('cplb_keepalived_next_restart_seconds 0');
    const waiting = renderMetrics({
      ...status,
      keepalived: { ...status.keepalived, running: false, consecutiveFailures: 4, nextRestartAt: new Date(Date.now() + 8000).toISOString() },
    }); // prettier-ignore
    expect(waiting).toContain('cplb_keepalived_consecutive_failures 4');
    expect(Number(/^cplb_keepalived_next_restart_seconds (\S+)$/m.exec(waiting)?.[1])).toBeGreaterThan(6);
    expect(text).toContain('cplb_upstream_connections_total{upstream="198.18.0.11:6443"} 9');
    expect(text).toContain('cplb_upstream_dial_failures_total{upstream="198.18.0.11:6443"} 1');
    const v6 = renderMetrics({
      ...status,
      proxy: { ...status.proxy, upstreams: [{ ...status.proxy.upstreams[0]!, address: 'fd00:1::11' }] },
    });
    expect(v6).toContain('cplb_upstream_connections_total{upstream="[fd00:1::11]:6443"} 9');
    expect(text).toContain('cplb_vip_held{address="198.18.0.100",vrrp_instance="k0s-vip-0"} 1');
    expect(text).toContain('# TYPE cplb_iptables_reasserts_total counter');
    expect(text.endsWith('\n')).toBe(true);
    expect(text).not.toContain('process_resident_memory_bytes');
    const withProcess = renderMetrics(status, {
      residentBytes: 52_000_000,
      cpuSeconds: 1.25,
      startTimeSeconds: 1795000000,
      heapUsedBytes: 9_000_000,
      heapTotalBytes: 12_000_000,
      externalBytes: 3_000_000,
    });
    expect(withProcess).toContain('# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total 1.25');
    expect(withProcess).toContain('process_resident_memory_bytes 52000000');
    expect(withProcess).toContain('nodejs_heap_size_used_bytes 9000000');
  });
});

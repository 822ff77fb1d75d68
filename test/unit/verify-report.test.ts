/** status rows and verify checks from host snapshots against the plan: drift, rules, services, exit codes. */
import { describe, expect, it } from 'vitest';
import type { AgentStatus } from '../../src/contract/status.js';
import { plan } from '../../src/plan/plan.js';
import { readyForHandOff } from '../../src/verify/agent-status.js';
import { evaluateChecks } from '../../src/verify/checks.js';
import { plannedTextFiles } from '../../src/verify/drift.js';
import { clusterReport } from '../../src/verify/host-report.js';
import type { HostSnapshot } from '../../src/verify/host-snapshot.js';
import { newInspectState, type InspectState } from '../../src/verify/state.js';
import { renderStatus } from '../../src/verify/status-table.js';
import { renderVerify, verifyResult } from '../../src/verify/verify-report.js';
import { clusterYaml, hostName, HOSTS, labFactsAll, loadCluster, SCENARIOS } from './plan-fixtures.js';

const NOW = Date.parse('2026-11-22T20:00:00Z');
const NAT = `-A PREROUTING -m comment --comment "cplb: jump to CPLB" -j CPLB
-A OUTPUT -m addrtype --dst-type LOCAL -m comment --comment "cplb: jump to CPLB" -j CPLB
-A CPLB -d 198.18.0.100/32 -p tcp -m tcp --dport 6443 -j REDIRECT --to-ports 6444`;

function status(
  hashes: { agent: string; keepalived: string },
  over: Partial<AgentStatus['iptables']> = {},
): AgentStatus {
  return {
    agent: { hostName: 'h', version: '0.1.0', pid: 10, startedAt: '2026-11-22T19:00:00Z', uptimeSeconds: 3600, configHash: hashes.agent, keepalivedConfigHash: hashes.keepalived, revision: undefined },
    health: { ok: true, reason: '3 healthy upstream(s)', trackFileValue: 0 },
    keepalived: { running: true, pid: 20, restarts: 1, startedAt: undefined, lastExit: { code: null, signal: 'SIGKILL', at: '2026-11-22T19:58:00Z' }, foreign: [] },
    instances: [{ name: 'k0s-vip-0', state: 'BACKUP', priority: 200, since: '2026-11-22T19:00:00Z' }],
    vips: [],
    proxy: { enabled: true, listening: true, bindAddress: '0.0.0.0', bindPort: 6444, openConnections: 0, healthyUpstreams: 3, upstreams: HOSTS.map((n) => ({ address: `198.18.0.${n}`, port: 6443, health: 'healthy', consecutiveFailures: 0, lastError: undefined, lastCheckAt: undefined, activeConnections: 0, totalConnections: 0, failedDials: 0 })) },
    iptables: { backend: 'nft', chain: 'CPLB', reasserts: 1, rules: [], repairs: 0, ...over },
  }; // prettier-ignore
}

function healthyState(): InspectState {
  const cluster = loadCluster(clusterYaml(SCENARIOS.multicast));
  const facts = labFactsAll();
  const state = newInspectState(
    cluster,
    {},
    { owner: 't', pid: 1, token: 't', command: 'verify', startedAt: '' },
  );
  facts.forEach((f) => state.facts.set(f.host, f));
  state.plan = plan(cluster, facts, {});
  for (const n of HOSTS) {
    const hp = state.plan.hosts.find((h) => h.host === hostName(n))!;
    const files = plannedTextFiles(hp);
    const sha = (suffix: string) => files.find((f) => f.path.endsWith(suffix))!.sha256;
    const snap: HostSnapshot = {
      host: hostName(n),
      clockMs: NOW,
      agent: { ok: true, status: status({ agent: sha('agent.json').slice(0, 16), keepalived: sha('keepalived.conf').slice(0, 16) }) },
      addresses: [{ iface: 'eth1', family: 4, address: `198.18.0.${n}`, prefix: 24 }, ...(n === 12 ? [{ iface: 'eth1', family: 4 as const, address: '198.18.0.100', prefix: 24 }] : [])],
      nat: { 4: NAT, 6: '' },
      hashes: new Map(files.map((f) => [f.path, f.sha256])),
      keepalived: [{ role: 'main', pid: 20, alive: true }, { role: 'vrrp', pid: 21, alive: true }],
      listening: new Set([22, 6443, 6444]),
      agentServiceRestarts: undefined,
      drained: false,
    }; // prettier-ignore
    state.snapshots.set(hostName(n), snap);
  }
  const one = [hostName(12)];
  state.observation = {
    windowSeconds: 3,
    intervalMs: 500,
    hosts: [],
    timelines: [
      {
        vip: '198.18.0.100',
        instance: 'k0s-vip-0',
        perSample: Array.from({ length: 7 }, () => one),
        seen: one,
      },
    ],
  };
  const ups = HOSTS.map((n) => ({
    id: `198.18.0.${n}:6443`,
    address: `198.18.0.${n}`,
    port: 6443,
    healthy: true,
    fingerprint: `F${n}`,
  }));
  state.lb = {
    upstreams: ups,
    vantages: [
      {
        from: hostName(11),
        vip: '198.18.0.100',
        connections: 9,
        failed: 0,
        backends: { [ups[0]!.id]: 3, [ups[1]!.id]: 3, [ups[2]!.id]: 3 },
        missed: [],
      },
    ],
  };
  return state;
}

const failed = (state: InspectState) => evaluateChecks(state).filter((c) => !c.ok);

describe('verify checks', () => {
  it('all hold on a healthy cluster: exit 0', () => {
    const state = healthyState();
    expect(failed(state)).toEqual([]);
    const v = verifyResult('lab', evaluateChecks(state));
    expect(v).toMatchObject({ ok: true, exitCode: 0 });
    expect(renderVerify(v)).toContain(
      'one-holder      ok      198.18.0.100 held by 198.18.0.12:22 in all 7 samples over 3 s',
    );
  });

  it('a drained host does not fail verify and is shown drained; no holder at all still fails', () => {
    const state = healthyState();
    const snap = state.snapshots.get(hostName(11))!;
    snap.drained = true;
    if (snap.agent.ok)
      snap.agent.status.health = { ok: false, reason: 'drained', trackFileValue: 1, drained: true };
    expect(failed(state)).toEqual([]);
    const health = evaluateChecks(state).find((c) => c.name === 'agent-health')!;
    expect(health.summary).toContain(`drained: ${hostName(11)}`);
    const report = clusterReport(state, new Date(NOW));
    expect(report.hosts.find((h) => h.host === hostName(11))).toMatchObject({ drained: true });
    expect(renderStatus(report)).toMatch(/drained: holds no VIP until `cplbctl uncordon`/);
    // The holder gone too: nobody holds the VIP, and that fails whoever is drained.
    state.observation!.timelines[0]!.perSample = state.observation!.timelines[0]!.perSample.map(() => []);
    state.observation!.timelines[0]!.seen = [];
    expect(failed(state).map((c) => c.name)).toContain('one-holder');
  });

  it('names the host and the file of a hand-edited keepalived.conf', () => {
    const state = healthyState();
    state.snapshots.get(hostName(13))!.hashes.set('/etc/cplb/keepalived.conf', 'f'.repeat(64));
    const [c] = failed(state);
    expect(c?.name).toBe('config');
    expect(c?.problems).toEqual([
      `[${hostName(13)}] /etc/cplb/keepalived.conf differs from what the cluster file renders (edited on the host, or applied from another file)`,
    ]);
    expect(verifyResult('lab', evaluateChecks(state)).exitCode).toBe(3);
  });

  it('tells a file the agent did not load from one that differs', () => {
    const state = healthyState();
    const snap = state.snapshots.get(hostName(11))!;
    if (snap.agent.ok) snap.agent.status.agent.keepalivedConfigHash = '0123456789abcdef';
    expect(failed(state)[0]?.problems[0]).toMatch(
      /keepalived\.conf matches on disk but the agent runs another version/,
    );
  });

  it('fails a missing REDIRECT rule, and one the agent put back under a minute ago', () => {
    const state = healthyState();
    state.snapshots.get(hostName(11))!.nat[4] = NAT.split('\n').slice(0, 2).join('\n');
    const snap = state.snapshots.get(hostName(13))!;
    snap.agent = {
      ok: true,
      status: {
        ...(snap.agent.ok ? snap.agent.status : status({ agent: '', keepalived: '' })),
        iptables: status(
          { agent: '', keepalived: '' },
          { repairs: 2, lastRepairAt: new Date(NOW - 4000).toISOString() },
        ).iptables,
      },
    };
    const c = failed(state).find((x) => x.name === 'redirect');
    expect(c?.problems).toEqual([
      `[${hostName(11)}] missing REDIRECT 198.18.0.100:6443 -> :6444`,
      `[${hostName(13)}] the REDIRECT rules vanished and the agent put them back 4 s ago (2 times since it started): something removes them (a CNI flushing nat, a hand edit)`,
    ]);
  });

  it('lets an old repair pass', () => {
    const state = healthyState();
    const snap = state.snapshots.get(hostName(13))!;
    if (snap.agent.ok)
      snap.agent.status.iptables = {
        ...snap.agent.status.iptables,
        repairs: 1,
        lastRepairAt: new Date(NOW - 120_000).toISOString(),
      };
    expect(failed(state)).toEqual([]);
  });

  it('fails a stopped proxy, a dead VRRP process and an agent that does not answer', () => {
    const state = healthyState();
    state.snapshots.get(hostName(11))!.listening = new Set([22]);
    state.snapshots.get(hostName(12))!.keepalived[1]!.alive = false;
    state.snapshots.get(hostName(13))!.agent = { ok: false, error: 'connect ENOENT /run/cplb/agent.sock' };
    expect(failed(state).find((c) => c.name === 'services')?.problems).toEqual([
      `[${hostName(11)}] nothing listens on the proxy port :6444`,
      `[${hostName(12)}] keepalived runs without its VRRP process`,
      `[${hostName(13)}] the agent does not answer: connect ENOENT /run/cplb/agent.sock`,
    ]);
  });

  it('fails load balancing that misses a healthy API server', () => {
    const state = healthyState();
    state.lb!.vantages[0] = {
      ...state.lb!.vantages[0]!,
      backends: { '198.18.0.11:6443': 9 },
      missed: ['198.18.0.12:6443', '198.18.0.13:6443'],
    };
    expect(failed(state)[0]?.problems).toEqual([
      `[${hostName(11)}] no connection to 198.18.0.100 reached 198.18.0.12:6443, 198.18.0.13:6443 (healthy API servers)`,
    ]);
  });

  it('exits 1 when a controller cannot be reached, and status still shows it', () => {
    const state = healthyState();
    state.unreachable.set(hostName(13), 'connect ECONNREFUSED 198.18.0.13:22');
    state.snapshots.delete(hostName(13));
    state.facts.delete(hostName(13));
    expect(verifyResult('lab', evaluateChecks(state)).exitCode).toBe(1);
    const text = renderStatus(clusterReport(state, new Date(NOW)));
    expect(text).toMatch(/198\.18\.0\.13:22 +NO /);
    expect(text).toContain(`[${hostName(13)}] unreachable: connect ECONNREFUSED 198.18.0.13:22`);
  });
});

describe('status report', () => {
  it('shows one row per controller with VRRP state, VIPs, health, rule, drift and restarts', () => {
    const state = healthyState();
    const report = clusterReport(state, new Date(NOW));
    expect(report.vips).toEqual([{ vip: '198.18.0.100', instance: 'k0s-vip-0', holders: [hostName(12)] }]);
    const row = report.hosts.find((h) => h.host === hostName(12))!;
    expect(row).toMatchObject({
      reachable: true,
      vipsHeld: ['198.18.0.100'],
      config: { state: 'match' },
      redirect: { ok: true },
      proxy: { listening: true },
    });
    expect(row.restarts).toMatchObject({ keepalived: 1, lastKeepalivedExit: { signal: 'SIGKILL' } });
    const text = renderStatus(report);
    expect(text.split('\n')[0]).toMatch(
      /^HOST +REACHABLE +KEEPALIVED +VIPS HELD +AGENT +VERSION +UPSTREAMS +PROXY +REDIRECT +CONFIG +RESTARTS$/,
    );
    expect(text).toMatch(
      /198\.18\.0\.12:22 \(ctl2\) +yes +k0s-vip-0=BACKUP +198\.18\.0\.100 +healthy +0\.1\.0 +3\/3 healthy +:6444 +present +match +keepalived 1 \(last 2m ago\), agent up 60m/,
    );
  });

  it("shows each agent's version with its build stamp, so a rollout of a new build can be followed", () => {
    const state = healthyState();
    const snap = state.snapshots.get(hostName(13))!;
    if (!snap.agent.ok) throw new Error('fixture');
    snap.agent.status.agent.build = 'b2';
    const report = clusterReport(state, new Date(NOW));
    expect(report.hosts.map((h) => h.agent?.version)).toEqual(['0.1.0', '0.1.0', '0.1.0+b2']);
    expect(renderStatus(report)).toMatch(/198\.18\.0\.13:22 \(ctl3\) +yes +\S+ +- +healthy +0\.1\.0\+b2 /);
  });

  it('shows a keepalived that is down and waiting out its restart backoff, and when it starts next', () => {
    const state = healthyState();
    const snap = state.snapshots.get(hostName(13))!;
    if (!snap.agent.ok) throw new Error('fixture');
    Object.assign(snap.agent.status.keepalived, {
      running: false,
      consecutiveFailures: 6,
      nextRestartAt: new Date(NOW + 16_000).toISOString(),
    });
    const report = clusterReport(state, new Date(NOW));
    expect(report.hosts.find((h) => h.host === hostName(13))!.restarts.keepalivedBackoff).toEqual({
      consecutiveFailures: 6,
      nextRestartAt: new Date(NOW + 16_000).toISOString(),
    });
    expect(report.hosts.find((h) => h.host === hostName(12))!.restarts.keepalivedBackoff).toBeUndefined();
    expect(renderStatus(report)).toContain('keepalived down: next start in 16s (6 failures in a row)');
  });

  it('says why an upstream counts as up when it refuses anonymous checks, and verify passes', () => {
    const state = healthyState();
    for (const snap of state.snapshots.values())
      if (snap.agent.ok)
        for (const u of snap.agent.status.proxy.upstreams)
          u.note = '401: readiness not visible without credentials';
    const report = clusterReport(state, new Date(NOW));
    expect(report.hosts[0]!.upstreams[0]).toMatchObject({
      health: 'healthy',
      note: '401: readiness not visible without credentials',
    });
    const text = renderStatus(report);
    expect(text).toContain(
      `[${hostName(11)}] upstream 198.18.0.11:6443 is up (401: readiness not visible without credentials)`,
    );
    expect(failed(state)).toEqual([]);
  });

  it('writes an IPv6 upstream as [address]:port in status and in verify, never address:port', () => {
    const state = healthyState();
    for (const snap of state.snapshots.values())
      if (snap.agent.ok)
        for (const u of snap.agent.status.proxy.upstreams) {
          u.address = `fd00:1::${u.address.split('.')[3]}`;
          u.health = 'unhealthy';
        }
    const text = renderStatus(clusterReport(state, new Date(NOW)));
    expect(text).toContain(`[${hostName(11)}] upstream [fd00:1::11]:6443 is unhealthy`);
    expect(text).not.toContain('fd00:1::11:6443');
    const health = evaluateChecks(state).find((c) => c.name === 'agent-health')!;
    expect(health.figures).toMatchObject({
      unhealthyUpstreams: expect.arrayContaining(['[fd00:1::11]:6443 (unhealthy)']),
    });
  });
});

describe('readyForHandOff', () => {
  const base = () => status({ agent: 'a', keepalived: 'k' });
  it('waits while keepalived is not running or an instance has not reached BACKUP or MASTER', () => {
    const down = base();
    down.keepalived.running = false;
    expect(readyForHandOff(down)).toEqual({ ready: false, state: 'keepalived not running' });
    for (const state of ['UNKNOWN', 'STOP']) {
      const st = base();
      st.instances[0]!.state = state;
      expect(readyForHandOff(st)).toEqual({ ready: false, state: `k0s-vip-0 ${state}` });
    }
  });

  it('is ready as BACKUP or MASTER, and settled when unhealthy (it will not take a VIP anyway)', () => {
    expect(readyForHandOff(base())).toEqual({ ready: true, state: 'k0s-vip-0 BACKUP' });
    const sick = base();
    sick.health = { ok: false, reason: 'no healthy upstream', trackFileValue: 1 };
    sick.instances[0]!.state = 'FAULT';
    expect(readyForHandOff(sick)).toEqual({ ready: true, state: 'unhealthy: no healthy upstream' });
  });
});

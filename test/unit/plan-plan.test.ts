import { describe, expect, it } from 'vitest';
import { parseAgentConfig } from '../../src/contract/agent-config.js';
import { CplbError } from '../../src/core/errors.js';
import { assertFactsFit } from '../../src/plan/validate-facts.js';
import { diffPlan, type CurrentFiles } from '../../src/plan/diff.js';
import { redactFileSecrets } from '../../src/core/redact.js';
import { plan, type Plan } from '../../src/plan/plan.js';
import {
  AGENT_BIN,
  AGENT_CONFIG,
  AGENT_JS,
  KEEPALIVED_CONF,
  PLAIN_LAUNCHER,
  SYSTEMD_UNIT,
} from '../../src/contract/paths.js';
import { clusterYaml, hostName, labFacts, labFactsAll, loadCluster, SCENARIOS } from './plan-fixtures.js';
import { checkEventLines } from '../support/events.js';

const cluster = (s: keyof typeof SCENARIOS) => loadCluster(clusterYaml(SCENARIOS[s]));
const fileOf = (p: Plan, i: number, path: string) => p.hosts[i]!.files.find((f) => f.path === path)!;

describe('plan', () => {
  const p = plan(cluster('multicast'), labFactsAll());

  it('writes four files per host, secrets 0600, all root-owned, in a safe order', () => {
    const h = p.hosts[0]!;
    expect(h.files.map((f) => [f.path, f.mode.toString(8), f.owner, f.group])).toEqual([
      [AGENT_BIN, '755', 'root', 'root'],
      [SYSTEMD_UNIT, '644', 'root', 'root'],
      [AGENT_CONFIG, '600', 'root', 'root'],
      [KEEPALIVED_CONF, '600', 'root', 'root'],
    ]);
    expect(h.files[0]).toMatchObject({ artifact: 'agent-sea' });
    expect(h.files[0]!.content).toBeUndefined();
    expect(h.directories).toEqual([
      { path: '/etc/cplb', mode: 0o755 },
      { path: '/usr/local/lib/cplb', mode: 0o755 },
    ]);
  });

  it('is a plain serialisable object', () => {
    expect(JSON.parse(JSON.stringify(p))).toEqual(p);
  });

  it("agent.json parses with the agent's own loader", () => {
    const config = parseAgentConfig(fileOf(p, 1, AGENT_CONFIG).content!);
    expect(config.hostName).toBe(hostName(12));
    expect(config.vips).toEqual([
      { address: '198.18.0.100', prefix: 24, family: 4, apiServerPort: 6443, instanceName: 'k0s-vip-0' },
    ]);
  });

  it("upstreams are each controller's address on the VRRP interface, the same list on every host", () => {
    const fast = plan(cluster('v3fast'), labFactsAll());
    const lists = fast.hosts.map(
      (h) => parseAgentConfig(h.files.find((f) => f.path === AGENT_CONFIG)!.content!).proxy.upstreams,
    );
    expect(lists[0]).toEqual([11, 12, 13].map((n) => ({ address: `198.18.1.${n}`, port: 6443 }))); // eth0, not the ssh address
    expect(lists[1]).toEqual(lists[0]);
    expect(fast.hosts[0]!.instances).toEqual([
      { name: 'k0s-vip-0', interface: 'eth0', vips: ['198.18.1.100/24'] },
    ]);
  });

  it('reloads the current VIP holder last', () => {
    const held = plan(
      cluster('multicast'),
      labFactsAll((n) => ({ vipsHeld: n === 11 ? ['198.18.0.100'] : [] })),
    );
    expect(held.reloadOrder).toEqual([hostName(12), hostName(13), hostName(11)]);
    expect(held.hosts[0]!.vipsHeld).toEqual(['198.18.0.100']);
  });

  it('unicast: each host gets its own source and the others as peers', () => {
    const u = plan(cluster('unicast'), labFactsAll());
    expect(u.hosts.map((h) => h.instances[0]!.unicast)).toEqual([
      { source: '198.18.0.11', peers: ['198.18.0.12', '198.18.0.13'] },
      { source: '198.18.0.12', peers: ['198.18.0.11', '198.18.0.13'] },
      { source: '198.18.0.13', peers: ['198.18.0.11', '198.18.0.12'] },
    ]);
  });

  it('a non-x86_64 host without init runs the JS bundle on its node under the plain launcher', () => {
    const facts = [labFacts(11), labFacts(12), labFacts(13, { arch: 'aarch64', init: 'none' })];
    facts[2]!.node = { present: true, path: '/opt/node/bin/node', version: '22.1.0' };
    const h = plan(cluster('multicast'), facts).hosts[2]!;
    expect(h.packaging).toBe('js');
    expect(h.files.map((f) => f.path)).toEqual([AGENT_JS, PLAIN_LAUNCHER, AGENT_CONFIG, KEEPALIVED_CONF]);
    expect(h.files[1]!.content).toContain(
      '/opt/node/bin/node /usr/local/lib/cplb/cplb-agent.js --config /etc/cplb/agent.json </dev/null &',
    );
    expect(h.service.commands.start).toBe(`${PLAIN_LAUNCHER} start`);
  });

  it('holds the REDIRECT rules for display, none with disableLoadBalancer', () => {
    const ds = plan(cluster('dualStack'), labFactsAll()).hosts[0]!.iptablesRules;
    expect(ds).toContain(
      "iptables-nft -t nat -A CPLB -d 198.18.0.100/32 -p tcp --dport 6443 -m comment --comment 'cplb: k0s-vip-0 198.18.0.100:6443' -j REDIRECT --to-ports 6444",
    );
    // Two nat jumps and the REDIRECT, the filter jump and the guard of the proxy port.
    expect(ds.filter((r) => r.startsWith('ip6tables-nft'))).toHaveLength(5);
    expect(ds).toContain(
      "iptables-nft -t filter -A CPLB -p tcp --dport 6444 -m conntrack '!' --ctstate DNAT -m comment --comment 'cplb: only connections redirected from a VIP' -j REJECT --reject-with tcp-reset",
    );
    const off = clusterYaml(
      SCENARIOS.multicast.replace('keepalived:\n', 'keepalived:\n      disableLoadBalancer: true\n'),
    );
    const h = plan(loadCluster(off), labFactsAll()).hosts[0]!;
    expect(h.iptablesRules).toEqual([]);
    expect(parseAgentConfig(h.files.find((f) => f.path === AGENT_CONFIG)!.content!).proxy.enabled).toBe(
      false,
    );
  });

  it("renders the proxy's limits into agent.json: the defaults, and the cluster file's proxy block", () => {
    const limits = (yaml: string) =>
      parseAgentConfig(
        plan(loadCluster(yaml), labFactsAll()).hosts[0]!.files.find((f) => f.path === AGENT_CONFIG)!.content!,
      ).proxy;
    expect(limits(clusterYaml(SCENARIOS.multicast))).toMatchObject({
      maxConnections: 10_000,
      idleTimeoutMs: 86_400_000,
    });
    const set = clusterYaml(
      SCENARIOS.multicast.replace(
        '    keepalived:\n',
        '    proxy:\n      maxConnections: 500\n      idleTimeoutSeconds: 3600\n    keepalived:\n',
      ),
    );
    expect(limits(set)).toMatchObject({ maxConnections: 500, idleTimeoutMs: 3_600_000 });
  });

  it('plans package installs where tools are missing', () => {
    const facts = labFactsAll();
    facts[0]!.keepalived = { present: false };
    const h = plan(cluster('multicast'), facts).hosts[0]!;
    expect(h.packages).toEqual({
      manager: 'apt',
      packages: ['keepalived'],
      command:
        'export DEBIAN_FRONTEND=noninteractive; apt-get install -y --no-install-recommends keepalived || { apt-get update -qq && apt-get install -y --no-install-recommends keepalived; }',
    });
  });

  it('facts that do not fit fail once, with every error, before any plan (FACTS_INVALID, exit 2)', () => {
    const facts = labFactsAll();
    facts[1]!.defaultRoutes = [];
    facts[2]!.defaultRoutes = [];
    try {
      assertFactsFit(cluster('multicast'), facts);
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(CplbError);
      expect((err as CplbError).code).toBe('FACTS_INVALID');
      expect((err as CplbError).exitCode).toBe(2);
      expect((err as CplbError).message.match(/no default route/g)).toHaveLength(2);
    }
  });
});

describe('diffPlan', () => {
  const p = plan(
    cluster('multicast'),
    labFactsAll((n) => ({ agentRunning: n !== 13 })),
    { agentSha256: { sea: 'a'.repeat(64) } },
  );
  const current = (
    mutate: (host: string, files: Map<string, string | null>) => void = () => undefined,
  ): CurrentFiles =>
    new Map(
      p.hosts.map((h) => {
        const files = new Map<string, string | null>(h.files.map((f) => [f.path, f.content ?? f.sha256!]));
        mutate(h.host, files);
        return [h.host, files];
      }),
    );

  it('is printed by apply --dry-run -o json as a line the events schema knows (type plan-diff)', () => {
    const fresh = diffPlan(
      p,
      new Map(p.hosts.map((h) => [h.host, new Map(h.files.map((f) => [f.path, null]))])),
    );
    const changed = diffPlan(
      p,
      current((host, files) => host === p.hosts[0]!.host && files.set(AGENT_CONFIG, '{}')),
    );
    for (const d of [fresh, changed])
      expect(checkEventLines(JSON.stringify({ type: 'plan-diff', ...d })).problems).toEqual([]);
  });

  it('a fresh host: every file created, the agent started', () => {
    const d = diffPlan(p, new Map(p.hosts.map((h) => [h.host, new Map(h.files.map((f) => [f.path, null]))])));
    expect(d.hosts[0]!.files.every((f) => f.change === 'create')).toBe(true);
    expect(d.hosts[0]).toMatchObject({ action: 'restart', install: true });
    expect(d.hosts[2]).toMatchObject({ action: 'start', install: true });
    expect(d.hosts[0]!.patch).toContain('--- /etc/cplb/keepalived.conf\t(absent)');
    expect(d.hosts[0]!.patch).toContain('+    auth_pass [REDACTED]');
    expect(d.hosts[0]!.patch).not.toContain('Example');
  });

  it('nothing changed on a running host: no action; a stopped host is started', () => {
    const d = diffPlan(p, current());
    expect(d.hosts.map((h) => [h.action, h.patch])).toEqual([
      ['none', ''],
      ['none', ''],
      ['start', ''],
    ]);
    expect(d.changedHosts).toEqual([hostName(13)]);
  });

  it('a changed keepalived.conf is a reload, shown redacted', () => {
    const d = diffPlan(
      p,
      current(
        (host, files) =>
          host === hostName(11) &&
          files.set(KEEPALIVED_CONF, files.get(KEEPALIVED_CONF)!.replace('advert_int 1', 'advert_int 2')),
      ),
    );
    expect(d.hosts[0]).toMatchObject({
      action: 'reload',
      install: false,
      reason: 'the configuration changed',
    });
    expect(d.hosts[0]!.files.find((f) => f.path === KEEPALIVED_CONF)!.change).toBe('update');
    expect(d.hosts[0]!.patch).toMatch(/-  advert_int 2\n\+  advert_int 1\n/);
    expect(d.hosts[1]!.action).toBe('none');
  });

  it('a changed unit is installed and restarts; a different agent build restarts', () => {
    const unit = diffPlan(
      p,
      current((host, files) => host === hostName(12) && files.set(SYSTEMD_UNIT, 'old unit')),
    );
    expect(unit.hosts[1]).toMatchObject({ action: 'restart', install: true });
    const build = diffPlan(
      p,
      current((host, files) => host === hostName(12) && files.set(AGENT_BIN, 'b'.repeat(64))),
    );
    expect(build.hosts[1]).toMatchObject({
      action: 'restart',
      install: false,
      reason: 'the agent build changed',
    });
    expect(build.hosts[1]!.patch).toBe('');
  });

  it('is deterministic', () => {
    expect(diffPlan(p, current())).toEqual(diffPlan(p, current()));
  });

  it('redactFileSecrets', () => {
    expect(redactFileSecrets('    auth_pass s3cr3t\n  auth_type PASS')).toBe(
      '    auth_pass [REDACTED]\n  auth_type PASS',
    );
    expect(redactFileSecrets('{"authPass": "a\\"b", "x": 1}')).toBe('{"authPass": "[REDACTED]", "x": 1}');
  });
});

/**
 * Golden files: every text cplbctl puts on a host, compared byte for byte with fixtures/golden/.
 * After an intended change, rewrite them with `UPDATE_GOLDEN=1 npx vitest run test/unit/render-golden.test.ts`
 * and review the git diff. test/integration/keepalived-config-test.test.ts feeds every
 * fixtures/golden/keepalived-*.conf to the real `keepalived --config-test`.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { plan, type Plan } from '../../src/plan/plan.js';
import { AGENT_CONFIG, KEEPALIVED_CONF } from '../../src/contract/paths.js';
import {
  renderOpenrcScript,
  renderPlainLauncher,
  renderSystemdUnit,
  agentArgv,
} from '../../src/render/service.js';
import { renderResetScript } from '../../src/render/reset.js';
import { clusterYaml, labFacts, labFactsAll, loadCluster, SCENARIOS } from './plan-fixtures.js';

const GOLDEN = join(import.meta.dirname, '../../fixtures/golden');
const update = process.env.UPDATE_GOLDEN === '1';

function golden(name: string, actual: string): void {
  const file = join(GOLDEN, name);
  if (update) {
    mkdirSync(GOLDEN, { recursive: true });
    writeFileSync(file, actual);
    return;
  }
  let expected: string;
  try {
    expected = readFileSync(file, 'utf8');
  } catch {
    throw new Error(`${file} is missing: run with UPDATE_GOLDEN=1 to write it`);
  }
  expect(actual, `${name} differs from its golden file`).toBe(expected);
}

const OPTS = { renderedBy: '0.0.0-test' };

function planFor(scenario: keyof typeof SCENARIOS, facts = labFactsAll()): Plan {
  return plan(loadCluster(clusterYaml(SCENARIOS[scenario])), facts, OPTS);
}

function fileOf(p: Plan, host: number, path: string): string {
  const content = p.hosts[host]!.files.find((f) => f.path === path)?.content;
  if (content === undefined) throw new Error(`no ${path} for host ${host}`);
  return content;
}

describe('golden renders', () => {
  it('keepalived.conf, multicast, one instance', () => {
    golden('keepalived-multicast.conf', fileOf(planFor('multicast'), 0, KEEPALIVED_CONF));
  });

  it('keepalived.conf, unicast, one file per host', () => {
    const p = planFor('unicast');
    for (const [i, h] of p.hosts.entries())
      golden(`keepalived-unicast-${h.hostname}.conf`, fileOf(p, i, KEEPALIVED_CONF));
  });

  it('keepalived.conf, an IPv4 and an IPv6 instance', () => {
    golden('keepalived-dual-stack.conf', fileOf(planFor('dualStack'), 0, KEEPALIVED_CONF));
  });

  it('keepalived.conf, VRRP v3 with 0.1 s adverts on a named interface', () => {
    golden('keepalived-v3-fast.conf', fileOf(planFor('v3fast'), 0, KEEPALIVED_CONF));
  });

  it('keepalived.conf with virtual servers', () => {
    golden('keepalived-virtual-servers.conf', fileOf(planFor('virtualServers'), 0, KEEPALIVED_CONF));
  });

  it('agent.json', () => {
    golden('agent.json', fileOf(planFor('multicast'), 0, AGENT_CONFIG));
  });

  it('agent.json with an IPv4 and an IPv6 instance, addressLabel on the IPv6 VIP only', () => {
    golden('agent-address-label.json', fileOf(planFor('addressLabel'), 0, AGENT_CONFIG));
    // Without the field, the same cluster's agent.json names no label (the agent's default applies),
    // and keepalived.conf does not change with it: the label is the agent's business.
    const without = fileOf(planFor('dualStack'), 0, AGENT_CONFIG);
    expect(without).not.toContain('addressLabel');
    expect(fileOf(planFor('dualStack'), 0, AGENT_CONFIG)).toBe(
      fileOf(planFor('addressLabel'), 0, AGENT_CONFIG).replace(/,\n\s*"addressLabel": 30000/, ''),
    );
    golden('keepalived-dual-stack.conf', fileOf(planFor('addressLabel'), 0, KEEPALIVED_CONF));
  });

  it('service definitions: systemd (single executable and node), OpenRC, plain launcher', () => {
    golden('cplb-agent.service', renderSystemdUnit({ kind: 'sea' }));
    golden('cplb-agent-node.service', renderSystemdUnit({ kind: 'js', nodePath: '/usr/bin/node' }));
    golden('cplb-agent.openrc', renderOpenrcScript({ kind: 'sea' }));
    golden('cplb-agent-ctl.sh', renderPlainLauncher(agentArgv({ kind: 'sea' })));
  });

  it('reset scripts: systemd with an IPv4 and an IPv6 VIP, OpenRC, no init', () => {
    const vips = ['198.18.0.100', 'fd00:18:0::0100'];
    golden('reset-systemd.sh', renderResetScript({ init: 'systemd', vips }));
    golden('reset-openrc.sh', renderResetScript({ init: 'openrc', vips: vips.slice(0, 1) }));
    golden('reset-none.sh', renderResetScript({ init: 'none', vips: [] }));
  });

  it('the whole plan for a 3-host lab (ctl2 holds the VIP, one host without init, one on arm64)', () => {
    const facts = [
      labFacts(11, { agentRunning: true }),
      labFacts(12, { agentRunning: true, vipsHeld: ['198.18.0.100'] }),
      labFacts(13, { init: 'none', arch: 'aarch64', agentRunning: false }),
    ];
    const p = planFor('multicast', facts);
    golden('plan-lab.json', JSON.stringify(p, null, 2) + '\n');
  });

  it('is deterministic: planning twice gives identical JSON', () => {
    expect(JSON.stringify(planFor('dualStack'))).toBe(JSON.stringify(planFor('dualStack')));
  });
});

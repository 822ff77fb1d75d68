/**
 * The pre-flight checks' pure parts: which probes each host runs, the script that runs them (under
 * dash, with stand-in tools printing what the real ones print), the parsers and the verdict. The
 * real tools on the real segment are proven by test/e2e/apply-preflight.test.ts; IPv6 (ndisc6, IPv6
 * adverts) only here, at the command and parser level, until the lab has an IPv6 segment.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Cluster } from '../../src/config/types.js';
import type { HostFacts } from '../../src/plan/facts.js';
import { packagePlan } from '../../src/plan/packages.js';
import { plan } from '../../src/plan/plan.js';
import {
  deafListen,
  judgeProbes,
  neededProbeTools,
  preflightError,
  probesFor,
  type InstanceProbe,
} from '../../src/plan/preflight.js';
import {
  parseAdverts,
  parseAnswers,
  parseProbeOutput,
  parsePingReceived,
  probeCommand,
  probeScript,
  type ProbeOutput,
} from '../../src/plan/preflight-script.js';
import { assertFactsFit } from '../../src/plan/validate-facts.js';
import { clusterYaml, labFacts, labFactsAll, loadCluster, SCENARIOS } from './plan-fixtures.js';

const cluster = (s: keyof typeof SCENARIOS) => loadCluster(clusterYaml(SCENARIOS[s]));
const factsMap = (all: HostFacts[]) => new Map(all.map((f) => [f.host, f]));

// What the real tools printed in two network namespaces on this machine (tcpdump 4.99, iputils
// arping 20221126, ndisc6 1.0.5), addresses changed to the lab's.
const TCPDUMP = `tcpdump: verbose output suppressed, use -v[v]... for full protocol decode
listening on eth1, link-type EN10MB (Ethernet), snapshot length 262144 bytes
16:53:38.216941 IP 198.18.0.200 > 224.0.0.18: VRRPv2, Advertisement, vrid 51, prio 100, authtype simple, intvl 1s, length 20
16:53:38.226793 IP6 fe80::f826:50ff:fe49:2932 > ff02::12: VRRPv3, Advertisement, vrid 61, prio 100, intvl 100cs, length 24
16:53:39.218254 IP 198.18.0.12 > 224.0.0.18: VRRPv2, Advertisement, vrid 51, prio 100, authtype simple, intvl 1s, length 20

3 packets captured`;
const ARP_ANSWER = `ARPING 198.18.0.100 from 0.0.0.0 eth1
Unicast reply from 198.18.0.100 [FA:26:50:49:29:32]  0.542ms
Sent 1 probes (1 broadcast(s))
Received 1 response(s)`;
const ARP_NONE = `ARPING 198.18.0.100 from 0.0.0.0 eth1
Sent 2 probes (2 broadcast(s))
Received 0 response(s)`;
const NDISC_ANSWER = `Soliciting fd5e:1::100 (fd5e:1::100) on eth1...
Target link-layer address: FA:26:50:49:29:32
 from fd5e:1::100`;
const NDISC_NONE = `Soliciting fd5e:1::100 (fd5e:1::100) on eth1...
Timed out.
Timed out.
No response.`;
const PING_LOST = `PING 198.18.0.13 (198.18.0.13) from 198.18.0.11 : 56(84) bytes of data.

--- 198.18.0.13 ping statistics ---
3 packets transmitted, 0 received, 100% packet loss, time 1013ms`;

describe('which tools and packages the checks need', () => {
  it('tcpdump always; arping for IPv4, ndisc6 for IPv6 instances; ping for unicast', () => {
    expect(neededProbeTools(cluster('multicast'))).toEqual(['tcpdump', 'arping']);
    expect(neededProbeTools(cluster('dualStack'))).toEqual(['tcpdump', 'arping', 'ndisc6']);
    expect(neededProbeTools(cluster('unicast'))).toEqual(['tcpdump', 'arping', 'ping']);
  });

  it('Prepare hosts installs the missing ones with the host package names', () => {
    const bare: HostFacts = { ...labFacts(11), probeTools: [] };
    const need = neededProbeTools(cluster('unicast'));
    expect(packagePlan(bare, true, false, need)?.packages).toEqual([
      'tcpdump',
      'iputils-arping',
      'iputils-ping',
    ]);
    expect(packagePlan({ ...bare, packageManager: 'dnf' }, true, false, need)?.packages).toEqual([
      'tcpdump',
      'iputils',
    ]);
    expect(packagePlan(labFacts(11), true, false, need)).toBeUndefined();
    const p = plan(cluster('unicast'), [bare, labFacts(12), labFacts(13)]);
    expect(p.hosts[0]!.packages?.packages).toEqual(['tcpdump', 'iputils-arping', 'iputils-ping']);
    expect(p.hosts[1]!.packages).toBeUndefined();
  });

  it('a host without the tools and without a package manager does not fit (exit 2)', () => {
    const c = cluster('multicast');
    const { packageManager: _, ...noManager } = {
      ...labFacts(11),
      probeTools: [] as HostFacts['probeTools'],
    };
    expect(() => assertFactsFit(c, [noManager, labFacts(12), labFacts(13)])).toThrow(
      /tcpdump, arping is not installed \(the pre-flight checks of the network segment use them\)/,
    );
  });
});

describe('probesFor', () => {
  it('every host listens on its NIC for three adverts; only the first controller probes the VIPs', () => {
    const c = cluster('dualStack');
    const facts = factsMap(labFactsAll());
    const [c1, c2] = c.controllers;
    expect(probesFor(c, c1!, facts).map((p) => p.probe)).toEqual([
      { kind: 'listen', iface: 'eth1', seconds: 3.3 },
      { kind: 'vip', iface: 'eth1', address: '198.18.0.100', family: 4 },
      { kind: 'vip', iface: 'eth1', address: 'fd5e:1::100', family: 6 },
    ]);
    const listen = probesFor(c, c2!, facts);
    expect(listen.map((p) => p.probe)).toEqual([{ kind: 'listen', iface: 'eth1', seconds: 3.3 }]);
    expect(listen[0]!.instances.map((i) => i.name)).toEqual(['k0s-vip-0', 'k0s-vip-1']);
  });

  it('the window follows the advert interval (VRRPv3 at 0.1 s: 0.6 s)', () => {
    const c = cluster('v3fast');
    expect(probesFor(c, c.controllers[1]!, factsMap(labFactsAll())).map((p) => p.probe)).toEqual([
      { kind: 'listen', iface: 'eth0', seconds: 0.6 },
    ]);
  });

  it('a VIP a controller holds is ours: not probed', () => {
    const c = cluster('multicast');
    const facts = factsMap(labFactsAll((n) => (n === 13 ? { vipsHeld: ['198.18.0.100'] } : {})));
    expect(probesFor(c, c.controllers[0]!, facts).map((p) => p.probe.kind)).toEqual(['listen']);
  });

  it('the first controller with the tools probes the VIPs; unicast hosts ping each of their peers', () => {
    const c = cluster('unicast');
    const all = labFactsAll();
    all[0] = { ...all[0]!, probeTools: [] };
    const facts = factsMap(all);
    expect(probesFor(c, c.controllers[1]!, facts).map((p) => p.probe)).toEqual([
      { kind: 'listen', iface: 'eth1', seconds: 3.3 },
      { kind: 'vip', iface: 'eth1', address: '198.18.0.100', family: 4 },
      { kind: 'peer', source: '198.18.0.12', peer: '198.18.0.11' },
      { kind: 'peer', source: '198.18.0.12', peer: '198.18.0.13' },
    ]);
  });
});

describe('the probe commands and script', () => {
  it('builds the commands (arguments quoted where needed): tcpdump under timeout, arping -D, ndisc6, ping from the source', () => {
    expect(probeCommand({ kind: 'listen', iface: 'eth1', seconds: 3.3 })).toBe(
      "timeout 3.3 tcpdump -nn -l -i eth1 'ip proto 112 or ip6 proto 112'",
    );
    expect(probeCommand({ kind: 'vip', iface: 'eth1', address: '198.18.0.100', family: 4 })).toBe(
      'arping -D -c 2 -w 2 -I eth1 198.18.0.100',
    );
    expect(probeCommand({ kind: 'vip', iface: 'eth1', address: 'fd5e:1::100', family: 6 })).toBe(
      'ndisc6 -1 -r 2 -w 500 fd5e:1::100 eth1',
    );
    expect(probeCommand({ kind: 'peer', source: '198.18.0.11', peer: '198.18.0.13' })).toBe(
      'ping -n -c 3 -i 0.5 -W 1 -I 198.18.0.11 198.18.0.13',
    );
  });

  it('runs every probe at once under dash and returns each output with its exit code', () => {
    const bin = mkdtempSync(join(tmpdir(), 'cplb-preflight-'));
    const tool = (name: string, body: string) => {
      writeFileSync(join(bin, name), `#!/bin/sh\n${body}\n`);
      chmodSync(join(bin, name), 0o755);
    };
    try {
      // timeout runs the listen; it exits 124 once the time is up, as coreutils' does.
      tool('timeout', 'shift; "$@"; exit 124');
      // The listen waits (up to 5 s) for the ping, started after it: it sees it only if both run at once.
      tool(
        'tcpdump',
        `cat <<'E'\n${TCPDUMP}\nE\nfor i in $(seq 50); do [ -e ${bin}/pinged ] && echo saw-ping && break; sleep 0.1; done`,
      );
      tool('arping', `cat <<'E'\n${ARP_ANSWER}\nE\nexit 1`);
      tool('ndisc6', `cat <<'E'\n${NDISC_NONE}\nE\nexit 2`);
      tool('ping', `: >${bin}/pinged; cat <<'E'\n${PING_LOST}\nE\nexit 1`);
      tool('mktemp', `exec /usr/bin/mktemp "$@"`);
      tool('rm', `exec /bin/rm "$@"`);
      tool('cat', `exec /bin/cat "$@"`);
      tool('seq', `exec /usr/bin/seq "$@"`);
      tool('sleep', `exec /bin/sleep "$@"`);
      const probes = [
        { kind: 'listen', iface: 'eth1', seconds: 3.3 },
        { kind: 'vip', iface: 'eth1', address: '198.18.0.100', family: 4 },
        { kind: 'vip', iface: 'eth1', address: 'fd5e:1::100', family: 6 },
        { kind: 'peer', source: '198.18.0.11', peer: '198.18.0.13' },
      ] as const;
      const script = probeScript(probes).replace(/^PATH=.*$/m, `PATH=${bin}`);
      const out = execFileSync('/bin/dash', ['-c', script], { encoding: 'utf8' });
      const parsed = parseProbeOutput(out, probes.length);
      expect(parsed.map((p) => p.rc)).toEqual([124, 1, 2, 1]);
      expect(parsed[0]!.text).toContain('vrid 51');
      expect(parsed[0]!.text).toContain('saw-ping');
      expect(parsed[3]!.text).toBe(PING_LOST);
    } finally {
      rmSync(bin, { recursive: true, force: true });
    }
  });

  it('a probe the script never reached reads rc null', () => {
    expect(parseProbeOutput('@@cplb:probe 0\nx\n@@rc=0\n', 2)).toEqual([
      { rc: 0, text: 'x' },
      { rc: null, text: '' },
    ]);
  });
});

describe('the parsers', () => {
  it('reads adverts of both families, with their source and router ID', () => {
    expect(parseAdverts(TCPDUMP)).toEqual([
      { family: 4, source: '198.18.0.200', vrid: 51 },
      { family: 6, source: 'fe80::f826:50ff:fe49:2932', vrid: 61 },
      { family: 4, source: '198.18.0.12', vrid: 51 },
    ]);
  });

  it('reads the answering MACs of arping and ndisc6, and none from silence', () => {
    expect(parseAnswers(ARP_ANSWER)).toEqual(['fa:26:50:49:29:32']);
    expect(parseAnswers(NDISC_ANSWER)).toEqual(['fa:26:50:49:29:32']);
    expect(parseAnswers(ARP_NONE)).toEqual([]);
    expect(parseAnswers(NDISC_NONE)).toEqual([]);
  });

  it("reads ping's received count", () => {
    expect(parsePingReceived(PING_LOST)).toBe(0);
    expect(parsePingReceived('3 packets transmitted, 3 packets received, 0% packet loss')).toBe(3);
    expect(parsePingReceived('ping: bind: Cannot assign requested address')).toBeUndefined();
  });
});

describe('the verdict', () => {
  const judge = (c: Cluster, host: number, outputs: ProbeOutput[], all = labFactsAll()) => {
    const facts = factsMap(all);
    const h = c.controllers[host]!;
    const probes: InstanceProbe[] = probesFor(c, h, facts);
    return { probes, ...judgeProbes(c, h, facts, probes, outputs) };
  };

  it('a foreign router on our ID and family is a finding naming host, instance, ID, source and what to do', () => {
    const c = cluster('multicast');
    const { findings, failures } = judge(c, 1, [{ rc: 124, text: TCPDUMP }]);
    expect(failures).toEqual([]);
    expect(findings).toEqual([
      {
        host: '198.18.0.12:22',
        instance: 'k0s-vip-0',
        message:
          'k0s-vip-0: another VRRP router (198.18.0.200), not a controller of this cluster, advertises virtual router ID 51 on eth1',
        hint: expect.stringContaining('set vrrpInstances[0].virtualRouterID'),
      },
    ]);
    const err = preflightError('198.18.0.12:22', findings);
    expect(err).toMatchObject({ exitCode: 2, code: 'PREFLIGHT_FAILED', host: '198.18.0.12:22' });
    expect(err.message).toContain('k0s-vip-0: another VRRP router');
  });

  it('counts what the listens heard, and how much of it came from the controllers', () => {
    const ours = TCPDUMP.replace('198.18.0.200', '198.18.0.13');
    const c = cluster('multicast');
    const all = TCPDUMP.split('\n').filter((l) => l.includes('Advertisement')).length;
    expect(judge(c, 1, [{ rc: 124, text: ours }])).toMatchObject({ listens: 1, adverts: all });
    expect(judge(c, 1, [{ rc: 124, text: '' }])).toMatchObject({ listens: 1, adverts: 0, ours: 0 });
    const mixed = judge(c, 1, [{ rc: 124, text: TCPDUMP }]);
    expect(mixed.ours).toBeLessThan(mixed.adverts);
  });

  it('a listen that heard nothing while a controller holds a VIP is deaf; on a fresh segment it is not', () => {
    const c = cluster('multicast');
    const held = labFactsAll((n) => (n === 11 ? { vipsHeld: ['198.18.0.100'] } : {}));
    const silent = judge(c, 1, [{ rc: 124, text: '' }], held);
    expect(deafListen(silent, factsMap(held))).toBe(true);
    expect(deafListen(silent, factsMap(labFactsAll()))).toBe(false);
    const ours = judge(c, 1, [{ rc: 124, text: TCPDUMP.replace('198.18.0.200', '198.18.0.13') }], held);
    expect(deafListen(ours, factsMap(held))).toBe(false);
  });

  it('our own adverts, other IDs and the other family are no finding', () => {
    const ours = TCPDUMP.replace('198.18.0.200', '198.18.0.13');
    expect(judge(cluster('multicast'), 1, [{ rc: 124, text: ours }]).findings).toEqual([]);
    const v6only = loadCluster(
      clusterYaml(`    keepalived:
      vrrpInstances:
        - virtualIPs: ["fd5e:1::100/64"]
          authPass: six
          virtualRouterID: 51
`),
    );
    expect(judge(v6only, 1, [{ rc: 124, text: TCPDUMP }]).findings).toEqual([]);
    // The IPv6 advert on ID 61 comes from a link-local address no controller has: foreign.
    const { findings } = judge(cluster('dualStack'), 1, [{ rc: 124, text: TCPDUMP }]);
    expect(findings.map((f) => f.instance)).toEqual(['k0s-vip-0', 'k0s-vip-1']);
  });

  it('a VIP answered by a foreign MAC is a finding; by a controller (it moved since facts) or no one, none', () => {
    const c = cluster('dualStack');
    const listen = { rc: 124, text: '' };
    const foreign = judge(c, 0, [listen, { rc: 1, text: ARP_ANSWER }, { rc: 0, text: NDISC_ANSWER }]);
    expect(foreign.failures).toEqual([]);
    expect(foreign.findings.map((f) => f.message)).toEqual([
      'k0s-vip-0: VIP 198.18.0.100 already answers on eth1 (ARP reply from fa:26:50:49:29:32) and no host of this cluster holds it',
      'k0s-vip-1: VIP fd5e:1::100 already answers on eth1 (neighbour reply from fa:26:50:49:29:32) and no host of this cluster holds it',
    ]);
    const ours = ARP_ANSWER.replace('FA:26:50:49:29:32', '52:54:00:CB:01:13');
    expect(judge(c, 0, [listen, { rc: 1, text: ours }, { rc: 2, text: NDISC_NONE }])).toMatchObject({
      findings: [],
      failures: [],
    });
    expect(judge(c, 0, [listen, { rc: 0, text: ARP_NONE }, { rc: 2, text: NDISC_NONE }]).findings).toEqual(
      [],
    );
  });

  it('a silent unicast peer is a finding; a ping that could not run is a failure, not a pass', () => {
    const c = cluster('unicast');
    const ok = { rc: 0, text: '3 packets transmitted, 3 received, 0% packet loss' };
    const lost = judge(c, 0, [
      { rc: 124, text: '' },
      { rc: 0, text: ARP_NONE },
      ok,
      { rc: 1, text: PING_LOST },
    ]);
    expect(lost.findings.map((f) => f.message)).toEqual([
      'k0s-vip-0: unicast peer 198.18.0.13 does not answer from 198.18.0.11 (ping)',
    ]);
    const broken = judge(c, 1, [
      { rc: 124, text: '' },
      { rc: 2, text: 'ping: bind: Cannot assign requested address' },
      ok,
    ]);
    expect(broken.findings).toEqual([]);
    expect(broken.failures[0]!.message).toContain('ping could not reach 198.18.0.11 from 198.18.0.12');
  });

  it('tcpdump that could not listen, or a probe that never ran, fails the check', () => {
    const c = cluster('multicast');
    const r = judge(c, 1, [{ rc: 1, text: 'tcpdump: eth1: No such device exists' }]);
    expect(r.failures[0]!.message).toContain('tcpdump could not listen on eth1 (exit 1)');
    expect(judge(c, 1, []).failures).toHaveLength(1);
  });
});

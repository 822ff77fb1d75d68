/**
 * Graceful host shutdown on systemd hosts (issue 14, item 3): `systemctl poweroff` of the VIP's
 * holder. The cplb-agent unit is ordered After=network-online.target (itself after network.target),
 * so at shutdown systemd stops the agent before anything takes the network down: keepalived sends
 * its priority-0 advert and a backup takes the VIP after the skew alone, not after the crash
 * timer. nspawn hosts live in a network namespace the lab owns and run no network service, so
 * nothing would take their NICs down at poweroff: each controller gets a stand-in for Debian's
 * ifupdown `networking.service` (Before=network.target network-online.target; its stop takes the
 * NICs down), and the order systemd stops things in decides the outcome, as on a real host.
 * Without the agent's After= (tried by hand) the two stop at once and race: in one of two runs the
 * NIC went down 39 ms into the poweroff, before the agent had let the VIP go (keepalived dropped it
 * in FAULT; no host held it for 487 ms, above the graceful bound), in the other the agent won. With
 * it the NIC goes down only after the agent's whole stop, about 1.2 s after the VIP left.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { labDown, labExec, labUp, type LabInfo } from '../../src/lab/index.js';
import { ensureRootfs } from '../../src/lab/rootfs.js';
import { boundsFor, masterDownSeconds } from '../../src/verify/failover/bounds.js';
import { pinAgentBuild } from './apply-probes.js';
import { cli } from './apply-support.js';
import { bare, holdersByVip, waitFor, watchNet, type NetEvent } from './modes-support.js';
import { clientLoad } from './under-load.js';
import { rm } from 'node:fs/promises';

const LAB = 't-shutdown';
let lab: LabInfo;
let agentDir: string;
const controllers = () => lab.hosts.filter((h) => h.role === 'controller');

/** Like ifupdown's networking.service (DefaultDependencies=no, ordered before the network targets). */
const IFDOWN_UNIT = `[Unit]
Description=lab stand-in for networking.service: its stop takes the NICs down
DefaultDependencies=no
Wants=network.target
Before=network.target network-online.target shutdown.target
Conflicts=shutdown.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/true
ExecStop=/sbin/ip link set eth1 down
ExecStop=/sbin/ip link set eth0 down
`;
const IFDOWN_SETUP = `cat > /etc/systemd/system/lab-ifdown.service <<'EOF'
${IFDOWN_UNIT}EOF
systemctl daemon-reload && systemctl start lab-ifdown`;

beforeAll(async () => {
  await ensureRootfs();
  await labDown(LAB); // a lab left by an interrupted run
  agentDir = await pinAgentBuild();
  lab = await labUp({ name: LAB, flavor: 'systemd', hosts: 3 });
  const res = await cli(['apply', '--known-hosts', lab.knownHosts, '-o', 'logfmt', lab.clusterFile], {
    timeoutMs: 240_000,
    env: { CPLBCTL_AGENT_DIR: agentDir },
  });
  expect(res.code, res.stdout + res.stderr).toBe(0);
  for (const h of controllers()) {
    const r = await labExec(LAB, h.name, ['sh', '-c', IFDOWN_SETUP]);
    expect(r.code, r.stderr).toBe(0);
  }
}, 300_000);

afterAll(async () => {
  await labDown(LAB);
  if (agentDir) await rm(agentDir, { recursive: true, force: true });
}, 60_000);

describe('graceful host shutdown (systemd)', () => {
  it('the agent unit is ordered after network-online.target, which is after network.target', async () => {
    const show = async (unit: string) =>
      (await labExec(LAB, 'c1', ['systemctl', 'show', '-p', 'After', '--value', unit])).stdout.split(/\s+/);
    expect(await show('cplb-agent')).toContain('network-online.target');
    expect(await show('network-online.target')).toContain('network.target');
  });

  it('poweroff of the holder moves the VIP within the graceful bound, and leaves it on no NIC of the host', async () => {
    const vip = lab.vip;
    const [holder] = (
      await waitFor(
        'one holder',
        20_000,
        () => holdersByVip(controllers(), [vip]),
        (h) => h[vip]!.length === 1,
      )
    )[vip]!;
    const load = clientLoad(bare(vip));
    const net = watchNet(controllers());
    await new Promise((r) => setTimeout(r, 1000));
    const offAt = Date.now();
    let events: NetEvent[];
    try {
      const off = await labExec(LAB, holder!, ['systemctl', 'poweroff']);
      expect(off.code, off.stderr).toBe(0);
      await waitFor(
        'a new holder',
        15_000,
        () => holdersByVip(controllers(), [vip]),
        (h) => h[vip]!.length === 1 && h[vip]![0] !== holder,
      );
      // How long the rest of the shutdown takes depends on the machine's load: wait for the NIC.
      await waitFor(
        "the powered-off holder's eth1 to go down",
        30_000,
        async () => net.events(),
        (evs) => evs.some((e) => e.host === holder && e.kind === 'link' && e.dev === 'eth1' && !e.up),
      );
    } finally {
      events = net.stop();
    }
    const report = await load.stop();
    const isVip = (e: NetEvent) => e.address === vip;
    const gone = events.find((e) => e.host === holder && e.kind === 'delete' && isVip(e));
    const taken = events.find((e) => e.host !== holder && e.kind === 'add' && isVip(e));
    const linkDown = events.find((e) => e.host === holder && e.kind === 'link' && e.dev === 'eth1' && !e.up);
    const graceful = boundsFor('graceful', 2, 1);
    const since = (e?: NetEvent) => e && e.at - offAt;
    const figures = {
      holder,
      vipOffHolderMs: since(gone),
      newHolderMs: since(taken),
      eth1DownMs: since(linkDown),
      // From the VIP leaving the holder to a backup holding it: the priority-0 advert's work.
      gapMs: gone && taken && taken.at - gone.at,
      gracefulBoundMs: graceful.movedMs,
      crashTimerMs: masterDownSeconds(2, 1) * 1000,
      clientAttempts: report.attempts,
      clientFailures: report.failures.length,
      clientErrors: [...new Set(report.failures.map((f) => f.error))],
    };
    console.log(`[shutdown] poweroff of the holder: ${JSON.stringify(figures)}`);
    expect(gone && taken && linkDown, JSON.stringify(events)).toBeTruthy();
    // The agent stopped before the network did: keepalived let the VIP go before the NIC went down.
    expect(linkDown!.at).toBeGreaterThanOrEqual(gone!.at);
    expect(taken!.at - gone!.at).toBeLessThanOrEqual(graceful.movedMs);
    // The container is gone and its NICs (the lab's namespace) keep no VIP. (Both backups may claim
    // it for an advert, equal priorities: one remains, not always the first.)
    const after = (await holdersByVip(controllers(), [vip]))[vip]!;
    expect(after).toHaveLength(1);
    expect(after).not.toContain(holder);
  }, 90_000);
});

/**
 * `cplbctl apply` end to end on a fresh 3-controller lab, shared by the plain and the systemd flavor:
 * the result checked on the hosts themselves (addresses, nat table, sockets, TLS from the client), a
 * second apply that changes nothing, faults the agent must heal, failover timed, and a re-apply that
 * repairs a half-broken cluster. One lab and one fresh apply per file; the tests run in order.
 */
import { rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAgentConfig, type AgentConfig } from '../../src/contract/agent-config.js';
import {
  labDown,
  labFault,
  labHosts,
  labUp,
  type LabFlavor,
  type LabHost,
  type LabInfo,
} from '../../src/lab/index.js';
import { applyArgs, cli, type CliResult } from './apply-support.js';
import {
  agentRunning,
  agentStatus,
  dialFromClient,
  holdConnections,
  hostFingerprint,
  isKeepalived,
  killAgent,
  markHost,
  pidsOf,
  pinAgentBuild,
  probeVip,
  reviveSupervision,
  sh,
  stopAgent,
  waitHolders,
} from './apply-probes.js';
import { vipHolders } from './lab-helpers.js';

export interface ApplySuiteOptions {
  name: string;
  flavor: LabFlavor;
  prepare?: () => Promise<void>;
}

/** An agent's stop beyond its drain: keepalived's own stop and the cleanup (the agent exits by then). */
const STOP_MARGIN_MS = 10_000;

/** VRRPv2 master-down (3 adverts + skew) at the 1 s default, plus room for the poll: the bound to hold. */
const FAILOVER_BOUND_MS = 5000;

export function defineApplySuite(opts: ApplySuiteOptions): void {
  const { name, flavor } = opts;
  let lab: LabInfo;
  let hosts: LabHost[];
  let agentDir: string;
  let fresh: { res: CliResult; ms: number };
  let agentConfig: AgentConfig;
  const figures: Record<string, string> = {};
  const controllers = () => hosts.filter((h) => h.role === 'controller');
  const names = () => controllers().map((h) => h.name);
  const apply = async (...extra: string[]) => {
    const started = Date.now();
    const res = await cli(applyArgs(lab, ...extra), { env: { CPLBCTL_AGENT_DIR: agentDir } });
    return { res, ms: Date.now() - started };
  };
  const record = (what: string, ms: number) => {
    figures[what] = `${ms} ms`;
    console.log(`[${flavor}] ${what}: ${ms} ms`);
  };
  const holders = () => vipHolders(name, controllers(), lab.vip);
  const oneHolder = async () => {
    const h = await holders();
    expect(h, `VIP holders by ip -o addr: [${h.join(', ')}]`).toHaveLength(1);
    return h[0]!;
  };

  beforeAll(async () => {
    await labDown(name); // a lab left by an interrupted run
    await opts.prepare?.();
    agentDir = await pinAgentBuild();
    lab = await labUp({ name, flavor, hosts: 3 });
    hosts = await labHosts(name);
    fresh = await apply();
    if (fresh.res.code === 0)
      agentConfig = parseAgentConfig(await sh(name, 'c1', 'cat /etc/cplb/agent.json'));
  }, 180_000);

  afterAll(async () => {
    console.log(`[${flavor}] figures: ${JSON.stringify(figures)}`);
    await labDown(name);
    if (agentDir) await rm(agentDir, { recursive: true, force: true });
  }, 60_000);

  describe(`apply on a fresh lab (${flavor})`, () => {
    it('exits 0 and says every host started', () => {
      record('fresh apply', fresh.ms);
      expect(fresh.res.code, fresh.res.stdout + fresh.res.stderr).toBe(0);
      expect(fresh.res.stdout.match(/: started cplb-agent"/g)).toHaveLength(3);
    });

    it('leaves exactly one VIP holder, by the addresses on every host, and the agents agree', async () => {
      const holder = await oneHolder();
      for (const h of names()) {
        const held = (await agentStatus(name, h)).vips.some((v) => v.held);
        expect(held, `${h} agent says held=${held}`).toBe(h === holder);
      }
    });

    it("puts the REDIRECT rule into cplb's chain, jumped to from PREROUTING, on every controller", async () => {
      const vip = lab.vip.split('/')[0]!.replace(/\./g, '\\.');
      const chain = agentConfig.iptables.chain;
      for (const h of names()) {
        const nat = await sh(name, h, 'iptables-save -t nat');
        expect(nat, h).toMatch(new RegExp(`^-A PREROUTING .*-j ${chain}$`, 'm'));
        expect(nat, h).toMatch(
          new RegExp(
            `^-A ${chain} -d ${vip}/32 -p tcp -m tcp --dport 6443 .*-j REDIRECT --to-ports 6444$`,
            'm',
          ),
        );
      }
    });

    it('has the agent listening on 6444 everywhere', async () => {
      for (const h of names())
        expect(await sh(name, h, "ss -ltnpH 'sport = :6444'"), h).toMatch(/:6444\s.*"cplb-agent"/);
    });

    it('spreads TLS connections to VIP:6443 from the client over every controller', async () => {
      const probes = await probeVip(lab, 12, 0);
      expect(probes.filter((p) => p.error)).toEqual([]);
      expect(new Set(probes.map((p) => p.cn))).toEqual(new Set(names()));
    });

    it('refuses controller:6444 from the client (only a REDIRECT reaches the proxy), while VIP:6443 serves', async () => {
      const port = agentConfig.proxy.bindPort;
      const addresses = controllers().map((h) => h.address);
      expect(await dialFromClient(name, addresses, port)).toEqual(addresses.map(() => 'ECONNREFUSED'));
      const probes = await probeVip(lab, 3, 0);
      expect(probes.filter((p) => p.error)).toEqual([]);
    });

    it("gives the agent the systemd unit's open-file limit (65536, or the host's hard limit) on every init, restarted from a shell that had 1024", async () => {
      const holder = await oneHolder();
      const h = names().find((n) => n !== holder)!;
      const restart = {
        systemd: 'systemctl restart cplb-agent',
        openrc: 'rc-service cplb-agent restart',
        plain: '/usr/local/lib/cplb/cplb-agent-ctl restart',
      }[flavor];
      const before = (await agentStatus(name, h)).agent.pid;
      const hard = Number(
        await sh(name, h, `ulimit -S -n 1024 && ${restart} >/dev/null 2>&1 && ulimit -H -n`),
      );
      // The restarted agent's own pid, once its socket answers.
      let pid = 0;
      for (let i = 0; i < 50 && (!pid || pid === before); i++) {
        pid = await agentStatus(name, h).then(
          (st) => st.agent.pid,
          () => 0,
        );
        if (!pid || pid === before) await new Promise((r) => setTimeout(r, 200));
      }
      const limits = await sh(name, h, `grep '^Max open files' /proc/${pid}/limits`);
      const soft = Number(limits.split(/\s+/)[3]);
      console.log(
        `[${flavor}] agent open-file limit after a restart from a shell with 1024: ${soft} (shell hard limit ${hard})`,
      );
      expect(soft).toBeGreaterThanOrEqual(Math.min(65536, hard));
      await waitHolders(lab, controllers(), (x) => x.length === 1, Date.now(), 10_000);
    });
  });

  describe(`a second apply (${flavor})`, () => {
    it('is a no-op: exit 0, nothing written, nothing restarted, and it says so', async () => {
      const pidsBefore = await Promise.all(names().map((h) => pidsOf(name, h)));
      await Promise.all(names().map((h) => markHost(name, h)));
      const before = await Promise.all(names().map((h) => hostFingerprint(name, h)));
      await new Promise((r) => setTimeout(r, 1000)); // mtimes have a granularity: step past the marker
      const { res, ms } = await apply();
      record('no-op apply', ms);
      expect(res.code, res.stdout + res.stderr).toBe(0);
      expect(
        res.stdout.match(/no file changes; service cplb-agent: no action — nothing changed/g),
      ).toHaveLength(3);
      expect(res.stdout).toContain('every host is up to date: nothing to write, start or reload');
      expect(res.stdout).not.toMatch(/uploaded|staged|switched|installed|started|restarted|reloaded/);
      const after = await Promise.all(names().map((h) => hostFingerprint(name, h)));
      after.forEach((a, i) => {
        expect(a.changed, names()[i]).toEqual([]);
        expect(a.files, names()[i]).toBe(before[i]!.files);
      });
      expect(await Promise.all(names().map((h) => pidsOf(name, h)))).toEqual(pidsBefore);
    });
  });

  describe(`faults the agent heals (${flavor})`, () => {
    it('restarts keepalived killed with -9, and a holder exists again', async () => {
      const holder = await oneHolder();
      const before = await agentStatus(name, holder);
      const t0 = Date.now();
      await sh(name, holder, `kill -9 ${before.keepalived.pid}`);
      const { ms } = await waitHolders(lab, controllers(), (h) => h.length === 1, t0, 10_000);
      record('kill -9 keepalived on the holder: one holder again after', ms);
      let after = await agentStatus(name, holder);
      for (
        let i = 0;
        i < 40 && !(after.keepalived.running && after.keepalived.restarts > before.keepalived.restarts);
        i++
      ) {
        await new Promise((r) => setTimeout(r, 100));
        after = await agentStatus(name, holder);
      }
      expect(after.keepalived.restarts).toBe(before.keepalived.restarts + 1);
      expect(after.keepalived.running).toBe(true);
      expect(after.keepalived.pid).not.toBe(before.keepalived.pid);
      expect(after.agent.pid).toBe(before.agent.pid);
      await oneHolder();
    });

    it('puts the nat rules back within its re-assert interval after the table is flushed', async () => {
      const holder = await oneHolder();
      const t0 = Date.now();
      await sh(name, holder, 'iptables -t nat -F && iptables -t nat -X');
      const bound = agentConfig.iptables.reassertIntervalMs + 1000;
      let ms = 0;
      for (;;) {
        const nat = await sh(name, holder, 'iptables-save -t nat');
        ms = Date.now() - t0;
        if (/-j REDIRECT --to-ports 6444/.test(nat) && /^-A PREROUTING .*-j /m.test(nat)) break;
        expect(ms, 'rules not back').toBeLessThan(bound);
        await new Promise((r) => setTimeout(r, 100));
      }
      record('nat table flushed: rules back after', ms);
      expect(ms).toBeLessThan(bound);
      const probes = await probeVip(lab, 3, 0);
      expect(probes.filter((p) => p.error)).toEqual([]);
    });

    it('keeps exactly one jump per hook while iptables-save fails for several re-assert ticks, and after it works again', async () => {
      const holder = await oneHolder();
      const h = names().find((n) => n !== holder)!;
      const tick = agentConfig.iptables.reassertIntervalMs;
      const count = () =>
        sh(
          name,
          h,
          "for t in nat:PREROUTING nat:OUTPUT filter:INPUT; do iptables-nft -t ${t%%:*} -S ${t#*:} | grep -c 'jump to CPLB' || true; done",
        ).then((out) => out.trim().split('\n').map(Number));
      // The host's own copy-on-write root: its iptables-nft-save fails until put back.
      const save = (await sh(name, h, 'command -v iptables-nft-save')).trim();
      await sh(
        name,
        h,
        `mv ${save} ${save}.e2e && printf '#!/bin/sh\\necho forced by the e2e test >&2\\nexit 1\\n' >${save} && chmod 755 ${save}`,
      );
      try {
        await new Promise((r) => setTimeout(r, 3 * tick + 1000));
        const during = await count();
        console.log(
          `[${flavor}] jumps per hook after 3 ticks with iptables-save failing: ${during.join(', ')}`,
        );
        expect(during).toEqual([1, 1, 1]);
      } finally {
        await sh(name, h, `mv -f ${save}.e2e ${save}`);
      }
      await new Promise((r) => setTimeout(r, tick + 1000));
      expect(await count()).toEqual([1, 1, 1]);
      const probes = await probeVip(lab, 3, 0);
      expect(probes.filter((p) => p.error)).toEqual([]);
    });

    it('keeps serving from the holder when its own API server turns sick, and sends nothing there', async () => {
      const holder = await oneHolder();
      const hc = agentConfig.proxy.healthCheck;
      const t0 = Date.now();
      await labFault(name, holder, 'apiserver-sick');
      try {
        // The holder's proxy must mark its own upstream down within fall count × interval (+1 interval).
        const bound = (hc.fallCount + 1) * hc.intervalMs + 1000;
        for (;;) {
          const s = await agentStatus(name, holder);
          const own = s.proxy.upstreams.find(
            (u) => u.address === hosts.find((h) => h.name === holder)!.address,
          );
          if (own?.health === 'unhealthy') break;
          expect(Date.now() - t0, `own upstream still ${own?.health}`).toBeLessThan(bound);
          await new Promise((r) => setTimeout(r, 100));
        }
        record('holder API server sick: marked unhealthy after', Date.now() - t0);
        const probes = await probeVip(lab, 30, 100);
        expect(probes.filter((p) => p.error)).toEqual([]);
        expect(probes.filter((p) => p.cn === holder)).toEqual([]);
        expect(new Set(probes.map((p) => p.cn))).toEqual(new Set(names().filter((n) => n !== holder)));
        // Its proxy still reaches the others: no reason to move the VIP (no flap).
        expect(await holders()).toEqual([holder]);
      } finally {
        await labFault(name, holder, 'apiserver-healthy');
      }
    });
  });

  describe(`failover when the holder's agent goes (${flavor})`, () => {
    let stopped: string;
    let killed: string;

    it(`moves the VIP within ${FAILOVER_BOUND_MS} ms when the holder's agent is stopped, and the stop ends within the drain bound with client connections open`, async () => {
      stopped = await oneHolder();
      // Three idle TLS connections (watches between events) and one streaming, all through the holder.
      const clients = await holdConnections(name, lab.vip.split('/')[0]!, 3);
      expect((await agentStatus(name, stopped)).proxy.openConnections).toBeGreaterThanOrEqual(4);
      // Watched while the stop runs: it returns only once keepalived has exited, after the handover.
      const t0 = Date.now();
      const stopping = stopAgent(name, stopped, flavor).then(() => Date.now() - t0);
      const { ms, holders: now } = await waitHolders(
        lab,
        controllers(),
        (h) => h.length === 1 && h[0] !== stopped,
        t0,
        10_000,
      );
      const stopMs = await stopping;
      await sh(name, 'client', `kill ${clients} 2>/dev/null || true`);
      record('agent stopped on the holder: VIP moved after', ms);
      record('agent stop with 4 client connections open (drain 3000 ms)', stopMs);
      expect(ms).toBeLessThan(FAILOVER_BOUND_MS);
      expect(now).not.toContain(stopped);
      // The drain, then keepalived's own stop and the rest: far inside the service managers' 20 s.
      expect(stopMs).toBeLessThan(agentConfig.proxy.drainTimeoutMs + STOP_MARGIN_MS);
      expect(
        await sh(
          name,
          stopped,
          'ls /run/cplb/agent.sock /run/cplb/notify.fifo /run/cplb/status 2>/dev/null || true',
        ),
      ).toBe('');
    });

    it(`moves the VIP within ${FAILOVER_BOUND_MS} ms when the holder's agent is killed -9, keepalived and all`, async () => {
      killed = await oneHolder();
      const ka = (await agentStatus(name, killed)).keepalived.pid!;
      const t0 = await killAgent(name, killed, flavor);
      const { ms } = await waitHolders(
        lab,
        controllers(),
        (h) => h.length === 1 && h[0] !== killed,
        t0,
        10_000,
      );
      record('agent killed -9 on the holder: VIP moved after', ms);
      expect(ms).toBeLessThan(FAILOVER_BOUND_MS);
      // keepalived went with its agent (no orphan keeping a VIP whose proxy is gone).
      for (let i = 0; i < 20 && (await isKeepalived(name, killed, ka)); i++)
        await new Promise((r) => setTimeout(r, 100));
      expect(await isKeepalived(name, killed, ka)).toBe(false);
      expect(await agentRunning(name, killed, flavor)).toBe(false);
      const probes = await probeVip(lab, 6, 0);
      expect(probes.filter((p) => p.error)).toEqual([]);
    });

    it('re-apply repairs it all: starts the dead agents, rewrites a deleted keepalived.conf and a loosened agent.json, one holder', async () => {
      await reviveSupervision(name, killed, flavor); // the fault's own switch, not the repair
      const survivor = names().find((n) => n !== stopped && n !== killed)!;
      await sh(name, survivor, 'rm /etc/cplb/keepalived.conf');
      await sh(name, stopped, 'chmod 644 /etc/cplb/agent.json'); // same content, wrong mode
      const { res, ms } = await apply();
      record('re-apply after failures', ms);
      expect(res.code, res.stdout + res.stderr).toBe(0);
      const line = (h: string) =>
        `[ssh] ${hosts.find((x) => x.name === h)!.address}:${hosts.find((x) => x.name === h)!.sshPort}: `;
      for (const h of [stopped, killed]) expect(res.stdout).toContain(`${line(h)}started cplb-agent`);
      expect(res.stdout).toContain(`${line(survivor)}switched in /etc/cplb/keepalived.conf`);
      for (const h of names()) {
        expect(await agentRunning(name, h, flavor), h).toBe(true);
        const s = await agentStatus(name, h);
        expect(s.keepalived.running, h).toBe(true);
      }
      await oneHolder();
      expect(await sh(name, survivor, 'test -s /etc/cplb/keepalived.conf && echo ok')).toBe('ok\n');
      expect(await sh(name, stopped, 'stat -c %a /etc/cplb/agent.json')).toBe('600\n');
      const probes = await probeVip(lab, 9, 0);
      expect(probes.filter((p) => p.error)).toEqual([]);
      expect(new Set(probes.map((p) => p.cn))).toEqual(new Set(names()));
    });
  });

  describe(`reset (${flavor})`, () => {
    const reset = (...extra: string[]) =>
      cli(['reset', '--known-hosts', lab.knownHosts, '-o', 'logfmt', ...extra, lab.clusterFile]);
    const bareVip = () => lab.vip.split('/')[0]!;
    const sshLine = (h: string) => {
      const x = hosts.find((y) => y.name === h)!;
      return `[ssh] ${x.address}:${x.sshPort}: `;
    };

    it('refuses without --force (exit 2), and --dry-run only says what it would remove', async () => {
      const refused = await reset();
      expect(refused.code, refused.stderr).toBe(2);
      expect(refused.stderr).toContain('--force');
      const dry = await reset('--dry-run');
      expect(dry.code, dry.stdout + dry.stderr).toBe(0);
      for (const h of names()) {
        expect(dry.stdout).toContain(`${sshLine(h)}would stop and remove`);
        expect(await agentRunning(name, h, flavor), h).toBe(true);
      }
      await oneHolder();
    });

    it('removes it all, also what a killed agent left (nat rules, a VIP); a host it cannot finish fails and leaves the holders serving; a re-run completes it, holders last', async () => {
      const holder = await oneHolder();
      const [killed, blocker] = names().filter((n) => n !== holder) as [string, string];
      const keepaliveds = new Map<string, number | undefined>();
      for (const h of names()) keepaliveds.set(h, (await pidsOf(name, h)).keepalived);
      await killAgent(name, killed, flavor);
      // What keepalived killed with -9 would leave: the VIP still on the interface. The host then
      // counts as a holder, and goes in the holders' turn.
      await sh(name, killed, `ip addr add ${bareVip()}/32 dev eth1`);
      expect(await sh(name, killed, 'iptables-save -t nat')).toMatch(/^:CPLB /m);
      // Someone else's rule still jumps to the chain: it cannot be deleted, and reset must say so.
      await sh(name, blocker, 'iptables -t nat -N TEST-USER && iptables -t nat -A TEST-USER -j CPLB');

      const blocked = await reset('--force');
      expect(blocked.code, blocked.stdout + blocked.stderr).toBe(1);
      expect(blocked.stdout + blocked.stderr).toContain(
        'still there after reset: the nat chain CPLB (iptables)',
      );
      expect(blocked.stdout).toContain(`${sshLine(blocker)}removed /etc/cplb`);
      // The holders' turn never came: the holder's agent still runs, its VIP still up.
      for (const h of [holder, killed]) expect(blocked.stdout).not.toContain(`${sshLine(h)}removed`);
      expect(await agentRunning(name, holder, flavor)).toBe(true);
      expect((await holders()).sort()).toEqual([holder, killed].sort());

      await sh(name, blocker, 'iptables -t nat -F TEST-USER && iptables -t nat -X TEST-USER');
      // Service definitions an apply staged and never switched in (its run was cut): reset takes them too.
      const staged = [
        '/etc/systemd/system/.cplb-agent.service.cplb-staged',
        '/etc/init.d/.cplb-agent.cplb-staged',
      ];
      await sh(name, holder, staged.map((f) => `{ [ ! -d ${dirname(f)} ] || touch ${f}; }`).join('; '));
      const { code, stdout, stderr } = await reset('--force');
      expect(code, stdout + stderr).toBe(0);
      expect(stdout).toContain(`${sshLine(blocker)}removed the nat chain CPLB and its jumps`);
      expect(stdout).toContain(`${sshLine(killed)}removed the nat chain CPLB and its jumps`);
      expect(stdout).toContain(`${sshLine(killed)}removed the VIP ${bareVip()}/32 from eth1`);
      // Hosts without a VIP go first, so a VIP never hops to a host about to go too.
      const at = (h: string, what: string) => stdout.indexOf(`${sshLine(h)}${what}`);
      expect(at(blocker, 'removed the nat chain')).toBeLessThan(at(holder, 'removed /etc/cplb'));
      expect(await holders()).toEqual([]);
      for (const h of names()) {
        expect(await agentRunning(name, h, flavor), h).toBe(false);
        const ka = keepaliveds.get(h);
        if (ka) expect(await isKeepalived(name, h, ka), `${h}: keepalived ${ka}`).toBe(false);
        expect(await sh(name, h, 'iptables-save -t nat')).not.toContain('CPLB');
        expect(
          await sh(
            name,
            h,
            `ls -d /etc/cplb /usr/local/lib/cplb /run/cplb /etc/systemd/system/cplb-agent.service /etc/init.d/cplb-agent ${staged.join(' ')} 2>/dev/null || true`,
          ),
          h,
        ).toBe('');
      }
      await reviveSupervision(name, killed, flavor); // the test's own drop-in (systemd)
    });

    it('a second reset finds nothing, and apply then deploys afresh', async () => {
      const again = await reset('--force');
      expect(again.code, again.stdout + again.stderr).toBe(0);
      for (const h of names())
        expect(again.stdout).toContain(`${sshLine(h)}nothing of cplb was installed here`);
      const { res } = await apply();
      expect(res.code, res.stdout + res.stderr).toBe(0);
      await oneHolder();
      const probes = await probeVip(lab, 6, 0);
      expect(probes.filter((p) => p.error)).toEqual([]);
    });
  });
}

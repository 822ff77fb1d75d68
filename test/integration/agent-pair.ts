/**
 * Two nodes for the agent's integration tests: network namespaces `a` and `b` joined by a veth pair
 * (eth0 in each), a directory per node for its agent's files, stand-in API servers inside them, the
 * bundled agent started in each, and the teardown that removes all of it. agent-keepalived and
 * agent-addrlabel both run on it; what they test differently (addresses, the VRRP instance, the VIPs
 * in agent.json) they pass in.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { AgentStatus } from '../../src/contract/status.js';
import { queryStatus } from '../../src/agent/status.js';
import { readPidFile } from '../../src/agent/procs.js';
import { makeCert, writeUpstreamScript } from './agent-fixtures.js';

export type Node = 'a' | 'b';
const NODES = ['a', 'b'] as const;

const root = resolve(import.meta.dirname, '../..');
const bundle = join(root, 'dist/agent/cplb-agent.js');
// CPLB_AGENT_BIN=dist/agent/cplb-agent runs the single executable instead of the bundle.
const agentCommand = process.env.CPLB_AGENT_BIN
  ? [resolve(process.env.CPLB_AGENT_BIN)]
  : [process.execPath, bundle];

export const sh = (cmd: string, args: string[]) => execFileSync(cmd, args, { encoding: 'utf8' });

/** A stand-in API server (agent-fixtures' upstream script) in `node`, sick while sickFile(name) exists. */
export interface StandIn {
  node: Node;
  name: string;
  host: string;
  port: number;
}

export interface PairSetup {
  /** mkdtemp prefix of the pair's directory under the system's temp dir. */
  tmpPrefix: string;
  /**
   * The networks the test uses, each with the text that shows it in the root namespace's `ip route`
   * and `ip addr`: found there, the test refuses to run rather than cut the machine off.
   */
  networks: Record<string, string>;
  /** CIDRs on each node's eth0. IPv6 ones skip duplicate address detection, as the VIP does. */
  addresses: Record<Node, string[]>;
  keepalivedConf: (node: Node) => string;
  standIns: StandIn[];
}

/** The VRRP instance k0s-vip-0 on eth0, tracking the agent's health file, in the agent's file layout. */
export interface VrrpInstance {
  virtualRouterId: number;
  priority: number;
  /** VIP/prefix */
  vip: string;
  /** PASS authentication with this password, when given. */
  authPass?: string;
}

export class AgentPair {
  dir = '';
  /** Helpers the test started (stand-in servers, ...): killed at teardown. */
  readonly pids: number[] = [];
  readonly agents: Partial<Record<Node, ChildProcess>> = {};

  constructor(readonly ns: Record<Node, string>) {}

  readonly inNs = (node: Node, cmd: string, args: string[]) =>
    sh('ip', ['netns', 'exec', this.ns[node], cmd, ...args]);
  readonly nodeDir = (node: Node) => join(this.dir, node);
  readonly status = (node: Node): Promise<AgentStatus> => queryStatus(join(this.nodeDir(node), 'agent.sock'));
  readonly state = async (node: Node) => (await this.status(node)).instances[0]?.state;
  readonly sickFile = (name: string) => join(this.dir, `${name}.sick`);

  readonly background = (node: Node, args: string[], log: string): ChildProcess => {
    const out = openSync(join(this.dir, log), 'a');
    // `ip netns exec` execs the command: the pid we get is the command's own.
    return spawn('ip', ['netns', 'exec', this.ns[node], ...args], { stdio: ['ignore', out, out] });
  };

  readonly startAgent = (node: Node): void => {
    this.agents[node] = this.background(
      node,
      [...agentCommand, '--config', join(this.nodeDir(node), 'agent.json')],
      `${node}-agent.log`,
    );
  };

  keepalivedConf(node: Node, vrrp: VrrpInstance): string {
    const d = this.nodeDir(node);
    const auth = vrrp.authPass
      ? `  authentication {\n    auth_type PASS\n    auth_pass ${vrrp.authPass}\n  }\n`
      : '';
    return `global_defs {
  router_id ${this.ns[node]}
  notify_fifo ${d}/notify.fifo
}
track_file cplb_health {
  file ${d}/health
  weight 0
}
vrrp_instance k0s-vip-0 {
  state BACKUP
  interface eth0
  virtual_router_id ${vrrp.virtualRouterId}
  priority ${vrrp.priority}
  advert_int 1
${auth}  virtual_ipaddress {
    ${vrrp.vip}
  }
  track_file {
    cplb_health
  }
}
`;
  }

  /** agent.json's fields that do not depend on the test: the test adds its VIPs and the rest. */
  agentConfig(node: Node, upstreams: Array<{ address: string; port: number }>) {
    const d = this.nodeDir(node);
    return {
      hostName: this.ns[node],
      keepalived: {
        configPath: `${d}/keepalived.conf`,
        trackFile: `${d}/health`,
        notifyFifo: `${d}/notify.fifo`,
        pidDir: `${d}/run`,
      },
      proxy: { upstreams, healthCheck: { intervalMs: 200, timeoutMs: 500, fallCount: 2, riseCount: 1 } },
      statusSocket: `${d}/agent.sock`,
      statusFile: `${d}/status`,
      iptables: { backend: 'nft', reassertIntervalMs: 1000 },
    };
  }

  /** The namespaces, the link, each node's directory and keepalived.conf, and the stand-ins running. */
  setUp(setup: PairSetup): void {
    const inUse = sh('ip', ['route', 'show', 'table', 'all']) + sh('ip', ['addr']);
    if (Object.values(setup.networks).some((text) => inUse.includes(text)))
      throw new Error(
        `${Object.keys(setup.networks).join(' or ')} is in use on this machine: refusing to run`,
      );
    for (const ns of Object.values(this.ns))
      if (sh('ip', ['netns', 'list']).includes(ns)) sh('ip', ['netns', 'del', ns]);
    if (!process.env.CPLB_AGENT_BIN)
      execFileSync(process.execPath, [join(root, 'scripts/build-agent.mjs'), '--no-sea'], {
        stdio: 'ignore',
      });
    this.dir = mkdtempSync(join(tmpdir(), setup.tmpPrefix));
    const ipv6 = Object.values(setup.addresses).some((list) => list.some((a) => a.includes(':')));
    for (const ns of Object.values(this.ns)) {
      sh('ip', ['netns', 'add', ns]);
      // No duplicate address detection: addresses (the VIP too) are usable at once.
      if (ipv6)
        for (const scope of ['all', 'default'])
          sh('ip', ['netns', 'exec', ns, 'sysctl', '-qw', `net.ipv6.conf.${scope}.accept_dad=0`]);
    }
    // Both ends are created inside the namespaces: the root namespace never sees the link.
    const { a, b } = this.ns;
    sh('ip', ['-n', a, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', b]);
    for (const node of NODES) {
      for (const addr of setup.addresses[node])
        sh('ip', [
          '-n',
          this.ns[node],
          'addr',
          'add',
          addr,
          'dev',
          'eth0',
          ...(addr.includes(':') ? ['nodad'] : []),
        ]);
      sh('ip', ['-n', this.ns[node], 'link', 'set', 'eth0', 'up']);
      sh('ip', ['-n', this.ns[node], 'link', 'set', 'lo', 'up']);
      mkdirSync(this.nodeDir(node));
      writeFileSync(join(this.nodeDir(node), 'keepalived.conf'), setup.keepalivedConf(node));
    }
    const script = writeUpstreamScript(this.dir);
    for (const s of setup.standIns) {
      const cert = makeCert(this.dir, s.name);
      const args = [
        process.execPath,
        script,
        s.name,
        cert.certPath,
        cert.keyPath,
        s.host,
        String(s.port),
        this.sickFile(s.name),
      ];
      this.pids.push(this.background(s.node, args, `${s.name}.log`).pid!);
    }
  }

  /** Stops the agents (SIGKILL after 8 s), kills the helpers and any keepalived left, removes it all. */
  async tearDown(): Promise<void> {
    const running = Object.values(this.agents).filter((c) => c?.pid && c.exitCode === null);
    await Promise.all(
      running.map(
        (child) =>
          new Promise<void>((r) => {
            const t = setTimeout(() => (child!.kill('SIGKILL'), r()), 8000);
            child!.once('exit', () => (clearTimeout(t), r()));
            child!.kill('SIGTERM');
          }),
      ),
    );
    for (const pid of this.pids)
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    // Any keepalived the agents left behind (they should not) is ours by its pid file.
    for (const node of NODES)
      for (const f of ['keepalived.pid', 'keepalived-vrrp.pid']) {
        const pid = this.dir ? readPidFile(join(this.nodeDir(node), 'run', f)) : undefined;
        if (pid) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } // prettier-ignore
      }
    for (const ns of Object.values(this.ns))
      try {
        sh('ip', ['netns', 'del', ns]);
      } catch {
        // not created
      }
    if (this.dir && process.env.CPLB_TEST_KEEP) console.log(`kept ${this.dir}`);
    else if (this.dir) rmSync(this.dir, { recursive: true, force: true });
  }
}

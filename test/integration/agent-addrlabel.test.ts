/**
 * k0s's addressLabel, end to end on one IPv6 VIP: the bundled agent with a real keepalived in two
 * network namespaces (cplb-tlabel-a/b, a veth pair on fd5e:cb1b::/64 and 198.19.254.0/24). The
 * holder keeps `ip addrlabel` entry VIP/128 with the instance's label and drops it when the VIP
 * leaves (FAULT, stop); other labels stay. The label matters because of RFC 6724: without it the
 * holder sends its own traffic to a neighbour from the VIP (longest matching prefix), with it from
 * its real address, which `ip -6 route get` shows. Nothing touches the root namespace.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AgentStatus } from '../../src/contract/status.js';
import { queryStatus } from '../../src/agent/status.js';
import { readPidFile } from '../../src/agent/procs.js';
import { canRunAgentInNamespaces, makeCert, waitFor, writeUpstreamScript } from './agent-fixtures.js';

const NS = { a: 'cplb-tlabel-a', b: 'cplb-tlabel-b' } as const;
type Node = keyof typeof NS;
const V4 = { a: '198.19.254.1', b: '198.19.254.2' } as const;
// B's address shares 127 bits with the VIP and fewer with A's own: the case where the label decides.
const V6 = { a: 'fd5e:cb1b::1', b: 'fd5e:cb1b::101' } as const;
const VIP = 'fd5e:cb1b::100';
const LABEL = 30000;
const OTHER = 'prefix fd5e:cb1b::/64 label 77'; // an operator's own label: never touched
const root = resolve(import.meta.dirname, '../..');
const bundle = join(root, 'dist/agent/cplb-agent.js');
const agentCommand = process.env.CPLB_AGENT_BIN
  ? [resolve(process.env.CPLB_AGENT_BIN)]
  : [process.execPath, bundle];

const canRun =
  canRunAgentInNamespaces &&
  (() => {
    try {
      execFileSync('sh', ['-c', 'command -v ip6tables-nft'], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  })();

let dir: string;
const pids: number[] = [];
const agents: Partial<Record<Node, ChildProcess>> = {};

const sh = (cmd: string, args: string[]) => execFileSync(cmd, args, { encoding: 'utf8' });
const inNs = (node: Node, cmd: string, args: string[]) => sh('ip', ['netns', 'exec', NS[node], cmd, ...args]);
const holds = (node: Node) =>
  inNs(node, 'ip', ['-6', '-o', 'addr', 'show', 'dev', 'eth0']).includes(` ${VIP}/`);
/** `ip addrlabel list` of a namespace, one entry per line, trailing blanks trimmed. */
const labels = (node: Node) =>
  inNs(node, 'ip', ['-6', 'addrlabel', 'list'])
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
const vipLabel = (node: Node) => labels(node).filter((l) => l.startsWith(`prefix ${VIP}/128 `));
/** The source address this node picks for its own traffic to B's address. */
const sourceToB = (node: Node) => /\bsrc (\S+)/.exec(inNs(node, 'ip', ['-6', 'route', 'get', V6.b]))?.[1];
const nodeDir = (node: Node) => join(dir, node);
const status = (node: Node): Promise<AgentStatus> => queryStatus(join(nodeDir(node), 'agent.sock'));
const state = async (node: Node) => (await status(node).catch(() => undefined))?.instances[0]?.state;
const sickFile = (name: string) => join(dir, `${name}.sick`);

function background(node: Node, args: string[], log: string): ChildProcess {
  const out = openSync(join(dir, log), 'a');
  return spawn('ip', ['netns', 'exec', NS[node], ...args], { stdio: ['ignore', out, out] });
}

function keepalivedConf(node: Node): string {
  const d = nodeDir(node);
  return `global_defs {
  router_id ${NS[node]}
  notify_fifo ${d}/notify.fifo
}
track_file cplb_health {
  file ${d}/health
  weight 0
}
vrrp_instance k0s-vip-0 {
  state BACKUP
  interface eth0
  virtual_router_id 61
  priority 200
  advert_int 1
  virtual_ipaddress {
    ${VIP}/64
  }
  track_file {
    cplb_health
  }
}
`;
}

function agentJson(node: Node, upstreams: Array<{ address: string; port: number }>, label?: number): string {
  const d = nodeDir(node);
  const vip = { address: VIP, prefix: 64, family: 6, instanceName: 'k0s-vip-0' };
  return JSON.stringify({
    hostName: NS[node],
    keepalived: {
      configPath: `${d}/keepalived.conf`,
      trackFile: `${d}/health`,
      notifyFifo: `${d}/notify.fifo`,
      pidDir: `${d}/run`,
    },
    proxy: { upstreams, healthCheck: { intervalMs: 200, timeoutMs: 500, fallCount: 2, riseCount: 1 } },
    vips: [label === undefined ? vip : { ...vip, addressLabel: label }],
    statusSocket: `${d}/agent.sock`,
    statusFile: `${d}/status`,
    metrics: { enabled: false },
    iptables: { backend: 'nft', reassertIntervalMs: 1000 },
  });
}

function startAgent(node: Node): void {
  agents[node] = background(
    node,
    [...agentCommand, '--config', join(nodeDir(node), 'agent.json')],
    `${node}-agent.log`,
  );
}

async function stopAgent(node: Node): Promise<void> {
  const child = agents[node]!;
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  child.kill('SIGTERM');
  expect(await exited).toBe(0);
}

const inUse = canRun ? sh('ip', ['route', 'show', 'table', 'all']) + sh('ip', ['addr']) : '';

describe.skipIf(!canRun)(
  'addressLabel: the IPv6 VIP holder keeps ip addrlabel VIP/128 (network namespaces)',
  () => {
    beforeAll(async () => {
      if (inUse.includes('198.19.254.') || inUse.includes('fd5e:cb1b:'))
        throw new Error('198.19.254.0/24 or fd5e:cb1b::/64 is in use on this machine: refusing to run');
      for (const ns of Object.values(NS))
        if (sh('ip', ['netns', 'list']).includes(ns)) sh('ip', ['netns', 'del', ns]);
      if (!process.env.CPLB_AGENT_BIN)
        execFileSync(process.execPath, [join(root, 'scripts/build-agent.mjs'), '--no-sea'], {
          stdio: 'ignore',
        });
      dir = mkdtempSync(join(tmpdir(), 'cplb-tlabel-'));
      for (const ns of Object.values(NS)) {
        sh('ip', ['netns', 'add', ns]);
        // No duplicate address detection: addresses (the VIP too) are usable at once.
        for (const scope of ['all', 'default'])
          sh('ip', ['netns', 'exec', ns, 'sysctl', '-qw', `net.ipv6.conf.${scope}.accept_dad=0`]);
      }
      sh('ip', ['-n', NS.a, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', NS.b]);
      for (const node of ['a', 'b'] as const) {
        sh('ip', ['-n', NS[node], 'addr', 'add', `${V4[node]}/24`, 'dev', 'eth0']);
        sh('ip', ['-n', NS[node], 'addr', 'add', `${V6[node]}/64`, 'dev', 'eth0', 'nodad']);
        sh('ip', ['-n', NS[node], 'link', 'set', 'eth0', 'up']);
        sh('ip', ['-n', NS[node], 'link', 'set', 'lo', 'up']);
        mkdirSync(nodeDir(node));
        writeFileSync(join(nodeDir(node), 'keepalived.conf'), keepalivedConf(node));
      }
      const script = writeUpstreamScript(dir);
      for (const node of ['a', 'b'] as const) {
        const name = `up-${node}`;
        const cert = makeCert(dir, name);
        const args = [
          process.execPath,
          script,
          name,
          cert.certPath,
          cert.keyPath,
          V4[node],
          '6443',
          sickFile(name),
        ];
        pids.push(background(node, args, `${name}.log`).pid!);
      }
      // A reaches only up-a, B both: with up-a sick, A gives the VIP up and B keeps serving.
      const upA = { address: V4.a, port: 6443 };
      const upB = { address: V4.b, port: 6443 };
      writeFileSync(join(nodeDir('a'), 'agent.json'), agentJson('a', [upA], LABEL));
      writeFileSync(join(nodeDir('b'), 'agent.json'), agentJson('b', [upA, upB], LABEL));
      // Before any agent: an operator's label on A, and on B the VIP's entry a killed agent left.
      inNs('a', 'ip', ['addrlabel', 'add', ...OTHER.split(' ')]);
      inNs('b', 'ip', ['addrlabel', 'add', 'prefix', `${VIP}/128`, 'label', String(LABEL)]);
    }, 60_000);

    afterAll(async () => {
      for (const child of Object.values(agents))
        if (child?.pid && child.exitCode === null) {
          child.kill('SIGTERM');
          await new Promise<void>((r) => {
            const t = setTimeout(() => (child.kill('SIGKILL'), r()), 8000);
            child.once('exit', () => (clearTimeout(t), r()));
          });
        }
      for (const pid of pids)
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      for (const node of ['a', 'b'] as const)
        for (const f of ['keepalived.pid', 'keepalived-vrrp.pid']) {
          const pid = dir ? readPidFile(join(nodeDir(node), 'run', f)) : undefined;
          if (pid) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } // prettier-ignore
        }
      for (const ns of Object.values(NS))
        try {
          sh('ip', ['netns', 'del', ns]);
        } catch {
          // not created
        }
      if (dir && process.env.CPLB_TEST_KEEP) console.log(`kept ${dir}`);
      else if (dir) rmSync(dir, { recursive: true, force: true });
    }, 30_000);

    it('without a label, a node holding the VIP sends to its neighbour from the VIP (the problem k0s solves)', () => {
      inNs('a', 'ip', ['addr', 'add', `${VIP}/64`, 'dev', 'eth0', 'nodad']);
      try {
        expect(sourceToB('a')).toBe(VIP);
      } finally {
        inNs('a', 'ip', ['addr', 'del', `${VIP}/64`, 'dev', 'eth0']);
      }
    });

    it('the holder gets prefix VIP/128 label N; the other node has none (a stale one removed at start)', async () => {
      expect(vipLabel('b')).toEqual([`prefix ${VIP}/128 label ${LABEL}`]);
      startAgent('a');
      await waitFor('A to become MASTER', async () => (await state('a')) === 'MASTER', 20_000, 200);
      startAgent('b');
      await waitFor('B to become BACKUP', async () => (await state('b')) === 'BACKUP', 15_000, 200);
      expect([holds('a'), holds('b')]).toEqual([true, false]);
      await waitFor('the label on A', () => vipLabel('a').length === 1, 5000);
      expect(vipLabel('a')).toEqual([`prefix ${VIP}/128 label ${LABEL}`]);
      await waitFor('the stale label gone from B', () => vipLabel('b').length === 0, 5000);
      expect(labels('a')).toContain(OTHER);
      // What the label is for: the holder's own traffic leaves from its real address again.
      expect(sourceToB('a')).toBe(V6.a);
    });

    it('moves with the VIP: gone from a holder that gives it up (FAULT), set on the new holder', async () => {
      // From the state the test before leaves (so a stale entry cannot pass for a new one).
      expect([vipLabel('a').length, vipLabel('b').length]).toEqual([1, 0]);
      writeFileSync(sickFile('up-a'), '');
      await waitFor('A in FAULT', async () => (await state('a')) === 'FAULT', 10_000);
      await waitFor('B holds the VIP', () => holds('b') && !holds('a'), 10_000);
      await waitFor('the label on B', () => vipLabel('b').length === 1, 5000);
      await waitFor('the label gone from A', () => vipLabel('a').length === 0, 5000);
      expect(vipLabel('b')).toEqual([`prefix ${VIP}/128 label ${LABEL}`]);
      expect(labels('a')).toContain(OTHER);
      rmSync(sickFile('up-a'));
      await waitFor('A back to BACKUP', async () => (await state('a')) === 'BACKUP', 10_000);
      expect(vipLabel('a')).toEqual([]);
    });

    it('is removed when the agent stops, and set by the node that takes the VIP over', async () => {
      await stopAgent('b');
      expect(vipLabel('b')).toEqual([]);
      await waitFor('A holds the VIP', () => holds('a') && !holds('b'), 10_000);
      await waitFor('the label on A', () => vipLabel('a').length === 1, 5000);
      expect(vipLabel('a')).toEqual([`prefix ${VIP}/128 label ${LABEL}`]);
    });

    it("takes a changed label on SIGHUP, k0s's default 10000 when agent.json names none", async () => {
      const file = join(nodeDir('a'), 'agent.json');
      writeFileSync(`${file}.tmp`, agentJson('a', [{ address: V4.a, port: 6443 }]));
      renameSync(`${file}.tmp`, file);
      agents.a!.kill('SIGHUP');
      await waitFor('label 10000 on A', () => vipLabel('a')[0] === `prefix ${VIP}/128 label 10000`, 5000);
      expect(vipLabel('a')).toHaveLength(1);
      expect(sourceToB('a')).toBe(V6.a);
    });

    it('leaves every other label as it found it when the last agent stops', async () => {
      const before = labels('a').filter((l) => !l.startsWith(`prefix ${VIP}/128 `));
      await stopAgent('a');
      expect(labels('a')).toEqual(before);
      expect(labels('a')).toContain(OTHER);
      expect(readFileSync(join(dir, 'a-agent.log'), 'utf8')).not.toMatch(
        /level=(warn|error) msg="[^"]*addrlabel/,
      );
    });
  },
);

/**
 * k0s's addressLabel, end to end on one IPv6 VIP: the bundled agent with a real keepalived in two
 * network namespaces (cplb-tlabel-a/b, a veth pair on fd5e:cb1b::/64 and 198.19.254.0/24). The
 * holder keeps `ip addrlabel` entry VIP/128 with the instance's label and drops it when the VIP
 * leaves (FAULT, stop); other labels stay. The label matters because of RFC 6724: without it the
 * holder sends its own traffic to a neighbour from the VIP (longest matching prefix), with it from
 * its real address, which `ip -6 route get` shows. Nothing touches the root namespace.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canRunAgentInNamespaces, waitFor } from './agent-fixtures.js';
import { AgentPair, type Node } from './agent-pair.js';

const V4 = { a: '198.19.254.1', b: '198.19.254.2' } as const;
// B's address shares 127 bits with the VIP and fewer with A's own: the case where the label decides.
const V6 = { a: 'fd5e:cb1b::1', b: 'fd5e:cb1b::101' } as const;
const VIP = 'fd5e:cb1b::100';
const LABEL = 30000;
const OTHER = 'prefix fd5e:cb1b::/64 label 77'; // an operator's own label: never touched
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

const pair = new AgentPair({ a: 'cplb-tlabel-a', b: 'cplb-tlabel-b' });
const { agents, inNs, nodeDir, sickFile, startAgent } = pair;
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
const state = (node: Node) => pair.state(node).catch(() => undefined);

const keepalivedConf = (node: Node) =>
  pair.keepalivedConf(node, { virtualRouterId: 61, priority: 200, vip: `${VIP}/64` });

function agentJson(node: Node, upstreams: Array<{ address: string; port: number }>, label?: number): string {
  const vip = { address: VIP, prefix: 64, family: 6, instanceName: 'k0s-vip-0' };
  return JSON.stringify({
    ...pair.agentConfig(node, upstreams),
    vips: [label === undefined ? vip : { ...vip, addressLabel: label }],
    metrics: { enabled: false },
  });
}

async function stopAgent(node: Node): Promise<void> {
  const child = agents[node]!;
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  child.kill('SIGTERM');
  expect(await exited).toBe(0);
}

describe.skipIf(!canRun)(
  'addressLabel: the IPv6 VIP holder keeps ip addrlabel VIP/128 (network namespaces)',
  () => {
    beforeAll(() => {
      pair.setUp({
        tmpPrefix: 'cplb-tlabel-',
        networks: { '198.19.254.0/24': '198.19.254.', 'fd5e:cb1b::/64': 'fd5e:cb1b:' },
        addresses: { a: [`${V4.a}/24`, `${V6.a}/64`], b: [`${V4.b}/24`, `${V6.b}/64`] },
        keepalivedConf,
        standIns: [
          { node: 'a', name: 'up-a', host: V4.a, port: 6443 },
          { node: 'b', name: 'up-b', host: V4.b, port: 6443 },
        ],
      });
      // A reaches only up-a, B both: with up-a sick, A gives the VIP up and B keeps serving.
      const upA = { address: V4.a, port: 6443 };
      const upB = { address: V4.b, port: 6443 };
      writeFileSync(join(nodeDir('a'), 'agent.json'), agentJson('a', [upA], LABEL));
      writeFileSync(join(nodeDir('b'), 'agent.json'), agentJson('b', [upA, upB], LABEL));
      // Before any agent: an operator's label on A, and on B the VIP's entry a killed agent left.
      inNs('a', 'ip', ['addrlabel', 'add', ...OTHER.split(' ')]);
      inNs('b', 'ip', ['addrlabel', 'add', 'prefix', `${VIP}/128`, 'label', String(LABEL)]);
    }, 60_000);

    afterAll(() => pair.tearDown(), 30_000);

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
      expect(readFileSync(join(pair.dir, 'a-agent.log'), 'utf8')).not.toMatch(
        /level=(warn|error) msg="[^"]*addrlabel/,
      );
    });
  },
);

/**
 * The idle agent's memory and CPU: the real agent (bundle, then single executable) with 3 TLS
 * stand-in API servers and its keepalived holding a VIP, in a network namespace of its own
 * (cplb-tbench-fp, deleted after). Target: agent RSS <= 80 MB.
 *
 *   npx tsx bench/agent-footprint.ts [--agents bundle,sea] [--settle 10] [--sample 30]
 *                                    [--agent-env 'MALLOC_ARENA_MAX=2'] [--netns cplb-tbench-fp]
 *
 * After `settle` seconds it samples VmRSS (/proc/PID/status) every second and CPU ticks
 * (/proc/PID/stat) over `sample` seconds. The agent's own CPU and that of the commands it runs
 * (iptables checks, reaped children) are shown apart; keepalived (main + VRRP child) on its own.
 * Health checks, iptables checks and keepalived run at the product's defaults. Root only.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { queryStatus } from '../src/agent/status.js';
import {
  agentCommand,
  Cleanup,
  cpuSeconds,
  keepalivedPids,
  loadAvg,
  rssMB,
  sleep,
  startUpstreams,
  stopChild,
  waitFor,
  writeAgentConfig,
  type AgentKind,
} from './agent-env.js';
import { arg } from './args.js';

const kinds = arg('agents', 'bundle,sea').split(',') as AgentKind[];
const settleS = Number(arg('settle', '10'));
const sampleS = Number(arg('sample', '30'));
const UPSTREAM_PORTS = [17441, 17442, 17443];
const RSS_TARGET_MB = 80;
const agentEnv = arg('agent-env', '');
const netns = arg('netns', 'cplb-tbench-fp');

interface Footprint {
  kind: AgentKind;
  agentRss: number[];
  keepalivedRss: number[][];
  agentCpuPct: number;
  childrenCpuPct: number;
  keepalivedCpuPct: number;
  threads: string;
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const max = (xs: number[]) => Math.max(...xs);

async function measure(cleanup: Cleanup, ns: string, dir: string, kind: AgentKind): Promise<Footprint> {
  const adir = join(dir, kind);
  mkdirSync(adir);
  const config = writeAgentConfig(adir, ns, UPSTREAM_PORTS, 6444);
  const agent = cleanup.spawnIn(
    ns,
    [...agentCommand(kind, agentEnv), '--config', config],
    join(adir, 'agent.log'),
  );
  const pid = agent.pid!;
  try {
    await waitFor(
      `the ${kind} agent to hold the VIP with 3 healthy upstreams`,
      async () => {
        const s = await queryStatus(join(adir, 'agent.sock'));
        return s.proxy.healthyUpstreams === 3 && s.instances[0]?.state === 'MASTER';
      },
      30_000,
    );
    process.stderr.write(`${kind}: up; settling ${settleS} s, then sampling ${sampleS} s\n`);
    await sleep(settleS * 1000);
    const kPids = keepalivedPids(adir);
    if (kPids.length < 2)
      throw new Error(`expected keepalived and its VRRP child, found pids ${kPids.join(',')}`);
    const kCpu = () => kPids.reduce((a, p) => a + cpuSeconds(p).self, 0);
    const cpu0 = cpuSeconds(pid);
    const k0 = kCpu();
    const t0 = performance.now();
    const agentRss: number[] = [];
    const keepalivedRss: number[][] = [];
    for (let i = 0; i < sampleS; i++) {
      agentRss.push(rssMB(pid));
      keepalivedRss.push(kPids.map(rssMB));
      await sleep(1000);
    }
    const secs = (performance.now() - t0) / 1000;
    const cpu1 = cpuSeconds(pid);
    const pctOf = (cpu: number) => (100 * cpu) / secs;
    const threads = /Threads:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? '?';
    return {
      kind,
      agentRss,
      keepalivedRss,
      agentCpuPct: pctOf(cpu1.self - cpu0.self),
      childrenCpuPct: pctOf(cpu1.children - cpu0.children),
      keepalivedCpuPct: pctOf(kCpu() - k0),
      threads,
    };
  } finally {
    await stopChild(agent);
  }
}

function report(results: Footprint[], header: string[]): void {
  const W = [34, 12, 12];
  const row = (cells: string[]) =>
    console.log(cells.map((c, i) => (i === 0 ? c.padEnd(W[0]!) : c.padStart(W[i] ?? 12))).join(' '));
  console.log(header.join('\n') + '\n');
  row(['', ...results.map((r) => r.kind)]);
  const line = (label: string, f: (r: Footprint) => string) => row([label, ...results.map(f)]);
  line('agent RSS MB, mean', (r) => mean(r.agentRss).toFixed(1));
  line(`agent RSS MB, max (target <=${RSS_TARGET_MB})`, (r) => `${max(r.agentRss).toFixed(1)} ${max(r.agentRss) <= RSS_TARGET_MB ? 'ok' : 'MISSED'}`); // prettier-ignore
  line('agent OS threads', (r) => r.threads);
  line('keepalived RSS MB (main + VRRP)', (r) => {
    const last = r.keepalivedRss[r.keepalivedRss.length - 1] ?? [];
    return `${last.map((x) => x.toFixed(1)).join(' + ')}`;
  });
  line('agent CPU % of one core, own', (r) => r.agentCpuPct.toFixed(2));
  line('  + its iptables checks (children)', (r) => r.childrenCpuPct.toFixed(2));
  line('keepalived CPU % of one core', (r) => r.keepalivedCpuPct.toFixed(2));
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('root only: the benchmark makes a network namespace');
  for (const kind of kinds) agentCommand(kind); // fails early when a build is missing
  const header = [
    `agent footprint: idle (no client connections), ${settleS} s settle, ${sampleS} s sampled; netns ${netns}`,
    ...(agentEnv ? [`agent environment: ${agentEnv}`] : []),
    `3 TLS stand-ins with /readyz; health checks every 1 s, iptables checks every 5 s, keepalived MASTER of 1 VIP`,
    `CPU from /proc/PID/stat ticks (10 ms resolution); loadavg at start ${loadAvg()}`,
  ];
  const cleanup = new Cleanup();
  const results: Footprint[] = [];
  try {
    const ns = cleanup.namespace(netns);
    const dir = cleanup.tempDir(`${netns}-`);
    await startUpstreams(cleanup, ns, dir, UPSTREAM_PORTS);
    for (const kind of kinds) results.push(await measure(cleanup, ns, dir, kind));
  } finally {
    await cleanup.run();
  }
  report(results, header);
}

main().catch((err: unknown) => {
  console.error(`bench/agent-footprint: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});

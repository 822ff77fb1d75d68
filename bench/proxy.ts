/**
 * The agent's proxy against HAProxy (mode tcp, 1 thread) and against a direct connection, in one run
 * on one machine: throughput, new TLS connections per second, and added p50/p99 latency.
 *
 *   npx tsx bench/proxy.ts [--seconds 10] [--slice-ms 1000] [--measures bulk,rate,latency]
 *                          [--latency-rate 200] [--agent bundle|sea] [--cpu-prof DIR]
 *                          [--agent-reassert-ms N]   (diagnosis: the agent's periodic iptables check)
 *                          [--node-flags '--max-semi-space-size=2']   (bundle only)
 *                          [--agent-env 'MALLOC_ARENA_MAX=2']   (the agent's environment)
 *                          [--netns cplb-tbench-proxy] [--pin]
 *
 * Everything runs in a network namespace of its own (cplb-tbench-proxy, deleted after): 3 TLS
 * stand-ins (bench/upstream.ts), the real agent (its keepalived and iptables stay inside the
 * namespace), HAProxy, and the load generator (bench/proxy-load.ts), each a process of its own.
 * Each measure gives every target `seconds` in all, in interleaved slices. Targets: throughput and
 * rate >= 0.9x HAProxy's, p99 <= 1.2x HAProxy's, agent RSS <= 80 MB under load (sampled every
 * 100 ms). --pin gives the proxy under test a core of its own (the last) and everything else the
 * others: latency then measures the proxy, not the scheduler; rate is then bound by the load side.
 * Root only.
 */
import { execFileSync, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { queryStatus } from '../src/agent/status.js';
import {
  agentCommand,
  Cleanup,
  cpuBetween,
  cpuSeconds,
  listening,
  loadAvg,
  machineTicks,
  namespaceCpu,
  rssMB,
  sleep,
  startUpstreams,
  waitFor,
  writeAgentConfig,
  type AgentKind,
} from './agent-env.js';
import {
  report,
  TARGETS,
  type MeasureKey,
  type Memory,
  type Sample,
  type TargetName,
} from './proxy-report.js';
import { arg } from './args.js';

const seconds = Number(arg('seconds', '10'));
const sliceMs = Number(arg('slice-ms', '1000'));
const agentKind = arg('agent', 'bundle') as AgentKind;
const only = arg('measures', 'bulk,rate,latency').split(',');
const latencyRate = Number(arg('latency-rate', '200'));
/** The bundled agent writes a V8 CPU profile into this directory when it stops. */
const cpuProfDir = arg('cpu-prof', '');
const reassertMs = arg('agent-reassert-ms', '');
/** Extra node flags for the bundled agent, e.g. '--max-semi-space-size=2' (memory under load). */
const nodeFlags = arg('node-flags', '').split(' ').filter(Boolean);
const agentEnv = arg('agent-env', '');
/** Another name lets two runs (or two people) share the machine without killing each other's. */
const netns = arg('netns', 'cplb-tbench-proxy');
const pinned = process.argv.includes('--pin');
const lastCpu = cpus().length - 1;
/** With --pin: the proxies on the last core, the load generator and the stand-ins on the others. */
function pin(pid: number | undefined, proxy: boolean): void {
  if (!pinned || pid === undefined) return;
  const list = proxy ? String(lastCpu) : lastCpu === 0 ? '0' : `0-${lastCpu - 1}`;
  execFileSync('taskset', ['-a', '-p', '-c', list, String(pid)], { stdio: 'ignore' });
}
const HAPROXY = '/usr/sbin/haproxy';
const UPSTREAM_PORTS = [17441, 17442, 17443];
const PORTS: Record<TargetName, number> = { direct: UPSTREAM_PORTS[0]!, haproxy: 17450, agent: 6444 };

const MEASURES: Array<{ key: MeasureKey; param: number; label: string }> = [
  { key: 'bulk', param: 8, label: 'throughput MB/s (8 conns, plain bytes)' },
  { key: 'rate', param: 16, label: 'new TLS conns/s (16 workers)' },
  { key: 'latency', param: latencyRate, label: `TLS connect+first byte ms (${latencyRate}/s)` },
];

function haproxyConfig(): string {
  const servers = UPSTREAM_PORTS.map((p, i) => `    server up${i + 1} 127.0.0.1:${p}`).join('\n');
  // The agent's equivalent: round robin, HTTPS GET /readyz every 1 s, fall 3, rise 1, 3 s dial timeout.
  return `global
    nbthread 1
    maxconn 8000
defaults
    mode tcp
    timeout connect 3s
    timeout client 1h
    timeout server 1h
frontend bench
    bind 127.0.0.1:${PORTS.haproxy}
    default_backend apiservers
backend apiservers
    balance roundrobin
    option httpchk GET /readyz
    default-server check check-ssl verify none inter 1s fall 3 rise 1
${servers}
`;
}

const threads = (pid: number) => /Threads:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];

/** One load generator run over all targets; each slice is sampled for CPU at its window's edges. */
async function measure(
  cleanup: Cleanup,
  ns: string,
  m: (typeof MEASURES)[number],
  pids: Record<TargetName, number | undefined>,
  into: Map<string, Sample[]>,
  memory: Map<MeasureKey, Memory>,
): Promise<void> {
  const slices = Math.max(1, Math.round((seconds * 1000) / sliceMs));
  const ports = TARGETS.map((t) => PORTS[t]).join(',');
  const argv = [process.execPath, '--import', 'tsx', 'bench/proxy-load.ts', m.key, String(m.param)];
  const child: ChildProcess = cleanup.spawnIn(
    ns,
    [...argv, String(slices), String(sliceMs), ports],
    undefined,
    true,
  );
  pin(child.pid, false);
  const snap = (t: TargetName) => ({
    t: performance.now(),
    proxy: pids[t] ? cpuSeconds(pids[t]).self : 0,
    ours: namespaceCpu(ns),
    machine: machineTicks(),
  });
  // RSS while the load runs (warm-up round included): the peak, and where it stands at the end.
  const mem: Memory = { haproxy: { peak: 0, end: 0 }, agent: { peak: 0, end: 0 } };
  const sampleRss = () => {
    for (const t of ['haproxy', 'agent'] as const) {
      try {
        const mb = rssMB(pids[t]!);
        mem[t] = { peak: Math.max(mem[t].peak, mb), end: mb };
      } catch {
        // exited: the load generator's failure says so
      }
    }
  };
  const sampler = setInterval(sampleRss, 100);
  let start: ReturnType<typeof snap> | undefined;
  for await (const line of createInterface({ input: child.stdout! })) {
    if (line.startsWith('SLICE ')) start = snap(TARGETS[Number(line.slice(6))]!);
    if (!line.startsWith('{')) continue;
    const r = JSON.parse(line) as { target: number; value: number; errors: number; samples?: number[] };
    const target = TARGETS[r.target]!;
    const end = snap(target);
    if (!start) throw new Error('load generator: a result without its slice');
    const secs = (end.t - start.t) / 1000;
    const total = end.machine.total - start.machine.total;
    const key = `${m.key}/${target}`;
    const other =
      (100 * (end.machine.busy - start.machine.busy)) / total -
      (1e4 * cpuBetween(start.ours, end.ours)) / total;
    const p99 = r.samples
      ? ` p99 ${[...r.samples].sort((a, b) => a - b)[Math.floor(r.samples.length * 0.99)]}`
      : '';
    process.stderr.write(
      `  ${m.key} ${target.padEnd(7)} ${r.value.toFixed(2).padStart(8)}${p99}  other load ${other.toFixed(0)}%\n`,
    );
    into.set(key, [
      ...(into.get(key) ?? []),
      {
        value: r.value,
        errors: r.errors,
        samples: r.samples,
        proxyCpu: end.proxy - start.proxy,
        units: m.key === 'latency' ? (r.samples?.length ?? 0) : r.value * secs,
        seconds: secs,
        machineBusyPct: (100 * (end.machine.busy - start.machine.busy)) / total,
        // /proc/stat counts 100 ticks a second per core, like the per-process counters.
        oursPct: (100 * cpuBetween(start.ours, end.ours) * 100) / total,
      },
    ]);
  }
  await new Promise((r) => (child.exitCode === null ? child.once('exit', r) : r(null)));
  clearInterval(sampler);
  sampleRss();
  memory.set(m.key, mem);
  if (child.exitCode !== 0) throw new Error(`load generator (${m.key}) exited with ${child.exitCode}`);
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('root only: the benchmark makes a network namespace');
  const command = agentCommand(agentKind, agentEnv);
  const flagsAt = command.indexOf(process.execPath) + 1;
  if (cpuProfDir && agentKind === 'bundle')
    command.splice(flagsAt, 0, '--cpu-prof', '--cpu-prof-dir', cpuProfDir);
  if (agentKind === 'bundle') command.splice(flagsAt, 0, ...nodeFlags);
  const idle0 = machineTicks();
  await sleep(1000);
  const idle1 = machineTicks();
  const backgroundBusy = (100 * (idle1.busy - idle0.busy)) / (idle1.total - idle0.total);
  const load0 = loadAvg();
  const cleanup = new Cleanup();
  try {
    const ns = cleanup.namespace(netns);
    const dir = cleanup.tempDir(`${netns}-`);
    for (const up of await startUpstreams(cleanup, ns, dir, UPSTREAM_PORTS)) pin(up.child.pid, false);
    writeFileSync(join(dir, 'haproxy.cfg'), haproxyConfig());
    const haproxy = cleanup.spawnIn(
      ns,
      [HAPROXY, '-db', '-f', join(dir, 'haproxy.cfg')],
      join(dir, 'haproxy.log'),
    );
    const agentJson = writeAgentConfig(dir, ns, UPSTREAM_PORTS, PORTS.agent);
    // The agent resets connections to its port that no REDIRECT brought (its guard): the load
    // generator's 127.0.0.1:6444 goes through a REDIRECT of its own, as VIP:6443 does on a node.
    execFileSync('ip', ['netns', 'exec', ns, 'iptables-nft', '-t', 'nat', '-I', 'OUTPUT', '-d', '127.0.0.1/32',
      '-p', 'tcp', '--dport', String(PORTS.agent), '-j', 'REDIRECT', '--to-ports', String(PORTS.agent)]); // prettier-ignore
    if (reassertMs) {
      const c = JSON.parse(readFileSync(agentJson, 'utf8'));
      writeFileSync(
        agentJson,
        JSON.stringify({ ...c, iptables: { reassertIntervalMs: Number(reassertMs) } }),
      );
    }
    const agent = cleanup.spawnIn(ns, [...command, '--config', agentJson], join(dir, 'agent.log'));
    await waitFor('haproxy to listen', () => listening(ns, PORTS.haproxy), 10_000);
    await waitFor(
      'the agent to find 3 healthy upstreams',
      async () => (await queryStatus(join(dir, 'agent.sock'))).proxy.healthyUpstreams === 3,
      20_000,
    );
    pin(haproxy.pid, true);
    pin(agent.pid, true); // its keepalived and iptables children inherit the core
    await sleep(1500); // haproxy's first health checks
    const pids = { direct: undefined, haproxy: haproxy.pid, agent: agent.pid };
    const version = execFileSync(HAPROXY, ['-v'], { encoding: 'utf8' })
      .split('\n')[0]!
      .split(' ')
      .slice(0, 3)
      .join(' ');
    const header = [
      `proxy benchmark: ${seconds} s per target per measure, in ${sliceMs} ms slices taken in turn; netns ${ns}`,
      `upstreams: 3 TLS stand-ins (node) on 127.0.0.1; direct = client -> up1 only`,
      `agent: ${command.join(' ')}${reassertMs ? ` (iptables check every ${reassertMs} ms)` : ''}`,
      `       single JS thread (${threads(agent.pid!)} OS threads in all: libuv pool, V8 GC/compiler)`,
      `haproxy: ${version}, nbthread 1 (${threads(haproxy.pid!)} OS thread), mode tcp, roundrobin, no splice`,
      pinned
        ? `${cpus().length} cores: the proxies pinned to cpu ${lastCpu}, the load generator and the stand-ins to the others`
        : `${cpus().length} cores shared by the load generator (1 node process), the proxy and the stand-ins; nothing pinned`,
      `machine before the run: ${backgroundBusy.toFixed(1)}% busy with other work, loadavg ${load0}`,
    ];
    const results = new Map<string, Sample[]>();
    const memory = new Map<MeasureKey, Memory>();
    for (const m of MEASURES.filter((x) => only.includes(x.key))) {
      process.stderr.write(`measuring ${m.key} ...\n`);
      await measure(cleanup, ns, m, pids, results, memory);
    }
    const rss = (pid: number) => {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      const mb = (key: string) =>
        ((Number(new RegExp(`${key}:\\s+(\\d+)`).exec(status)?.[1]) * 1024) / 1e6).toFixed(0);
      return `RSS ${mb('VmRSS')} MB (peak ${mb('VmHWM')} MB)`;
    };
    header.push(
      `after the load: agent ${rss(agent.pid!)}, haproxy ${rss(haproxy.pid!)}`,
      `loadavg after: ${loadAvg()}`,
      '',
    );
    report(results, memory, header, MEASURES);
  } finally {
    await cleanup.run();
  }
}

main().catch((err: unknown) => {
  console.error(`bench/proxy: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});

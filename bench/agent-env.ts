/**
 * Shared by the agent benchmarks: a network namespace of our own (loopback plus an eth0 for
 * keepalived), TLS stand-in API servers, the real agent with its agent.json and keepalived.conf,
 * /proc sampling, and a cleanup that ends every process and namespace we made, also on Ctrl-C.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { makeCertificate } from '../src/lab/keys.js';

export const ROOT = resolve(import.meta.dirname, '..');
export const AGENT_BUNDLE = join(ROOT, 'dist/agent/cplb-agent.js');
export const AGENT_SEA = join(ROOT, 'dist/agent/cplb-agent');
/** eth0 inside our namespaces: nothing routes there, keepalived just needs a link. */
const NS_ADDR = '198.19.253.1';
export const NS_VIP = '198.19.253.100';
const CLK_TCK = 100;

export const sh = (cmd: string, args: string[]) => execFileSync(cmd, args, { encoding: 'utf8' });
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Every process and namespace a run made; undone once, whichever way the run ends. */
export class Cleanup {
  readonly children = new Set<ChildProcess>();
  private readonly namespaces: string[] = [];
  private readonly dirs: string[] = [];
  private done: Promise<void> | undefined;

  constructor() {
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      process.on(signal, () => {
        process.stderr.write(`\n${signal}: cleaning up\n`);
        void this.run().finally(() => process.exit(130));
      });
    }
  }

  tempDir(prefix: string): string {
    const dir = mkdtempSync(join(tmpdir(), prefix));
    this.dirs.push(dir);
    return dir;
  }

  /** Creates (or recreates, when a killed run left it) a namespace with lo up and an eth0. */
  namespace(name: string): string {
    // Whatever runs in a namespace of this name gets killed: only names that say "bench" are ours.
    if (!/^cplb-[a-z0-9-]*bench-/.test(name)) throw new Error(`namespace ${name}: not ours to make`);
    if (listNamespaces().includes(name)) removeNamespace(name);
    sh('ip', ['netns', 'add', name]);
    this.namespaces.push(name);
    sh('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
    // A veth pair with both ends inside (no dummy module here): keepalived's adverts go nowhere.
    sh('ip', ['-n', name, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth1']);
    sh('ip', ['-n', name, 'addr', 'add', `${NS_ADDR}/24`, 'dev', 'eth0']);
    for (const link of ['eth0', 'eth1']) sh('ip', ['-n', name, 'link', 'set', link, 'up']);
    // Tens of thousands of short connections per run: the namespace's own port range, not the host's.
    sh('ip', ['netns', 'exec', name, 'sysctl', '-qw', 'net.ipv4.ip_local_port_range=1024 65000']);
    return name;
  }

  /** Runs argv inside `ns`; `ip netns exec` execs it, so the pid is the command's own. */
  spawnIn(ns: string, argv: string[], logFile?: string, pipeStdout = false): ChildProcess {
    const out = logFile ? openSync(logFile, 'a') : 'ignore';
    const child = spawn('ip', ['netns', 'exec', ns, ...argv], {
      cwd: ROOT,
      stdio: ['ignore', pipeStdout ? 'pipe' : out, out],
    });
    this.children.add(child);
    child.once('exit', () => this.children.delete(child));
    return child;
  }

  run(): Promise<void> {
    this.done ??= (async () => {
      await Promise.all([...this.children].map((c) => stopChild(c)));
      for (const ns of this.namespaces) removeNamespace(ns);
      for (const dir of this.dirs) {
        if (process.env.CPLB_BENCH_KEEP) process.stderr.write(`kept ${dir}\n`);
        else rmSync(dir, { recursive: true, force: true });
      }
    })();
    return this.done;
  }
}

function listNamespaces(): string[] {
  return sh('ip', ['netns', 'list'])
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '');
}

/** Whatever still runs in the namespace (keepalived left by a killed agent) is ours: we made it. */
function removeNamespace(name: string): void {
  const pids = sh('ip', ['netns', 'pids', name]).split('\n').filter(Boolean).map(Number);
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  sh('ip', ['netns', 'del', name]);
}

/** SIGTERM, then SIGKILL after `graceMs`. */
export function stopChild(child: ChildProcess, graceMs = 8000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || !child.pid) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

export async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (
      await Promise.resolve()
        .then(check)
        .catch(() => false)
    )
      return;
    await sleep(100);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

export function listening(ns: string, port: number): boolean {
  return sh('ip', ['netns', 'exec', ns, 'ss', '-Hltn', `sport = :${port}`]).trim() !== '';
}

export interface StandIn {
  name: string;
  port: number;
  child: ChildProcess;
}

/** TLS stand-in API servers (bench/upstream.ts) on 127.0.0.1 inside `ns`. */
export async function startUpstreams(cleanup: Cleanup, ns: string, dir: string, ports: number[]) {
  const ups: StandIn[] = [];
  for (const [i, port] of ports.entries()) {
    const name = `up${i + 1}`;
    const key = join(dir, `${name}.key`);
    const cert = join(dir, `${name}.crt`);
    await makeCertificate(cert, key, name, '127.0.0.1');
    const argv = [process.execPath, '--import', 'tsx', join(ROOT, 'bench/upstream.ts')];
    const child = cleanup.spawnIn(
      ns,
      [...argv, name, '127.0.0.1', String(port), cert, key],
      join(dir, `${name}.log`),
    );
    ups.push({ name, port, child });
  }
  for (const up of ups) await waitFor(`${up.name} on :${up.port}`, () => listening(ns, up.port), 15_000);
  return ups;
}

export type AgentKind = 'bundle' | 'sea';

/** `env` (e.g. 'MALLOC_ARENA_MAX=2 NODE_OPTIONS=...') goes through env(1), which execs: same pid. */
export function agentCommand(kind: AgentKind, env = ''): string[] {
  const path = kind === 'sea' ? AGENT_SEA : AGENT_BUNDLE;
  if (!existsSync(path)) throw new Error(`${path} is missing: run \`npm run build\` first`);
  const vars = env.split(' ').filter(Boolean);
  return [...(vars.length ? ['env', ...vars] : []), ...(kind === 'sea' ? [path] : [process.execPath, path])];
}

/** agent.json and keepalived.conf in `dir`, with the product's defaults for everything timed. */
export function writeAgentConfig(
  dir: string,
  ns: string,
  upstreamPorts: number[],
  proxyPort: number,
): string {
  writeFileSync(
    join(dir, 'keepalived.conf'),
    `global_defs {
  router_id ${ns}
  notify_fifo ${dir}/notify.fifo
}
track_file cplb_health {
  file ${dir}/health
  weight 0
}
vrrp_instance bench-vip-0 {
  state BACKUP
  interface eth0
  virtual_router_id 61
  priority 100
  advert_int 1
  authentication {
    auth_type PASS
    auth_pass tbench
  }
  virtual_ipaddress {
    ${NS_VIP}/24
  }
  track_file {
    cplb_health
  }
}
`,
  );
  const path = join(dir, 'agent.json');
  const config = {
    hostName: ns,
    keepalived: {
      configPath: `${dir}/keepalived.conf`,
      trackFile: `${dir}/health`,
      notifyFifo: `${dir}/notify.fifo`,
      pidDir: `${dir}/run`,
    },
    proxy: { bindPort: proxyPort, upstreams: upstreamPorts.map((port) => ({ address: '127.0.0.1', port })) },
    vips: [{ address: NS_VIP, prefix: 24, family: 4, instanceName: 'bench-vip-0' }],
    statusSocket: `${dir}/agent.sock`,
  };
  writeFileSync(path, JSON.stringify(config, null, 2));
  return path;
}

export function keepalivedPids(dir: string): number[] {
  return ['keepalived.pid', 'keepalived-vrrp.pid']
    .map((f) => {
      try {
        return Number.parseInt(readFileSync(join(dir, 'run', f), 'utf8'), 10);
      } catch {
        return NaN;
      }
    })
    .filter((pid) => Number.isInteger(pid) && pid > 0);
}

/** CPU seconds so far: the process's own, and its reaped children's (the agent's iptables runs). */
export function cpuSeconds(pid: number): { self: number; children: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat
    .slice(stat.lastIndexOf(')') + 2)
    .split(' ')
    .map(Number);
  // After the command name: state=0 ... utime=11 stime=12 cutime=13 cstime=14.
  return { self: (f[11]! + f[12]!) / CLK_TCK, children: (f[13]! + f[14]!) / CLK_TCK };
}

/** CPU seconds of every process now in `ns` (all of them ours: we made the namespace), by pid. */
export function namespaceCpu(ns: string): Map<number, number> {
  const byPid = new Map<number, number>();
  for (const pid of sh('ip', ['netns', 'pids', ns]).split('\n').filter(Boolean).map(Number)) {
    try {
      byPid.set(pid, cpuSeconds(pid).self);
    } catch {
      // exited meanwhile
    }
  }
  return byPid;
}

/** CPU used between two namespaceCpu() snapshots by the processes alive at both. */
export function cpuBetween(before: Map<number, number>, after: Map<number, number>): number {
  let sum = 0;
  for (const [pid, cpu] of after) sum += cpu - (before.get(pid) ?? cpu);
  return sum;
}

/** VmRSS in MB (10^6 bytes; /proc says kB and means KiB). */
export function rssMB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? (Number(m[1]) * 1024) / 1e6 : NaN;
}

/** Jiffies of the whole machine (all cores) from /proc/stat. */
export function machineTicks(): { busy: number; total: number } {
  // user nice system idle iowait irq softirq steal (guest time is already in user).
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.split(/\s+/).slice(1, 9).map(Number);
  const total = cpu.reduce((a, b) => a + b, 0);
  const idle = (cpu[3] ?? 0) + (cpu[4] ?? 0);
  return { busy: total - idle, total };
}

export function loadAvg(): string {
  return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
}

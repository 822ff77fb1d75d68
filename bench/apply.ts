/**
 * apply wall times on lab hosts, measured as a user sees them (the built CLI, end to end).
 *
 *   npx tsx bench/apply.ts [--runs 5] [--sizes 3,30] [--modes dry-run,fresh,noop,reset]
 *
 * Prints per size and mode the median, min and max wall time, and the ratio of the largest size to
 * the smallest (target for dry runs: 30 hosts under twice the 3-host time). `reset` times
 * `cplbctl reset --force` on a deployed lab (each run deploys it again first, untimed). Root only: it
 * makes labs.
 *
 * Beside the wall time, per run: the CPU the CLI used (its process, from this process's cutime) and
 * the CPU the lab hosts spent serving it (their sshd daemons with every reaped session, shell and
 * command below them). All lab hosts share this machine's cores with the CLI, so where the hosts' CPU
 * per run exceeds the cores' time, the wall time is the machine's, not the tool's.
 */
import { readFileSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { labDown, labExec, labUp, type LabInfo } from '../src/lab/index.js';
import { arg } from './args.js';

const run = promisify(execFile);
const runs = Number(arg('runs', '5'));
const sizes = arg('sizes', '3,30').split(',').map(Number);
const modes = arg('modes', 'dry-run').split(',');

const TICK_MS = 10; // USER_HZ is 100 on Linux

/** utime+stime+cutime+cstime of a pid, in ms; undefined when it is gone. */
function cpuMs(pid: number | 'self'): number | undefined {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) * TICK_MS;
  } catch {
    return undefined;
  }
}
const comm = (pid: number) => {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
};
const parentOf = (pid: number) =>
  Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]);

/** The controllers' sshd daemons (an sshd whose parent is not sshd): every session is reaped into them. */
async function sshDaemons(lab: LabInfo): Promise<number[]> {
  const pids: number[] = [];
  for (const h of lab.hosts.filter((x) => x.role === 'controller')) {
    const { stdout } = await run('ip', ['netns', 'pids', h.netns]);
    for (const pid of stdout.split('\n').filter(Boolean).map(Number))
      if (comm(pid) === 'sshd' && comm(parentOf(pid)) !== 'sshd') pids.push(pid);
  }
  return pids;
}
const sumCpu = (pids: number[]) => pids.reduce((t, p) => t + (cpuMs(p) ?? 0), 0);

interface Sample {
  wallMs: number;
  clientCpuMs: number;
  labCpuMs: number;
}

async function measure(lab: LabInfo, mode: string): Promise<Sample> {
  const daemons = await sshDaemons(lab);
  const [lab0, self0] = [sumCpu(daemons), cpuMs('self')!];
  const selfOwn = () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000;
  };
  const own0 = selfOwn();
  const wallMs = mode === 'reset' ? await resetOnce(lab) : await applyOnce(lab, mode === 'dry-run');
  await new Promise((r) => setTimeout(r, 300)); // let the daemons reap the last sessions
  // cutime/cstime of this process grew by the CLI child's CPU (this process's own CPU taken out).
  const clientCpuMs = cpuMs('self')! - self0 - (selfOwn() - own0);
  return { wallMs, clientCpuMs: Math.max(0, clientCpuMs), labCpuMs: sumCpu(daemons) - lab0 };
}

async function applyOnce(lab: LabInfo, dryRun: boolean): Promise<number> {
  return cliOnce(lab, dryRun ? ['apply', '--dry-run'] : ['apply']);
}

async function resetOnce(lab: LabInfo): Promise<number> {
  return cliOnce(lab, ['reset', '--force']);
}

async function cliOnce(lab: LabInfo, command: string[]): Promise<number> {
  const args = [
    'bin/cplbctl.js',
    ...command,
    '--known-hosts',
    lab.knownHosts,
    '-o',
    'logfmt',
    '--concurrency',
    '64',
  ];
  const t = performance.now();
  await run('node', [...args, lab.clusterFile], { maxBuffer: 256 << 20, timeout: 600_000 });
  return performance.now() - t;
}

async function wipe(lab: LabInfo): Promise<void> {
  await Promise.all(
    lab.hosts
      .filter((h) => h.role === 'controller')
      .map((h) =>
        labExec(lab.name, h.name, [
          'sh',
          '-c',
          '/usr/local/lib/cplb/cplb-agent-ctl stop >/dev/null 2>&1; systemctl stop cplb-agent 2>/dev/null; rm -rf /etc/cplb /usr/local/lib/cplb /run/cplb',
        ]),
      ),
  );
}

const stats = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return { median: s[Math.floor(s.length / 2)]!, min: s[0]!, max: s[s.length - 1]! };
};
const label = (mode: string) => (mode === 'reset' ? 'reset' : `apply ${mode}`);
const fmt = (ms: number) => `${(ms / 1000).toFixed(2)}s`;

const results = new Map<string, number>();
for (const size of sizes) {
  const lab = await labUp({ name: `bench${size}`, hosts: size });
  try {
    for (const mode of modes) {
      const samples: Sample[] = [];
      for (let i = 0; i < runs; i++) {
        if (mode === 'fresh') await wipe(lab);
        if ((mode === 'noop' && i === 0) || mode === 'reset') await applyOnce(lab, false);
        samples.push(await measure(lab, mode));
      }
      const s = stats(samples.map((x) => x.wallMs));
      const client = stats(samples.map((x) => x.clientCpuMs)).median;
      const hostsCpu = stats(samples.map((x) => x.labCpuMs)).median;
      results.set(`${mode}:${size}`, s.median);
      results.set(`${mode}:${size}:cli`, client);
      results.set(`${mode}:${size}:hosts`, hostsCpu);
      console.log(
        `${label(mode).padEnd(13)} ${String(size).padStart(3)} hosts: median ${fmt(s.median)}  min ${fmt(s.min)}  max ${fmt(s.max)}  (${runs} runs)` +
          `  | CPU: cplbctl ${fmt(client)}, lab hosts ${fmt(hostsCpu)} (${(hostsCpu / size).toFixed(0)} ms a host)`,
      );
    }
  } finally {
    if (modes.some((m) => m !== 'dry-run')) await wipe(lab);
    await labDown(lab.name);
  }
}
const [small, large] = [Math.min(...sizes), Math.max(...sizes)];
if (small !== large)
  for (const mode of modes) {
    const ratio = results.get(`${mode}:${large}`)! / results.get(`${mode}:${small}`)!;
    console.log(`${label(mode)}: ${large} hosts / ${small} hosts = ${ratio.toFixed(2)}x`);
    // What one more host costs, apart from the wall time the shared cores decide.
    const perHost = (key: string) =>
      (results.get(`${mode}:${large}:${key}`)! - results.get(`${mode}:${small}:${key}`)!) / (large - small);
    console.log(
      `${label(mode)}: each added host costs the CLI ${perHost('cli').toFixed(1)} ms of CPU and the hosts ${perHost('hosts').toFixed(1)} ms`,
    );
  }

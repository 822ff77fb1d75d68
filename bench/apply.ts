/**
 * apply wall times on lab hosts, measured as a user sees them (the built CLI, end to end).
 *
 *   npx tsx bench/apply.ts [--runs 5] [--sizes 3,30] [--modes dry-run,fresh,noop]
 *
 * Prints per size and mode the median, min and max wall time, and the ratio of the largest size to
 * the smallest (target for dry runs: 30 hosts under twice the 3-host time). Root only: it makes labs.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { labDown, labExec, labUp, type LabInfo } from '../src/lab/index.js';
import { arg } from './args.js';

const run = promisify(execFile);
const runs = Number(arg('runs', '5'));
const sizes = arg('sizes', '3,30').split(',').map(Number);
const modes = arg('modes', 'dry-run').split(',');

async function applyOnce(lab: LabInfo, dryRun: boolean): Promise<number> {
  const args = [
    'bin/cplbctl.js',
    'apply',
    '--known-hosts',
    lab.knownHosts,
    '-o',
    'logfmt',
    '--concurrency',
    '64',
  ];
  if (dryRun) args.push('--dry-run');
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
const fmt = (ms: number) => `${(ms / 1000).toFixed(2)}s`;

const results = new Map<string, number>();
for (const size of sizes) {
  const lab = await labUp({ name: `bench${size}`, hosts: size });
  try {
    for (const mode of modes) {
      const times: number[] = [];
      for (let i = 0; i < runs; i++) {
        if (mode === 'fresh') await wipe(lab);
        if (mode === 'noop' && i === 0) await applyOnce(lab, false);
        times.push(await applyOnce(lab, mode === 'dry-run'));
      }
      const s = stats(times);
      results.set(`${mode}:${size}`, s.median);
      console.log(
        `apply ${mode.padEnd(7)} ${String(size).padStart(3)} hosts: median ${fmt(s.median)}  min ${fmt(s.min)}  max ${fmt(s.max)}  (${runs} runs)`,
      );
    }
  } finally {
    if (modes.includes('fresh') || modes.includes('noop')) await wipe(lab);
    await labDown(lab.name);
  }
}
const [small, large] = [Math.min(...sizes), Math.max(...sizes)];
if (small !== large)
  for (const mode of modes) {
    const ratio = results.get(`${mode}:${large}`)! / results.get(`${mode}:${small}`)!;
    console.log(`apply ${mode}: ${large} hosts / ${small} hosts = ${ratio.toFixed(2)}x`);
  }

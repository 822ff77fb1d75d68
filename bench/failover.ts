/**
 * Failover times on lab hosts, measured by `cplbctl verify --failover` as a user runs it.
 *
 *   npx tsx bench/failover.ts [--rounds 20] [--profiles default,fast] [--modes crash,graceful] [--lab bench-fo] [--save DIR]
 *
 * Per profile (default: VRRPv2, 1 s adverts; fast: VRRPv3, 0.1 s adverts) and mode, prints the
 * min / median / p90 / max of "VIP moved" and "served again" (new TLS connections every 50 ms from a
 * controller and from this machine) against the targets, and the rounds that broke their own bound.
 * --save keeps each run's `verify -o json` document (every round's figures) in DIR.
 * Root only: it makes a lab (and removes it).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { labDown, labUp } from '../src/lab/index.js';
import type { Distribution } from '../src/verify/failover/types.js';
import type { VerifyResult } from '../src/verify/verify-report.js';
import { arg } from './args.js';
import { cli, profileFile } from './failover-lab.js';

const rounds = Number(arg('rounds', '20'));
const profiles = arg('profiles', 'default,fast').split(',');
const modes = arg('modes', 'crash,graceful').split(',');
const labName = arg('lab', 'bench-fo');
const saveDir = arg('save', '');

/** Targets in ms: VIP moved, served again (graceful: no failed probe started later than 1 s). */
const TARGETS: Record<string, { moved?: number; served: number }> = {
  'default crash': { moved: 3700, served: 4000 },
  'fast crash': { moved: 500, served: 600 },
  'default graceful': { served: 1000 },
  'fast graceful': { served: 1000 },
};

const s = (ms: number | undefined) => (ms === undefined ? '-' : `${(ms / 1000).toFixed(3)}s`);
const dist = (d: Distribution | null) =>
  d ? `${s(d.min)} / ${s(d.median)} / ${s(d.p90)} / ${s(d.max)}` : '-';
const verdict = (d: Distribution | null, target: number | undefined) =>
  target === undefined || !d
    ? ''
    : d.max <= target
      ? `  max within ${s(target)}`
      : `  MAX ABOVE ${s(target)}`;

const lab = await labUp({ name: labName, hosts: 3 });
const dir = mkdtempSync(join(tmpdir(), 'cplb-bench-fo-'));
const lines: string[] = [];
try {
  for (const profile of profiles) {
    const file = profileFile(lab, profile, dir);
    const applied = await cli(['apply', '--known-hosts', lab.knownHosts, '-o', 'logfmt', file]);
    if (applied.code !== 0) throw new Error(`apply ${profile} failed:\n${applied.stdout}`);
    for (const mode of modes) {
      const t = performance.now();
      const res = await cli([
        'verify',
        '--failover',
        '--mode',
        mode,
        '--rounds',
        String(rounds),
        '--known-hosts',
        lab.knownHosts,
        '-o',
        'json',
        file,
      ]);
      const result = JSON.parse(res.stdout) as VerifyResult;
      if (saveDir) writeFileSync(join(saveDir, `${profile}-${mode}.json`), res.stdout);
      const f = result.failover;
      const key = `${profile} ${mode}`;
      if (!f) {
        lines.push(`${key}: no failover (${result.failoverSkipped ?? 'verify failed'})`);
        continue;
      }
      const target = TARGETS[key];
      const broken = f.rounds.filter((r) => !r.ok);
      lines.push(
        `${key}: ${f.rounds.length} rounds in ${((performance.now() - t) / 1000).toFixed(0)} s; bound moved ${s(f.bounds.movedMs)}, served ${s(f.bounds.servedMs)}`,
        `  VIP moved     min/median/p90/max ${dist(f.summary.movedMs)}${verdict(f.summary.movedMs, target?.moved)}`,
        `  served again  min/median/p90/max ${dist(f.summary.servedAgainMs)}${verdict(f.summary.servedAgainMs, target?.served)}`,
        `  failed probes min/median/p90/max ${f.summary.failedProbes ? `${f.summary.failedProbes.min} / ${f.summary.failedProbes.median} / ${f.summary.failedProbes.p90} / ${f.summary.failedProbes.max}` : '-'} (of ~${f.rounds[0]?.vantages.reduce((n, v) => n + v.probes, 0) ?? 0} per round)`,
        `  rounds over their own bound: ${broken.length}${broken.length ? ` (${broken.map((r) => `#${r.round}: ${r.problems.join('; ')}`).join(' | ')})` : ''}`,
      );
      console.log(lines.slice(-5).join('\n'));
    }
  }
} finally {
  await labDown(lab.name);
  rmSync(dir, { recursive: true, force: true });
}
console.log('\n' + lines.join('\n'));

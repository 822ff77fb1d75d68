/** verify's result: the checks, the failover rounds, and the exit code they add up to. */
import type { CheckResult } from './checks.js';
import { describeDisruption } from './disruption.js';
import type { Distribution, FailoverReport, RoundResult } from './failover/types.js';
import { formatTable } from './status-table.js';

export interface VerifyResult {
  cluster: string;
  ok: boolean;
  /** 0 every check holds, 1 a host could not be reached or read, 3 reachable but unhealthy. */
  exitCode: 0 | 1 | 3;
  checks: CheckResult[];
  failover?: FailoverReport;
  failoverSkipped?: string;
}

export function verifyResult(
  cluster: string,
  checks: CheckResult[],
  failover?: FailoverReport,
  failoverSkipped?: string,
): VerifyResult {
  const reachable = checks.find((c) => c.name === 'reachable')?.ok ?? true;
  const ok = checks.every((c) => c.ok) && (failover?.ok ?? true) && failoverSkipped === undefined;
  const result: VerifyResult = { cluster, ok, exitCode: !reachable ? 1 : ok ? 0 : 3, checks };
  if (failover) result.failover = failover;
  if (failoverSkipped) result.failoverSkipped = failoverSkipped;
  return result;
}

const s = (ms: number | null | undefined) =>
  ms === null || ms === undefined ? '-' : `${(ms / 1000).toFixed(2)}s`;
const dist = (d: Distribution | null, f: (x: number) => string) =>
  d ? `${f(d.min)} / ${f(d.median)} / ${f(d.p90)} / ${f(d.max)}` : '-';

function probeCell(r: RoundResult): string {
  const slow = r.vantages.reduce((n, v) => n + v.slow, 0);
  return `${r.failedProbes}/${r.vantages.reduce((n, v) => n + v.probes, 0)}${slow ? ` (+${slow} slow)` : ''}`;
}

function renderFailover(f: FailoverReport): string {
  const rows = f.rounds.map((r) => [
    String(r.round),
    r.from,
    r.to ?? '-',
    s(r.movedMs),
    s(r.servedAgainMs),
    probeCell(r),
    r.ok ? 'ok' : 'FAIL',
  ]);
  const lines = [
    `Failover, ${f.mode}: ${f.rounds.length} rounds; bound: VIP moved <= ${s(f.bounds.movedMs)}, served again <= ${s(f.bounds.servedMs)} (${f.bounds.basis})`,
    formatTable(['ROUND', 'FROM', 'TO', 'MOVED', 'SERVED', 'FAILED PROBES', 'RESULT'], rows).trimEnd(),
    `min / median / p90 / max: VIP moved ${dist(f.summary.movedMs, s)}; served again ${dist(f.summary.servedAgainMs, s)}; failed probes ${dist(f.summary.failedProbes, String)}`,
  ];
  for (const r of f.rounds) {
    if (r.claimedBy.length > 1)
      lines.push(
        `round ${r.round}: ${r.claimedBy.join(' and ')} both took the VIP; ${r.holdersAfter.join(', ')} kept it`,
      );
    for (const d of r.disruption ?? []) lines.push(`round ${r.round}: disruption, ${describeDisruption(d)}`);
    for (const p of r.problems) lines.push(`round ${r.round}: ${p}`);
  }
  return lines.join('\n') + '\n';
}

export function renderVerify(v: VerifyResult): string {
  const rows = v.checks.map((c) => [c.name, c.ok ? 'ok' : 'FAIL', c.summary]);
  let out = formatTable(['CHECK', 'RESULT', 'DETAIL'], rows);
  const failed = v.checks.filter((c) => !c.ok);
  if (failed.length)
    out += '\n' + failed.flatMap((c) => c.problems.map((p) => `${c.name}: ${p}`)).join('\n') + '\n';
  if (v.failoverSkipped) out += `\nFailover ${v.failoverSkipped}\n`;
  if (v.failover) out += '\n' + renderFailover(v.failover);
  out += `\n${v.ok ? 'verified: every check holds' : v.exitCode === 1 ? 'NOT verified: hosts could not be reached' : 'NOT verified: the cluster is reachable but unhealthy'}\n`;
  return out;
}

/**
 * verify's result for CI servers: JUnit XML (one testcase per check, one per failover round with its
 * figures; a failure carries the diagnosis) and a Markdown summary (GitHub's job summary and the like).
 * Pure: the command writes the files.
 */
import type { CheckResult } from './checks.js';
import { disruptionData } from './disruption.js';
import type { FailoverReport, RoundResult } from './failover/types.js';
import type { VerifyResult } from './verify-report.js';

/** XML 1.0 text: the five entities, and control characters (which XML 1.0 cannot carry) dropped. */
function xml(text: string): string {
  return text
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g, '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

const seconds = (ms: number | null | undefined) =>
  ms === null || ms === undefined ? '' : (ms / 1000).toFixed(3);

interface Case {
  name: string;
  classname: string;
  timeSeconds?: string;
  failure?: { message: string; body: string };
  skipped?: string;
  properties?: Record<string, string>;
}

function checkCase(cluster: string, c: CheckResult): Case {
  return {
    name: c.name,
    classname: `cplbctl.verify.${cluster}`,
    ...(c.ok ? {} : { failure: { message: c.summary, body: c.problems.join('\n') } }),
  };
}

function roundCase(cluster: string, f: FailoverReport, r: RoundResult): Case {
  const properties: Record<string, string> = {
    mode: r.mode,
    vip: r.vip,
    from: r.from,
    to: r.to ?? '',
    movedMs: r.movedMs === null ? '' : String(Math.round(r.movedMs)),
    servedAgainMs: r.servedAgainMs === null ? '' : String(Math.round(r.servedAgainMs)),
    failedProbes: String(r.failedProbes),
    boundMovedMs: String(f.bounds.movedMs),
    boundServedMs: String(f.bounds.servedMs),
    ...Object.fromEntries(Object.entries(disruptionData(r.disruption)).map(([k, v]) => [k, String(v)])),
  };
  return {
    name: `failover round ${r.round} (${r.mode}): ${r.from} -> ${r.to ?? '?'}`,
    classname: `cplbctl.verify.${cluster}.failover`,
    timeSeconds: seconds(r.servedAgainMs ?? r.movedMs),
    properties,
    ...(r.ok
      ? {}
      : {
          failure: {
            message: r.problems[0] ?? 'the round missed its bound',
            body: [...r.problems, `bound: ${f.bounds.basis}`].join('\n'),
          },
        }),
  };
}

export function renderJunit(v: VerifyResult, timestamp = new Date()): string {
  const cases = v.checks.map((c) => checkCase(v.cluster, c));
  if (v.failover) for (const r of v.failover.rounds) cases.push(roundCase(v.cluster, v.failover, r));
  if (v.failoverSkipped)
    cases.push({
      name: 'failover',
      classname: `cplbctl.verify.${v.cluster}.failover`,
      failure: { message: `failover ${v.failoverSkipped}`, body: v.failoverSkipped },
    });
  const failures = cases.filter((c) => c.failure).length;
  const body = cases.map((c) => {
    const attrs = `name="${xml(c.name)}" classname="${xml(c.classname)}"${c.timeSeconds ? ` time="${c.timeSeconds}"` : ''}`;
    const inner: string[] = [];
    if (c.properties)
      inner.push(
        '      <properties>',
        ...Object.entries(c.properties).map(
          ([k, val]) => `        <property name="${xml(k)}" value="${xml(val)}"/>`,
        ),
        '      </properties>',
      );
    if (c.failure)
      inner.push(
        `      <failure message="${xml(c.failure.message)}" type="NotVerified">${xml(c.failure.body)}</failure>`,
      );
    return inner.length
      ? [`    <testcase ${attrs}>`, ...inner, '    </testcase>'].join('\n')
      : `    <testcase ${attrs}/>`;
  });
  const suite = `name="cplbctl verify ${xml(v.cluster)}" tests="${cases.length}" failures="${failures}" errors="0" timestamp="${timestamp.toISOString().slice(0, 19)}"`;
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="cplbctl verify" tests="${cases.length}" failures="${failures}" errors="0">`,
    `  <testsuite ${suite}>`,
    ...body,
    '  </testsuite>',
    '</testsuites>',
    '',
  ].join('\n');
}

function disruptionCell(r: RoundResult): string {
  const d = disruptionData(r.disruption);
  if (d.disruptionNewSeconds === undefined) return '-';
  return `${d.disruptionNewSeconds.toFixed(2)} s / ${(d.disruptionReusedSeconds ?? 0).toFixed(2)} s`;
}

/** Markdown table cells: no line breaks, pipes escaped. */
const cell = (text: string) => text.replace(/\r?\n/g, ' ').replace(/\|/g, '\\|');

export function renderSummary(v: VerifyResult): string {
  const verdict = v.ok
    ? ':white_check_mark: verified: every check holds'
    : v.exitCode === 1
      ? ':x: NOT verified: hosts could not be reached'
      : ':x: NOT verified: the cluster is reachable but unhealthy';
  const lines = [
    `### cplbctl verify: ${cell(v.cluster)}`,
    '',
    verdict,
    '',
    '| check | result | detail |',
    '| --- | --- | --- |',
    ...v.checks.map((c) => `| ${cell(c.name)} | ${c.ok ? 'ok' : '**FAIL**'} | ${cell(c.summary)} |`),
  ];
  const failed = v.checks.filter((c) => !c.ok);
  if (failed.length)
    lines.push('', ...failed.flatMap((c) => c.problems.map((p) => `- ${cell(c.name)}: ${cell(p)}`)));
  if (v.failoverSkipped) lines.push('', `Failover ${cell(v.failoverSkipped)}`);
  const f = v.failover;
  if (f) {
    const s = (ms: number | null) => (ms === null ? '-' : `${(ms / 1000).toFixed(2)} s`);
    lines.push(
      '',
      `Failover (${f.mode}), bound: VIP moved <= ${s(f.bounds.movedMs)}, served again <= ${s(f.bounds.servedMs)}`,
      '',
      '| round | from | to | VIP moved | served again | failed probes | disruption, new / reused connection | result |',
      '| --- | --- | --- | --- | --- | --- | --- | --- |',
      ...f.rounds.map(
        (r) =>
          `| ${r.round} | ${cell(r.from)} | ${cell(r.to ?? '-')} | ${s(r.movedMs)} | ${s(r.servedAgainMs)} | ${r.failedProbes} | ${disruptionCell(r)} | ${r.ok ? 'ok' : '**FAIL**'} |`,
      ),
    );
  }
  return lines.join('\n') + '\n';
}

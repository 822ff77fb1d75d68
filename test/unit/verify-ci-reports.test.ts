/** verify's JUnit XML, read back by a JUnit parser (junit2json, on xml2js), and its Markdown summary. */
import { parse, type TestSuites } from 'junit2json';
import { describe, expect, it } from 'vitest';
import { renderJunit, renderSummary } from '../../src/verify/ci-reports.js';
import { disruption } from '../../src/verify/disruption.js';
import type { FailoverReport, RoundResult } from '../../src/verify/failover/types.js';
import { renderVerify, verifyResult } from '../../src/verify/verify-report.js';

const bounds = { movedMs: 3700, servedMs: 3900, basis: '3 x 1 s adverts + 0.5 s skew + 150 ms' };
const round = (n: number, ok: boolean): RoundResult => ({
  round: n,
  mode: 'crash',
  vip: '198.18.0.100',
  from: '198.18.0.11:22',
  to: '198.18.0.12:22',
  claimedBy: ['198.18.0.12:22'],
  movedMs: ok ? 3010.4 : 4100,
  servedAgainMs: ok ? 3120 : 4300,
  failedProbes: ok ? 3 : 9,
  vantages: [],
  holdersAfter: ['198.18.0.12:22'],
  tookBack: false,
  bounds,
  ok,
  problems: ok ? [] : ['VIP moved in 4.10 s, above the bound 3.70 s'],
  // Round 1 was sampled from this machine; round 2 was not (it does not reach the VIP).
  ...(n === 1
    ? {
        disruption: [
          disruption(
            'new-connections',
            [
              { startMs: 0, endMs: 1000, ok: false },
              { startMs: 2950, endMs: 2960, ok: true },
            ],
            2,
          ),
          disruption(
            'reused-connection',
            [
              { startMs: 0, endMs: 1000, ok: false },
              { startMs: 3100, endMs: 3110, ok: true },
            ],
            2,
          ),
        ],
      }
    : {}),
});
const failover: FailoverReport = {
  mode: 'crash',
  bounds,
  rounds: [round(1, true), round(2, false)],
  summary: { movedMs: null, servedAgainMs: null, failedProbes: null },
  ok: false,
} as unknown as FailoverReport;

const result = verifyResult(
  'lab <&"\'>',
  [
    { name: 'reachable', ok: true, summary: 'every controller answers', problems: [] },
    {
      name: 'config',
      ok: false,
      summary: '[198.18.0.12:22] keepalived.conf differs',
      problems: ['[198.18.0.12:22] /etc/cplb/keepalived.conf differs <edited> & "quoted"\u0001'],
    },
  ],
  failover,
);

describe('verify --junit', () => {
  it('parses as JUnit: a testcase per check and per failover round, failures with the diagnosis', async () => {
    const xml = renderJunit(result, new Date('2026-12-06T10:00:00Z'));
    const doc = (await parse(xml)) as TestSuites;
    expect(doc).toMatchObject({ name: 'cplbctl verify', tests: 4, failures: 2, errors: 0 });
    const suite = doc.testsuite![0]!;
    expect(suite).toMatchObject({ name: 'cplbctl verify lab <&"\'>', tests: 4, failures: 2 });
    const cases = suite.testcase!;
    expect(cases.map((c) => c.name)).toEqual([
      'reachable',
      'config',
      'failover round 1 (crash): 198.18.0.11:22 -> 198.18.0.12:22',
      'failover round 2 (crash): 198.18.0.11:22 -> 198.18.0.12:22',
    ]);
    expect(cases[0]!.failure).toBeUndefined();
    expect(cases[1]!.failure![0]).toMatchObject({
      message: '[198.18.0.12:22] keepalived.conf differs',
      inner: '[198.18.0.12:22] /etc/cplb/keepalived.conf differs <edited> & "quoted"',
    });
    expect(cases[2]).toMatchObject({ time: 3.12 });
    expect(cases[2]!.failure).toBeUndefined();
    const props = Object.fromEntries(
      (cases[2] as { properties: { name: string; value: string }[] }).properties.map((p) => [
        p.name,
        p.value,
      ]),
    );
    // junit2json reads numeric property values as numbers.
    expect(props).toMatchObject({ movedMs: 3010, servedAgainMs: 3120, failedProbes: 3, boundMovedMs: 3700 });
    expect(props).toMatchObject({
      disruptionNewSeconds: 2.95,
      disruptionNewFailed: 1,
      disruptionReusedSeconds: 3.1,
      disruptionReusedFailed: 1,
    });
    expect(cases[3]!.failure![0]!.message).toBe('VIP moved in 4.10 s, above the bound 3.70 s');
    expect(cases[3]!.failure![0]!.inner).toContain('bound: 3 x 1 s adverts');
  });

  it('records a failover that could not start as a failed testcase', async () => {
    const skipped = verifyResult(
      'lab',
      [{ name: 'reachable', ok: true, summary: 'ok', problems: [] }],
      undefined,
      'not attempted: no single VIP holder',
    );
    const doc = (await parse(renderJunit(skipped))) as TestSuites;
    expect(doc.testsuite![0]!.testcase!.at(-1)).toMatchObject({ name: 'failover' });
    expect(doc.failures).toBe(1);
  });
});

describe('verify --summary', () => {
  it('is Markdown with the verdict, a row per check and per round, and the problems', () => {
    const md = renderSummary(result);
    expect(md).toContain(':x: NOT verified: the cluster is reachable but unhealthy');
    expect(md).toContain('| config | **FAIL** | [198.18.0.12:22] keepalived.conf differs |');
    expect(md).toContain(
      '| 1 | 198.18.0.11:22 | 198.18.0.12:22 | 3.01 s | 3.12 s | 3 | 2.95 s / 3.10 s | ok |',
    );
    expect(md).toContain('| 2 | 198.18.0.11:22 | 198.18.0.12:22 | 4.10 s | 4.30 s | 9 | - | **FAIL** |');
    expect(md).toContain('- config: [198.18.0.12:22] /etc/cplb/keepalived.conf differs');
  });
});

describe('verify, as text', () => {
  it("prints both samplers' disruption for each round sampled from this machine", () => {
    const text = renderVerify(result);
    expect(text).toContain(
      'round 1: disruption, new connections: 2.950 s disrupted, 1 of 2 requests failed\n',
    );
    expect(text).toContain(
      'round 1: disruption, reused connection: 3.100 s disrupted, 1 of 2 requests failed (2 connections)\n',
    );
    expect(text).not.toContain('round 2: disruption');
  });
});

/** The crash soak's reading of `ip monitor` and the agents' logs (bench/vip-timeline.ts, bench/soak-figures.ts). */
import { describe, expect, it } from 'vitest';
import { analyseRun, type RunInput } from '../../bench/soak-figures.js';
import { holds, parseAgentLog, parseMonitor } from '../../bench/vip-timeline.js';
import { formatLogLine } from '../../src/agent/log.js';
import type { RoundResult } from '../../src/verify/failover/types.js';

/** ms since the epoch of a time that day, to the microsecond (Date.parse stops at the ms). */
const at = (hms: string) => {
  const [whole, frac = '0'] = hms.split('.');
  return Date.parse(`2026-12-06T${whole}Z`) + Number(`0.${frac}`) * 1000;
};

// As `TZ=UTC ip -ts monitor address` printed them on the lab (c2 lost a double claim to c3).
const C2 = `[2026-12-06T16:24:07.079201] 3: eth1    inet 198.18.0.100/24 scope global secondary eth1
       valid_lft forever preferred_lft forever
[2026-12-06T16:24:07.081847] Deleted 3: eth1    inet 198.18.0.100/24 scope global secondary eth1
       valid_lft forever preferred_lft forever
[2026-12-06T16:24:07.100000] 3: eth1    inet 198.18.0.101/24 scope global secondary eth1`;
const C3 = `[2026-12-06T16:24:07.078000] 3: eth1    inet 198.18.0.100/24 scope global secondary eth1
[2026-12-06T16:24:14.931608] Deleted 3: eth1    inet 198.18.0.100/24 scope global secondary eth1`;
const C1 = `[2026-12-06T16:24:00.000000] 3: eth1    inet 198.18.0.100/24 scope global secondary eth1
[2026-12-06T16:24:04.381036] Deleted 3: eth1    inet 198.18.0.100/24 scope global secondary eth1`;

const C1_LOG = `time=2026-12-06T16:24:04.382Z level=info msg="VRRP child process(28819) died: Respawning" component=keepalived pid=28805
time=2026-12-06T16:24:04.383Z level=info msg="(k0s-vip-0) Entering BACKUP STATE (init)" component=keepalived pid=28805
time=2026-12-06T16:24:09.587Z level=error msg="keepalived exited" component=keepalived pid=28805 code=null signal=SIGKILL
time=2026-12-06T16:24:09.587Z level=info msg="restarting keepalived" component=keepalived inMs=500 restarts=1 consecutiveFailures=1
time=2026-12-06T16:24:10.090Z level=info msg="removed a stale keepalived pid file" component=keepalived file=/run/cplb/keepalived.pid pid=28805 alive=true
time=2026-12-06T16:24:10.100Z level=info msg="keepalived started" component=keepalived pid=29000 config=/etc/cplb/keepalived.conf
time=2026-12-06T16:24:10.200Z level=info msg="(k0s-vip-0) Entering BACKUP STATE (init)" component=keepalived pid=29000`;

function round(n: number, from: string, to: string): RoundResult {
  return {
    round: n, mode: 'crash', vip: '198.18.0.100', from, to, claimedBy: [to], movedMs: 2700, servedAgainMs: 2760,
    failedProbes: 0, vantages: [], holdersAfter: [to], tookBack: false,
    bounds: { movedMs: 3400, servedMs: 3600, basis: '' }, ok: true, problems: [],
  }; // prettier-ignore
}

describe('bench crash soak timeline', () => {
  const events = [
    ...parseMonitor('c1', C1, '198.18.0.100'),
    ...parseMonitor('c2', C2, '198.18.0.100'),
    ...parseMonitor('c3', C3, '198.18.0.100'),
  ];

  it('reads adds and deletes of the VIP only, with sub-ms times', () => {
    expect(parseMonitor('c2', C2, '198.18.0.100')).toEqual([
      { host: 'c2', ms: at('16:24:07.079201'), kind: 'add' },
      { host: 'c2', ms: at('16:24:07.081847'), kind: 'del' },
    ]);
  });

  it('turns events into holds, an unfinished one open', () => {
    const end = at('16:24:20');
    const h = holds([...events, { host: 'c2', ms: at('16:24:15'), kind: 'add' }], end);
    expect(h.map((x) => [x.host, x.open])).toEqual([
      ['c1', false],
      ['c3', false],
      ['c2', false],
      ['c2', true],
    ]);
    expect(h.at(-1)!.endMs).toBe(end);
  });

  it('matches each round to its fault, times the rejoin and measures the double claim', () => {
    const input: RunInput = {
      key: 'default crash', mode: 'crash', advertS: 1,
      rounds: [round(1, 'c1', 'c3'), round(2, 'c3', 'c1')],
      holds: holds(events, at('16:24:20')), startMs: at('16:24:01'), endMs: at('16:24:20'),
      logs: new Map([['c1', parseAgentLog(C1_LOG)]]),
      probeFailures: [{ startMs: at('16:24:07.080'), endMs: at('16:24:08') }, { startMs: at('16:24:05'), endMs: at('16:24:06') }],
      probeAttempts: 100, probeEveryMs: 75, wallS: 19, skipped: undefined,
    }; // prettier-ignore
    const run = analyseRun(input);
    const [r1, r2] = run.rounds;
    expect(r1!.faultMs).toBe(at('16:24:04.381036'));
    expect(r1!.rejoinMs).toBeCloseTo(at('16:24:10.200') - at('16:24:04.381036'), 3);
    expect(r1!.afterRestartMs).toBe(613);
    expect(r1!.backoffMs).toBe(500);
    expect(r1!.stalePidFiles).toBe(1);
    expect(r1!.respawned).toBe(1);
    expect(r1!.doubleClaim).toMatchObject({ hosts: ['c2', 'c3'], failedProbes: 1 });
    expect(r1!.doubleClaim!.overlapMs).toBeCloseTo(2.646, 2);
    expect(r1!.doubleClaim!.loserHoldMs).toBeCloseTo(2.646, 2);
    expect(r2!.faultMs).toBe(at('16:24:14.931608'));
    // c3's log is missing: it never came back as far as the soak can tell, and that fails the run.
    expect(r2!.problems).toEqual(["c3 never back as BACKUP in its agent's log"]);
    expect(run.ok).toBe(false);
  });
});

describe('parseAgentLog', () => {
  it('reads the lines the agent writes today (time quoted, as logrus does)', () => {
    const when = new Date('2026-12-06T16:24:04.382Z');
    const line = formatLogLine(
      'info',
      '(k0s-vip-0) Entering MASTER STATE',
      { component: 'keepalived' },
      when,
    );
    expect(parseAgentLog(line)).toEqual([
      { ms: when.getTime(), msg: '(k0s-vip-0) Entering MASTER STATE', line },
    ]);
  });
});

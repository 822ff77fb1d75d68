/**
 * The soak's figures from one verify run: verify's own rounds, matched by time to the VIP's holds
 * (a round's fault is the end of its old holder's hold) and to the faulted host's agent log (when it
 * was back as BACKUP). Pure.
 *
 * A double claim is a round in which more than one host took the VIP. Its window is the time both
 * held it by the monitors' timestamps (the overlap); the loser's whole hold is beside it, the most the
 * overlap can be: the loser steps down on the winner's first advert, which the winner sends as it
 * becomes master.
 */
import { distribution } from '../src/verify/failover/figures.js';
import type { Distribution, RoundResult } from '../src/verify/failover/types.js';
import { firstAfter, type Hold, type LogLine } from './vip-timeline.js';

/** The agent's restart backoff cap (agent.json's default): a host is back within it plus an advert. */
export const BACKOFF_CAP_MS = 30_000;
const REJOIN_MARGIN_MS = 1000;

export interface Span {
  startMs: number;
  endMs: number;
}

export interface RunInput {
  key: string;
  mode: string;
  advertS: number;
  rounds: RoundResult[];
  /** Every host's holds of the VIP from the soak's start to the run's end. */
  holds: readonly Hold[];
  startMs: number;
  endMs: number;
  logs: ReadonlyMap<string, readonly LogLine[]>;
  /** The client's failed connections during the run (this machine's clock). */
  probeFailures: readonly Span[];
  probeAttempts: number;
  probeEveryMs: number;
  wallS: number;
  skipped: string | undefined;
}

export interface DoubleClaim {
  /** Who took the VIP in the round, in order; the last one kept it. */
  hosts: string[];
  /** Longest time two hosts held it at once, by the monitors' timestamps (0 when they never overlapped). */
  overlapMs: number;
  /** How long the losers held it: the most the overlap can be. */
  loserHoldMs: number;
  /** From the first claim until the last loser let go. */
  span: Span;
  /** The client's connections that started within the span and failed. */
  failedProbes: number;
  /** ... and those that started within the second after it. */
  failedAfter: number;
}

export interface RoundFigures {
  round: RoundResult;
  faultMs: number | undefined;
  /** From the fault until the host was back as BACKUP. */
  rejoinMs: number | undefined;
  /** crash: from the agent's noticing keepalived's death (after the restore) until back as BACKUP. */
  afterRestartMs: number | undefined;
  backoffMs: number | undefined;
  /** Pid files that named another live process (a reused PID, a dying orphan), removed before the restart. */
  stalePidFiles: number;
  /** keepalived's parent forked a new VRRP child in the crash (an orphan until the agent kills it). */
  respawned: number;
  doubleClaim: DoubleClaim | undefined;
  problems: string[];
}

export interface RunFigures {
  key: string;
  input: RunInput;
  rounds: RoundFigures[];
  roundLines: string[];
  ok: boolean;
}

const s = (ms: number | null | undefined) => (ms == null ? '-' : `${(ms / 1000).toFixed(3)}s`);
const ms = (n: number) => `${n.toFixed(1)} ms`;

export function overlaps(a: Span, b: Span): boolean {
  return a.startMs <= b.endMs && b.startMs <= a.endMs;
}

function roundFigures(
  input: RunInput,
  r: RoundResult,
  faultMs: number | undefined,
  nextMs: number,
): RoundFigures {
  const f: RoundFigures = {
    round: r, faultMs, rejoinMs: undefined, afterRestartMs: undefined, backoffMs: undefined,
    stalePidFiles: 0, respawned: 0, doubleClaim: undefined, problems: [],
  }; // prettier-ignore
  if (faultMs === undefined) {
    if (r.from) f.problems.push(`no departure of the VIP from ${r.from} seen by ip monitor`);
    return f;
  }
  const lines = input.logs.get(r.from) ?? [];
  const exited = firstAfter(lines, faultMs, /^keepalived exited$/);
  // crash: the keepalived the agent starts anew (a respawned VRRP child of the killed one may print
  // BACKUP before the agent even saw the kill).
  const started = exited && firstAfter(lines, exited.ms, /^keepalived started$/);
  const backup =
    input.mode === 'crash'
      ? started && firstAfter(lines, started.ms, /Entering BACKUP STATE/)
      : firstAfter(lines, faultMs, /Entering BACKUP STATE/);
  f.respawned = lines.filter(
    (l) => l.ms >= faultMs && l.ms <= (exited?.ms ?? faultMs) && /died: Respawning/.test(l.msg),
  ).length;
  const restarting = firstAfter(lines, faultMs, /^restarting keepalived$/);
  const inMs = restarting && /\binMs=(\d+)/.exec(restarting.line)?.[1];
  if (inMs) f.backoffMs = Number(inMs);
  const upTo = backup?.ms ?? Infinity;
  // A pid file naming a dead process is every crash's; one naming a live process is a reused PID,
  // which kept keepalived from starting before the agent removed such files.
  f.stalePidFiles = lines.filter(
    (l) =>
      l.ms >= faultMs &&
      l.ms <= upTo &&
      /stale keepalived pid file/.test(l.msg) &&
      /\balive=true\b/.test(l.line),
  ).length;
  if (!backup) f.problems.push(`${r.from} never back as BACKUP in its agent's log`);
  else {
    f.rejoinMs = backup.ms - faultMs;
    if (input.mode === 'crash' && exited) {
      f.afterRestartMs = backup.ms - exited.ms;
      const bound = BACKOFF_CAP_MS + input.advertS * 1000 + REJOIN_MARGIN_MS;
      if (f.afterRestartMs > bound)
        f.problems.push(`${r.from} back ${s(f.afterRestartMs)} after keepalived died, above ${s(bound)}`);
    }
  }
  f.doubleClaim = doubleClaim(input, faultMs, nextMs);
  return f;
}

const overlap = (a: Span, b: Span) =>
  Math.max(0, Math.min(a.endMs, b.endMs) - Math.max(a.startMs, b.startMs));

export function doubleClaim(input: RunInput, faultMs: number, nextMs: number): DoubleClaim | undefined {
  const claims = input.holds.filter((h) => h.startMs >= faultMs && h.startMs < nextMs);
  const hosts = [...new Set(claims.map((h) => h.host))];
  if (hosts.length < 2) return undefined;
  // The winner holds the VIP at the round's end (or let go last, when the next fault took it).
  const winner = [...claims].sort((a, b) => Number(a.open) - Number(b.open) || a.endMs - b.endMs).at(-1)!;
  const losers = claims.filter((h) => h.host !== winner.host);
  const span = {
    startMs: Math.min(...claims.map((h) => h.startMs)),
    endMs: Math.max(...losers.map((h) => h.endMs)),
  };
  const failed = (from: number, to: number) =>
    input.probeFailures.filter((p) => p.startMs >= from && p.startMs <= to).length;
  return {
    hosts: [...losers.map((h) => h.host), winner.host].filter((h, i, a) => a.indexOf(h) === i),
    overlapMs: Math.max(
      ...losers.map((l) => Math.max(...claims.filter((c) => c !== l).map((c) => overlap(l, c)))),
    ),
    loserHoldMs: losers.reduce((n, l) => n + l.endMs - l.startMs, 0),
    span,
    failedProbes: failed(span.startMs, span.endMs),
    failedAfter: failed(span.endMs + 0.001, span.endMs + 1000),
  };
}

/**
 * Matches each round to its fault: the first end, after the previous round's fault, of a hold by the
 * round's old holder (a crash deletes the VIP; a graceful fault makes keepalived drop it).
 */
export function analyseRun(input: RunInput): RunFigures {
  let cursor = input.startMs;
  const faults = input.rounds.map((r) => {
    const h = input.holds.find(
      (x) => x.host === r.from && !x.open && x.endMs > cursor && x.endMs <= input.endMs,
    );
    if (!h) return undefined;
    cursor = h.endMs;
    return h.endMs;
  });
  const rounds = input.rounds.map((r, i) => {
    const next = faults.slice(i + 1).find((x) => x !== undefined) ?? input.endMs;
    return roundFigures(input, r, faults[i], next);
  });
  const roundLines = rounds.map((f) => {
    const r = f.round;
    const d = f.doubleClaim;
    const dc = d
      ? `double claim ${d.hosts.join('+')}: overlap ${ms(d.overlapMs)}, loser held ${ms(d.loserHoldMs)}, ${d.failedProbes} failed probes in it, ${d.failedAfter} in the second after`
      : '';
    const rejoin =
      input.mode === 'crash'
        ? `rejoin ${s(f.rejoinMs)} (backoff ${s(f.backoffMs)}, back ${s(f.afterRestartMs)} after the restart${f.stalePidFiles ? `, ${f.stalePidFiles} pid files naming another live process removed` : ''}${f.respawned ? ', keepalived RESPAWNED its VRRP child in the crash' : ''})`
        : `rejoin ${s(f.rejoinMs)}`;
    const verdict =
      r.ok && f.problems.length === 0 ? 'ok' : `NOT OK: ${[...r.problems, ...f.problems].join('; ')}`;
    return `${input.key} #${r.round} ${r.from}->${r.to ?? '-'} moved ${s(r.movedMs)} served ${s(r.servedAgainMs)} failed ${r.failedProbes} | ${rejoin}${dc ? ` | ${dc}` : ''} | ${verdict}`;
  });
  const ok =
    !input.skipped && input.rounds.length > 0 && rounds.every((f) => f.round.ok && f.problems.length === 0);
  return { key: input.key, input, rounds, roundLines, ok };
}

const dist = (d: Distribution | null, unit: (n: number) => string) =>
  d ? `${unit(d.min)} / ${unit(d.median)} / ${unit(d.max)}` : '-';

export function summaryLines(runs: readonly RunFigures[]): string[] {
  const out: string[] = [];
  for (const run of runs) {
    const { input, rounds } = run;
    if (input.skipped) {
      out.push(`${run.key}: no failover (${input.skipped})`);
      continue;
    }
    const inBound = rounds.filter((f) => f.round.ok).length;
    const nums = (pick: (f: RoundFigures) => number | null | undefined) =>
      distribution(rounds.map(pick).filter((x): x is number => x != null));
    const dcs = rounds.flatMap((f) => (f.doubleClaim ? [f.doubleClaim] : []));
    const notBack = rounds.filter((f) => f.rejoinMs === undefined && f.faultMs !== undefined).length;
    out.push(
      `${run.key}: ${rounds.length} rounds in ${input.wallS.toFixed(0)} s, ${inBound} in bound${run.ok ? '' : '  NOT OK'}`,
      `  VIP moved min/median/max ${dist(
        nums((f) => f.round.movedMs),
        s,
      )}; served again ${dist(
        nums((f) => f.round.servedAgainMs),
        s,
      )}`,
      `  rejoin (back as BACKUP) from the fault min/median/max ${dist(
        nums((f) => f.rejoinMs),
        s,
      )}` +
        (input.mode === 'crash'
          ? `; after keepalived's death was seen ${dist(
              nums((f) => f.afterRestartMs),
              s,
            )}; backoff ${dist(
              nums((f) => f.backoffMs),
              s,
            )}`
          : '') +
        `; not back: ${notBack}; VRRP child respawned in the crash: ${rounds.reduce((n, f) => n + f.respawned, 0)}; pid files naming another live process removed: ${rounds.reduce((n, f) => n + f.stalePidFiles, 0)}`,
      `  double claims: ${dcs.length} of ${rounds.length} rounds; overlap min/median/max ${dist(distribution(dcs.map((d) => d.overlapMs)), ms)}; loser held ${dist(distribution(dcs.map((d) => d.loserHoldMs)), ms)}`,
      `  client (new TLS connection every ${input.probeEveryMs} ms): ${input.probeFailures.length} of ${input.probeAttempts} failed over the run; ${dcs.reduce((n, d) => n + d.failedProbes, 0)} started in a double claim, ${dcs.reduce((n, d) => n + d.failedAfter, 0)} in the second after one`,
    );
  }
  return out;
}

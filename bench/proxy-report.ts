/** The table bench/proxy.ts prints: figures per target, ratios, the proxies' CPU, and machine load. */
export const TARGETS = ['direct', 'haproxy', 'agent'] as const;
export type TargetName = (typeof TARGETS)[number];
export type MeasureKey = 'bulk' | 'rate' | 'latency';

/** One slice of one measure against one target. */
export interface Sample {
  /** MB/s (bulk), connections/s (rate), p50 ms (latency). */
  value: number;
  errors: number;
  /** Latency: every connection's ms to first byte. */
  samples?: number[];
  /** The proxy process's own CPU seconds in the window. */
  proxyCpu: number;
  /** MB (bulk) or connections (rate, latency) done in the window. */
  units: number;
  seconds: number;
  /** % of all cores: everything busy, and our namespace's processes (loopback softirq included). */
  machineBusyPct: number;
  oursPct: number;
}

/** VmRSS in MB of each proxy process over one measure: its peak, and the last sample. */
export type Memory = Record<'haproxy' | 'agent', { peak: number; end: number }>;

type PerTarget = Record<TargetName, number>;
const RSS_TARGET_MB = 80;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? NaN;
};
/**
 * A 95% interval for agent/haproxy by resampling rounds (a round is one slice of each target, taken
 * one after another, so a burst of other work falls on all three): `stat` pools the chosen rounds.
 * A fixed seed makes a rerun of the same figures print the same interval.
 */
function bootstrapRatio(
  agent: Sample[],
  haproxy: Sample[],
  stat: (rounds: Sample[]) => number,
  iterations = 2000,
): [number, number] {
  const n = Math.min(agent.length, haproxy.length);
  let seed = 0x2545f491;
  const random = () => {
    // xorshift32: enough for choosing rounds, and repeatable.
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) / 2 ** 32;
  };
  const ratios = new Float64Array(iterations);
  for (let i = 0; i < iterations; i++) {
    const picks = Array.from({ length: n }, () => Math.floor(random() * n));
    ratios[i] = stat(picks.map((k) => agent[k]!)) / stat(picks.map((k) => haproxy[k]!));
  }
  ratios.sort();
  return [ratios[Math.floor(0.025 * iterations)]!, ratios[Math.floor(0.975 * iterations)]!];
}

/** ok when the whole interval meets the target, MISSED when none of it does, else unclear. */
function verdict([low, high]: [number, number], meets: (ratio: number) => boolean): string {
  if (meets(low) && meets(high)) return 'ok';
  if (!meets(low) && !meets(high)) return 'MISSED';
  return 'unclear';
}

const num = (x: number, digits = 1) => (Number.isFinite(x) ? x.toFixed(digits) : '-');
const W = [42, 8, 8, 8, 10, 10, 12];
const row = (cells: string[]) =>
  console.log(cells.map((c, i) => (i === 0 ? c.padEnd(W[0]!) : c.padStart(W[i] ?? 8))).join(' '));

export function report(
  results: Map<string, Sample[]>,
  memory: Map<MeasureKey, Memory>,
  header: string[],
  measures: Array<{ key: MeasureKey; label: string }>,
): void {
  const get = (m: MeasureKey, t: TargetName) => results.get(`${m}/${t}`) ?? [];
  const of = (m: MeasureKey, f: (xs: Sample[]) => number) =>
    Object.fromEntries(TARGETS.map((t) => [t, f(get(m, t))])) as PerTarget;
  const line = (label: string, v: PerTarget, digits: number, goal = '', ok?: boolean) =>
    row([
      label,
      ...TARGETS.map((t) => num(v[t], digits)),
      num(v.agent / v.haproxy, 2),
      num(v.agent / v.direct, 2),
      ok === undefined ? goal : `${goal} ${ok ? 'ok' : 'MISSED'}`,
    ]);
  // One run's ratio moves by tens of percent with the machine's other work: the interval says how
  // far, and the verdict is only ok or MISSED when the whole interval agrees.
  const interval = (
    label: string,
    m: MeasureKey,
    stat: (rounds: Sample[]) => number,
    meets: (ratio: number) => boolean,
  ) => {
    const ci = bootstrapRatio(get(m, 'agent'), get(m, 'haproxy'), stat);
    const text = `${num(ci[0], 2)}-${num(ci[1], 2)}`;
    row([`${label}, 95% interval over rounds`, '', '', '', text, '', verdict(ci, meets)]);
  };
  const ran = measures.filter((m) => get(m.key, 'agent').length > 0);
  console.log(header.join('\n'));
  console.log(`\nfigures (bulk, rate: median of the slices; latency: over all connections)`);
  row(['', ...TARGETS, 'agent/hap', 'agent/dir', 'target']);
  for (const m of ran) {
    if (m.key === 'latency') {
      const all = (xs: Sample[]) => xs.flatMap((s) => s.samples ?? []);
      const p50 = of('latency', (xs) => pct(all(xs), 0.5));
      const p99 = of('latency', (xs) => pct(all(xs), 0.99));
      line(`${m.label} p50`, p50, 2);
      line(`${m.label} p99`, p99, 2, '<=1.2x', p99.agent <= 1.2 * p99.haproxy);
      // A burst of other work lands in a few slices: the median slice's p99 is what a quiet second sees.
      const p99s = of('latency', (xs) => median(xs.map((s) => pct(s.samples ?? [], 0.99))));
      line('  p99 of the median slice', p99s, 2, '<=1.2x', p99s.agent <= 1.2 * p99s.haproxy);
      interval(
        '  agent/hap p99',
        m.key,
        (rounds) => pct(all(rounds), 0.99),
        (r) => r <= 1.2,
      );
      const added = (v: PerTarget) => ['-', num(v.haproxy - v.direct, 2), num(v.agent - v.direct, 2)];
      row(['  added p50 ms (vs direct)', ...added(p50)]);
      row(['  added p99 ms (vs direct)', ...added(p99)]);
    } else {
      const v = of(m.key, (xs) => median(xs.map((s) => s.value)));
      line(m.label, v, 0, '>=0.9x', v.agent >= 0.9 * v.haproxy);
      const medianOf = (rounds: Sample[]) => median(rounds.map((s) => s.value));
      interval(`  agent/hap ${m.key === 'bulk' ? 'throughput' : 'rate'}`, m.key, medianOf, (r) => r >= 0.9);
    }
  }
  console.log('\nthe proxy process in the timed windows');
  row(['', '', 'haproxy', 'agent', 'agent/hap']);
  for (const m of ran) {
    // s/MB -> ms/GB; s/connection -> us/connection.
    const cost = of(m.key, (xs) => (1e6 * sum(xs.map((s) => s.proxyCpu))) / sum(xs.map((s) => s.units)));
    const unit = m.key === 'bulk' ? 'CPU ms per GB' : 'CPU us per connection';
    row([
      `  ${m.key}: ${unit}`,
      '',
      num(cost.haproxy, 0),
      num(cost.agent, 0),
      num(cost.agent / cost.haproxy, 2),
    ]);
    const core = of(m.key, (xs) => (100 * sum(xs.map((s) => s.proxyCpu))) / sum(xs.map((s) => s.seconds)));
    row([`  ${m.key}: % of one core`, '', num(core.haproxy), num(core.agent)]);
  }
  for (const m of ran) {
    const mem = memory.get(m.key);
    if (!mem) continue;
    for (const k of ['peak', 'end'] as const) {
      const ok = mem.agent[k] <= RSS_TARGET_MB;
      const label = `  ${m.key}: RSS MB, ${k === 'peak' ? 'peak under load' : 'at the end'}`;
      row([label, '', num(mem.haproxy[k], 0), num(mem.agent[k], 0), '', '', `<=${RSS_TARGET_MB} ${ok ? 'ok' : 'MISSED'}`]); // prettier-ignore
    }
  }
  console.log('\nmachine load in the timed windows (% of all cores, mean of the slices)');
  row(['', ...TARGETS]);
  for (const m of ran) {
    const avg = (f: (s: Sample) => number) => of(m.key, (xs) => mean(xs.map(f)));
    const cells = (v: PerTarget) => TARGETS.map((t) => num(v[t]));
    row([`  ${m.key}: busy`, ...cells(avg((s) => s.machineBusyPct))]);
    row([`  ${m.key}:   this benchmark's processes`, ...cells(avg((s) => s.oursPct))]);
    row([`  ${m.key}:   other work on the machine`, ...cells(avg((s) => Math.max(0, s.machineBusyPct - s.oursPct)))]); // prettier-ignore
    const errs = of(m.key, (xs) => sum(xs.map((s) => s.errors)));
    if (TARGETS.some((t) => errs[t] > 0))
      row([`  ${m.key}: failed exchanges`, ...TARGETS.map((t) => String(errs[t]))]);
  }
}

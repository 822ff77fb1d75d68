/**
 * What a client sees while something changes: a new TLS connection through the VIP every 100 ms
 * (from this machine, which routes the lab's prefix into the lab), and the VIP's holders sampled
 * every 100 ms from the hosts' own addresses.
 */
import { execFile } from 'node:child_process';
import { connect } from 'node:tls';
import { promisify } from 'node:util';
import type { LabHost } from '../../src/lab/index.js';

const execFileAsync = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface LoadReport {
  /** Date.now() when the load started: `at` and `endAt` count from it. */
  t0: number;
  attempts: number;
  /** When a failed attempt started and when it failed (ms from t0). */
  failures: { at: number; endAt: number; error: string }[];
  /** Which controller's API server answered, by certificate CN. */
  servedBy: Record<string, number>;
}

function handshake(address: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: address, port, rejectUnauthorized: false }, () => {
      const cn = s.getPeerCertificate().subject?.CN;
      s.end();
      resolve(Array.isArray(cn) ? cn.join(',') : (cn ?? '?'));
    });
    s.setTimeout(2000, () => s.destroy(new Error('timeout')));
    s.on('error', reject);
  });
}

/** Opens a new TLS connection to address:port every `everyMs` until stopped; every one must complete. */
export function clientLoad(address: string, port = 6443, everyMs = 100): { stop(): Promise<LoadReport> } {
  const t0 = Date.now();
  const report: LoadReport = { t0, attempts: 0, failures: [], servedBy: {} };
  let running = true;
  const inFlight = new Set<Promise<void>>();
  const loop = (async () => {
    while (running) {
      const started = Date.now();
      report.attempts++;
      const p = handshake(address, port).then(
        (cn) => void (report.servedBy[cn] = (report.servedBy[cn] ?? 0) + 1),
        (err: Error) =>
          void report.failures.push({ at: started - t0, endAt: Date.now() - t0, error: err.message }),
      );
      inFlight.add(p);
      void p.finally(() => inFlight.delete(p));
      await sleep(Math.max(0, everyMs - (Date.now() - started)));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      await Promise.all(inFlight);
      return report;
    },
  };
}

export interface HolderReport {
  samples: number;
  /** Samples whose holder count was not allowed, with who held the VIP then. */
  bad: { at: number; holders: string[]; fromMs: number; toMs: number }[];
  /** When (ms from the start) a sample saw no holder at all. */
  empty: number[];
  /** How many samples saw exactly one holder. */
  single: number;
  last: string[];
}

export async function holdersOf(hosts: readonly LabHost[], vip: string): Promise<string[]> {
  const bare = vip.split('/')[0]!;
  const held = await Promise.all(
    hosts.map(async (h) => {
      const { stdout } = await execFileAsync('ip', ['-n', h.netns, '-o', 'addr', 'show']);
      return stdout.includes(` ${bare}/`) ? h.name : null;
    }),
  );
  return held.filter((h): h is string => h !== null);
}

/** Samples the VIP's holders every `everyMs`; `allowed` says which counts are fine (default: exactly 1). */
export function holderSampler(
  hosts: readonly LabHost[],
  vip: string,
  opts: { everyMs?: number; allowed?: (count: number) => boolean } = {},
): { stop(): Promise<HolderReport> } {
  const allowed = opts.allowed ?? ((n) => n === 1);
  const report: HolderReport = { samples: 0, bad: [], empty: [], single: 0, last: [] };
  const t0 = Date.now();
  let running = true;
  const loop = (async () => {
    while (running) {
      const started = Date.now();
      const holders = await holdersOf(hosts, vip);
      report.samples++;
      report.last = holders;
      // fromMs..toMs (epoch): the hosts are read one by one in there, so a sample straddling a move
      // can count the VIP on both hosts, or on neither, whatever the truth (see straddlesMove).
      if (!allowed(holders.length))
        report.bad.push({ at: started - t0, holders, fromMs: started, toMs: Date.now() });
      if (holders.length === 0) report.empty.push(started - t0);
      if (holders.length === 1) report.single++;
      await sleep(Math.max(0, (opts.everyMs ?? 100) - (Date.now() - started)));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return report;
    },
  };
}

/**
 * Whether a VIP address event (`ip -ts monitor` times, epoch ms) fell inside the sample's reading
 * window: then its count says nothing (one host read before the move, another after). The slack
 * covers the monitors' own reading delay.
 */
export function straddlesMove(
  sample: { fromMs: number; toMs: number },
  eventsMs: readonly number[],
  slackMs = 5,
): boolean {
  return eventsMs.some((ms) => ms >= sample.fromMs - slackMs && ms <= sample.toMs + slackMs);
}

/**
 * Does the agent's memory stay bounded? A soak through the real agent's proxy (bundle or single
 * executable), with 3 TLS stand-in API servers and its keepalived holding a VIP, in a network
 * namespace of its own (cplb-tbench-soak, deleted after):
 *
 *   npx tsx bench/agent-soak.ts [--agent sea|bundle] [--minutes 10] [--rate 50] [--streams 5]
 *                               [--idle 20] [--recover 60] [--netns cplb-tbench-soak]
 *
 * 1. idle: the agent's RSS (VmRSS) each second for `idle` seconds; its median is the idle figure.
 * 2. load for `minutes`: a new TLS connection `rate` times a second plus `streams` long-lived watches
 *    (bench/soak-load.ts); RSS every 5 s. Printed: the mean and peak RSS of each minute, and the
 *    growth in MB per minute over the load's second half (least squares), once V8's heap has grown
 *    to its working size; the first half's slope is printed beside it.
 * 3. recovery: RSS each second for `recover` seconds after the load stops, and when it first came
 *    back under idle + 20 MB.
 * Targets (issue 12): growth flat (under 0.5 MB/min here) and back under idle + 20 MB within 60 s.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { queryStatus } from '../src/agent/status.js';
import {
  agentCommand,
  Cleanup,
  loadAvg,
  NS_VIP,
  ROOT,
  rssMB,
  sleep,
  startUpstreams,
  waitFor,
  writeAgentConfig,
  type AgentKind,
} from './agent-env.js';
import { arg } from './args.js';

const kind = arg('agent', 'sea') as AgentKind;
const minutes = Number(arg('minutes', '10'));
const rate = Number(arg('rate', '50'));
const streams = Number(arg('streams', '5'));
const idleS = Number(arg('idle', '20'));
const recoverS = Number(arg('recover', '60'));
const netns = arg('netns', 'cplb-tbench-soak');
const UPSTREAM_PORTS = [17451, 17452, 17453];
const PROXY_PORT = 6444;
const GROWTH_TARGET_MB_PER_MIN = 0.5;
const RECOVER_MARGIN_MB = 20;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const mb = (x: number) => x.toFixed(1);

/** Least-squares slope of (seconds, MB), in MB per minute. */
function slopePerMinute(points: { t: number; rss: number }[]): number {
  const n = points.length;
  const mt = points.reduce((a, p) => a + p.t, 0) / n;
  const mr = points.reduce((a, p) => a + p.rss, 0) / n;
  const num = points.reduce((a, p) => a + (p.t - mt) * (p.rss - mr), 0);
  const den = points.reduce((a, p) => a + (p.t - mt) ** 2, 0);
  return den === 0 ? 0 : (num / den) * 60;
}

async function main(): Promise<void> {
  const cleanup = new Cleanup();
  try {
    const ns = cleanup.namespace(netns);
    const dir = cleanup.tempDir('cplb-bench-soak-');
    await startUpstreams(cleanup, ns, dir, UPSTREAM_PORTS);
    const adir = join(dir, kind);
    mkdirSync(adir);
    const config = writeAgentConfig(adir, ns, UPSTREAM_PORTS, PROXY_PORT);
    const agent = cleanup.spawnIn(ns, [...agentCommand(kind), '--config', config], join(adir, 'agent.log'));
    const pid = agent.pid!;
    const status = () => queryStatus(join(adir, 'agent.sock'));
    await waitFor(
      'the agent to hold the VIP with 3 healthy upstreams',
      async () => {
        const s = await status();
        return s.proxy.healthyUpstreams === 3 && s.instances[0]?.state === 'MASTER';
      },
      30_000,
    );
    process.stderr.write(`agent (${kind}) up, pid ${pid}; idle ${idleS} s\n`);
    const idle: number[] = [];
    for (let i = 0; i < idleS; i++) {
      idle.push(rssMB(pid));
      await sleep(1000);
    }
    const idleMB = median(idle);

    process.stderr.write(`load: ${rate} new TLS connections/s + ${streams} watches for ${minutes} min\n`);
    const load = cleanup.spawnIn(
      ns,
      [
        process.execPath,
        '--import',
        'tsx',
        join(ROOT, 'bench/soak-load.ts'),
        // Through the VIP, as clients come: the agent's REDIRECT takes VIP:6443 to its proxy, whose
        // guard refuses anything that did not come that way.
        NS_VIP,
        '6443',
        String(rate),
        String(streams),
        String(minutes * 60),
      ],
      join(dir, 'load.log'),
      true,
    );
    let last: Record<string, number> = {};
    createInterface({ input: load.stdout! }).on('line', (line) => {
      last = JSON.parse(line) as Record<string, number>;
      process.stderr.write(`  ${line}\n`);
    });
    const loadDone = new Promise<void>((r) => load.once('exit', () => r()));
    const t0 = Date.now();
    const samples: { t: number; rss: number }[] = [];
    let openDuringLoad = 0;
    while (Date.now() - t0 < minutes * 60_000) {
      samples.push({ t: (Date.now() - t0) / 1000, rss: rssMB(pid) });
      await sleep(5000);
      if (Date.now() - t0 > (minutes * 60 - 10) * 1000 && openDuringLoad === 0)
        openDuringLoad = (await status()).proxy.openConnections;
    }
    await loadDone;
    const stoppedAt = Date.now();
    const recovery: number[] = [];
    for (let i = 0; i < recoverS; i++) {
      recovery.push(rssMB(pid));
      await sleep(1000);
    }
    const openAfter = (await status()).proxy.openConnections;

    const perMinute = Array.from({ length: minutes }, (_, m) => {
      const xs = samples.filter((s) => s.t >= m * 60 && s.t < (m + 1) * 60).map((s) => s.rss);
      return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN;
    });
    // V8's heap grows to its working size over the first minutes (young generation to its full
    // semi-spaces, old generation to its next mark-compact), then RSS saws around a level. Growth is
    // judged on the load's second half, the steady state: the least-squares slope there, with the
    // first half's slope and the halves' means beside it, so a ramp or a sawtooth phase shows.
    const after1 = samples.filter((s) => s.t >= 60);
    const mid = (60 + minutes * 60) / 2;
    const meanRss = (xs: { rss: number }[]) => xs.reduce((a, x) => a + x.rss, 0) / xs.length;
    const [firstHalf, secondHalf] = [after1.filter((s) => s.t < mid), after1.filter((s) => s.t >= mid)];
    const growth = slopePerMinute(secondHalf);
    const rampSlope = slopePerMinute(firstHalf);
    const peaks = Array.from({ length: minutes }, (_, m) =>
      Math.max(...samples.filter((s) => s.t >= m * 60 && s.t < (m + 1) * 60).map((s) => s.rss)),
    );
    const peak = Math.max(...samples.map((s) => s.rss));
    const backAt = recovery.findIndex((r) => r <= idleMB + RECOVER_MARGIN_MB);
    const verdict = (ok: boolean) => (ok ? 'ok' : 'MISSED');

    console.log(
      `agent soak (${kind}), ${minutes} min, ${rate} conn/s + ${streams} watches; load avg ${loadAvg()}`,
    );
    console.log(`idle RSS                 ${mb(idleMB)} MB (median of ${idle.length} s)`);
    console.log(`RSS per minute (MB)      ${perMinute.map(mb).join(' ')}`);
    console.log(`peak per minute (MB)     ${peaks.map(mb).join(' ')}`);
    console.log(`peak under load          ${mb(peak)} MB`);
    console.log(
      `growth, second half      ${growth.toFixed(2)} MB/min   ${verdict(growth < GROWTH_TARGET_MB_PER_MIN)} (target < ${GROWTH_TARGET_MB_PER_MIN}); first half ${rampSlope.toFixed(2)} MB/min; mean ${mb(meanRss(firstHalf))} then ${mb(meanRss(secondHalf))} MB`,
    );
    console.log(
      `after the load           ${mb(recovery[0]!)} MB at once, ${mb(recovery[Math.min(9, recovery.length - 1)]!)} at 10 s, ${mb(recovery[recovery.length - 1]!)} at ${recoverS} s`,
    );
    console.log(
      `under idle + ${RECOVER_MARGIN_MB} MB        ${backAt >= 0 ? `after ${backAt} s` : `not within ${recoverS} s`}   ${verdict(backAt >= 0 && backAt <= 60)} (target within 60 s)`,
    );
    console.log(
      `load                     ${last.ok ?? 0} served, ${last.errors ?? 0} errors, ${last.late ?? 0} over 1 s; ${last.streamEvents ?? 0} watch events, ${last.streamReopens ?? 0} watch reopens`,
    );
    console.log(
      `agent open connections   ${openDuringLoad} near the end of the load, ${openAfter} ${Math.round((Date.now() - stoppedAt) / 1000)} s after`,
    );
  } finally {
    await cleanup.run();
  }
}

await main();

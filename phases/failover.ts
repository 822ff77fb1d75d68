import type { Host } from '../src/config/types.js';
import type { Phase } from '../src/pipeline/index.js';
import { holderCheck } from '../src/verify/checks.js';
import { describeDisruption, disruptionData } from '../src/verify/disruption.js';
import { runFailover } from '../src/verify/failover/run.js';
import type { InspectState } from '../src/verify/state.js';

const secs = (ms: number | null) => (ms === null ? '-' : `${(ms / 1000).toFixed(2)} s`);

/** Moves the VIP on purpose, `rounds` times, and times it; the hosts are restored after each round. */
export const failoverPhase: Phase<InspectState, Host> = {
  title: 'Fail over and time it',
  shouldRun: (ctx) => ctx.state.options.failover !== undefined,
  async run(ctx) {
    const { state } = ctx;
    const opts = state.options.failover!;
    const before = holderCheck(state);
    if (!before.ok) {
      state.failoverSkipped = `not attempted: ${before.problems[0] ?? 'no single VIP holder'}`;
      ctx.log.warn(state.failoverSkipped);
      return;
    }
    state.failover = await runFailover(state, {
      mode: opts.mode,
      rounds: opts.rounds,
      localProbe: state.options.localProbe,
      log: ctx.log,
      pending: state.failoverRestores,
      signal: ctx.signal,
      onRound: (r) =>
        ctx.log[r.ok ? 'info' : 'warn'](
          `round ${r.round} (${r.mode}): ${r.from} -> ${r.to ?? '?'}, VIP moved ${secs(r.movedMs)}, served again ${secs(r.servedAgainMs)}, ${r.failedProbes} failed probes${(r.disruption ?? []).map((d) => `; ${describeDisruption(d)}`).join('')}${r.ok ? '' : `: ${r.problems.join('; ')}`}`,
          { round: r.round, ...disruptionData(r.disruption) },
        ),
    });
  },
  // After Ctrl-C mid-round: undo the fault (the host's own watchdog would, later).
  async cleanup(ctx) {
    for (const restore of ctx.state.failoverRestores) await restore().catch(() => undefined);
  },
};

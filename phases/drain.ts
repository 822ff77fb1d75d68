import type { Host } from '../src/config/types.js';
import { CplbError } from '../src/core/errors.js';
import type { Phase } from '../src/pipeline/index.js';
import {
  assertNotLast,
  describeHolders,
  handOffBoundMs,
  setMarker,
  reachableTarget,
  waitForHolders,
} from '../src/verify/drain.js';
import { handOffVips, logHandOff } from '../src/verify/handoff.js';
import type { InspectState } from '../src/verify/state.js';

/**
 * `cplbctl drain HOST`: another host takes the VIPs (make-before-break), then the marker on the
 * host; then wait until its agent acts on it, the host holds no VIP and another holds each. The last
 * host that could hold the VIPs is refused before anything changes, unless --force.
 */
export const drainPhase: Phase<InspectState, Host> = {
  title: 'Drain the host',
  shouldRun: (ctx) => ctx.state.options.drain?.action === 'drain',
  async run(ctx) {
    const { state } = ctx;
    const req = state.options.drain!;
    const { target, remote, snap } = reachableTarget(state, 'drain');
    const log = ctx.logFor(target);
    const already = snap!.drained;
    const forcedLast = already ? undefined : assertNotLast(state, target, req.force);
    if (forcedLast) log.warn(`${forcedLast}: draining anyway (--force), the VIPs lose their holder`);
    const t0 = Date.now();
    // Another host takes the VIPs first (make-before-break); the marker then finds nothing to give up.
    // Where none can take them this way, the marker's FAULT still hands them over gracefully.
    if (!already && !forcedLast) {
      const peers = [...state.remotes].filter(([name]) => name !== target.name).map(([, r]) => r);
      const r = await handOffVips({ cluster: state.cluster, holder: remote, peers, signal: ctx.signal });
      logHandOff(r, log, 'the drain gives the VIP up gracefully');
    }
    const changed = await setMarker(remote, true);
    log.info(changed ? 'drain marker written: the agent gives up the VIPs' : 'already drained');
    // Done when the agent acts on the marker, the host holds nothing, and (unless nobody is left)
    // another host holds each VIP.
    const result = await waitForHolders(
      state,
      (now) =>
        now.drainedByAgent.has(target.name) &&
        now.vips.every(
          (v) => !v.holders.includes(target.name) && (forcedLast !== undefined || v.holders.length > 0),
        ),
      handOffBoundMs(state),
      ctx.signal,
    );
    const handOffMs = Date.now() - t0;
    state.drain = {
      action: 'drain',
      host: target.name,
      changed,
      vips: result.last.vips,
      ...(changed ? { handOffMs } : {}),
    };
    if (!result.ok) {
      const why = !result.last.drainedByAgent.has(target.name)
        ? 'its agent does not report drained (not running, or too old for drain: apply a current cplbctl)'
        : `the VIPs did not move: ${describeHolders(result.last.vips)}`;
      throw new CplbError(`drained (the marker stays), but after ${Math.round(handOffMs / 1000)} s ${why}`, {
        code: 'DRAIN_TIMEOUT',
        fault: 'remote',
        host: target.name,
        hint: '`cplbctl status FILE` shows each host; `cplbctl uncordon HOST FILE` undoes the drain',
      });
    }
    log.info(`${describeHolders(result.last.vips)} (${handOffMs} ms after the marker)`, { handOffMs });
  },
};

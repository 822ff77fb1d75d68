import type { Host } from '../src/config/types.js';
import { CplbError } from '../src/core/errors.js';
import type { Phase } from '../src/pipeline/index.js';
import {
  describeHolders,
  handOffBoundMs,
  setMarker,
  reachableTarget,
  waitForHolders,
} from '../src/verify/drain.js';
import type { InspectState } from '../src/verify/state.js';

/**
 * `cplbctl uncordon HOST`: removes the marker and waits until the agent no longer reports drained.
 * The host takes a VIP only when nobody holds it: every controller has the same priority, so
 * keepalived does not take a VIP back from a healthy holder.
 */
export const uncordonPhase: Phase<InspectState, Host> = {
  title: 'Uncordon the host',
  shouldRun: (ctx) => ctx.state.options.drain?.action === 'uncordon',
  async run(ctx) {
    const { state } = ctx;
    const { target, remote } = reachableTarget(state, 'uncordon');
    const log = ctx.logFor(target);
    const changed = await setMarker(remote, false);
    log.info(changed ? 'drain marker removed: the host may take a VIP again' : 'not drained');
    const result = await waitForHolders(
      state,
      (now) => !now.drainedByAgent.has(target.name),
      handOffBoundMs(state),
      ctx.signal,
    );
    state.drain = { action: 'uncordon', host: target.name, changed, vips: result.last.vips };
    if (!result.ok)
      throw new CplbError('the marker is gone, but the agent still reports drained', {
        code: 'UNCORDON_TIMEOUT',
        fault: 'remote',
        host: target.name,
        hint: '`cplbctl status FILE` shows the agent',
      });
    log.info(describeHolders(result.last.vips));
  },
};

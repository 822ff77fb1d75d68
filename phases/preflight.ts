import type { ApplyState } from '../src/apply/state.js';
import { checkSegment, segmentClearText } from '../src/apply/preflight.js';
import type { Host } from '../src/config/types.js';
import { perHost } from '../src/pipeline/index.js';
import { PREFLIGHT_PHASE, probeToolsMissing } from '../src/plan/preflight.js';

/**
 * Before the first change on any host, and in a dry run: is the segment free for this cluster (no
 * foreign holder of a VIP, no foreign router on an instance's ID, every unicast peer answering)?
 * A host without the tools is checked by Prepare hosts right after it installed them, before
 * anything else changes. Probes on all hosts run at once; the VRRP listen (3 adverts) sets the time.
 */
export const preflightPhase = perHost<ApplyState, Host>({
  title: PREFLIGHT_PHASE,
  readOnly: true,
  async run(host, ctx) {
    const missing = probeToolsMissing(ctx.state.cluster, ctx.state.facts.get(host.name)!);
    if (missing.length) {
      ctx.log.info(
        `${missing.join(', ')} not installed: the checks ${ctx.dryRun ? 'would run' : 'run'} right after installing ${missing.length > 1 ? 'them' : 'it'}, before anything else changes`,
      );
      return;
    }
    ctx.log.info(segmentClearText(await checkSegment(ctx.state, host)));
  },
});

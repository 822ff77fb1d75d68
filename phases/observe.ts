import type { Host } from '../src/config/types.js';
import type { Phase } from '../src/pipeline/index.js';
import { probeLb, watchVips } from '../src/verify/observe.js';
import { reachableHosts, type InspectState } from '../src/verify/state.js';

/** Samples the VIPs on every host for 3 adverts while TLS probes cross the load balancer. */
export const observePhase: Phase<InspectState, Host> = {
  title: 'Watch the VIPs and probe the load balancer',
  readOnly: true,
  async run(ctx) {
    const { state } = ctx;
    const [observation, lb] = await Promise.all([
      watchVips(state, reachableHosts(state)),
      probeLb(state, state.options.localProbe),
    ]);
    state.observation = observation;
    if (typeof lb === 'string') state.lbError = lb;
    else state.lb = lb;
    ctx.log.info(
      `watched the VIPs for ${observation.windowSeconds} s (${observation.timelines[0]?.perSample.length ?? 0} samples per host)`,
    );
  },
};

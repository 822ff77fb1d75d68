import type { Host } from '../src/config/types.js';
import { messageOf } from '../src/pipeline/errors.js';
import type { Phase } from '../src/pipeline/index.js';
import { plan } from '../src/plan/plan.js';
import type { InspectState } from '../src/verify/state.js';
import { VERSION } from '../src/contract/version.js';
import { assertFactsFit } from '../src/plan/validate-facts.js';

/**
 * What the cluster file renders for every host, to compare with what the hosts have. The plan needs
 * every controller's facts (each agent.json lists all API servers): without them, drift is unknown.
 */
export const planExpectedPhase: Phase<InspectState, Host> = {
  title: 'Render the expected configuration',
  readOnly: true,
  async run(ctx) {
    const { cluster, facts } = ctx.state;
    const missing = cluster.controllers.filter((h) => !facts.has(h.name)).map((h) => h.name);
    if (missing.length > 0) {
      ctx.state.planError = `no facts from ${missing.join(', ')}: the expected files depend on every controller`;
      ctx.log.warn(`config drift is not checked: ${ctx.state.planError}`);
      return;
    }
    try {
      assertFactsFit(
        cluster,
        cluster.controllers.map((h) => facts.get(h.name)!),
      );
      ctx.state.plan = plan(
        cluster,
        cluster.controllers.map((h) => facts.get(h.name)!),
        { renderedBy: VERSION },
      );
    } catch (err) {
      ctx.state.planError = messageOf(err);
      ctx.log.warn(`config drift is not checked: ${ctx.state.planError}`);
    }
  },
};

import type { ApplyState } from '../src/apply/state.js';
import type { Host } from '../src/config/types.js';
import type { Phase } from '../src/pipeline/index.js';
import { assertFactsFit } from '../src/plan/validate-facts.js';

/** Cross-host checks (interfaces, subnets, unicast sources, clocks, tools): all findings at once. */
export const validateFactsPhase: Phase<ApplyState, Host> = {
  title: 'Validate facts',
  readOnly: true,
  async run(ctx) {
    const { cluster, facts } = ctx.state;
    for (const f of assertFactsFit(cluster, [...facts.values()]))
      (f.host ? ctx.logFor(f.host) : ctx.log).warn(`${f.message}; ${f.hint}`);
  },
};

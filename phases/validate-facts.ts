import type { ApplyState } from '../src/apply/state.js';
import type { Host } from '../src/config/types.js';
import { CplbError } from '../src/core/errors.js';
import type { Phase } from '../src/pipeline/index.js';
import { validateFacts } from '../src/plan/validate-facts.js';

/** Cross-host checks (interfaces, subnets, unicast sources, clocks, tools): all findings at once. */
export const validateFactsPhase: Phase<ApplyState, Host> = {
  title: 'Validate facts',
  readOnly: true,
  async run(ctx) {
    const { cluster, facts } = ctx.state;
    const findings = validateFacts(cluster, [...facts.values()]);
    for (const f of findings.filter((d) => d.severity === 'warning'))
      (f.host ? ctx.logFor(f.host) : ctx.log).warn(`${f.message}; ${f.hint}`);
    const errors = findings.filter((d) => d.severity === 'error');
    if (errors.length)
      throw new CplbError(
        `the hosts do not fit ${cluster.file}:\n${errors.map((e) => `  ${e.host ? `[${e.host}] ` : ''}${e.message}; ${e.hint}`).join('\n')}`,
        {
          code: 'FACTS_INVALID',
          fault: 'config',
          phase: 'Validate facts',
          hint: 'nothing was changed on any host',
        },
      );
  },
};

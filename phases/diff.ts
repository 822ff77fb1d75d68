import type { ApplyState } from '../src/apply/state.js';
import type { Host } from '../src/config/types.js';
import type { Phase } from '../src/pipeline/index.js';
import { diffPlan } from '../src/plan/diff.js';
import { describeRollingOrder } from '../src/plan/rollout.js';

/** Every planned file against what the host has now: what apply would write, start and reload. */
export const diffPhase: Phase<ApplyState, Host> = {
  title: 'Compare with the hosts',
  readOnly: true,
  async run(ctx) {
    const diff = diffPlan(ctx.state.plan!, ctx.state.current);
    ctx.state.diff = diff;
    const verb = ctx.dryRun ? 'would' : 'will';
    for (const h of diff.hosts) {
      const changed = h.files.filter((f) => f.change !== 'unchanged');
      const files = changed.length
        ? changed.map((f) => `${f.path} (${f.change})`).join(', ')
        : 'no file changes';
      const action =
        h.action === 'none' ? 'no action' : `${verb} ${h.action}${h.install ? ' (install)' : ''}`;
      ctx.logFor(h.host).info(`${files}; service cplb-agent: ${action} — ${h.reason}`);
    }
    if (diff.changedHosts.length === 0)
      ctx.log.info('every host is up to date: nothing to write, start or reload');
    else {
      // The rolling pass's order also carries a together switch's restarts (a new agent build).
      const acting = new Set(diff.hosts.filter((h) => h.action !== 'none').map((h) => h.host));
      const order = describeRollingOrder(ctx.state.plan!, acting);
      ctx.log.info(
        `rollout: ${diff.rollout.mode}, ${diff.rollout.reason}${order ? `; order: ${order}` : ''}`,
      );
    }
  },
};

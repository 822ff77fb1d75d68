import type { ApplyState } from '../src/apply/state.js';
import { remoteOf } from '../src/apply/state.js';
import { readCurrentFiles } from '../src/apply/current-files.js';
import type { Host } from '../src/config/types.js';
import { forEachHost, type Phase } from '../src/pipeline/index.js';
import { diffPlan, type CurrentFiles } from '../src/plan/diff.js';

/** Every planned file against what the host has now: what apply would write, start and reload. */
export const diffPhase: Phase<ApplyState, Host> = {
  title: 'Compare with the hosts',
  readOnly: true,
  async run(ctx) {
    const plan = ctx.state.plan!;
    const current: CurrentFiles = new Map();
    await forEachHost(ctx, ctx.state.cluster.controllers, async (host) => {
      const hp = plan.hosts.find((h) => h.host === host.name)!;
      current.set(host.name, await readCurrentFiles(remoteOf(ctx.state, host), hp));
    });
    const diff = diffPlan(plan, current);
    ctx.state.diff = diff;
    for (const h of diff.hosts) {
      const changed = h.files.filter((f) => f.change !== 'unchanged');
      const files = changed.length ? changed.map((f) => `${f.path} (${f.change})`).join(', ') : 'no file changes';
      const verb = ctx.dryRun ? 'would' : 'will';
      ctx.logFor(h.host).info(
        `${files}; service cplb-agent: ${h.action === 'none' ? 'no action' : `${verb} ${h.action}`}${h.install ? ' (install)' : ''} — ${h.reason}`,
      );
    }
  },
};

import type { ApplyState } from '../src/apply/state.js';
import { diffOf, hostPlanOf, remoteOf } from '../src/apply/state.js';
import type { Host } from '../src/config/types.js';
import { forEachHost, type HostContext, type Phase } from '../src/pipeline/index.js';
import type { ServiceAction } from '../src/plan/diff.js';

/** What the host needs now that the files are written: only what changed is started or reloaded. */
export function actionFor(state: ApplyState, host: Host): ServiceAction {
  if (state.dryRun) return diffOf(state, host).action;
  const hp = hostPlanOf(state, host);
  const written = state.written.get(host.name) ?? new Set<string>();
  if (hp.agentRunning !== true) return 'start';
  const agentOrService =
    hp.files.some((f) => f.artifact && written.has(f.path)) || written.has(hp.service.definitionPath);
  if (agentOrService) return 'restart';
  if (hp.files.some((f) => f.content !== undefined && written.has(f.path))) return 'reload';
  return 'none';
}

async function act(host: Host, ctx: HostContext<ApplyState, Host>): Promise<void> {
  const action = actionFor(ctx.state, host);
  if (action === 'none') return;
  if (ctx.dryRun) {
    ctx.log.info(`would ${action} cplb-agent`);
    return;
  }
  const hp = hostPlanOf(ctx.state, host);
  await remoteOf(ctx.state, host).exec(hp.service.commands[action], { timeoutMs: 60_000 });
  ctx.state.restarted.add(host.name);
  ctx.log.info(
    `${action === 'start' ? 'started' : action === 'restart' ? 'restarted' : 'reloaded'} cplb-agent`,
  );
}

/**
 * Hosts that hold no VIP go first, all at once; VIP holders go last, one at a time, so a VIP
 * moves at most once and never to a host still on the old configuration.
 */
export const startServicesPhase: Phase<ApplyState, Host> = {
  title: 'Start or reload services',
  async run(ctx) {
    const plan = ctx.state.plan!;
    const holds = new Set(plan.hosts.filter((h) => h.vipsHeld.length > 0).map((h) => h.host));
    const hosts = ctx.state.cluster.controllers;
    await forEachHost(
      ctx,
      hosts.filter((h) => !holds.has(h.name)),
      act,
    );
    await forEachHost(
      ctx,
      plan.reloadOrder.filter((n) => holds.has(n)).map((n) => hosts.find((h) => h.name === n)!),
      act,
      {
        concurrency: 1,
        failFast: true,
      },
    );
  },
  async dryRun(ctx) {
    await this.run(ctx);
  },
};

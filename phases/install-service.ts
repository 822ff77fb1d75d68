import type { ApplyState } from '../src/apply/state.js';
import { diffOf, hostPlanOf, remoteOf } from '../src/apply/state.js';
import type { Host } from '../src/config/types.js';
import { perHost } from '../src/pipeline/index.js';

/** systemd: daemon-reload + enable; OpenRC: rc-update add; no init: the launcher script is all. */
export const installServicePhase = perHost<ApplyState, Host>({
  title: 'Install the cplb-agent service',
  hosts: (ctx) => ctx.state.cluster.controllers.filter((h) => needsInstall(ctx.state, h)),
  async dryRun(host, ctx) {
    ctx.log.info(`would install the ${hostPlanOf(ctx.state, host).init} service cplb-agent`);
  },
  async run(host, ctx) {
    const hp = hostPlanOf(ctx.state, host);
    await remoteOf(ctx.state, host).exec(hp.service.commands.install, { timeoutMs: 60_000 });
    ctx.log.info(`installed the ${hp.init} service cplb-agent`);
  },
});

function needsInstall(state: ApplyState, host: Host): boolean {
  const hp = hostPlanOf(state, host);
  if (hp.init === 'none') return false;
  return diffOf(state, host).install || state.written.get(host.name)?.has(hp.service.definitionPath) === true;
}

import type { ApplyState } from '../src/apply/state.js';
import { hostPlanOf, remoteOf } from '../src/apply/state.js';
import type { Host } from '../src/config/types.js';
import { perHost } from '../src/pipeline/index.js';
import { KEEPALIVED_CONF } from '../src/contract/paths.js';
import { keepalivedConfigTest } from '../src/apply/current-files.js';
import { checkSegment, segmentClearText } from '../src/apply/preflight.js';
import { probeToolsMissing } from '../src/plan/preflight.js';

/**
 * Installs what a host lacks (keepalived, iptables, the pre-flight tools) through its package
 * manager, and says so. Then the checks the plan could not make without them, before anything else
 * changes: keepalived's config test, and the network segment's pre-flight checks.
 */
export const prepareHostsPhase = perHost<ApplyState, Host>({
  title: 'Prepare hosts',
  shouldRun: (ctx) => ctx.state.plan!.hosts.some((h) => h.packages),
  hosts: (ctx) => ctx.state.cluster.controllers.filter((h) => hostPlanOf(ctx.state, h).packages),
  async dryRun(host, ctx) {
    const p = hostPlanOf(ctx.state, host).packages!;
    ctx.log.info(`would install ${p.packages.join(', ')} with ${p.manager}`);
  },
  async run(host, ctx) {
    const hp = hostPlanOf(ctx.state, host);
    const p = hp.packages!;
    const remote = remoteOf(ctx.state, host);
    ctx.log.info(`installing ${p.packages.join(', ')} with ${p.manager}`);
    await remote.exec(p.command, { timeoutMs: 600_000 });
    ctx.log.info(`installed ${p.packages.join(', ')}`);
    // The plan could not check keepalived.conf without keepalived: check it now, before anything uses it.
    await keepalivedConfigTest(
      remote,
      hp.files.find((f) => f.path === KEEPALIVED_CONF)?.content ?? '',
      host.name,
    );
    if (probeToolsMissing(ctx.state.cluster, ctx.state.facts.get(host.name)!).length) {
      ctx.log.info(segmentClearText(await checkSegment(ctx.state, host)));
    }
  },
});

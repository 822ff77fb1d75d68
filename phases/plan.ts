import { configTestError, readCurrentFiles } from '../src/apply/current-files.js';
import type { ApplyState } from '../src/apply/state.js';
import { remoteOf } from '../src/apply/state.js';
import type { Host } from '../src/config/types.js';
import { forEachHost, type Phase } from '../src/pipeline/index.js';
import { plan } from '../src/plan/plan.js';
import { KEEPALIVED_CONF } from '../src/contract/paths.js';
import { VERSION } from '../src/contract/version.js';

/**
 * The pure plan; then, per host in one round trip, what is there now and keepalived's own check of
 * the rendered keepalived.conf where it differs from the host's (its keepalived, its interfaces).
 */
export const planPhase: Phase<ApplyState, Host> = {
  title: 'Plan the changes',
  readOnly: true,
  async run(ctx) {
    const { cluster, facts } = ctx.state;
    const p = plan(
      cluster,
      cluster.controllers.map((h) => facts.get(h.name)!),
      {
        renderedBy: VERSION,
        agentSha256: ctx.state.agentSha256,
      },
    );
    ctx.state.plan = p;
    await forEachHost(ctx, cluster.controllers, async (host, hctx) => {
      const hp = p.hosts.find((h) => h.host === host.name)!;
      const conf = hp.files.find((f) => f.path === KEEPALIVED_CONF)?.content ?? '';
      const { files, meta, configTest } = await readCurrentFiles(remoteOf(ctx.state, host), hp, {
        path: KEEPALIVED_CONF,
        content: conf,
      });
      ctx.state.current.set(host.name, files);
      ctx.state.currentMeta.set(host.name, meta);
      if (configTest?.result === 'no-keepalived')
        hctx.log.info('keepalived is not installed yet: its config check runs once it is');
      else if (configTest?.result === 'failed') throw configTestError(host.name, configTest);
      else if (configTest?.result === 'passed') hctx.log.debug('keepalived --config-test passed');
    });
  },
};

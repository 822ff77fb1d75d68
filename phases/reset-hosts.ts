import type { ApplyState } from '../src/apply/state.js';
import { remoteOf } from '../src/apply/state.js';
import type { Host } from '../src/config/types.js';
import { CplbError } from '../src/core/errors.js';
import { forEachHost, type HostContext, type Phase } from '../src/pipeline/index.js';
import { parseResetOutput, renderResetScript } from '../src/render/reset.js';
import { AGENT_DIR, CONFIG_DIR, RUN_DIR } from '../src/contract/paths.js';
import { vipAddresses } from '../src/config/cluster.js';

function vipsOf(state: ApplyState): string[] {
  return vipAddresses(state.cluster);
}

async function resetOne(host: Host, ctx: HostContext<ApplyState, Host>): Promise<void> {
  const facts = ctx.state.facts.get(host.name);
  if (!facts) throw new Error(`no facts for ${host.name}`);
  if (ctx.dryRun) {
    ctx.log.info(
      `would stop and remove the ${facts.init} service cplb-agent, its nat rules and any VIP left on the host, and ${CONFIG_DIR}, ${AGENT_DIR}, ${RUN_DIR}`,
    );
    return;
  }
  const script = renderResetScript({ init: facts.init, vips: vipsOf(ctx.state) });
  const res = await remoteOf(ctx.state, host).exec(script, { timeoutMs: 90_000 });
  const { did, left } = parseResetOutput(res.stdout);
  for (const line of did) ctx.log.info(line);
  if (did.length === 0) ctx.log.info('nothing of cplb was installed here');
  if (left.length > 0)
    throw new CplbError(`still there after reset: ${left.join('; ')}`, {
      code: 'RESET_INCOMPLETE',
      fault: 'remote',
      host: host.name,
      hint: 'see what stopped it (journalctl -u cplb-agent, /var/log/cplb-agent.log), then run `cplbctl reset` again',
    });
}

/**
 * Hosts that hold no VIP go first, all at once; holders last, so a VIP does not hop from host to
 * host while the others are taken down one by one.
 */
export const resetHostsPhase: Phase<ApplyState, Host> = {
  title: 'Remove cplb from hosts',
  async run(ctx) {
    const holds = (h: Host) =>
      (ctx.state.facts.get(h.name)?.interfaces ?? []).some((i) => i.vipsHeld.length > 0);
    await forEachHost(
      ctx,
      ctx.hosts.filter((h) => !holds(h)),
      resetOne,
    );
    await forEachHost(ctx, ctx.hosts.filter(holds), resetOne);
  },
  async dryRun(ctx) {
    await forEachHost(ctx, ctx.hosts, resetOne);
  },
};

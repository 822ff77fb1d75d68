import type { ApplyState } from '../src/apply/state.js';
import { remoteOf } from '../src/apply/state.js';
import { readHostFacts } from '../src/apply/facts.js';
import type { Host } from '../src/config/types.js';
import { perHost } from '../src/pipeline/index.js';
import { resolveInterface } from '../src/plan/resolve.js';

/**
 * Read under the lock (in the lock's own round trip): what another run changed before we held it must
 * not leak into the plan.
 */
export const gatherFactsPhase = perHost<ApplyState, Host>({
  title: 'Gather host facts',
  readOnly: true,
  async run(host, ctx) {
    const facts = await readHostFacts(
      remoteOf(ctx.state, host),
      host,
      ctx.state.cluster,
      ctx.state.osFacts.get(host.name) ?? '',
      ctx.state.netFacts.get(host.name),
    );
    ctx.state.facts.set(host.name, facts);
    ctx.log.info(`using ${facts.hostname} as hostname`);
    for (const inst of ctx.state.cluster.cplb.vrrpInstances) {
      const nic = resolveInterface(host, inst, facts);
      if (nic.ok)
        ctx.log.info(`${inst.name}: using ${nic.value.iface.name} (${nic.value.via}) as private interface`);
    }
    const held = facts.interfaces.flatMap((i) => i.vipsHeld);
    if (held.length) ctx.log.info(`holds ${held.join(', ')} now`);
  },
});

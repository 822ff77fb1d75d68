import type { ApplyState } from '../src/apply/state.js';
import type { Host } from '../src/config/types.js';
import { acquireOn, releaseOn } from '../src/apply/lock.js';
import { forEachHost, type Phase } from '../src/pipeline/index.js';

/**
 * Taken even in a dry run: a dry run reads what another apply may be changing. The lock is
 * refreshed every ttl/3 while held, so only a dead run's lock ever goes stale.
 *
 * The first host in name order is a gate: it is locked alone, the others only once it is held.
 * Two runs racing over the same hosts thus meet on the gate and exactly one gets through; taken all
 * at once, each could win some hosts and both would fail.
 */
export const acquireLockPhase: Phase<ApplyState, Host> = {
  title: 'Acquire exclusive host lock',
  readOnly: true,
  async run(ctx) {
    const order = [...ctx.hosts].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const gate = order[0];
    let gateHeld!: (held: boolean) => void;
    const gateOpen = new Promise<boolean>((resolve) => (gateHeld = resolve));
    // The gate first in the list: a concurrency limit then never parks it behind hosts waiting for it.
    await forEachHost(ctx, order, async (host, hctx) => {
      if (host !== gate) {
        if (!(await gateOpen)) return hctx.log.debug(`not attempted: ${gate?.name} is locked`);
        return acquireOn(host, hctx);
      }
      try {
        await acquireOn(host, hctx);
        gateHeld(true);
      } catch (err) {
        gateHeld(false);
        throw err;
      }
    });
  },
  // Released here on every failure path; the Release phase releases it on success.
  async cleanup(ctx) {
    await forEachHost(ctx, ctx.hosts, (host) => releaseOn(ctx.state, host), { reportErrors: false });
  },
};

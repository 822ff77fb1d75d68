import type { ApplyState } from '../src/apply/state.js';
import { remoteOf } from '../src/apply/state.js';
import type { Host } from '../src/config/types.js';
import { CplbError } from '../src/core/errors.js';
import type { Phase } from '../src/pipeline/index.js';
import { diagnoseHolders } from '../src/verify/diagnose.js';
import {
  holdersOf,
  judge,
  notYetReloaded,
  verifyTimeoutMs,
  type HostStatus,
} from '../src/verify/agent-status.js';
import { readAgentOnly } from '../src/verify/host-snapshot.js';

const POLL_MS = 250;

export const verifyVipPhase: Phase<ApplyState, Host> = {
  title: 'Verify the virtual IPs',
  async run(ctx) {
    const { cluster } = ctx.state;
    // The agents' status files, read with `cat`: polling 30 hosts costs them no process of the agent's.
    const read = () =>
      Promise.all(
        cluster.controllers.map(async (h): Promise<HostStatus> => {
          const remote = remoteOf(ctx.state, h);
          const agent = await readAgentOnly(remote);
          return agent.ok
            ? { host: remote.name, ok: true, status: agent.status }
            : { host: remote.name, ok: false, error: agent.error };
        }),
      );
    const deadline = Date.now() + verifyTimeoutMs(ctx.state);
    let statuses: HostStatus[] = [];
    let verdict = { ok: false, problems: ['not checked'] };
    while (!ctx.signal.aborted) {
      statuses = await read();
      const pending = notYetReloaded(ctx.state, statuses);
      verdict = pending.length ? { ok: false, problems: pending } : judge(cluster, statuses);
      if (verdict.ok || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
    if (!verdict.ok) {
      const diagnosis = await diagnoseHolders(ctx.state, statuses);
      throw new CplbError(
        `the cluster is deployed but not healthy:\n  ${[...verdict.problems, ...diagnosis].join('\n  ')}`,
        {
          code: 'VIP_NOT_HEALTHY',
          fault: 'unhealthy',
          phase: 'Verify the virtual IPs',
          hint: 'run `cplbctl status` to watch it, or `cplbctl apply` again once the cause is fixed',
        },
      );
    }
    for (const h of holdersOf(cluster, statuses))
      ctx.logFor(h.holders[0]!).info(`holds ${h.vip} (${h.instance})`);
  },
};

import type { ApplyState } from '../src/apply/state.js';
import { remoteOf } from '../src/apply/state.js';
import type { Host } from '../src/config/types.js';
import { CplbError } from '../src/core/errors.js';
import {
  acquireScript,
  LOCK_DIR,
  parseAcquire,
  parseRefresh,
  refreshScript,
  releaseScript,
} from '../src/lock/host-lock.js';
import { SECTION_MARK } from '../src/contract/script.js';
import { NET_SCRIPT } from '../src/plan/parse-facts.js';
import { forEachHost, type HostContext, type Phase } from '../src/pipeline/index.js';

const refreshers = new WeakMap<ApplyState, NodeJS.Timeout>();

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

/** Takes the lock and, in the same round trip, reads the network facts Gather needs under it. */
async function acquireOn(host: Host, ctx: HostContext<ApplyState, Host>): Promise<void> {
  const { owner, ttlSeconds, held } = ctx.state.lock;
  const before = Date.now();
  const res = await remoteOf(ctx.state, host).exec(acquireScript(owner, ttlSeconds, LOCK_DIR, NET_SCRIPT), {
    timeoutMs: 20_000,
  });
  const result = parseAcquire(res.stdout, SECTION_MARK);
  if (!result.acquired && result.refused) {
    throw new CplbError(`cannot lock: ${result.refused}`, {
      code: 'HOST_LOCK_UNSAFE',
      fault: 'remote',
      host: host.name,
      hint: `the lock lives in ${LOCK_DIR}, which only root may write; whoever made it otherwise may forge or block the lock`,
    });
  }
  if (!result.acquired) {
    const h = result.holder;
    throw new CplbError(
      h
        ? `locked by ${h.owner} (pid ${h.pid}, \`${h.command}\`, since ${h.startedAt}; last refreshed ${result.ageSeconds}s ago)`
        : `locked by another cplbctl run (owner unknown, ${result.ageSeconds}s old)`,
      {
        code: 'HOST_LOCKED',
        fault: 'remote',
        host: host.name,
        hint: `wait for it to finish; a lock not refreshed for ${ttlSeconds}s is stale and is broken automatically`,
      },
    );
  }
  held.add(host.name);
  ctx.state.netFacts.set(host.name, {
    stdout: res.stdout.slice(res.stdout.indexOf(SECTION_MARK)),
    localMs: Math.round((before + Date.now()) / 2),
  });
  if (result.brokeStale)
    ctx.log.warn(
      `broke a stale lock of ${result.brokeStale.owner} (pid ${result.brokeStale.pid}), unrefreshed for ${result.brokeStale.ageSeconds}s`,
    );
  startRefresher(ctx.state);
}

export async function releaseOn(state: ApplyState, host: Host): Promise<void> {
  if (!state.lock.held.has(host.name)) return;
  state.lock.held.delete(host.name);
  if (state.lock.held.size === 0) stopRefresher(state);
  const remote = state.remotes.get(host.name);
  await remote?.exec(releaseScript(state.lock.owner.token), { timeoutMs: 10_000, allowFailure: true });
}

/**
 * One refresh of every held lock. A host that answers `lost` marks the run's lock lost (remembering
 * who took it): assertLockHeld then stops the run before its next change. A refresh that cannot
 * reach the host proves nothing and is left to the next round.
 */
export async function refreshLocks(state: ApplyState): Promise<void> {
  await Promise.all(
    [...state.lock.held].map(async (name) => {
      const res = await state.remotes
        .get(name)
        ?.exec(refreshScript(state.lock.owner.token), { timeoutMs: 10_000, allowFailure: true })
        .catch(() => undefined);
      if (!res || res.exitCode !== 0) return;
      const answer = parseRefresh(res.stdout);
      if (answer.state !== 'lost' || !state.lock.held.has(name)) return;
      state.lock.held.delete(name);
      state.lock.lost ??= { host: name, holder: answer.holder };
    }),
  );
}

function startRefresher(state: ApplyState): void {
  if (refreshers.has(state)) return;
  const every = Math.max(1, state.lock.ttlSeconds / 3) * 1000;
  const timer = setInterval(() => void refreshLocks(state), every);
  timer.unref();
  refreshers.set(state, timer);
}

function stopRefresher(state: ApplyState): void {
  clearInterval(refreshers.get(state));
  refreshers.delete(state);
}

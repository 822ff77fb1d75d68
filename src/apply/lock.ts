/** The run's lock on each host: taken by the Acquire phase, refreshed while held, released by Release or a cleanup. */
import type { Host } from '../config/types.js';
import { SECTION_MARK } from '../contract/script.js';
import { CplbError } from '../core/errors.js';
import {
  acquireScript,
  LOCK_DIR,
  parseAcquire,
  parseRefresh,
  refreshScript,
  releaseScript,
} from '../lock/host-lock.js';
import { NET_SCRIPT } from '../plan/parse-facts.js';
import type { HostContext } from '../pipeline/index.js';
import { remoteOf, type ApplyState } from './state.js';

/** Takes the lock and, in the same round trip, reads the network facts Gather needs under it. */
export async function acquireOn(host: Host, ctx: HostContext<ApplyState, Host>): Promise<void> {
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
async function refreshLocks(state: ApplyState): Promise<void> {
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

/** The lock is refreshed every ttl/3 while held, so only a dead run's lock ever goes stale. */
function startRefresher(state: ApplyState): void {
  if (state.lock.refresher) return;
  const every = Math.max(1, state.lock.ttlSeconds / 3) * 1000;
  state.lock.refresher = setInterval(() => void refreshLocks(state), every);
  state.lock.refresher.unref();
}

function stopRefresher(state: ApplyState): void {
  clearInterval(state.lock.refresher);
  state.lock.refresher = undefined;
}

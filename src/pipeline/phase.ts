/**
 * What a phase is. One phase per file under phases/; the runner (runner.ts) runs them in order.
 * Most phases touch every host: write them with perHost(), which runs hosts concurrently, waits for all
 * of them and fails with one HostsFailedError naming every host that failed.
 */
import pLimit from 'p-limit';
import type { EventData, MessageInput } from './events.js';
import { cancelledError, HostsFailedError, type HostFailure } from './errors.js';

/** The runner needs only a name per host ("address:port"); the real host type is a type parameter. */
export interface HostLike {
  readonly name: string;
}

export interface Logger {
  debug(msg: string, data?: EventData): void;
  info(msg: string, data?: EventData): void;
  warn(msg: string, data?: EventData): void;
}

export interface PhaseContext<S = unknown, H extends HostLike = HostLike> {
  /** Shared state the phases fill in as they go (connections, facts, the plan...); from `state` in runPipeline. */
  readonly state: S;
  readonly hosts: readonly H[];
  /** True in a dry run, also inside a readOnly phase's run(). */
  readonly dryRun: boolean;
  /** Aborted on cancellation (Ctrl-C). Pass it to anything slow. Cleanups get a fresh one. */
  readonly signal: AbortSignal;
  /** The run's per-phase host concurrency limit. */
  readonly concurrency: number;
  /** Title of the phase this context belongs to. */
  readonly phase: string;
  /** Messages about the run as a whole (no host). */
  readonly log: Logger;
  logFor(host: HostLike | string): Logger;
  emit(message: MessageInput): void;
  /**
   * Reports an error as a host-error event now, e.g. when a phase keeps going. If the same error object
   * is thrown later, the runner does not report it twice.
   */
  reportError(err: unknown, host?: string): void;
}

/** What a per-host function sees: the run's context, the host, and `log` bound to that host. */
export interface HostContext<S = unknown, H extends HostLike = HostLike> extends PhaseContext<S, H> {
  readonly host: H;
}

export interface Phase<S = unknown, H extends HostLike = HostLike> {
  readonly title: string;
  /**
   * run() changes nothing, so a dry run calls it as is. A phase that is neither readOnly nor has
   * dryRun() is skipped in a dry run (the safe default: a forgotten flag never changes a host).
   */
  readonly readOnly?: boolean;
  /** False skips the phase (phase-end status "skipped"); its cleanup does not run. */
  shouldRun?(ctx: PhaseContext<S, H>): boolean;
  run(ctx: PhaseContext<S, H>): Promise<void>;
  /** Called instead of run() in a dry run: report what would change. */
  dryRun?(ctx: PhaseContext<S, H>): Promise<void>;
  /** Runs after the whole run (reverse phase order), also after a failure or cancellation. */
  cleanup?(ctx: PhaseContext<S, H>): Promise<void>;
}

export interface PerHostPhaseSpec<S, H extends HostLike> {
  readonly title: string;
  readonly readOnly?: boolean;
  shouldRun?(ctx: PhaseContext<S, H>): boolean;
  /** The hosts this phase touches (default: all of them). */
  hosts?(ctx: PhaseContext<S, H>): readonly H[];
  /** Overrides the run's concurrency, e.g. 1 for a rolling restart that must keep the VIP up. */
  readonly concurrency?: number;
  /** Start no further hosts once one has failed (hosts already running still finish). */
  readonly failFast?: boolean;
  run(host: H, ctx: HostContext<S, H>): Promise<void>;
  dryRun?(host: H, ctx: HostContext<S, H>): Promise<void>;
  /**
   * Runs for every host the phase targets, whether or not run() reached it (cancellation, failFast):
   * make it tolerate "nothing to clean up".
   */
  cleanup?(host: H, ctx: HostContext<S, H>): Promise<void>;
}

export function perHost<S, H extends HostLike>(spec: PerHostPhaseSpec<S, H>): Phase<S, H> {
  const targets = (ctx: PhaseContext<S, H>) => (spec.hosts ? spec.hosts(ctx) : ctx.hosts);
  // Called as methods, so a spec's `this` still works.
  const run = (host: H, ctx: HostContext<S, H>) => spec.run(host, ctx);
  const dryRun = spec.dryRun && ((host: H, ctx: HostContext<S, H>) => spec.dryRun!(host, ctx));
  const cleanup = spec.cleanup && ((host: H, ctx: HostContext<S, H>) => spec.cleanup!(host, ctx));
  return {
    title: spec.title,
    readOnly: spec.readOnly,
    shouldRun: spec.shouldRun && ((ctx) => spec.shouldRun!(ctx)),
    run: (ctx) => forEachHost(ctx, targets(ctx), run, spec),
    dryRun: dryRun && ((ctx) => forEachHost(ctx, targets(ctx), dryRun, spec)),
    // Cleanup failures become warnings (the runner's job), not host errors.
    cleanup:
      cleanup &&
      ((ctx) =>
        forEachHost(ctx, targets(ctx), cleanup, { concurrency: spec.concurrency, reportErrors: false })),
  };
}

/** Runs `action` on every host with bounded concurrency, waits for all, throws one error naming every failure. */
export async function forEachHost<S, H extends HostLike>(
  ctx: PhaseContext<S, H>,
  hosts: readonly H[],
  action: (host: H, ctx: HostContext<S, H>) => Promise<void>,
  opts: { concurrency?: number; failFast?: boolean; reportErrors?: boolean } = {},
): Promise<void> {
  const failures: (HostFailure & { index: number })[] = [];
  let stopped = false;
  const runOne = async (host: H, index: number): Promise<void> => {
    if (ctx.signal.aborted) return;
    if (stopped) {
      ctx.logFor(host).warn('not attempted: an earlier host failed');
      return;
    }
    try {
      await action(host, forHost(ctx, host));
    } catch (error) {
      // After Ctrl-C, hosts fail because their commands were aborted: that is not news.
      if (ctx.signal.aborted) return;
      failures.push({ host: host.name, error, index });
      if (opts.reportErrors !== false) ctx.reportError(error, host.name);
      if (opts.failFast) stopped = true;
    }
  };
  const concurrency = Math.max(1, opts.concurrency ?? ctx.concurrency);
  if (concurrency >= hosts.length) {
    await Promise.all(hosts.map(runOne));
  } else {
    await pLimit(concurrency).map(hosts, runOne);
  }
  if (ctx.signal.aborted) throw cancelledError(ctx.phase);
  if (failures.length > 0) {
    failures.sort((a, b) => a.index - b.index);
    throw new HostsFailedError(
      ctx.phase,
      failures.map(({ host, error }) => ({ host, error })),
      hosts.length,
    );
  }
}

function forHost<S, H extends HostLike>(ctx: PhaseContext<S, H>, host: H): HostContext<S, H> {
  return { ...ctx, host, log: ctx.logFor(host) };
}

/**
 * Runs phases in order, turns everything that happens into events, and always runs the cleanups of the
 * phases that started (in reverse order), after success, failure or Ctrl-C alike.
 */
import { defaultMaxListeners, setMaxListeners } from 'node:events';
import { CplbError } from '../core/errors.js';
import {
  SKIP_DRY_RUN,
  SKIP_NOTHING_TO_DO,
  type PhaseStatus,
  type PipelineEvent,
  type Reporter,
} from './events.js';
import { cancelledError, HostsFailedError, messageOf, summarizeError, toCplbError } from './errors.js';
import { createPhaseContext } from './context.js';
import type { HostLike, Phase, PhaseContext } from './phase.js';
import { createRedactor, type Redactor } from '../core/redact.js';

export const DEFAULT_CONCURRENCY = 30;

export interface RunPipelineOptions<S, H extends HostLike> {
  readonly phases: readonly Phase<S, H>[];
  readonly hosts: readonly H[];
  /** Shared state handed to every phase as ctx.state. */
  readonly state: S;
  readonly dryRun?: boolean;
  /** Hosts a perHost phase runs at once (default 30). */
  readonly concurrency?: number;
  /** Abort to cancel (see abortOnInterrupt): running phases see it, cleanups run, the run fails 'cancelled'. */
  readonly signal?: AbortSignal;
  /** Single-use: the runner closes them after run-end. */
  readonly reporters?: readonly Reporter[];
  /** Strings replaced with [REDACTED] in every event (authPass values, passphrases). */
  readonly secrets?: Iterable<string | undefined | null>;
  /** After cancellation, how long to wait for the running phase to settle before cleaning up (default 3 s). */
  readonly abortGraceMs?: number;
  /** How long one phase's cleanup may take before the runner moves on (default 15 s). */
  readonly cleanupTimeoutMs?: number;
  /**
   * Called before every phase starts; what it throws fails the run there (e.g. the host lock was
   * taken by another run: nothing may change after that).
   */
  readonly beforePhase?: () => void;
}

export interface PhaseOutcome {
  readonly title: string;
  readonly status: PhaseStatus;
  readonly durationMs: number;
}

export interface RunResult {
  readonly durationMs: number;
  readonly phases: readonly PhaseOutcome[];
}

/** Resolves when every phase succeeded; otherwise throws a CplbError after cleanups and run-end. */
export async function runPipeline<S, H extends HostLike>(opts: RunPipelineOptions<S, H>): Promise<RunResult> {
  const started = performance.now();
  const elapsed = (since: number) => Math.round((performance.now() - since) * 1000) / 1000;
  const dryRun = opts.dryRun ?? false;
  const concurrency = Math.max(1, opts.concurrency ?? DEFAULT_CONCURRENCY);
  const signal = opts.signal ?? new AbortController().signal;
  // Every host of a phase listens on the run's signal at once: 30 hosts are not a listener leak.
  setMaxListeners(Math.max(defaultMaxListeners, concurrency + 10), signal);
  const redactor = createRedactor(opts.secrets ?? []);
  const emit = createEmitter(opts.reporters ?? [], redactor);
  const reported = new WeakSet<object>();
  const outcomes: PhaseOutcome[] = [];
  const toClean: { phase: Phase<S, H>; ctx: PhaseContext<S, H> }[] = [];

  const contextFor = (phase: string): PhaseContext<S, H> =>
    createPhaseContext({
      phase,
      state: opts.state,
      hosts: opts.hosts,
      dryRun,
      signal,
      concurrency,
      emit,
      reported,
    });

  emit({
    type: 'run-start',
    time: Date.now(),
    dryRun,
    concurrency,
    hosts: opts.hosts.map((h) => h.name),
    phases: opts.phases.map((p) => p.title),
  });

  let failure: CplbError | undefined;
  for (const [index, phase] of opts.phases.entries()) {
    if (signal.aborted) {
      failure = cancelledError(phase.title);
      break;
    }
    const phaseStarted = performance.now();
    const end = (status: PhaseStatus, reason?: string) => {
      const durationMs = elapsed(phaseStarted);
      outcomes.push({ title: phase.title, status, durationMs });
      const why = reason ? { reason } : {};
      emit({ type: 'phase-end', time: Date.now(), phase: phase.title, index, status, durationMs, ...why });
    };
    const ctx = contextFor(phase.title);
    try {
      opts.beforePhase?.();
      if (phase.shouldRun && !phase.shouldRun(ctx)) {
        end('skipped', SKIP_NOTHING_TO_DO);
        continue;
      }
      const action = dryRun ? (phase.dryRun ?? (phase.readOnly ? phase.run : undefined)) : phase.run;
      if (!action) {
        end('skipped', SKIP_DRY_RUN);
        continue;
      }
      emit({
        type: 'phase-start',
        time: Date.now(),
        phase: phase.title,
        index,
        dryRun: action === phase.dryRun,
      });
      if (phase.cleanup) toClean.push({ phase, ctx });
      await settleOrAbort(action.call(phase, ctx), signal, opts.abortGraceMs ?? 3000);
      if (signal.aborted) throw cancelledError(phase.title);
      end('ok');
    } catch (err) {
      failure = signal.aborted ? cancelledError(phase.title, err) : toCplbError(err, phase.title);
      if (!signal.aborted) reportUnreported(err, ctx, reported);
      end('failed', failure.fault === 'cancelled' ? 'cancelled' : undefined);
      break;
    }
  }

  for (const { phase, ctx: phaseCtx } of toClean.reverse()) {
    const cleanupSignal = AbortSignal.timeout(opts.cleanupTimeoutMs ?? 15_000);
    const ctx = { ...phaseCtx, signal: cleanupSignal };
    try {
      ctx.log.debug(`cleanup: ${phase.title}`);
      await settleOrAbort(phase.cleanup!(ctx), cleanupSignal, 0);
      if (cleanupSignal.aborted) ctx.log.warn(`cleanup of ${phase.title} timed out`);
    } catch (err) {
      // A failed cleanup must not hide why the run failed, nor fail a run that worked: warn.
      const failures = err instanceof HostsFailedError ? err.failures : [{ host: undefined, error: err }];
      for (const { host, error } of failures) {
        (host ? ctx.logFor(host) : ctx.log).warn(`cleanup of ${phase.title} failed: ${messageOf(error)}`);
      }
    }
  }

  const durationMs = elapsed(started);
  emit({
    type: 'run-end',
    time: Date.now(),
    ok: !failure,
    dryRun,
    durationMs,
    ...(failure ? { error: summarizeError(failure) } : {}),
  });
  await Promise.allSettled((opts.reporters ?? []).map((r) => r.close?.()));
  if (failure) throw redactThrown(failure, redactor);
  return { durationMs, phases: outcomes };
}

/** Host errors thrown out of a phase reach reporters once, even when perHost already reported them. */
function reportUnreported(err: unknown, ctx: Pick<PhaseContext, 'reportError'>, reported: WeakSet<object>) {
  if (err instanceof HostsFailedError) {
    for (const { host, error } of err.failures) ctx.reportError(error, host);
    reported.add(err);
  } else if (typeof err !== 'object' || err === null || !reported.has(err)) {
    ctx.reportError(err);
  }
}

/**
 * Waits for the phase; once `signal` aborts, waits at most `graceMs` more, so a phase that ignores
 * the signal cannot keep Ctrl-C from reaching the cleanups.
 */
async function settleOrAbort(work: Promise<void>, signal: AbortSignal, graceMs: number): Promise<void> {
  let onAbort: (() => void) | undefined;
  let timer: NodeJS.Timeout | undefined;
  const gaveUp = new Promise<void>((resolve) => {
    onAbort = () => (timer = setTimeout(resolve, graceMs));
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    await Promise.race([work, gaveUp]);
  } finally {
    signal.removeEventListener('abort', onAbort!);
    clearTimeout(timer);
  }
}

/** Redacts, then hands each event to every reporter; a reporter that throws is dropped, not fatal. */
function createEmitter(reporters: readonly Reporter[], redactor: Redactor) {
  const live = [...reporters];
  const emit = (event: PipelineEvent): void => {
    const safe = redactor.active ? redactor.deep(event) : event;
    for (const reporter of [...live]) {
      try {
        reporter.onEvent(safe);
      } catch (err) {
        live.splice(live.indexOf(reporter), 1);
        if (safe.type !== 'run-end') {
          emit({
            type: 'host-message',
            time: Date.now(),
            level: 'warn',
            msg: `a reporter failed: ${messageOf(err)}`,
          });
        }
      }
    }
  };
  return emit;
}

/**
 * The CLI may print what it catches: redact, in place, the messages of the thrown error, its causes and
 * the host errors it aggregates.
 */
function redactThrown(err: CplbError, redactor: Redactor): CplbError {
  if (!redactor.active) return err;
  const seen = new Set<unknown>();
  const visit = (value: unknown): void => {
    if (!(value instanceof Error) || seen.has(value)) return;
    seen.add(value);
    value.message = redactor.text(value.message);
    if (value.stack) value.stack = redactor.text(value.stack);
    if (value instanceof AggregateError) value.errors.forEach(visit);
    visit(value.cause);
  };
  visit(err);
  return err;
}

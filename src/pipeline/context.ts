/** Builds the context a phase sees: shared state, hosts, the signal, and loggers that emit events. */
import { CplbError } from '../core/errors.js';
import type { MessageInput, PipelineEvent } from './events.js';
import { summarizeError } from './errors.js';
import type { HostLike, Logger, PhaseContext } from './phase.js';

export interface PhaseContextInit<S, H extends HostLike> {
  readonly phase: string;
  readonly state: S;
  readonly hosts: readonly H[];
  readonly dryRun: boolean;
  readonly signal: AbortSignal;
  readonly concurrency: number;
  readonly emit: (event: PipelineEvent) => void;
  /** Errors already turned into host-error events (shared by the whole run). */
  readonly reported: WeakSet<object>;
}

export function createPhaseContext<S, H extends HostLike>(init: PhaseContextInit<S, H>): PhaseContext<S, H> {
  const { phase, emit, reported } = init;
  const message = ({ level, msg, host, data }: MessageInput) =>
    emit({
      type: 'host-message',
      time: Date.now(),
      level,
      phase,
      msg,
      ...(host ? { host } : {}),
      ...(data ? { data } : {}),
    });
  const logFor = (host?: HostLike | string): Logger => {
    const name = typeof host === 'string' ? host : host?.name;
    return {
      debug: (msg, data) => message({ level: 'debug', msg, host: name, data }),
      info: (msg, data) => message({ level: 'info', msg, host: name, data }),
      warn: (msg, data) => message({ level: 'warn', msg, host: name, data }),
    };
  };
  const reportError = (err: unknown, host?: string) => {
    if (typeof err === 'object' && err !== null) {
      if (reported.has(err)) return;
      reported.add(err);
    }
    const where = host ?? (err instanceof CplbError ? err.host : undefined);
    emit({
      type: 'host-error',
      time: Date.now(),
      phase,
      ...(where ? { host: where } : {}),
      ...summarizeError(err),
    });
  };
  return {
    state: init.state,
    hosts: init.hosts,
    dryRun: init.dryRun,
    signal: init.signal,
    concurrency: init.concurrency,
    phase,
    log: logFor(),
    logFor,
    emit: message,
    reportError,
  };
}

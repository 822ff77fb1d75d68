/**
 * Everything the engine has to say, as data. The engine never prints: reporters turn these events into
 * listr2 tasks, logfmt lines or JSON. Secrets are redacted before any reporter sees an event.
 */
import type { Fault } from '../core/errors.js';

export type MessageLevel = 'debug' | 'info' | 'warn';
export type LogLevel = MessageLevel | 'error';

/** Structured extras a message may carry (logfmt prints them as keys, JSON as `data`). */
export type EventData = Readonly<Record<string, string | number | boolean | null>>;

interface EventBase {
  /** Epoch milliseconds. */
  readonly time: number;
}

export interface RunStartEvent extends EventBase {
  readonly type: 'run-start';
  readonly dryRun: boolean;
  readonly hosts: readonly string[];
  /** Every phase title in order, including ones that will turn out to be skipped. */
  readonly phases: readonly string[];
  readonly concurrency: number;
}

export interface PhaseStartEvent extends EventBase {
  readonly type: 'phase-start';
  readonly phase: string;
  /** Position in RunStartEvent.phases (titles need not be unique). */
  readonly index: number;
  /** True when the phase's dryRun() runs instead of run(). */
  readonly dryRun: boolean;
}

export type PhaseStatus = 'ok' | 'failed' | 'skipped';

/** PhaseEndEvent.reason values the runner sets. */
export const SKIP_NOTHING_TO_DO = 'nothing to do';
export const SKIP_DRY_RUN = 'dry run: changes hosts';

export interface PhaseEndEvent extends EventBase {
  readonly type: 'phase-end';
  readonly phase: string;
  readonly index: number;
  readonly status: PhaseStatus;
  readonly durationMs: number;
  /** Why a phase was skipped, e.g. "dry run: changes hosts". */
  readonly reason?: string;
}

export interface HostMessageEvent extends EventBase {
  readonly type: 'host-message';
  readonly level: MessageLevel;
  readonly msg: string;
  /** Absent for messages about the run as a whole. */
  readonly host?: string;
  readonly phase?: string;
  readonly data?: EventData;
}

/** The parts of an error every reporter shows. */
export interface ErrorSummary {
  readonly msg: string;
  readonly code: string;
  readonly fault: Fault;
  readonly hint?: string;
  /** Messages of the `cause` chain, outermost first. */
  readonly causes?: readonly string[];
}

export interface HostErrorEvent extends EventBase, ErrorSummary {
  readonly type: 'host-error';
  readonly host?: string;
  readonly phase?: string;
}

export interface RunEndEvent extends EventBase {
  readonly type: 'run-end';
  readonly ok: boolean;
  readonly dryRun: boolean;
  readonly durationMs: number;
  readonly error?: ErrorSummary;
}

export type PipelineEvent =
  RunStartEvent | PhaseStartEvent | PhaseEndEvent | HostMessageEvent | HostErrorEvent | RunEndEvent;

export type PipelineEventType = PipelineEvent['type'];

/** What a phase passes to `ctx.emit`: the runner adds type, time and phase. */
export interface MessageInput {
  readonly level: MessageLevel;
  readonly msg: string;
  readonly host?: string;
  readonly data?: EventData;
}

/** Receives every (already redacted) event of one run. Reporters are single-use: one run each. */
export interface Reporter {
  onEvent(event: PipelineEvent): void;
  /** Called once by the runner after run-end: finish rendering, flush and close files. */
  close?(): Promise<void>;
}

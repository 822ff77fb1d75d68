/** The phase runner, its events and reporters: what commands and phases import. */
export type * from './events.js';
export { HostsFailedError, cancelledError, summarizeError, type HostFailure } from './errors.js';
export { abortOnInterrupt, runInterruptible, type Interrupt } from './interrupt.js';
export {
  forEachHost,
  perHost,
  type HostContext,
  type HostLike,
  type Logger,
  type PerHostPhaseSpec,
  type Phase,
  type PhaseContext,
} from './phase.js';
export { createRedactor, REDACTED, type Redactor } from '../core/redact.js';
export {
  DEFAULT_CONCURRENCY,
  runPipeline,
  type PhaseOutcome,
  type RunPipelineOptions,
  type RunResult,
} from './runner.js';
export {
  createReporters,
  type CreateReportersOptions,
  type OutputFormat,
  type ReporterSet,
} from './reporters/index.js';
export { debugLogPath, logDirectory } from './reporters/logfile.js';
export {
  eventLineSchema,
  eventsJsonSchema,
  EVENTS_SCHEMA_VERSION,
  type EventLine,
} from './reporters/event-schema.js';

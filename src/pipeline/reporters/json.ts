/**
 * `--output json`: one JSON object per line (ndjson). Every line has `type`, `time` (ISO 8601), `level`
 * and `msg` first, then `phase`/`host` when the event has them, then the event's own fields
 * (run-start: schemaVersion, dryRun, hosts, phases, concurrency; phase-start: index, dryRun; phase-end: index, status,
 * durationMs, reason; host-message: data; host-error: code, fault, hint, causes; run-end: ok, dryRun,
 * durationMs, error, logFile).
 */
import type { LogLevel, PipelineEvent, Reporter } from '../events.js';
import { describeEvent } from './describe.js';
import { EVENTS_SCHEMA_VERSION } from './event-schema.js';
import type { TextSink } from './logfmt.js';

export interface JsonOptions {
  readonly debug?: boolean;
  readonly logFile?: string;
}

function eventToJson(event: PipelineEvent, opts: JsonOptions = {}): string {
  const [headline] = describeEvent(event);
  const { type, time, ...fields } = event;
  const { phase, host, ...rest } = fields as { phase?: string; host?: string; msg?: string; level?: string };
  delete rest.msg;
  delete rest.level;
  const line: Record<string, unknown> = {
    type,
    time: new Date(time).toISOString(),
    level: jsonLevel(event),
    // host-error and host-message keep their own msg: reporters add the host prefix, JSON has a field.
    msg: 'msg' in event ? event.msg : (headline?.msg ?? type),
    ...(phase === undefined ? {} : { phase }),
    ...(host === undefined ? {} : { host }),
    // The run's first line names the version of this contract (event-schema.ts).
    ...(type === 'run-start' ? { schemaVersion: EVENTS_SCHEMA_VERSION } : {}),
    ...rest,
  };
  if (event.type === 'run-end' && opts.logFile) line.logFile = opts.logFile;
  return JSON.stringify(line);
}

export function createJsonReporter(sink: TextSink, opts: JsonOptions = {}): Reporter {
  return {
    onEvent(event) {
      // Structural events always print; only debug messages wait for --debug.
      if (event.type === 'host-message' && event.level === 'debug' && !opts.debug) return;
      sink.write(eventToJson(event, opts) + '\n');
    },
  };
}

/** Structural events are never "debug" in JSON: a consumer filtering on level must still see them. */
function jsonLevel(event: PipelineEvent): LogLevel {
  switch (event.type) {
    case 'host-message':
      return event.level;
    case 'host-error':
      return 'error';
    case 'phase-end':
      return event.status === 'failed' ? 'error' : 'info';
    case 'run-end':
      return event.ok ? 'info' : 'error';
    default:
      return 'info';
  }
}

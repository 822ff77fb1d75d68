/**
 * logfmt, as k0sctl (logrus) prints it: `level=info msg="==> Running phase: Gather host facts"`.
 * Used when stdout is not a TTY (CI) and for the debug log file (with time= and every debug line).
 */
import type { PipelineEvent, Reporter } from '../events.js';
import { describeEvent, isShown } from './describe.js';
import { formatLogfmt, type LogfmtValue } from '../../contract/logfmt.js';

export interface LogfmtOptions {
  /** Print debug lines too. */
  readonly debug?: boolean;
  /** Lead each line with `time=<ISO 8601>`. */
  readonly time?: boolean;
  /** Add phase= to host lines (the debug log: which phase said what). */
  readonly phaseKeys?: boolean;
  readonly logFile?: string;
}

/** The lines (without newlines) one event prints. */
export function eventToLogfmt(event: PipelineEvent, opts: LogfmtOptions = {}): string[] {
  const out: string[] = [];
  for (const line of describeEvent(event, { logFile: opts.logFile })) {
    if (!isShown(line.level, opts.debug ?? false)) continue;
    const pairs: [string, LogfmtValue][] = [];
    if (opts.time) pairs.push(['time', new Date(event.time).toISOString()]);
    pairs.push(['level', line.level], ['msg', line.msg]);
    if (opts.phaseKeys && event.type === 'host-message' && event.phase) pairs.push(['phase', event.phase]);
    for (const [key, value] of Object.entries(line.data ?? {})) {
      if (value !== null) pairs.push([key, value]);
    }
    out.push(formatLogfmt(pairs));
  }
  return out;
}

export interface TextSink {
  write(text: string): unknown;
}

export function createLogfmtReporter(sink: TextSink, opts: LogfmtOptions = {}): Reporter {
  return {
    onEvent(event) {
      const lines = eventToLogfmt(event, opts);
      if (lines.length) sink.write(lines.join('\n') + '\n');
    },
  };
}

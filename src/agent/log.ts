/** logfmt on stderr: `time=... level=info msg="..." component=proxy key=value`, one line per event. */
import { formatLogfmt, type LogfmtValue } from '../contract/logfmt.js';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFields = Record<string, string | number | boolean | null | undefined>;

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export function formatLogLine(level: LogLevel, msg: string, fields: LogFields, now = new Date()): string {
  const pairs: [string, LogfmtValue][] = [
    ['time', now.toISOString()],
    ['level', level],
    ['msg', msg],
  ];
  for (const [key, value] of Object.entries(fields)) if (value !== undefined) pairs.push([key, value]);
  return formatLogfmt(pairs);
}

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  child(fields: LogFields): Logger;
  setLevel(level: LogLevel): void;
}

interface Sink {
  level: LogLevel;
  write: (line: string) => void;
}

function makeLogger(sink: Sink, bound: LogFields): Logger {
  const emit = (level: LogLevel, msg: string, fields?: LogFields) => {
    if (RANK[level] < RANK[sink.level]) return;
    sink.write(formatLogLine(level, msg, { ...bound, ...fields }) + '\n');
  };
  return {
    debug: (msg, fields) => emit('debug', msg, fields),
    info: (msg, fields) => emit('info', msg, fields),
    warn: (msg, fields) => emit('warn', msg, fields),
    error: (msg, fields) => emit('error', msg, fields),
    child: (fields) => makeLogger(sink, { ...bound, ...fields }),
    setLevel: (level) => {
      sink.level = level;
    },
  };
}

export function createLogger(
  level: LogLevel = 'info',
  write: (line: string) => void = (line) => process.stderr.write(line),
): Logger {
  return makeLogger({ level, write }, {});
}

export function errorText(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    return code && !err.message.includes(code) ? `${code}: ${err.message}` : err.message;
  }
  return String(err);
}

/** Picks the reporters for a run: one for the console (listr2 on a TTY, logfmt in CI, or JSON) plus the debug log. */
import type { Reporter } from '../events.js';
import { createJsonReporter } from './json.js';
import { createLogFileReporter, debugLogPath } from './logfile.js';
import { createLogfmtReporter } from './logfmt.js';
import { createTtyReporter } from './tty.js';

export type OutputFormat = 'auto' | 'logfmt' | 'json' | 'tty';

export interface CreateReportersOptions {
  /** `auto` (default): listr2 when the stream is a TTY, logfmt otherwise. */
  readonly output?: OutputFormat;
  /** Default: on unless NO_COLOR is set (non-empty). `--no-color` passes false. */
  readonly color?: boolean;
  /** Show debug events on the console (the log file always has them). */
  readonly debug?: boolean;
  /** Default process.stdout. */
  readonly stream?: NodeJS.WriteStream;
  /** The debug log's path; default `debugLogPath(command)`; false writes none (tests only). */
  readonly logFile?: string | false;
  /** Names the default log file, e.g. "apply". */
  readonly command?: string;
  readonly env?: NodeJS.ProcessEnv;
}

export interface ReporterSet {
  readonly reporters: Reporter[];
  readonly format: Exclude<OutputFormat, 'auto'>;
  /** Undefined when no log is written (logFile: false, or it could not be opened: the console says so). */
  readonly logFile?: string;
}

export function createReporters(opts: CreateReportersOptions = {}): ReporterSet {
  const env = opts.env ?? process.env;
  const stream = opts.stream ?? process.stdout;
  const format = resolveFormat(opts.output ?? 'auto', stream);
  const color = opts.color ?? !env.NO_COLOR;
  const debug = opts.debug ?? false;

  let logFile =
    opts.logFile === false
      ? undefined
      : (opts.logFile ?? debugLogPath(opts.command ?? 'run', new Date(), env));
  let fileReporter: Reporter | undefined;
  let logFileProblem: string | undefined;
  if (logFile) {
    try {
      fileReporter = createLogFileReporter(logFile);
    } catch (err) {
      logFileProblem = `cannot write the debug log ${logFile}: ${(err as Error).message}`;
      logFile = undefined;
    }
  }

  const screen: Reporter =
    format === 'json'
      ? createJsonReporter(stream, { debug, logFile })
      : format === 'logfmt'
        ? createLogfmtReporter(stream, { debug, logFile })
        : createTtyReporter({ stream, color, debug, logFile });
  if (logFileProblem)
    screen.onEvent({ type: 'host-message', time: Date.now(), level: 'warn', msg: logFileProblem });
  return { reporters: fileReporter ? [screen, fileReporter] : [screen], format, logFile };
}

function resolveFormat(output: OutputFormat, stream: NodeJS.WriteStream): ReporterSet['format'] {
  if (output !== 'auto') return output;
  // A pty with no size (script(1), some CI runners) wraps listr2's lines one letter per row.
  return stream.isTTY && (stream.columns ?? 0) > 0 ? 'tty' : 'logfmt';
}

/**
 * The words for each event, shared by the logfmt, JSON and debug-log reporters so they never disagree.
 * Lines read like k0sctl's: `==> Running phase: ...`, `[ssh] 10.0.0.1:22: ...`.
 */
import {
  SKIP_NOTHING_TO_DO,
  type ErrorSummary,
  type EventData,
  type LogLevel,
  type PipelineEvent,
} from '../events.js';

export interface Line {
  readonly level: LogLevel;
  readonly msg: string;
  /** Extra key=value pairs (logfmt) / fields (JSON). */
  readonly data?: EventData;
}

export interface DescribeOptions {
  /** The debug log's path, named when a run fails. */
  readonly logFile?: string;
}

/** The lines an event prints; the first is its headline (its level and msg in JSON). */
export function describeEvent(event: PipelineEvent, opts: DescribeOptions = {}): Line[] {
  switch (event.type) {
    case 'run-start': {
      const what = `${event.phases.length} phases on ${event.hosts.length} hosts (concurrency ${event.concurrency})`;
      const lines: Line[] = [{ level: 'debug', msg: `==> Starting: ${what}` }];
      if (event.dryRun) lines.push({ level: 'info', msg: '==> Dry run: no host will be changed' });
      return lines;
    }
    case 'phase-start':
      return [{ level: 'info', msg: `==> Running phase: ${event.phase}${event.dryRun ? ' (dry run)' : ''}` }];
    case 'phase-end': {
      if (event.status === 'skipped') {
        // A phase that is simply not needed is noise; one skipped because of the dry run is news.
        const level = event.reason === SKIP_NOTHING_TO_DO ? 'debug' : 'info';
        return [{ level, msg: `==> Skipping phase: ${event.phase} (${event.reason ?? 'skipped'})` }];
      }
      const outcome = event.status === 'ok' ? 'Finished' : 'Failed';
      return [
        {
          level: 'debug',
          msg: `==> ${outcome} phase: ${event.phase} in ${formatDuration(event.durationMs)}`,
        },
      ];
    }
    case 'host-message':
      return [
        {
          level: event.level,
          msg: hostPrefix(event.host) + event.msg,
          ...(event.data ? { data: event.data } : {}),
        },
      ];
    case 'host-error':
      return [
        {
          level: 'error',
          msg: hostPrefix(event.host) + errorText(event),
          data: { phase: event.phase ?? null, code: event.code },
        },
      ];
    case 'run-end': {
      const took = formatDuration(event.durationMs);
      if (event.ok) {
        return [
          {
            level: 'info',
            msg: `==> Finished in ${took}${event.dryRun ? ' (dry run: nothing was changed)' : ''}`,
          },
        ];
      }
      const cancelled = event.error?.fault === 'cancelled';
      const headline = cancelled
        ? `==> Cancelled after ${took}`
        : `==> Failed after ${took}: ${event.error ? errorText(event.error) : 'unknown error'}`;
      const lines: Line[] = [{ level: 'error', msg: headline }];
      if (opts.logFile) lines.push({ level: 'info', msg: `Debug log: ${opts.logFile}` });
      return lines;
    }
  }
}

export function errorText(error: ErrorSummary): string {
  const causes = error.causes?.length ? `: ${error.causes.join(': ')}` : '';
  return `${error.msg}${causes}${error.hint ? ` (hint: ${error.hint})` : ''}`;
}

function hostPrefix(host: string | undefined): string {
  return host ? `[ssh] ${host}: ` : '';
}

/** 850 → "850ms", 1234 → "1.2s", 75000 → "1m15s". */
function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const seconds = Math.round(ms / 1000);
  return `${Math.floor(seconds / 60)}m${seconds % 60}s`;
}

const RANK: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

export function isShown(level: LogLevel, debug: boolean): boolean {
  return RANK[level] >= (debug ? RANK.debug : RANK.info);
}

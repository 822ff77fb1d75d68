/**
 * The TTY view: listr2 driven purely by events. Each phase is a task whose promise settles when its
 * phase-end event arrives, so listr2 never decides success itself (its exitOnError:false subtasks would
 * paint a phase green when a host failed): the runner decides, this only draws. Host lines show under
 * the running task; warnings and cleanup lines print below the list once it is done.
 */
import {
  Listr,
  ListrDefaultRendererLogLevels,
  ListrLogger,
  ProcessOutput,
  type ListrDefaultRenderer,
  type ListrSimpleRenderer,
  type ListrTaskWrapper,
} from 'listr2';
import type { PipelineEvent, Reporter, RunEndEvent } from '../events.js';
import { describeEvent, errorText, isShown } from './describe.js';

export interface TtyOptions {
  readonly stream: NodeJS.WriteStream;
  /** listr2 hides stray writes to stderr while it draws; tests pass a stand-in. */
  readonly stderr?: NodeJS.WriteStream;
  readonly color?: boolean;
  readonly debug?: boolean;
  readonly logFile?: string;
  /** Host lines kept visible under a running phase. */
  readonly outputLines?: number;
}

type Task = ListrTaskWrapper<unknown, ListrDefaultRenderer, ListrSimpleRenderer>;

interface PhaseSlot {
  readonly title: string;
  readonly done: Promise<void>;
  task?: Task;
  pending: string[];
  settled: boolean;
  errors: string[];
  resolve(): void;
  reject(err: Error): void;
  skipReason?: string;
  /** dryRun() is running: what it says is the point of the dry run, so it stays on screen. */
  dryRun?: boolean;
  headed?: boolean;
}

export function createTtyReporter(opts: TtyOptions): Reporter {
  const paint = painter(opts.color ?? true);
  const debug = opts.debug ?? false;
  const slots: PhaseSlot[] = [];
  const after: string[] = [];
  let active: PhaseSlot | undefined;
  let listrDone: Promise<void> = Promise.resolve();
  let end: RunEndEvent | undefined;

  const show = (slot: PhaseSlot, line: string) => {
    if (slot.task) slot.task.output = line;
    else slot.pending.push(line);
  };

  const start = (phases: readonly string[]) => {
    for (const title of phases) slots.push(newSlot(title));
    const listr = new Listr(
      slots.map((slot) => ({
        title: slot.title,
        task: async (_ctx: unknown, task: Task) => {
          slot.task = task;
          for (const line of slot.pending.splice(0)) task.output = line;
          await slot.done;
          if (slot.skipReason !== undefined) task.skip(`${slot.title} (skipped: ${slot.skipReason})`);
        },
        rendererOptions: { outputBar: opts.outputLines ?? 4 },
      })),
      {
        concurrent: false,
        exitOnError: true,
        registerSignalListeners: false,
        forceTTY: true,
        rendererOptions: {
          collapseErrors: false,
          formatOutput: 'wrap',
          logger: new ListrLogger({
            useIcons: true,
            processOutput: new ProcessOutput(opts.stream, opts.stderr ?? process.stderr),
          }),
          ...(opts.color === false ? { color: NO_COLORS } : {}),
        },
      },
    );
    listrDone = listr.run().then(
      () => undefined,
      () => undefined, // the failure is the runner's to report; listr2 only drew it
    );
  };

  return {
    onEvent(event: PipelineEvent) {
      switch (event.type) {
        case 'run-start':
          start(event.phases);
          return;
        case 'phase-start': {
          active = slots[event.index];
          if (active) active.dryRun = event.dryRun;
          return;
        }
        case 'phase-end': {
          const slot = slots[event.index];
          active = undefined;
          if (!slot) return;
          if (event.status === 'ok') slot.resolve();
          else if (event.status === 'skipped') skip(slot, event.reason ?? 'skipped');
          else slot.reject(new Error(slot.errors.join('\n') || (event.reason ?? 'failed')));
          return;
        }
        case 'host-message': {
          if (!isShown(event.level, debug)) return;
          const host = event.host ? `${paint.bold(event.host)}: ` : '';
          const text = `${host}${clean(event.msg)}`;
          const styled = event.level === 'debug' ? paint.dim(text) : text;
          if (event.level === 'warn') after.push(`${paint.yellow('WARN')} ${text}`);
          else if (active?.dryRun && event.level === 'info') keepDryRunLine(active, styled);
          // Outside a phase (cleanups) only warnings matter, unless debugging.
          else if (!active && debug) after.push(styled);
          if (active) show(active, styled);
          return;
        }
        case 'host-error': {
          const text = `${event.host ? `${event.host}: ` : ''}${clean(errorText(event))}`;
          const slot = slots.find((s) => s.title === event.phase && !s.settled) ?? active;
          if (slot) slot.errors.push(text);
          else after.push(`${paint.red('ERROR')} ${text}`);
          return;
        }
        case 'run-end':
          end = event;
          for (const slot of slots) if (!slot.settled) skip(slot, 'not run');
          return;
      }
    },

    async close() {
      await listrDone;
      const lines = [...after];
      if (end) {
        for (const line of describeEvent(end, { logFile: opts.logFile })) {
          const style = line.level === 'error' ? paint.red : end.ok ? paint.green : paint.dim;
          lines.push(style(line.msg));
        }
      }
      if (lines.length) opts.stream.write(lines.join('\n') + '\n');
    },
  };

  function keepDryRunLine(slot: PhaseSlot, line: string) {
    if (!slot.headed) after.push(paint.bold(`Dry run: ${slot.title}`));
    slot.headed = true;
    after.push(`  ${line}`);
  }

  function skip(slot: PhaseSlot, reason: string) {
    slot.skipReason = reason;
    slot.resolve();
  }

  function newSlot(title: string): PhaseSlot {
    let resolve!: () => void;
    let reject!: (err: Error) => void;
    const done = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    const slot: PhaseSlot = {
      title,
      pending: [],
      settled: false,
      errors: [],
      resolve: () => {
        slot.settled = true;
        resolve();
      },
      reject: (err) => {
        slot.settled = true;
        reject(err);
      },
      done,
    };
    done.catch(() => undefined); // a failed phase whose task never started is not an unhandled rejection
    return slot;
  }
}

/** Remote output may carry terminal escapes: keep newlines and tabs, drop other control characters. */
function clean(text: string): string {
  return text.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, '');
}

const NO_COLORS = Object.fromEntries(
  Object.values(ListrDefaultRendererLogLevels).map((level) => [level, (text: string) => text]),
);

function painter(enabled: boolean) {
  const wrap = (open: number, close: number) => (text: string) =>
    enabled ? `\u001b[${open}m${text}\u001b[${close}m` : text;
  return {
    bold: wrap(1, 22),
    dim: wrap(2, 22),
    red: wrap(31, 39),
    green: wrap(32, 39),
    yellow: wrap(33, 39),
  };
}

/**
 * keepalived's notify_fifo: the agent creates the fifo and keepalived writes one line per state
 * change, e.g. `INSTANCE "k0s-vip-0" MASTER 100` (checked against keepalived 2.2.7; a kill -9 of
 * keepalived still yields `INSTANCE "k0s-vip-0" STOP 100` from its surviving VRRP child).
 */
import { execFile } from 'node:child_process';
import { constants, openSync, lstatSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import { promisify } from 'node:util';
import { errorText, type Logger } from './log.js';

export type NotifyKind = 'INSTANCE' | 'GROUP';

export interface NotifyEvent {
  kind: NotifyKind;
  name: string;
  /** MASTER, BACKUP, FAULT, STOP (keepalived may add others, e.g. MASTER_RX_LOWER_PRI). */
  state: string;
  priority?: number;
}

const LINE = /^(INSTANCE|GROUP) "((?:[^"\\]|\\.)*)" ([A-Z_]+)(?: (\d+))?\s*$/;

/** Parses one fifo line; virtual-server lines (VS/RS) and garbage give undefined. */
export function parseNotifyLine(line: string): NotifyEvent | undefined {
  const m = LINE.exec(line.trim());
  if (!m) return undefined;
  const event: NotifyEvent = { kind: m[1] as NotifyKind, name: m[2]!, state: m[3]! };
  if (m[4] !== undefined) event.priority = Number(m[4]);
  return event;
}

/** Splits a byte stream into lines, keeping a partial last line for the next chunk. */
export class LineSplitter {
  private rest = '';
  push(chunk: string): string[] {
    const parts = (this.rest + chunk).split('\n');
    this.rest = parts.pop() ?? '';
    return parts.filter((p) => p.length > 0);
  }
}

const run = promisify(execFile);

/**
 * Owns the fifo. Opened O_RDWR so the reader never sees EOF when keepalived restarts (we hold a
 * writer ourselves), and O_NONBLOCK so libuv polls it instead of blocking a thread.
 */
export class NotifyFifoReader {
  private socket: net.Socket | undefined;

  constructor(
    private readonly path: string,
    private readonly onEvent: (event: NotifyEvent) => void,
    private readonly log: Logger,
  ) {}

  async open(): Promise<void> {
    await this.ensureFifo();
    const fd = openSync(this.path, constants.O_RDWR | constants.O_NONBLOCK);
    const socket = new net.Socket({ fd, readable: true, writable: false });
    const lines = new LineSplitter();
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      for (const line of lines.push(chunk)) {
        const event = parseNotifyLine(line);
        if (event) this.onEvent(event);
        else this.log.debug('notify line ignored', { line });
      }
    });
    socket.on('error', (err) =>
      this.log.error('notify fifo read failed', { error: errorText(err), path: this.path }),
    );
    this.socket = socket;
  }

  /** On agent stop (keepalived has gone): the fifo goes too, the next start makes a new one. */
  close(): void {
    this.socket?.destroy();
    this.socket = undefined;
    try {
      unlinkSync(this.path);
    } catch {
      // gone already
    }
  }

  private async ensureFifo(): Promise<void> {
    try {
      const st = lstatSync(this.path);
      if (st.isFIFO()) return;
      unlinkSync(this.path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    // Node has no mkfifo(); coreutils' is on every host keepalived runs on.
    await run('mkfifo', ['-m', '0600', this.path]);
  }
}

/**
 * The status socket: a local unix socket (0600) that answers each connection with one JSON
 * document and closes. `cplb-agent status` reads it. The same document is kept in a file too
 * (StatusFile), which is what cplbctl reads over SSH.
 */
import { chmodSync, mkdirSync, unlinkSync } from 'node:fs';
import { rename, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { dirname } from 'node:path';
import { STATUS_FILE_TAG, type AgentStatus } from '../contract/status.js';
import { errorText, type Logger } from './log.js';

export class StatusServer {
  private server: net.Server | undefined;

  constructor(
    private readonly path: string,
    private readonly build: () => Promise<AgentStatus>,
    private readonly log: Logger,
  ) {}

  async listen(): Promise<void> {
    mkdirSync(dirname(this.path), { recursive: true, mode: 0o755 });
    try {
      unlinkSync(this.path); // a stale socket from a previous run would make listen() fail
    } catch {
      // none
    }
    const server = net.createServer((socket) => {
      socket.on('error', () => undefined);
      this.build()
        .then((doc) => socket.end(JSON.stringify(doc) + '\n'))
        .catch((err) => socket.end(JSON.stringify({ error: errorText(err) }) + '\n'));
    });
    const listening = new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.once('listening', () => resolve());
    });
    // The socket answers anyone who can connect: create it 0600 from the start (bind is synchronous).
    const oldMask = process.umask(0o177);
    try {
      server.listen(this.path);
    } finally {
      process.umask(oldMask);
    }
    await listening;
    chmodSync(this.path, 0o600);
    this.server = server;
    this.log.info('status socket listening', { path: this.path });
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    try {
      unlinkSync(this.path);
    } catch {
      // already gone
    }
  }
}

/** Reads the status document from a running agent's socket. */
export function queryStatus(path: string, timeoutMs = 5000): Promise<AgentStatus> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(path);
    let data = '';
    socket.setEncoding('utf8');
    socket.setTimeout(timeoutMs, () =>
      socket.destroy(new Error(`no answer from ${path} in ${timeoutMs} ms`)),
    );
    socket.on('data', (chunk: string) => (data += chunk));
    socket.on('error', reject);
    socket.on('end', () => {
      try {
        resolve(JSON.parse(data) as AgentStatus);
      } catch (err) {
        reject(new Error(`bad status answer: ${errorText(err)}`));
      }
    });
  });
}

/**
 * The status document as a file (0600): a reader over SSH `cat`s it instead of starting the agent's
 * own 80 MB executable as a socket client (~0.4 s of CPU a host). The first line, `cplb-status
 * EPOCH_SECONDS PID`, lets readers tell a live agent's file from one a dead agent left behind (killed
 * -9: its pid is gone) or a frozen one's (too old): the agent rewrites it every second and on every
 * change of VRRP state, health or config, and removes it on stop.
 */
export class StatusFile {
  private pending: Promise<void> | undefined;
  private again = false;
  private closed = false;
  private failing = false;

  constructor(
    private readonly path: string,
    private readonly build: () => AgentStatus,
    private readonly log: Logger,
  ) {}

  /** Writes now; calls while a write is under way coalesce into one more write after it. */
  write(): Promise<void> {
    if (this.pending) {
      this.again = true;
      return this.pending;
    }
    this.pending = this.writeLoop().finally(() => (this.pending = undefined));
    return this.pending;
  }

  private async writeLoop(): Promise<void> {
    do {
      this.again = false;
      if (this.closed) return;
      const text = `${STATUS_FILE_TAG} ${Math.floor(Date.now() / 1000)} ${process.pid}\n${JSON.stringify(this.build())}\n`;
      const tmp = `${this.path}.tmp`;
      try {
        await writeFile(tmp, text, { mode: 0o600 });
        await rename(tmp, this.path); // readers never see half a document
        this.failing = false;
      } catch (err) {
        // Once per outage, not every second: readers fall back to the socket meanwhile.
        if (!this.failing)
          this.log.warn('cannot write the status file', { path: this.path, error: errorText(err) });
        this.failing = true;
      }
    } while (this.again);
  }

  async remove(): Promise<void> {
    this.closed = true;
    await this.pending;
    await rm(this.path, { force: true });
  }
}

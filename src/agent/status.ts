/**
 * The status socket: a local unix socket (0600) that answers each connection with one JSON
 * document and closes. `cplb-agent status` (and cplbctl over SSH) read it.
 */
import { chmodSync, mkdirSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import { dirname } from 'node:path';
import type { ForeignProcess } from './procs.js';
import type { RuleCheck } from './iptables.js';
import type { KeepalivedStatus } from './keepalived.js';
import { errorText, type Logger } from './log.js';

export interface InstanceStatus {
  name: string;
  state: string;
  priority: number | undefined;
  since: string;
}

export interface UpstreamStatus {
  address: string;
  port: number;
  health: string;
  consecutiveFailures: number;
  lastError: string | undefined;
  lastCheckAt: string | undefined;
  activeConnections: number;
  totalConnections: number;
  failedDials: number;
}

export interface AgentStatus {
  agent: {
    hostName: string;
    version: string;
    pid: number;
    startedAt: string;
    uptimeSeconds: number;
    configHash: string;
    keepalivedConfigHash: string | undefined;
    revision: string | undefined;
  };
  /** true when this node may hold the VIP (what the track file says). */
  health: { ok: boolean; reason: string; trackFileValue: number | undefined };
  keepalived: KeepalivedStatus & { foreign: ForeignProcess[] };
  instances: InstanceStatus[];
  vips: Array<{ address: string; prefix: number; instanceName: string; held: boolean }>;
  proxy: {
    enabled: boolean;
    listening: boolean;
    bindAddress: string;
    bindPort: number;
    openConnections: number;
    healthyUpstreams: number;
    upstreams: UpstreamStatus[];
  };
  iptables: {
    backend: string;
    chain: string;
    reasserts: number;
    rules: RuleCheck[];
    /** Rules that vanished after being in place and were put back, and when the last came back (older agents: absent). */
    repairs?: number;
    lastRepairAt?: string;
  };
}

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

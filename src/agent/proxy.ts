/**
 * The userspace TCP proxy: VIP:6443 is REDIRECTed here and spliced to a healthy API server. TLS
 * passes through untouched (clients see the API server's own certificate).
 */
import net from 'node:net';
import { errorText, type Logger } from './log.js';
import { dialFirst, NoUpstreamError, type Upstream, type UpstreamPool } from './pool.js';

export interface ProxyOptions {
  log: Logger;
  dialTimeoutMs: number;
  /** Connections beyond this many are refused at once (and counted). */
  maxConnections: number;
  /** A connection with no traffic either way for this long is closed. */
  idleTimeoutMs: number;
}

/** A refusal is logged at most this often: a flood must not flood the log too. */
const REFUSAL_LOG_MS = 60_000;

/** What a stop did with the connections that were open. */
export interface DrainResult {
  /** Ended by their clients or servers within the drain time. */
  drained: number;
  /** Still open when it ran out: cut. */
  destroyed: number;
}

/** Probes a silent peer after 30 s idle: a dead node must not pin its partner's socket forever. */
const KEEPALIVE_MS = 30_000;
/** What an upstream connection reads into while quiet: all an idle watch holds. */
const SMALL_READ = 4 * 1024;
/** While a response streams (a read filled the small buffer): libuv's own read size. */
const LARGE_READ = 64 * 1024;
/** Read buffers no connection uses, for the next ones: at most this many of each size are kept. */
const SPARES = 64;
const spareSmall: Buffer[] = [];
const spareLarge: Buffer[] = [];
const spare = (list: Buffer[], buffer: Buffer) => void (list.length < SPARES && list.push(buffer));

function dialTcp(upstream: Upstream, timeoutMs: number, onread?: net.OnReadOpts): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    // noDelay/keepAlive as options: applied on the handle at connect, without the Socket wrappers.
    const socket = net.connect({
      host: upstream.address,
      port: upstream.port,
      allowHalfOpen: true,
      noDelay: true,
      keepAlive: true,
      keepAliveInitialDelay: KEEPALIVE_MS,
      onread,
    });
    const fail = (err: Error) => {
      socket.destroy();
      reject(err);
    };
    socket.setTimeout(timeoutMs, () => fail(new Error(`connect timed out after ${timeoutMs} ms`)));
    socket.once('error', fail);
    socket.once('connect', () => {
      socket.setTimeout(0);
      socket.removeListener('error', fail);
      resolve(socket);
    });
  });
}

/**
 * Copies `from` into `to` with backpressure, and passes a FIN on (half-close). Leaner than pipe(),
 * which sets up and tears down twice the listeners per connection; errors and close are the
 * caller's.
 */
function relay(from: net.Socket, to: net.Socket): void {
  from.on('data', (chunk: Buffer) => {
    if (!to.write(chunk)) from.pause();
  });
  to.on('drain', () => from.resume());
  from.on('end', () => to.end());
}

/**
 * Upstream to client, where the bulk of the bytes go (lists, watches): the upstream socket reads
 * into buffers of its connection (onread) instead of a new 64 KiB Buffer per read, which lives until
 * the next GC and under load kept tens of MB of malloc heap. A quiet connection holds a small
 * buffer, a streaming one a large one too. While the client has not taken a chunk, its buffer still
 * holds it: reading stops until the write is done. Accepted sockets cannot read this way, but the
 * client to upstream direction carries little.
 */
class Downstream implements net.OnReadOpts {
  from: net.Socket | undefined;
  private readonly small = spareSmall.pop() ?? Buffer.allocUnsafeSlow(SMALL_READ);
  private large: Buffer | undefined;
  private next = this.small;
  private waiting = false;

  constructor(private readonly to: net.Socket) {}

  /** Node asks at connect and after every read: where the next read goes. */
  readonly buffer = (): Buffer => this.next;

  readonly callback = (bytes: number, buffer: Uint8Array): boolean => {
    this.to.write(buffer.subarray(0, bytes), this.written);
    const pending = this.to.writableLength > 0;
    if (bytes === buffer.length) {
      this.large ??= spareLarge.pop() ?? Buffer.allocUnsafeSlow(LARGE_READ);
      this.next = this.large;
    } else if (bytes <= SMALL_READ && this.large && !pending) {
      spare(spareLarge, this.large);
      this.large = undefined;
      this.next = this.small;
    }
    if (!pending) return true;
    this.waiting = true;
    return false; // pauses `from`
  };

  private readonly written = () => {
    if (!this.waiting) return;
    this.waiting = false;
    this.from?.resume();
  };

  /** Only once both sockets closed: no read can fill the buffer, no write still points into it. */
  release(): void {
    spare(spareSmall, this.small);
    if (this.large) spare(spareLarge, this.large);
    this.large = undefined;
  }
}

export class TcpProxy {
  private server: net.Server | undefined;
  private readonly open = new Set<net.Socket>();
  /** Accepted clients still waiting for an upstream dial: not in `open` yet. */
  private readonly pending = new Set<net.Socket>();
  /** Connections refused because maxConnections were open. */
  refusedOverLimit = 0;
  private refusalLoggedAt = 0;
  private boundTo: { host: string; port: number } | undefined;
  private boundIpv6Only = false;

  constructor(
    private pool: UpstreamPool,
    private readonly opts: ProxyOptions,
  ) {}

  private retired: net.Server[] = [];

  get listening(): boolean {
    return this.server?.listening === true;
  }

  get address(): { host: string; port: number } | undefined {
    return this.boundTo;
  }

  get openConnections(): number {
    return this.open.size / 2;
  }

  /** New upstreams apply to new connections; open ones run on to their end (graceful drain). */
  setPool(pool: UpstreamPool): void {
    this.pool = pool;
  }

  /** A reload's new limits: the connection limit applies at once, the idle timeout to new connections. */
  setLimits(limits: { maxConnections: number; idleTimeoutMs: number }): void {
    this.opts.maxConnections = limits.maxConnections;
    this.opts.idleTimeoutMs = limits.idleTimeoutMs;
  }

  get maxConnections(): number {
    return this.opts.maxConnections;
  }

  /**
   * Listens on port/host. Moving to another port keeps the old listener accepting (retired) until
   * closeRetired(): the nat rule still sends clients there until the agent has moved it too.
   * `ipv6Only`: a '::' listener for IPv6 VIPs alone must not take IPv4, which no guard covers then.
   */
  async listen(port: number, host: string, ipv6Only = false): Promise<void> {
    const same = this.boundTo?.host === host && this.boundTo.port === port;
    // The families matter too: a config that gains an IPv4 VIP needs IPv4 on the same '::' listener.
    if (this.server && same && this.boundIpv6Only === ipv6Only) return;
    if (this.server && this.boundTo?.port !== port) {
      this.retired.push(this.server);
      this.server = undefined;
      this.boundTo = undefined;
    } else await this.closeListener();
    const options = {
      allowHalfOpen: true,
      pauseOnConnect: true,
      noDelay: true,
      keepAlive: true,
      keepAliveInitialDelay: KEEPALIVE_MS,
    };
    const server = net.createServer(options, (client) => {
      if (this.pending.size + this.open.size / 2 >= this.opts.maxConnections) this.refuse(client);
      else void this.handle(client);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      // ipv6Only false: one '::' listener also takes IPv4 (REDIRECT of an IPv4 VIP lands on it).
      server.listen({ port, host, ipv6Only }, () => {
        server.removeListener('error', reject);
        resolve();
      });
    });
    server.on('error', (err) => this.opts.log.error('proxy listener failed', { error: errorText(err) }));
    this.server = server;
    const addr = server.address() as net.AddressInfo;
    this.boundTo = { host, port: addr.port };
    this.boundIpv6Only = ipv6Only;
    this.opts.log.info('proxy listening', { address: host, port: addr.port });
  }

  /** Stops accepting on the ports listen() moved away from; their open connections run on. */
  closeRetired(): void {
    for (const server of this.retired.splice(0)) server.close();
  }

  /** Stops accepting; open connections run on (a reload that disables the proxy). */
  async close(): Promise<void> {
    this.closeRetired();
    await this.closeListener();
  }

  /**
   * Agent shutdown: stops accepting, gives open connections up to `drainMs` to end on their own
   * (a request in flight completes), then cuts the rest. Bounded whatever the clients do: an idle
   * watch never ends by itself, and a stop that waits for it outlives the service manager's timeout.
   */
  async shutdown(drainMs: number): Promise<DrainResult> {
    this.closeRetired();
    await this.closeListener();
    for (const client of this.pending) client.destroy();
    const before = this.openConnections;
    const deadline = Date.now() + drainMs;
    while (this.open.size > 0 && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, Math.min(50, deadline - Date.now())));
    const destroyed = this.openConnections;
    for (const socket of this.open) socket.destroy();
    return { drained: before - destroyed, destroyed };
  }

  /**
   * Closes the listening socket at once. server.close()'s callback waits for every accepted
   * connection to end, which an idle client may never do: nothing here waits for it, or a reload
   * that moves the port would block every reload after it.
   */
  private async closeListener(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    this.boundTo = undefined;
    server?.close();
  }

  /** Over the limit: closed before any byte is read or any upstream dialled. */
  private refuse(client: net.Socket): void {
    this.refusedOverLimit++;
    client.on('error', () => undefined);
    client.destroy();
    const now = Date.now();
    if (now - this.refusalLoggedAt < REFUSAL_LOG_MS) return;
    this.refusalLoggedAt = now;
    this.opts.log.warn('connection refused: connection limit reached', {
      maxConnections: this.opts.maxConnections,
      refusedTotal: this.refusedOverLimit,
    });
  }

  private async handle(client: net.Socket): Promise<void> {
    // Only failures log the peer: getpeername() on every connection costs more than the rest of this.
    const peer = () => `${client.remoteAddress}:${client.remotePort}`;
    let clientError: Error | undefined;
    const onEarlyError = (err: Error) => (clientError = err);
    client.on('error', onEarlyError);
    let dialed: { upstream: Upstream; connection: net.Socket };
    const down = new Downstream(client);
    this.pending.add(client);
    try {
      dialed = await dialFirst(this.pool.candidates(), (u) => dialTcp(u, this.opts.dialTimeoutMs, down), {
        // A dial that lost the race connected after all. It shares `down`'s onread, but nothing can
        // reach the client through it: it is destroyed in the microtask after its 'connect', before
        // any read, and nothing was sent on it that an API server would answer.
        discard: (late) => late.destroy(),
        onFailure: (u, err) =>
          this.opts.log.warn('upstream dial failed', {
            upstream: u.id,
            error: errorText(err),
            client: peer(),
          }),
      });
    } catch (err) {
      this.pending.delete(client);
      const attempts = err instanceof NoUpstreamError ? err.attempts.length : 0;
      this.opts.log.warn('connection refused', { client: peer(), reason: errorText(err), attempts });
      client.destroy();
      return;
    }
    this.pending.delete(client);
    const { upstream, connection: server } = dialed;
    client.removeListener('error', onEarlyError);
    if (clientError || client.destroyed) {
      server.destroy();
      return;
    }
    down.from = server;
    this.splice(client, server, upstream, down);
  }

  private splice(client: net.Socket, server: net.Socket, upstream: Upstream, down: Downstream): void {
    upstream.activeConnections++;
    upstream.totalConnections++;
    this.open.add(client);
    this.open.add(server);
    // Either side failing ends both: a half-dead splice would hang the client's request forever.
    const abort = (err?: Error) => {
      if (err) this.opts.log.debug('connection aborted', { upstream: upstream.id, error: errorText(err) });
      client.destroy();
      server.destroy();
    };
    client.on('error', abort);
    server.on('error', abort);
    // The client socket sees every byte both ways (reads from it, writes to it): its idle timer is
    // the connection's. Default a day: a watch is quiet for minutes, a dead peer goes by keepalive.
    client.setTimeout(this.opts.idleTimeoutMs, () => {
      this.opts.log.debug('connection idle: closed', { upstream: upstream.id });
      abort();
    });
    // 'close' means both directions are done (or the socket died): nothing can flow any more.
    let closed = 0;
    const onClose = (other: net.Socket) => {
      other.destroy();
      if (++closed < 2) return;
      upstream.activeConnections--;
      this.open.delete(client);
      this.open.delete(server);
      down.release();
    };
    client.once('close', () => onClose(server));
    server.once('close', () => onClose(client));
    relay(client, server);
    server.on('end', () => client.end());
    client.resume();
  }
}

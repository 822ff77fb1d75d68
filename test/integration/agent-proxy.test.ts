/**
 * The agent's TCP proxy against real TLS servers on 127.0.0.1: round robin, health checks,
 * dial retry, half-close, bulk transfer, drain on reload.
 */
import { execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HealthChecker } from '../../src/agent/health.js';
import { createLogger } from '../../src/agent/log.js';
import { UpstreamPool } from '../../src/agent/pool.js';
import { TcpProxy } from '../../src/agent/proxy.js';
import { makeCert, peerName, startUpstream, waitFor, type Upstream } from './agent-fixtures.js';

const log = createLogger('error', () => undefined);
const hc = { path: '/readyz', intervalMs: 100, timeoutMs: 500, fallCount: 3, riseCount: 1 };
let dir: string;
let ups: Upstream[] = [];
const cleanups: Array<() => Promise<void> | void> = [];

const LIMITS = { maxConnections: 10_000, idleTimeoutMs: 86_400_000 };

async function proxyFor(
  pool: UpstreamPool,
  limits: Partial<typeof LIMITS> = {},
  dialTimeoutMs = 1000,
): Promise<{ proxy: TcpProxy; port: number }> {
  const proxy = new TcpProxy(pool, { log, dialTimeoutMs, ...LIMITS, ...limits });
  await proxy.listen(0, '127.0.0.1');
  cleanups.push(async () => void (await proxy.shutdown(0)));
  return { proxy, port: proxy.address!.port };
}

function poolOf(ports: number[]): UpstreamPool {
  return UpstreamPool.fromConfig(
    ports.map((port) => ({ address: '127.0.0.1', port })),
    hc,
  );
}

async function namesThrough(port: number, n: number): Promise<string[]> {
  const names: string[] = [];
  for (let i = 0; i < n; i++) names.push(await peerName('127.0.0.1', port));
  return names;
}

/**
 * A port whose SYNs go unanswered, as a powered-off or cut-off host's do: a listener that never
 * accepts, its one-deep accept queue filled, so the kernel drops further SYNs (no RST).
 * Node always accepts, so the listener is python's.
 */
async function silentServer(): Promise<number> {
  const py = spawn(
    'python3',
    [
      '-c',
      "import socket,sys\ns=socket.socket()\ns.bind(('127.0.0.1',0))\ns.listen(0)\nprint(s.getsockname()[1],flush=True)\nsys.stdin.read()",
    ],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  cleanups.push(() => void py.kill());
  const port = Number(
    await new Promise<string>((r) => py.stdout!.once('data', (d: Buffer) => r(String(d).trim()))),
  );
  const filler = net.connect(port, '127.0.0.1');
  filler.on('error', () => undefined);
  await new Promise((r) => filler.once('connect', r));
  cleanups.push(() => void filler.destroy());
  return port;
}

/** A plain TCP upstream that echoes, and on the client's FIN answers `END name bytes` then FINs. */
async function echoServer(name: string): Promise<{ port: number }> {
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    let bytes = 0;
    s.on('data', (d: Buffer) => {
      bytes += d.length;
      s.write(d);
    });
    s.on('end', () => s.end(`\nEND ${name} ${bytes}`));
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
  return { port: (server.address() as net.AddressInfo).port };
}

/** Connects, writes `data`, half-closes, and collects everything until the far end's FIN. */
function halfCloseExchange(
  port: number,
  data: string,
  before?: (s: net.Socket) => Promise<void>,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true }, async () => {
      if (before) await before(s);
      s.end(data);
    });
    let got = '';
    s.setEncoding('utf8');
    s.on('data', (d: string) => (got += d));
    s.on('end', () => resolve(got));
    s.on('error', reject);
  });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cplb-tagent-proxy-'));
  ups = await Promise.all(
    [0, 1, 2].map((i) => startUpstream(`upstream-${i}`, makeCert(dir, `upstream-${i}`))),
  );
});

afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
  await Promise.all(ups.map((u) => u.close()));
  rmSync(dir, { recursive: true, force: true });
});

describe('TcpProxy with health checks', () => {
  let pool: UpstreamPool;
  let checker: HealthChecker;
  let port: number;

  beforeAll(async () => {
    pool = poolOf(ups.map((u) => u.port));
    checker = new HealthChecker(hc, () => undefined);
    checker.start(pool.upstreams);
    cleanups.push(() => checker.stop());
    await checker.firstRound();
    ({ port } = await proxyFor(pool));
  });

  it('passes TLS through: repeated connections see all three certificates, in turn', async () => {
    expect(pool.healthyCount).toBe(3);
    const names = await namesThrough(port, 9);
    expect(new Set(names)).toEqual(new Set(['upstream-0', 'upstream-1', 'upstream-2']));
    for (const n of ['upstream-0', 'upstream-1', 'upstream-2'])
      expect(names.filter((x) => x === n)).toHaveLength(3);
  });

  it('stops sending to an upstream whose /readyz fails, after fallCount checks, and takes it back', async () => {
    const sickSince = Date.now();
    ups[1]!.sick = true;
    await waitFor(
      'upstream-1 marked unhealthy',
      () => pool.upstreams[1]!.health.status === 'unhealthy',
      3000,
    );
    // fallCount (3) failed probes, one interval (100 ms) apart: at least two intervals.
    expect(Date.now() - sickSince).toBeGreaterThanOrEqual(2 * hc.intervalMs);
    const names = await namesThrough(port, 8);
    expect(new Set(names)).toEqual(new Set(['upstream-0', 'upstream-2']));
    ups[1]!.sick = false;
    await waitFor('upstream-1 healthy again', () => pool.upstreams[1]!.health.status === 'healthy', 3000);
    expect(new Set(await namesThrough(port, 6))).toEqual(new Set(['upstream-0', 'upstream-1', 'upstream-2']));
  });

  it('round-trips 10 MB intact through TLS', async () => {
    const body = randomBytes(10 * 1024 * 1024);
    const echoed = await new Promise<Buffer>((resolve, reject) => {
      const req = https.request(
        { host: '127.0.0.1', port, path: '/echo', method: 'POST', rejectUnauthorized: false, agent: false },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve(Buffer.concat(chunks)));
        },
      );
      req.on('error', reject);
      req.end(body);
    });
    expect(echoed.length).toBe(body.length);
    expect(createHash('sha256').update(echoed).digest('hex')).toBe(
      createHash('sha256').update(body).digest('hex'),
    );
  });

  it('counts connections per upstream and drops the active count when they close', async () => {
    await waitFor(
      'all proxied connections closed',
      () => pool.upstreams.every((u) => u.activeConnections === 0),
      2000,
    );
    const total = pool.upstreams.reduce((n, u) => n + u.totalConnections, 0);
    expect(total).toBeGreaterThanOrEqual(9 + 8 + 6 + 1);
    const held = await new Promise<net.Socket>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => resolve(s));
    });
    await waitFor(
      'one active connection',
      () => pool.upstreams.reduce((n, u) => n + u.activeConnections, 0) === 1,
      2000,
    );
    held.destroy();
    await waitFor('back to zero', () => pool.upstreams.every((u) => u.activeConnections === 0), 2000);
  });
});

describe('health checks against a hung server', () => {
  it('marks an upstream that accepts but never answers unhealthy after timeoutMs', async () => {
    const held: net.Socket[] = [];
    const hung = net.createServer((s) => held.push(s));
    await new Promise<void>((r) => hung.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise<void>((r) => { for (const s of held) s.destroy(); hung.close(() => r()); })); // prettier-ignore
    const pool = poolOf([(hung.address() as net.AddressInfo).port]);
    const checker = new HealthChecker({ ...hc, timeoutMs: 200 }, () => undefined);
    const t0 = Date.now();
    checker.start(pool.upstreams);
    await checker.firstRound();
    checker.stop();
    expect(pool.upstreams[0]!.health.status).toBe('unhealthy');
    expect(pool.upstreams[0]!.health.lastError).toMatch(/timed out after 200 ms/);
    expect(Date.now() - t0).toBeLessThan(1000);
  });
});

describe('TcpProxy data path', () => {
  it('retries a dead upstream on the next one: no client sees a failure', async () => {
    const dead = net.createServer();
    await new Promise<void>((r) => dead.listen(0, '127.0.0.1', r));
    const deadPort = (dead.address() as net.AddressInfo).port;
    await new Promise<void>((r) => dead.close(() => r()));
    const pool = poolOf([deadPort, ups[0]!.port, deadPort + 0, ups[2]!.port]);
    // Still believed healthy (between two checks): the dial itself has to fail over.
    for (const u of pool.upstreams) u.health.record(true);
    const { port } = await proxyFor(pool);
    const names = await namesThrough(port, 6);
    expect(names.every((n) => n === 'upstream-0' || n === 'upstream-2')).toBe(true);
    // Dialled once; after that it goes last (the live ones answer), until a check succeeds.
    expect(pool.upstreams[0]!.failedDials).toBe(1);
    expect(pool.upstreams[0]!.health.suspect).toBe(true);
  });

  it('does not make a client wait out the dial timeout on a host that drops SYNs', async () => {
    const silent = await silentServer();
    const pool = poolOf([silent, ups[0]!.port]);
    for (const u of pool.upstreams) u.health.record(true);
    const { proxy } = await proxyFor(pool, {}, 20_000);
    const { port } = proxy.address!;
    // First in order, the silent one is dialled first; the client is served by the next one while
    // that dial is still unanswered, not after its 20 s timeout.
    expect(await peerName('127.0.0.1', port)).toBe('upstream-0');
    expect(pool.upstreams[0]!.failedDials).toBe(0);
  });

  it('closes the client when no upstream can be dialled', async () => {
    const pool = poolOf([ups[0]!.port]);
    pool.upstreams[0]!.health.record(false);
    const { port } = await proxyFor(pool);
    await expect(peerName('127.0.0.1', port)).rejects.toThrow();
  });

  it('passes a half-close on: the client FINs and still reads the answer', async () => {
    const echo = await echoServer('A');
    const pool = poolOf([echo.port]);
    pool.upstreams[0]!.health.record(true);
    const { port } = await proxyFor(pool);
    expect(await halfCloseExchange(port, 'hello')).toBe('hello\nEND A 5');
  });

  it('drains on reload: open connections stay on the old upstream, new ones use the new list', async () => {
    const a = await echoServer('A');
    const b = await echoServer('B');
    const poolA = poolOf([a.port]);
    poolA.upstreams[0]!.health.record(true);
    const { proxy, port } = await proxyFor(poolA);
    const oldConn = halfCloseExchange(port, 'old', async () => {
      const poolB = poolOf([b.port]);
      poolB.upstreams[0]!.health.record(true);
      proxy.setPool(poolB);
      expect(await halfCloseExchange(port, 'new')).toBe('new\nEND B 3');
    });
    expect(await oldConn).toBe('old\nEND A 3');
  });
});

/** A connection through the proxy that the upstream has taken: resolves once it counts as open. */
async function held(proxy: TcpProxy, port: number): Promise<net.Socket> {
  const before = proxy.openConnections;
  const s = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  s.on('error', () => undefined);
  await waitFor('the connection to be spliced', () => proxy.openConnections === before + 1, 2000);
  return s;
}

/** How a connection ends: 'closed' (FIN or reset) or 'open' after `ms`, and what it read. */
function outcome(s: net.Socket, ms: number): Promise<{ end: 'closed' | 'open'; read: string }> {
  let read = '';
  s.on('error', () => undefined);
  s.setEncoding('utf8');
  s.on('data', (d: string) => (read += d));
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve({ end: 'open', read }), ms);
    s.once('close', () => {
      clearTimeout(timer);
      resolve({ end: 'closed', read });
    });
  });
}

describe('TcpProxy limits (issue 12, item 7)', () => {
  it('refuses connections beyond maxConnections at once, counts them, and takes new ones once below', async () => {
    const echo = await echoServer('A');
    const pool = poolOf([echo.port]);
    pool.upstreams[0]!.health.record(true);
    const { proxy, port } = await proxyFor(pool, { maxConnections: 2 });
    const first = await held(proxy, port);
    await held(proxy, port);
    const third = net.connect({ port, host: '127.0.0.1' });
    third.on('error', () => undefined);
    third.write('hello?');
    expect(await outcome(third, 2000)).toEqual({ end: 'closed', read: '' });
    expect(proxy.refusedOverLimit).toBe(1);
    expect(pool.upstreams[0]!.totalConnections).toBe(2);
    first.destroy();
    await waitFor('one connection left', () => proxy.openConnections === 1, 2000);
    expect(await halfCloseExchange(port, 'again')).toBe('again\nEND A 5');
  });

  it('closes a connection with no traffic either way for idleTimeoutMs, and keeps one that talks', async () => {
    const echo = await echoServer('A');
    const pool = poolOf([echo.port]);
    pool.upstreams[0]!.health.record(true);
    const { proxy, port } = await proxyFor(pool, { idleTimeoutMs: 400 });
    // Watched from the start: the quiet one may close before the talking one is up.
    const quiet = net.connect({ port, host: '127.0.0.1' });
    const q = outcome(quiet, 3000);
    const talking = net.connect({ port, host: '127.0.0.1' });
    const t = outcome(talking, 1500);
    const chatter = setInterval(() => talking.write('.'), 100);
    await Promise.all([q, t]);
    clearInterval(chatter);
    expect((await q).end).toBe('closed');
    expect((await t).end).toBe('open');
    talking.destroy();
    await waitFor('both gone', () => proxy.openConnections === 0, 2000);
  });

  it('sets TCP keepalive on both legs (client and upstream sockets)', async () => {
    const echo = await echoServer('A');
    const pool = poolOf([echo.port]);
    pool.upstreams[0]!.health.record(true);
    const { proxy, port } = await proxyFor(pool);
    const conn = await held(proxy, port);
    // ss -o prints each socket's timer: the proxy's end of the client leg has local port `port`,
    // its end of the upstream leg has remote port echo.port.
    const ss = execFileSync('ss', ['-tnoH', 'state', 'established'], { encoding: 'utf8' }).split('\n');
    const leg = (re: RegExp) => ss.filter((l) => re.test(l));
    const clientLeg = leg(new RegExp(`127\\.0\\.0\\.1:${port}\\s+127\\.0\\.0\\.1:\\d+`));
    const upstreamLeg = leg(new RegExp(`127\\.0\\.0\\.1:\\d+\\s+127\\.0\\.0\\.1:${echo.port}\\b`));
    expect(clientLeg).toHaveLength(1);
    expect(upstreamLeg).toHaveLength(1);
    expect(clientLeg[0]).toMatch(/timer:\(keepalive,/);
    expect(upstreamLeg[0]).toMatch(/timer:\(keepalive,/);
    conn.destroy();
  });
});

describe('TcpProxy moving its port', () => {
  it('keeps accepting on the old port until told the redirect has moved, then refuses there', async () => {
    const echo = await echoServer('A');
    const pool = poolOf([echo.port]);
    pool.upstreams[0]!.health.record(true);
    const { proxy, port: oldPort } = await proxyFor(pool);
    const spare = net.createServer();
    await new Promise<void>((r) => spare.listen(0, '127.0.0.1', r));
    const newPort = (spare.address() as net.AddressInfo).port;
    await new Promise<void>((r) => spare.close(() => r()));
    await proxy.listen(newPort, '127.0.0.1');
    // The nat rule still points at the old port until the agent re-asserts it: keep serving there.
    expect(await halfCloseExchange(oldPort, 'in between')).toBe('in between\nEND A 10');
    expect(await halfCloseExchange(newPort, 'new')).toBe('new\nEND A 3');
    proxy.closeRetired();
    await expect(halfCloseExchange(oldPort, 'after')).rejects.toThrow(/ECONNREFUSED/);
    expect(proxy.address?.port).toBe(newPort);
  });
});

describe('TcpProxy on the IPv6 wildcard (a config that gains or loses IPv4 VIPs)', () => {
  it('takes IPv4 once told to (an IPv4 instance added), and stops once told not to', async () => {
    const echo = await echoServer('A');
    const pool = poolOf([echo.port]);
    pool.upstreams[0]!.health.record(true);
    const proxy = new TcpProxy(pool, { log, dialTimeoutMs: 1000, ...LIMITS });
    cleanups.push(async () => void (await proxy.shutdown(0)));
    // IPv6 VIPs alone: '::' without IPv4.
    await proxy.listen(0, '::', true);
    const port = proxy.address!.port;
    await expect(halfCloseExchange(port, 'v4')).rejects.toThrow(/ECONNREFUSED/);
    // An IPv4 instance joins: the same port and wildcard, now for both families.
    await proxy.listen(port, '::', false);
    expect(await halfCloseExchange(port, 'v4')).toBe('v4\nEND A 2');
    // And back to IPv6 alone: IPv4 is refused again.
    await proxy.listen(port, '::', true);
    await expect(halfCloseExchange(port, 'v4')).rejects.toThrow(/ECONNREFUSED/);
  });
});

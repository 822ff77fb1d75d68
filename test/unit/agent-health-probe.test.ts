/**
 * The health probe against a real HTTPS server in this process (real TLS, real HTTP): what each
 * answer means, with and without credentials, and that nothing a probe does can stop the checking.
 */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HealthChecker, httpsProbe, type Probe } from '../../src/agent/health.js';
import { Upstream } from '../../src/agent/pool.js';
import { makeCert, waitFor, type Cert } from '../integration/agent-fixtures.js';

let dir: string;
let serverCert: Cert;
let clientCert: Cert;
let server: https.Server;
let port: number;
/** What /readyz answers to a request without valid credentials. */
let anonymousAnswer = 401;
const GOOD_TOKEN = 'good-token';

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cplb-probe-'));
  serverCert = makeCert(dir, 'apiserver');
  clientCert = makeCert(dir, 'checker');
  server = https.createServer(
    { key: serverCert.key, cert: serverCert.cert, requestCert: true, rejectUnauthorized: false },
    (req, res) => {
      const peer = (req.socket as TLSSocket).getPeerCertificate();
      const byCert = peer?.subject?.CN === 'checker';
      const byToken = req.headers.authorization === `Bearer ${GOOD_TOKEN}`;
      if (req.url === '/reset') return req.socket.destroy();
      if (req.url === '/hang') return;
      if (req.url?.startsWith('/code/')) return void res.writeHead(Number(req.url.slice(6))).end();
      if (byCert || byToken) return void res.writeHead(200).end('ok');
      res.writeHead(anonymousAnswer, { 'content-type': 'application/json' }).end('{"kind":"Status"}');
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  rmSync(dir, { recursive: true, force: true });
});

async function probeOnce(path: string, credentials?: Parameters<typeof httpsProbe>[2]) {
  const probe = httpsProbe(path, 1000, credentials);
  try {
    return await probe('127.0.0.1', port);
  } finally {
    probe.close?.();
  }
}

function secretFile(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  chmodSync(path, 0o600);
  return path;
}

describe('httpsProbe without credentials', () => {
  it('counts 401 and 403 as up, readiness unknown, and says why', async () => {
    for (const code of [401, 403]) {
      anonymousAnswer = code;
      expect(await probeOnce('/readyz')).toEqual({
        ok: true,
        statusCode: code,
        note: `${code}: readiness not visible without credentials`,
      });
    }
  });

  it('counts 2xx as up without a note, and 5xx, 404, resets and timeouts as down', async () => {
    expect(await probeOnce('/code/200')).toEqual({ ok: true, statusCode: 200 });
    expect(await probeOnce('/code/500')).toMatchObject({ ok: false, statusCode: 500, error: 'HTTP 500' });
    expect(await probeOnce('/code/503')).toMatchObject({ ok: false, statusCode: 503 });
    expect(await probeOnce('/code/404')).toMatchObject({ ok: false, statusCode: 404 });
    expect(await probeOnce('/reset')).toMatchObject({ ok: false });
    const hung = httpsProbe('/hang', 100);
    expect(await hung('127.0.0.1', port)).toMatchObject({ ok: false, error: 'timed out after 100 ms' });
    hung.close?.();
  });

  it('resolves to down, never throws, on a path node refuses to send', async () => {
    for (const path of ['/ready\u0001z', '/réadyz\u2028', '/readyz\u{1F600}'])
      await expect(probeOnce(path)).resolves.toMatchObject({ ok: false });
  });
});

describe('httpsProbe with credentials', () => {
  it('sends a bearer token from its file: accepted is up, refused (401/403) is down', async () => {
    anonymousAnswer = 401;
    const good = secretFile('good.token', `${GOOD_TOKEN}\n`);
    expect(await probeOnce('/readyz', { bearerTokenFile: good })).toEqual({ ok: true, statusCode: 200 });
    const bad = secretFile('bad.token', 'stale-token');
    expect(await probeOnce('/readyz', { bearerTokenFile: bad })).toEqual({
      ok: false,
      statusCode: 401,
      error: 'HTTP 401: the health check credentials were refused',
    });
    anonymousAnswer = 403;
    expect(await probeOnce('/readyz', { bearerTokenFile: bad })).toMatchObject({
      ok: false,
      statusCode: 403,
    });
  });

  it('presents a client certificate', async () => {
    anonymousAnswer = 401;
    expect(
      await probeOnce('/readyz', { clientCertificate: clientCert.certPath, clientKey: clientCert.keyPath }),
    ).toEqual({ ok: true, statusCode: 200 });
  });

  it('re-reads a token file that changed (rotation), and is down while it cannot be read', async () => {
    anonymousAnswer = 401;
    const path = secretFile('rotating.token', 'old-token');
    const probe = httpsProbe('/readyz', 1000, { bearerTokenFile: path });
    try {
      expect(await probe('127.0.0.1', port)).toMatchObject({ ok: false, statusCode: 401 });
      secretFile('rotating.token', GOOD_TOKEN);
      expect(await probe('127.0.0.1', port)).toEqual({ ok: true, statusCode: 200 });
      rmSync(path);
      expect(await probe('127.0.0.1', port)).toMatchObject({
        ok: false,
        error: expect.stringContaining(path),
      });
    } finally {
      probe.close?.();
    }
  });
});

describe('HealthChecker with a real server', () => {
  const settings = { path: '/readyz', intervalMs: 5, timeoutMs: 1000, fallCount: 1, riseCount: 1 };

  it('keeps an API server that answers 401 up, and reports the reason once, not every round', async () => {
    anonymousAnswer = 401;
    const up = new Upstream('127.0.0.1', port, settings);
    const changes: string[] = [];
    const checker = new HealthChecker(settings, (t) => changes.push(`${t.health.status} ${t.health.note}`));
    checker.start([up]);
    await checker.firstRound();
    await waitFor('several checks', () => (up.health.consecutiveSuccesses ?? 0) >= 5, 5000);
    checker.stop();
    expect(up.health.status).toBe('healthy');
    expect(up.status()).toMatchObject({
      health: 'healthy',
      note: '401: readiness not visible without credentials',
    });
    expect(changes).toEqual(['healthy 401: readiness not visible without credentials']);
  });

  it('goes on checking when a probe throws or rejects: that upstream is down for the round', async () => {
    for (const failing of [
      (() => {
        throw new TypeError('Request path contains unescaped characters');
      }) as Probe,
      (async () => {
        throw new Error('boom');
      }) as Probe,
    ]) {
      let calls = 0;
      const probe: Probe = (address, p) => {
        calls++;
        return calls % 2 === 1 ? failing(address, p) : Promise.resolve({ ok: true });
      };
      const up = new Upstream('a', 1, settings);
      const changes: string[] = [];
      const checker = new HealthChecker(
        settings,
        (t) => changes.push(`${t.health.status}: ${t.health.lastError ?? ''}`),
        probe,
      );
      checker.start([up]);
      await waitFor('checking to go on', () => calls >= 4, 5000);
      expect(changes[0]).toMatch(
        /^unhealthy: check failed: (Request path contains unescaped characters|boom)$/,
      );
      expect(changes[1]).toBe('healthy: ');
      checker.stop();
    }
  });
});

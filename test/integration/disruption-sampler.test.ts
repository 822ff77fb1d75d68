/**
 * The disruption samplers against a real HTTPS server on loopback: healthy, they count nothing and
 * the keep-alive one reuses one connection; a server that stops answering (as through a crashed
 * holder) or answers 5xx is disruption for both, and the keep-alive one replaces its connection.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeCertificate } from '../../src/lab/keys.js';
import { startBothSamplers } from '../../src/verify/disruption-sampler.js';

let dir: string;
let server: Server;
let port: number;
/** What the server does with each request. */
let mode: 'ok' | 'hang' | '503' | '401' = 'ok';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cplb-disruption-'));
  const [key, cert] = [join(dir, 'k.pem'), join(dir, 'c.pem')];
  await makeCertificate(cert, key, 'disruption', '127.0.0.1');
  server = createServer({ key: readFileSync(key), cert: readFileSync(cert) }, (req, res) => {
    if (mode === 'hang') return; // never answers, keeps the connection: a silent dead holder
    res.writeHead(mode === 'ok' ? 200 : Number(mode));
    res.end('ok');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  port = (server.address() as { port: number }).port;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  rmSync(dir, { recursive: true, force: true });
});

const target = () => ({ host: '127.0.0.1', port, path: '/healthz' });

describe('disruption samplers on loopback', () => {
  it('count nothing while the server answers (401 included); the keep-alive one uses one connection', async () => {
    mode = 'ok';
    const s = startBothSamplers(target(), { everyMs: 50, timeoutMs: 500 });
    await sleep(400);
    mode = '401';
    await sleep(300);
    const [fresh, reused] = await s.stop();
    mode = 'ok';
    expect(fresh).toMatchObject({ sampler: 'new-connections', failed: 0, disruptionSeconds: 0 });
    expect(reused).toMatchObject({
      sampler: 'reused-connection',
      failed: 0,
      disruptionSeconds: 0,
      connections: 1,
    });
    expect(fresh!.connections).toBe(fresh!.requests);
    expect(reused!.requests).toBeGreaterThan(2);
  });

  it('count a server that stops answering, then answers 5xx, as disruption; the keep-alive one reconnects', async () => {
    mode = 'ok';
    const s = startBothSamplers(target(), { everyMs: 50, timeoutMs: 300 });
    await sleep(300);
    mode = 'hang';
    await sleep(700);
    mode = '503';
    await sleep(300);
    mode = 'ok';
    await sleep(400);
    const [fresh, reused] = await s.stop();
    for (const d of [fresh!, reused!]) {
      expect(d.failed, d.sampler).toBeGreaterThan(0);
      expect(d.disruptionSeconds, d.sampler).toBeGreaterThan(0);
      expect(d.intervals, d.sampler).toHaveLength(1);
    }
    expect(reused!.connections).toBeGreaterThan(1);
  });
});

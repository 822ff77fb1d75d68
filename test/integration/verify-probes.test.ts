/**
 * verify's TLS probes for real, on loopback: the fingerprint script (openssl s_client, as on a
 * controller), the failover prober (node, one process) and this machine's in-process prober.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type Server } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localProber, parseProbes, proberScript, PROBE_EVERY_MS } from '../../src/verify/failover/watch.js';
import { fingerprintScript, parseFingerprints } from '../../src/verify/tls.js';
import { makeCertificate } from '../../src/lab/keys.js';

let dir: string;
let server: Server;
let port: number;
let fingerprint: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cplb-verify-probes-'));
  const [key, cert] = [join(dir, 'k.pem'), join(dir, 'c.pem')];
  await makeCertificate(cert, key, 'probe', '127.0.0.1');
  fingerprint = new X509Certificate(readFileSync(cert)).fingerprint256;
  server = createServer({ key: readFileSync(key), cert: readFileSync(cert) }, (s) => s.end());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  port = (server.address() as { port: number }).port;
});

afterAll(async () => {
  await new Promise((r) => server.close(r));
  rmSync(dir, { recursive: true, force: true });
});

// Asynchronous: the TLS server lives in this process and must keep answering while the script runs.
const sh = async (script: string) =>
  (await promisify(execFile)('sh', ['-c', script], { encoding: 'utf8' })).stdout;

async function closedPort(): Promise<number> {
  const s = createNetServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const p = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return p;
}

describe('TLS probes on loopback', () => {
  it('the fingerprint script tells which server answered, and marks a refused connection', async () => {
    const dead = await closedPort();
    const out = await sh(
      fingerprintScript([
        { label: 'vip', target: `127.0.0.1:${port}` },
        { label: 'vip', target: `127.0.0.1:${dead}` },
      ]),
    );
    expect(parseFingerprints(out)).toEqual([
      { label: 'vip', target: `127.0.0.1:${port}`, fingerprint },
      { label: 'vip', target: `127.0.0.1:${dead}`, fingerprint: undefined },
    ]);
  });

  it('the host prober starts a handshake every 50 ms and times each', async () => {
    const probes = parseProbes(await sh(proberScript('127.0.0.1', port, 500)));
    expect(probes.length).toBeGreaterThanOrEqual(8);
    expect(probes.every((p) => p.ok && p.endMs >= p.startMs)).toBe(true);
    const starts = probes.map((p) => p.startMs).sort((a, b) => a - b);
    const gaps = starts.slice(1).map((s, i) => s - starts[i]!);
    expect(Math.max(...gaps)).toBeLessThan(PROBE_EVERY_MS * 3);
  });

  it("the host prober and this machine's count a refused port as failed", async () => {
    const dead = await closedPort();
    const remote = parseProbes(await sh(proberScript('127.0.0.1', dead, 200)));
    expect(remote.length).toBeGreaterThan(0);
    expect(remote.every((p) => !p.ok)).toBe(true);
    const local = await localProber('127.0.0.1', dead, 200);
    expect(local.length).toBeGreaterThanOrEqual(3);
    expect(local.every((p) => !p.ok)).toBe(true);
    const ok = await localProber('127.0.0.1', port, 200);
    expect(ok.every((p) => p.ok)).toBe(true);
  });
});

/**
 * Stand-in API servers for the agent's integration tests: HTTPS with a self-signed certificate per
 * server (CN=name, so a client can tell who answered), /readyz that can be turned sick, and
 * POST /echo for bulk transfers.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import tls from 'node:tls';

export interface Cert {
  key: string;
  cert: string;
  keyPath: string;
  certPath: string;
}

export function makeCert(dir: string, cn: string): Cert {
  const keyPath = join(dir, `${cn}.key`);
  const certPath = join(dir, `${cn}.crt`);
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-subj', `/CN=${cn}`, '-days', '1', '-keyout', keyPath, '-out', certPath,
  ], { stdio: 'ignore' }); // prettier-ignore
  return { key: readFileSync(keyPath, 'utf8'), cert: readFileSync(certPath, 'utf8'), keyPath, certPath };
}

/** The request handler, shared by the in-process servers and the script run inside namespaces. */
const HANDLER = `(req, res, name, isSick) => {
  if (req.url === '/readyz' || req.url === '/healthz' || req.url === '/livez') {
    const sick = isSick();
    res.writeHead(sick ? 500 : 200).end(sick ? 'sick' : 'ok');
  } else if (req.url === '/echo' && req.method === 'POST') {
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    req.pipe(res);
  } else {
    res.writeHead(200).end(name);
  }
}`;

export interface Upstream {
  name: string;
  port: number;
  sick: boolean;
  server: https.Server;
  close(): Promise<void>;
}

export async function startUpstream(name: string, cert: Cert, host = '127.0.0.1'): Promise<Upstream> {
  const handler = new Function(`return ${HANDLER}`)() as (
    req: unknown,
    res: unknown,
    name: string,
    isSick: () => boolean,
  ) => void;
  const up: Partial<Upstream> & { sick: boolean } = { name, sick: false };
  const server = https.createServer({ key: cert.key, cert: cert.cert }, (req, res) =>
    handler(req, res, name, () => up.sick),
  );
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  up.server = server;
  up.port = (server.address() as AddressInfo).port;
  up.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return up as Upstream;
}

/** A script for `node script.mjs NAME CERT KEY HOST PORT SICKFILE`: sick while SICKFILE exists. */
export function writeUpstreamScript(dir: string): string {
  const path = join(dir, 'upstream.mjs');
  writeFileSync(
    path,
    `import https from 'node:https';
import { existsSync, readFileSync } from 'node:fs';
const [name, cert, key, host, port, sickFile] = process.argv.slice(2);
const handler = ${HANDLER};
https.createServer({ cert: readFileSync(cert), key: readFileSync(key) }, (req, res) => handler(req, res, name, () => existsSync(sickFile)))
  .listen(Number(port), host, () => console.log('listening'));
process.on('SIGTERM', () => process.exit(0));
`,
  );
  return path;
}

/** Opens a TLS connection to host:port and returns the CN of the certificate the far end showed. */
export function peerName(host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host, port, rejectUnauthorized: false }, () => {
      const cn = socket.getPeerCertificate().subject?.CN;
      socket.end();
      resolve(String(cn));
    });
    socket.setTimeout(5000, () => socket.destroy(new Error('TLS handshake timed out')));
    socket.on('error', reject);
  });
}

export async function waitFor(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs: number,
  stepMs = 50,
) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, stepMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

/** Root with keepalived, iptables-nft, ip and openssl: what the agent tests in namespaces need. */
export const canRunAgentInNamespaces =
  process.getuid?.() === 0 &&
  ['keepalived', 'iptables-nft', 'ip', 'openssl'].every((b) => {
    try {
      execFileSync('sh', ['-c', `command -v ${b}`], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  });

/**
 * The stand-in for kube-apiserver on every lab controller: HTTPS on :6443 with the host's own certificate,
 * /healthz /readyz /livez /version, a sick switch (a file) a fault turns on, and an auth switch (another
 * file): while it exists, requests without its bearer token get 401, as from `--anonymous-auth=false`. It runs with the machine's
 * `node` and only node built-ins, so it needs nothing installed on the host.
 */

/** Inside each host (same path on both flavors). */
const STANDIN_DIR = '/opt/cplb-lab';
export const STANDIN_SCRIPT_PATH = `${STANDIN_DIR}/standin.mjs`;
export const STANDIN_CERT_PATH = `${STANDIN_DIR}/tls/server.crt`;
export const STANDIN_KEY_PATH = `${STANDIN_DIR}/tls/server.key`;
/** In the host's private /run, so a reboot (crash, then `up`) makes it healthy again, like a fresh process. */
export const SICK_FILE = '/run/cplb-lab/apiserver-sick';
/** While it exists, anonymous requests get 401; its first line, if any, is the one bearer token accepted. */
export const AUTH_FILE = '/run/cplb-lab/apiserver-auth';
export const STANDIN_PORT = 6443;

export function standinArgs(hostName: string): string[] {
  return [
    STANDIN_SCRIPT_PATH,
    STANDIN_CERT_PATH,
    STANDIN_KEY_PATH,
    hostName,
    SICK_FILE,
    String(STANDIN_PORT),
    AUTH_FILE,
  ];
}

export const STANDIN_SCRIPT = `// cplbctl lab: kube-apiserver stand-in (generated; do not edit)
import https from 'node:https';
import { existsSync, readFileSync } from 'node:fs';

const [certPath, keyPath, hostName, sickFile, port, authFile] = process.argv.slice(2);
const health = new Set(['/healthz', '/readyz', '/livez']);
const version = {
  major: '1',
  minor: '30',
  gitVersion: 'v1.30.0-cplb-lab',
  platform: 'linux/amd64',
  cplbLabHost: hostName,
};

const server = https.createServer({ cert: readFileSync(certPath), key: readFileSync(keyPath) }, (req, res) => {
  const path = (req.url ?? '/').split('?')[0];
  res.setHeader('X-Cplb-Lab-Host', hostName);
  // Like kube-apiserver --anonymous-auth=false: no valid credentials, 401 on every path.
  let token;
  try {
    token = authFile ? readFileSync(authFile, 'utf8').split('\\n')[0].trim() : undefined;
  } catch {
    token = undefined;
  }
  if (token !== undefined && !(token && req.headers.authorization === 'Bearer ' + token)) {
    res.writeHead(401, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', message: 'Unauthorized', reason: 'Unauthorized', code: 401 }));
  } else if (health.has(path)) {
    const sick = existsSync(sickFile);
    res.writeHead(sick ? 500 : 200, { 'content-type': 'text/plain; charset=utf-8' });
    res.end(sick ? '[-]cplb-lab-standin failed: switched sick\\n' + path.slice(1) + ' check failed\\n' : 'ok');
  } else if (path === '/version') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(version));
  } else {
    res.writeHead(403, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Forbidden', code: 403 }));
  }
});
// Every address family, as kube-apiserver's default bind address does ("all interfaces and IP
// address families"); IPv4 only on a host without IPv6.
let wildcard = '::';
server.on('error', (err) => {
  if (wildcard === '::' && err.code === 'EAFNOSUPPORT') return server.listen(Number(port), (wildcard = '0.0.0.0'));
  console.error('stand-in: ' + err.message);
  process.exit(1);
});
server.listen(Number(port), wildcard);
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => server.close(() => process.exit(0)));
`;

/**
 * A stand-in API server for the benchmarks, one port for two kinds of client:
 *   TLS (first byte 0x16): HTTPS; /readyz answers ok, /watch streams a small event every 200 ms
 *   until the client goes, anything else answers the server's name.
 *   plain 'B': bulk, the server streams bytes until the client goes (throughput, no TLS cost).
 *
 *   node --import tsx bench/upstream.ts NAME HOST PORT CERT KEY
 */
import { readFileSync } from 'node:fs';
import https from 'node:https';
import net from 'node:net';

const [name = 'up', host = '127.0.0.1', port = '0', cert = '', key = ''] = process.argv.slice(2);
const chunk = Buffer.alloc(256 * 1024, 'cplb');

const api = https.createServer({ cert: readFileSync(cert), key: readFileSync(key) }, (req, res) => {
  if (req.url === '/readyz') res.writeHead(200).end('ok');
  else if (req.url === '/watch') watch(res);
  else res.writeHead(200, { 'content-type': 'text/plain' }).end(name);
});

/** Like a Kubernetes watch: one long response, a small event now and then, until the client goes. */
function watch(res: import('node:http').ServerResponse): void {
  res.writeHead(200, { 'content-type': 'application/json' });
  const timer = setInterval(
    () => res.write(`{"type":"MODIFIED","from":"${name}","at":${Date.now()}}\n`),
    200,
  );
  res.on('close', () => clearInterval(timer));
}

function stream(socket: net.Socket): void {
  const pump = () => {
    while (!socket.destroyed && socket.write(chunk));
  };
  socket.on('drain', pump);
  pump();
}

const server = net.createServer((socket) => {
  socket.on('error', () => undefined);
  socket.once('data', (first: Buffer) => {
    socket.pause();
    socket.unshift(first);
    if (first[0] === 0x16) api.emit('connection', socket);
    else stream(socket);
    process.nextTick(() => socket.resume());
  });
});
server.listen(Number(port), host, () => console.log(`${name} listening on ${host}:${port}`));
process.on('SIGTERM', () => process.exit(0));

/**
 * The load of bench/agent-soak.ts, a process of its own inside the benchmark's namespace.
 *
 *   node --import tsx bench/soak-load.ts HOST PORT RATE STREAMS SECONDS
 *
 * For SECONDS: a new TLS connection RATE times a second (handshake, GET /, the answer, close; open
 * loop, so a slow proxy shows as errors or late answers, not as a lower rate), and STREAMS long-lived
 * `GET /watch` responses (reopened when one ends). Every 10 s and at the end, one JSON line:
 * { t, ok, errors, late, streamEvents, streamsOpen, streamReopens }.
 */
import https from 'node:https';
import tls from 'node:tls';

const [HOST = '127.0.0.1', portText = '6443', rateText = '50', streamsText = '5', secondsText = '600'] =
  process.argv.slice(2);
const [port, rate, streams, seconds] = [portText, rateText, streamsText, secondsText].map(Number) as [
  number,
  number,
  number,
  number,
];
const counts = { ok: 0, errors: 0, late: 0, streamEvents: 0, streamsOpen: 0, streamReopens: 0 };
const t0 = Date.now();
let running = true;

function once(): void {
  const started = Date.now();
  const s = tls.connect({ host: HOST, port, rejectUnauthorized: false }, () =>
    s.end('GET / HTTP/1.1\r\nHost: soak\r\nConnection: close\r\n\r\n'),
  );
  let got = 0;
  s.on('data', (d: Buffer) => (got += d.length));
  s.setTimeout(5000, () => s.destroy(new Error('timeout')));
  s.on('error', () => counts.errors++);
  s.on('close', (hadError) => {
    if (hadError) return;
    if (got === 0) counts.errors++;
    else {
      counts.ok++;
      if (Date.now() - started > 1000) counts.late++;
    }
  });
}

function stream(): void {
  const req = https.get(
    { host: HOST, port, path: '/watch', rejectUnauthorized: false, agent: false },
    (res) => {
      counts.streamsOpen++;
      res.on('data', (d: Buffer) => (counts.streamEvents += d.toString().split('\n').length - 1));
      res.on('close', () => {
        counts.streamsOpen--;
        if (running) {
          counts.streamReopens++;
          setTimeout(stream, 100);
        }
      });
    },
  );
  req.on('error', () => {
    counts.errors++;
    if (running) setTimeout(stream, 100);
  });
  streamsOf.add(req);
}
const streamsOf = new Set<import('node:http').ClientRequest>();

const report = () => console.log(JSON.stringify({ t: Math.round((Date.now() - t0) / 1000), ...counts }));
for (let i = 0; i < streams; i++) stream();
// Open loop: the n-th connection starts at t0 + n / rate, however the earlier ones fare.
let n = 0;
const tick = setInterval(() => {
  const due = Math.floor(((Date.now() - t0) / 1000) * rate);
  for (; n < due; n++) once();
}, 10);
const reporter = setInterval(report, 10_000);
setTimeout(() => {
  running = false;
  clearInterval(tick);
  clearInterval(reporter);
  for (const req of streamsOf) req.destroy();
  setTimeout(() => {
    report();
    process.exit(0);
  }, 6000);
}, seconds * 1000);

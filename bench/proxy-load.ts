/**
 * The load generator of bench/proxy.ts, a process of its own (it shares the cores with the proxies).
 *
 *   node --import tsx bench/proxy-load.ts MODE PARAM SLICES SLICE_MS PORT[,PORT...]
 *     bulk    PARAM connections, each streaming bytes from a stand-in (MB/s, 10^6 bytes)
 *     rate    PARAM workers, each doing TLS handshake + small request + answer + close in a loop
 *     latency PARAM connections a second, open loop: ms from connect to the answer's first byte
 *
 * The ports (127.0.0.1) take turns, one slice each, SLICES times round after one untimed round:
 * other load on the machine then falls on every target alike. Each slice opens with 200 ms that are
 * not counted. Prints `SLICE i` when a slice's timed window opens (the caller samples CPU then)
 * and, when it closes, one JSON line: { target, value, errors, samples? }.
 */
import net from 'node:net';
import tls from 'node:tls';

const [mode = 'rate', paramText = '1', slicesText = '1', sliceMsText = '1000', portsText = ''] =
  process.argv.slice(2);
const param = Number(paramText);
const sliceMs = Number(sliceMsText);
const ports = portsText.split(',').map(Number);
const HOST = '127.0.0.1';
const WARMUP_MS = 200;
const REQUEST = 'GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** During the first, untimed round (JIT and TLS caches warming up in every process) nothing is reported. */
let warmingUp = true;
const announce = (target: number) => warmingUp || console.log(`SLICE ${target}`);

interface SliceResult {
  value: number;
  errors: number;
  samples?: number[];
}

/** Waits out the warm-up and the timed window, flipping `counting` on for the window only. */
async function window(target: number, counting: { on: boolean }): Promise<number> {
  await sleep(WARMUP_MS);
  counting.on = true;
  announce(target);
  const t0 = performance.now();
  await sleep(sliceMs);
  counting.on = false;
  return (performance.now() - t0) / 1000;
}

async function bulk(target: number, port: number): Promise<SliceResult> {
  let bytes = 0;
  let errors = 0;
  const counting = { on: false };
  const sockets = Array.from({ length: param }, () => {
    const s = net.connect({ host: HOST, port }, () => s.write('B'));
    s.on('data', (d: Buffer) => {
      if (counting.on) bytes += d.length;
    });
    s.on('error', () => errors++);
    return s;
  });
  const seconds = await window(target, counting);
  for (const s of sockets) s.destroy();
  return { value: bytes / 1e6 / seconds, errors };
}

/** One TLS exchange; resolves the ms from connect to the answer's first byte. */
function exchange(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    let firstByte = 0;
    let ended = false;
    const s = tls.connect({ host: HOST, port, rejectUnauthorized: false }, () => s.write(REQUEST));
    s.setTimeout(5000, () => s.destroy(new Error('timed out')));
    s.on('data', () => {
      if (firstByte === 0) firstByte = performance.now() - t0;
    });
    s.on('end', () => (ended = true));
    s.on('error', () => undefined);
    s.on('close', () => (ended && firstByte > 0 ? resolve(firstByte) : reject(new Error('incomplete'))));
  });
}

async function rate(target: number, port: number): Promise<SliceResult> {
  let counted = 0;
  let errors = 0;
  let stop = false;
  const counting = { on: false };
  const worker = async () => {
    while (!stop) {
      const ok = await exchange(port).then(
        () => true,
        () => false,
      );
      if (counting.on && ok) counted++;
      else if (counting.on) errors++;
    }
  };
  const running = Array.from({ length: param }, () => worker());
  const seconds = await window(target, counting);
  stop = true;
  await Promise.all(running);
  return { value: counted / seconds, errors };
}

/** Open loop: connections start on schedule whether or not earlier ones are done. */
async function latency(target: number, port: number): Promise<SliceResult> {
  const samples: number[] = [];
  const pending: Array<Promise<void>> = [];
  let errors = 0;
  let started = 0;
  let announced = false;
  const t0 = performance.now();
  for (let elapsed = 0; elapsed < WARMUP_MS + sliceMs; elapsed = performance.now() - t0) {
    const counted = elapsed >= WARMUP_MS;
    if (counted && !announced) {
      announced = true;
      announce(target);
    }
    for (const due = Math.floor((elapsed / 1000) * param); started < due; started++) {
      const record = (ms: number) => void (counted && samples.push(Math.round(ms * 1000) / 1000));
      pending.push(exchange(port).then(record, () => void (counted && errors++)));
    }
    await sleep(1);
  }
  await Promise.all(pending);
  const sorted = [...samples].sort((a, b) => a - b);
  return { value: sorted[Math.floor(sorted.length / 2)] ?? NaN, errors, samples };
}

const run = mode === 'bulk' ? bulk : mode === 'rate' ? rate : latency;
for (let round = 0; round <= Number(slicesText); round++) {
  warmingUp = round === 0;
  // Rotate who goes first, so a burst of other load does not always land on the same target.
  for (let i = 0; i < ports.length; i++) {
    const target = (i + round) % ports.length;
    const result = await run(target, ports[target]!);
    if (!warmingUp) console.log(JSON.stringify({ target, ...result }));
  }
}
process.exit(0);

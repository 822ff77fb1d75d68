/**
 * What a round watches while the VIP moves: `ip -ts monitor address` on every other controller (the
 * kernel's own timestamp of the VIP appearing), and fresh TLS connections to VIP:6443 every 50 ms
 * from a controller and from this machine.
 */
import { canonicalIp } from '../../contract/net.js';
import { shq } from '../../contract/quote.js';
import { localHandshake } from '../tls.js';
import { nowMs } from './clock.js';
import type { Probe } from './figures.js';
import { PATH_LINE } from '../../contract/script.js';

export const PROBE_EVERY_MS = 50;
/** A handshake slower than this fails: a SYN lost to a stale ARP entry is retried only after 1 s. */
const PROBE_TIMEOUT_MS = 1000;

export function monitorScript(durationMs: number): string {
  return `echo "S $(date +%s%N)"
TZ=UTC timeout ${(durationMs / 1000).toFixed(2)} ip -ts monitor address 2>&1
true
`;
}

/** First time (host clock, ms) `vip` was added, from `ip -ts monitor` lines printed in UTC. */
export function firstAdd(stdout: string, vip: string): number | undefined {
  const want = canonicalIp(vip);
  for (const line of stdout.split('\n')) {
    const m =
      /^\[(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?\]\s+(?!Deleted)\d+:\s+\S+\s+inet6?\s+([0-9a-fA-F.:]+)\//.exec(
        line,
      );
    if (!m || canonicalIp(m[3]!) !== want) continue;
    return Date.parse(`${m[1]}Z`) + Number(`0.${m[2] ?? '0'}`) * 1000;
  }
  return undefined;
}

export function monitorStart(stdout: string): number | undefined {
  const m = /^S (\d+)$/m.exec(stdout);
  return m ? Number(BigInt(m[1]!) / 1000n) / 1000 : undefined;
}

const NODE_PROBER = `const tls=require('tls');const a=process.argv.slice(1);const host=a[0],port=+a[1],dur=+a[2],every=+a[3],tmo=+a[4];
const ns=()=>String(BigInt(Math.round((performance.timeOrigin+performance.now())*1000))*1000n);
console.log('S '+ns());const end=Date.now()+dur;
const probe=()=>{const s=ns();let d=false;const f=r=>{if(d)return;d=true;k.destroy();console.log('P '+s+' '+ns()+' '+r)};
const k=tls.connect({host,port,rejectUnauthorized:false},()=>f('ok'));k.setTimeout(tmo,()=>f('fail'));k.on('error',()=>f('fail'))};
const t=setInterval(()=>{if(Date.now()>=end){clearInterval(t);return}probe()},every);probe();`;

/**
 * Prints `S <ns>` at start and `P <start ns> <end ns> ok|fail` per probe; probes overlap, none waits
 * for another. node first: one process for all probes. openssl s_client costs a few forks per probe,
 * which at 20 probes a second on a busy 2-core host delayed handshakes by up to a second and blurred
 * the figures; it is the fallback.
 */
export function proberScript(host: string, port: number, durationMs: number): string {
  const t = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  const timeoutS = (PROBE_TIMEOUT_MS / 1000).toFixed(2);
  return `${PATH_LINE}
if command -v node >/dev/null 2>&1; then
  exec node -e ${shq(NODE_PROBER)} ${shq(host)} ${port} ${durationMs} ${PROBE_EVERY_MS} ${PROBE_TIMEOUT_MS}
elif command -v openssl >/dev/null 2>&1; then
  now() { date +%s%N; }
  probe() { s=$(now); if timeout ${timeoutS} openssl s_client -connect ${shq(t)} </dev/null >/dev/null 2>&1; then r=ok; else r=fail; fi; echo "P $s $(now) $r"; }
  echo "S $(now)"
  next=$(now); end=$((next + ${durationMs} * 1000000))
  while [ "$next" -lt "$end" ]; do
    probe &
    next=$((next + ${PROBE_EVERY_MS} * 1000000))
    d=$(( (next - $(now)) / 1000000 ))
    if [ "$d" -gt 0 ]; then sleep "$(printf '0.%03d' "$d")"; fi
  done
  wait
else
  echo 'no prober: neither node nor openssl is installed' >&2; exit 3
fi
`;
}

/** Probes in host clock ms. */
export function parseProbes(stdout: string): Probe[] {
  const out: Probe[] = [];
  for (const m of stdout.matchAll(/^P (\d+) (\d+) (ok|fail)$/gm))
    out.push({
      startMs: Number(BigInt(m[1]!) / 1000n) / 1000,
      endMs: Number(BigInt(m[2]!) / 1000n) / 1000,
      ok: m[3] === 'ok',
    });
  return out;
}

/** The same from this machine, in-process. */
export async function localProber(host: string, port: number, durationMs: number): Promise<Probe[]> {
  const t = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  const pending: Promise<Probe>[] = [];
  const end = nowMs() + durationMs;
  for (let next = nowMs(); next < end; next += PROBE_EVERY_MS) {
    const wait = next - nowMs();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const start = nowMs();
    pending.push(
      localHandshake(t, PROBE_TIMEOUT_MS).then((h) => ({
        startMs: start,
        endMs: nowMs(),
        ok: h.fingerprint !== undefined,
      })),
    );
  }
  return Promise.all(pending);
}

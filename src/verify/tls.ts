/**
 * TLS handshakes to VIP:6443, made on a controller over SSH (openssl s_client, the seed's own check;
 * node where openssl is missing) or from this machine. The peer certificate's fingerprint tells
 * which API server answered.
 */
import { connect as tlsConnect } from 'node:tls';
import { shq } from '../contract/quote.js';
import { PATH_LINE } from '../contract/script.js';
import { hostPort } from '../contract/net.js';

export const target = hostPort;

function splitTarget(t: string): { host: string; port: number } {
  const m = /^\[?(.*?)\]?:(\d+)$/.exec(t);
  return { host: m?.[1] ?? t, port: Number(m?.[2] ?? 443) };
}

/** node fallback: one handshake per argv target, printing `<target> <fingerprint|->` per line, in order. */
const NODE_FINGERPRINTS = `const tls=require('tls');const ts=process.argv.slice(1);
(async()=>{for(const t of ts){const m=/^\\[?(.*?)\\]?:(\\d+)$/.exec(t);
const fp=await new Promise(r=>{const s=tls.connect({host:m[1],port:+m[2],rejectUnauthorized:false},()=>{const c=s.getPeerCertificate();s.destroy();r(c&&c.fingerprint256||'-')});
s.setTimeout(3000,()=>{s.destroy();r('-')});s.on('error',()=>r('-'))});console.log(t+' '+fp)}})()`;

/**
 * Prints `<label> <target> <fingerprint|->` for each (label, target), in order. Handshakes run one
 * after the other, so a round-robin balancer shows each backend in turn.
 */
export function fingerprintScript(targets: readonly { label: string; target: string }[]): string {
  const list = targets.map((t) => `${shq(t.label)} ${shq(t.target)}`).join(' \\\n  ');
  return `${PATH_LINE}
if command -v openssl >/dev/null 2>&1; then
  fp() { timeout 3 openssl s_client -connect "$1" </dev/null 2>/dev/null | openssl x509 -noout -fingerprint -sha256 2>/dev/null | sed 's/^.*=//'; }
  set -- ${list}
  while [ "$#" -ge 2 ]; do f=$(fp "$2"); echo "$1 $2 \${f:--}"; shift 2; done
elif command -v node >/dev/null 2>&1; then
  set -- ${list}
  node -e ${shq(NODE_FINGERPRINTS)} ${targets.map((t) => shq(t.target)).join(' ')} | while read -r t f; do
    echo "$1 $t $f"; shift 2
  done
else
  echo 'no-prober: neither openssl nor node is installed' >&2; exit 3
fi
`;
}

export interface Handshake {
  label: string;
  target: string;
  /** Upper-case hex pairs joined by colons, as openssl and node print them; undefined when it failed. */
  fingerprint: string | undefined;
}

export function parseFingerprints(stdout: string): Handshake[] {
  return stdout
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter((w) => w.length === 3)
    .map(([label, t, f]) => ({
      label: label!,
      target: t!,
      fingerprint: f && f !== '-' ? f.toUpperCase() : undefined,
    }));
}

export interface LocalHandshake {
  startMs: number;
  endMs: number;
  fingerprint: string | undefined;
  error?: string;
}

/** One handshake from this machine; never rejects. */
export function localHandshake(t: string, timeoutMs: number): Promise<LocalHandshake> {
  const { host, port } = splitTarget(t);
  const startMs = Date.now();
  return new Promise((resolve) => {
    let done = false;
    const finish = (fingerprint: string | undefined, error?: string) => {
      if (done) return;
      done = true;
      socket.destroy();
      resolve({ startMs, endMs: Date.now(), fingerprint, ...(error ? { error } : {}) });
    };
    const socket = tlsConnect({ host, port, rejectUnauthorized: false }, () =>
      finish(socket.getPeerCertificate()?.fingerprint256?.toUpperCase() || undefined),
    );
    socket.setTimeout(timeoutMs, () => finish(undefined, 'ETIMEDOUT'));
    socket.on('error', (err: NodeJS.ErrnoException) => finish(undefined, err.code ?? err.message));
  });
}

/** Errors that mean "this machine has no route to the VIP", not "the VIP is down". */
export const UNREACHABLE_FROM_HERE = new Set(['ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL']);

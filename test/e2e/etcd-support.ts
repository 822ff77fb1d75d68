/**
 * A real TLS server behind the VIP: a three-member etcd cluster (Debian's etcd-server) on the lab's
 * controllers, each member a process inside its host (as the stand-in is), and etcdctl clients on the
 * lab's client host. Certificates come from openssl here: a CA, and one certificate per member whose
 * SANs name the member's address and the VIP (clients reach every member through it).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { labExec, type LabHost } from '../../src/lab/index.js';
import { isProcessOf } from '../../src/lab/procs.js';

const execFileAsync = promisify(execFile);
export const ETCD_DIR = '/etc/etcd-lab';
export const CLIENT_PORT = 2379;
const PEER_PORT = 2380;

export interface Pki {
  ca: string;
  members: Map<string, { cert: string; key: string }>;
}

async function openssl(dir: string, args: string[]): Promise<void> {
  await execFileAsync('openssl', args, { cwd: dir });
}

/** A CA and a certificate per member (server and client use: members are each other's clients). */
export async function makePki(members: readonly LabHost[], vip: string): Promise<Pki> {
  const dir = await mkdtemp(join(tmpdir(), 'cplb-etcd-pki-'));
  try {
    await openssl(dir, ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=cplb-lab etcd CA']); // prettier-ignore
    const out: Pki = { ca: await readFile(join(dir, 'ca.crt'), 'utf8'), members: new Map() };
    for (const m of members) {
      await writeFile(
        join(dir, `${m.name}.ext`),
        `subjectAltName=IP:${m.address},IP:${vip},IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n`,
      );
      await openssl(dir, ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
        '-keyout', `${m.name}.key`, '-out', `${m.name}.csr`, '-subj', `/CN=${m.name}`]); // prettier-ignore
      await openssl(dir, ['x509', '-req', '-in', `${m.name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key',
        '-CAcreateserial', '-days', '2', '-extfile', `${m.name}.ext`, '-out', `${m.name}.crt`]); // prettier-ignore
      out.members.set(m.name, {
        cert: await readFile(join(dir, `${m.name}.crt`), 'utf8'),
        key: await readFile(join(dir, `${m.name}.key`), 'utf8'),
      });
    }
    return out;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function put(lab: string, host: string, path: string, text: string, mode = '0644'): Promise<void> {
  const r = await labExec(
    lab,
    host,
    ['sh', '-c', `mkdir -p ${ETCD_DIR} && cat > ${path} && chmod ${mode} ${path}`],
    {
      input: text,
    },
  );
  if (r.code !== 0) throw new Error(`[${host}] writing ${path}: ${r.stderr}`);
}

/** The CA to every host given; each member its certificate and key. */
export async function installPki(lab: string, pki: Pki, hosts: readonly LabHost[]): Promise<void> {
  for (const h of hosts) {
    await put(lab, h.name, `${ETCD_DIR}/ca.crt`, pki.ca);
    const own = pki.members.get(h.name);
    if (!own) continue;
    await put(lab, h.name, `${ETCD_DIR}/member.crt`, own.cert);
    await put(lab, h.name, `${ETCD_DIR}/member.key`, own.key, '0600');
  }
}

/**
 * Starts one member inside its host, detached, its data under /var/lib (the host's own disk, which a
 * crash keeps); returns its PID. Clients on :2379 (every address, so VIP:2379 reaches it only through
 * the REDIRECT to the proxy), peers on the member's address.
 */
export async function startMember(lab: string, member: LabHost, all: readonly LabHost[]): Promise<number> {
  const cluster = all.map((m) => `${m.name}=https://${m.address}:${PEER_PORT}`).join(',');
  const argv = [
    'etcd', `--name=${member.name}`, `--data-dir=/var/lib/etcd-lab/${member.name}`,
    `--listen-client-urls=https://0.0.0.0:${CLIENT_PORT}`, `--advertise-client-urls=https://${member.address}:${CLIENT_PORT}`,
    `--listen-peer-urls=https://${member.address}:${PEER_PORT}`, `--initial-advertise-peer-urls=https://${member.address}:${PEER_PORT}`,
    `--initial-cluster=${cluster}`, '--initial-cluster-state=new', '--initial-cluster-token=cplb-lab',
    `--cert-file=${ETCD_DIR}/member.crt`, `--key-file=${ETCD_DIR}/member.key`,
    `--peer-cert-file=${ETCD_DIR}/member.crt`, `--peer-key-file=${ETCD_DIR}/member.key`,
    `--peer-trusted-ca-file=${ETCD_DIR}/ca.crt`, '--peer-client-cert-auth',
  ]; // prettier-ignore
  const script = `mkdir -p /var/lib/etcd-lab; setsid "$@" </dev/null >>/var/log/etcd-lab.log 2>&1 & echo $!`;
  const r = await labExec(lab, member.name, ['sh', '-c', script, 'sh', ...argv]);
  const pid = Number(r.stdout.trim());
  if (r.code !== 0 || !pid) throw new Error(`[${member.name}] etcd did not start: ${r.stderr}`);
  return pid;
}

/** Ends members this test started, by PID (a crashed host's is gone already). */
export async function stopMembers(pids: readonly number[]): Promise<void> {
  for (const pid of pids) if (await isProcessOf(pid, 'etcd')) process.kill(pid, 'SIGTERM');
}

/** etcdctl's global flags for an endpoint, verifying the server's certificate against the lab CA. */
export function etcdctlFlags(endpoint: string): string {
  return `--endpoints=https://${endpoint}:${CLIENT_PORT} --cacert=${ETCD_DIR}/ca.crt --dial-timeout=1s --command-timeout=2s`;
}

/** stdout, and stderr after it (`endpoint health` reports there). */
export async function etcdctl(lab: string, host: string, endpoint: string, args: string): Promise<string> {
  const r = await labExec(lab, host, ['sh', '-c', `ETCDCTL_API=3 etcdctl ${etcdctlFlags(endpoint)} ${args}`]);
  if (r.code !== 0) throw new Error(`[${host}] etcdctl ${args}: ${r.stderr.trim()}`);
  return r.stdout + r.stderr;
}

/** The lab's stand-in on a controller, ended by PID: etcd alone must serve behind the VIP. */
export async function stopStandin(lab: string, host: string): Promise<void> {
  const find = `for p in /proc/[0-9]*; do c=$(tr '\\0' ' ' <"$p/cmdline" 2>/dev/null) || continue; case "$c" in "node /opt/cplb-lab/standin.mjs "*) echo "\${p#/proc/}";; esac; done`;
  const pids = (await labExec(lab, host, ['sh', '-c', find])).stdout.split('\n').filter(Boolean);
  if (pids.length) await labExec(lab, host, ['kill', ...pids]);
}

export const STOP_FILE = '/tmp/etcd-clients-stop';

/**
 * `etcdctl put` in a loop through the VIP until STOP_FILE exists: `A i start end {json}` for an
 * acknowledged put (its JSON carries the revision), `F i start end` for one that failed.
 */
export function writerScript(vip: string): string {
  return `i=0
while [ ! -e ${STOP_FILE} ]; do
  i=$((i + 1)); s=$(date +%s%N)
  if out=$(ETCDCTL_API=3 etcdctl ${etcdctlFlags(vip)} -w json put "k/$(printf %06d $i)" "v$i" 2>/dev/null); then
    echo "A $i $s $(date +%s%N) $out"
  else
    echo "F $i $s $(date +%s%N)"
  fi
done
`;
}

/** `etcdctl watch --prefix k/` through the VIP, one JSON response a line, until 2 s after STOP_FILE. */
export function watchScript(vip: string): string {
  return `ETCDCTL_API=3 etcdctl ${etcdctlFlags(vip)} -w json watch --prefix k/ & w=$!
while [ ! -e ${STOP_FILE} ]; do sleep 0.2; done
sleep 2; kill $w; wait $w
echo "WATCH-EXIT $?"
`;
}

export interface Write {
  i: number;
  startMs: number;
  endMs: number;
  acked: boolean;
  revision?: number;
}

export function parseWrites(stdout: string): Write[] {
  const out: Write[] = [];
  for (const m of stdout.matchAll(/^(A|F) (\d+) (\d+) (\d+)(?: (.*))?$/gm)) {
    const rev = /"revision":(\d+)/.exec(m[5] ?? '')?.[1];
    out.push({
      i: Number(m[2]),
      startMs: Number(m[3]) / 1e6,
      endMs: Number(m[4]) / 1e6,
      acked: m[1] === 'A',
      ...(rev ? { revision: Number(rev) } : {}),
    });
  }
  return out;
}

/** Every event's mod_revision from `etcdctl -w json watch` lines. */
export function watchedRevisions(stdout: string): number[] {
  return [...stdout.matchAll(/"mod_revision":(\d+)/g)].map((m) => Number(m[1]));
}

/** Revisions missing between the lowest and highest seen. */
export function revisionGaps(revs: readonly number[]): number[] {
  if (revs.length === 0) return [];
  const seen = new Set(revs);
  const [lo, hi] = [Math.min(...revs), Math.max(...revs)];
  const missing: number[] = [];
  for (let r = lo; r <= hi; r++) if (!seen.has(r)) missing.push(r);
  return missing;
}

/** The longest time between two acknowledged writes in a row (by when each was acknowledged). */
export function longestGapMs(writes: readonly Write[]): number {
  const acked = writes.filter((w) => w.acked).sort((a, b) => a.endMs - b.endMs);
  let gap = 0;
  for (let k = 1; k < acked.length; k++) gap = Math.max(gap, acked[k]!.endMs - acked[k - 1]!.endMs);
  return Math.round(gap);
}

/** Helpers for the lab e2e tests: a real `ssh` client, TLS probes, VIP holders, machine snapshots. */
import { execFile } from 'node:child_process';
import { readFile, readdir } from 'node:fs/promises';
import { request } from 'node:https';
import { connect as tlsConnect } from 'node:tls';
import { promisify } from 'node:util';
import { labExec, type LabHost, type LabInfo } from '../../src/lab/index.js';

const execFileAsync = promisify(execFile);

export interface SshResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** OpenSSH with strict host key checking against the lab's known_hosts and nothing else. */
export async function ssh(
  info: Pick<LabInfo, 'keyPath' | 'knownHosts'>,
  host: Pick<LabHost, 'address' | 'sshPort' | 'user'>,
  command: string,
  opts: { knownHosts?: string; user?: string } = {},
): Promise<SshResult> {
  const args = [
    '-F',
    '/dev/null',
    '-i',
    info.keyPath,
    '-o',
    `UserKnownHostsFile=${opts.knownHosts ?? info.knownHosts}`,
    '-o',
    'GlobalKnownHostsFile=/dev/null',
    '-o',
    'StrictHostKeyChecking=yes',
    '-o',
    'BatchMode=yes',
    '-o',
    'ConnectTimeout=5',
    '-p',
    String(host.sshPort),
    `${opts.user ?? host.user}@${host.address}`,
    command,
  ];
  try {
    const { stdout, stderr } = await execFileAsync('ssh', args, { timeout: 20_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

export interface PeerCert {
  subjectCN: string;
  subjectAltName: string;
  fingerprint256: string;
}

export function peerCertificate(address: string, port = 6443): Promise<PeerCert> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect(
      { host: address, port, rejectUnauthorized: false, servername: undefined },
      () => {
        const cert = socket.getPeerCertificate();
        socket.end();
        const cn = cert.subject?.CN;
        resolve({
          subjectCN: Array.isArray(cn) ? cn.join(',') : (cn ?? ''),
          subjectAltName: cert.subjectaltname ?? '',
          fingerprint256: cert.fingerprint256,
        });
      },
    );
    socket.setTimeout(5000, () => socket.destroy(new Error('TLS timeout')));
    socket.on('error', reject);
  });
}

export function httpsGet(
  address: string,
  path: string,
  port = 6443,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: address, port, path, rejectUnauthorized: false, timeout: 5000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
    });
    req.on('timeout', () => req.destroy(new Error('HTTPS timeout')));
    req.on('error', reject);
    req.end();
  });
}

export async function pollUntil<T>(
  what: string,
  timeoutMs: number,
  probe: () => Promise<T>,
  ok: (v: T) => boolean,
) {
  const deadline = Date.now() + timeoutMs;
  let last: T = await probe();
  while (!ok(last)) {
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 200));
    last = await probe();
  }
  return last;
}

export function keepalivedConf(host: string, vip: string): string {
  return [
    `global_defs { router_id ${host} }`,
    'vrrp_instance VI_1 {',
    '  state BACKUP',
    '  interface eth1',
    '  virtual_router_id 51',
    '  priority 100',
    '  advert_int 1',
    '  authentication {',
    '    auth_type PASS',
    '    auth_pass lab-pass',
    '  }',
    `  virtual_ipaddress { ${vip} }`,
    '}',
    '',
  ].join('\n');
}

export async function startKeepalived(lab: string, host: string, vip: string): Promise<void> {
  const script = [
    'mkdir -p /etc/keepalived',
    `cat > /etc/keepalived/lab-test.conf <<'EOF'\n${keepalivedConf(host, vip)}EOF`,
    'keepalived -f /etc/keepalived/lab-test.conf -p /run/ka-test.pid -r /run/ka-test-vrrp.pid',
  ].join('\n');
  const r = await labExec(lab, host, ['sh', '-c', script]);
  if (r.code !== 0) throw new Error(`keepalived on ${host}: ${r.stderr}`);
}

/** Which controllers hold the VIP right now. */
export async function vipHolders(lab: string, hosts: readonly LabHost[], vip: string): Promise<string[]> {
  const bare = vip.split('/')[0] as string;
  const held = await Promise.all(
    hosts.map(async (h) => {
      const r = await labExec(lab, h.name, ['ip', '-4', '-o', 'addr', 'show', 'dev', 'eth1']);
      return r.stdout.includes(` ${bare}/`) ? h.name : null;
    }),
  );
  return held.filter((h): h is string => h !== null);
}

export interface MachineSnapshot {
  netns: string[];
  mounts: string[];
  routes: string[];
  links: string[];
  /** Live (non-zombie) processes: pid + command line. */
  processes: Map<number, string>;
}

async function liveProcesses(): Promise<Map<number, string>> {
  const result = new Map<number, string>();
  for (const e of await readdir('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    const stat = await readFile(`/proc/${e}/stat`, 'utf8').catch(() => '');
    if (!stat || stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) continue;
    const cmd = await readFile(`/proc/${e}/cmdline`, 'utf8').catch(() => '');
    result.set(Number(e), cmd.split('\0').join(' ').trim());
  }
  return result;
}

export async function snapshotMachine(): Promise<MachineSnapshot> {
  const sh = async (cmd: string, args: string[]) => (await execFileAsync(cmd, args)).stdout;
  return {
    netns: (await sh('ip', ['netns', 'list']))
      .split('\n')
      .map((l) => l.split(' ')[0] as string)
      .filter(Boolean),
    mounts: (await readFile('/proc/mounts', 'utf8')).split('\n').filter(Boolean),
    routes: [
      ...(await sh('ip', ['route', 'show', 'table', 'all'])).split('\n'),
      ...(await sh('ip', ['-6', 'route', 'show', 'table', 'all'])).split('\n'),
    ].filter(Boolean),
    links: (await sh('ip', ['-o', 'link', 'show']))
      .split('\n')
      .map((l) => l.split(':')[1]?.trim() ?? '')
      .filter(Boolean),
    processes: await liveProcesses(),
  };
}

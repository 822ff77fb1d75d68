/**
 * What the apply e2e suite reads off lab hosts: the agent's status, TLS probes from the client host,
 * VIP holders over time, fingerprints of what apply may touch, and agent faults per flavor.
 */
import { copyFile, mkdtemp, readFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { agentDistDir } from '../../src/apply/agent-artifacts.js';
import type { AgentStatus } from '../../src/contract/status.js';
import { labExec, type LabFlavor, type LabHost, type LabInfo } from '../../src/lab/index.js';
import { shq } from '../../src/contract/quote.js';
import { vipHolders } from './lab-helpers.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function sh(lab: string, host: string, script: string): Promise<string> {
  const r = await labExec(lab, host, ['sh', '-c', script]);
  if (r.code !== 0) throw new Error(`${host}: \`${script}\` exited ${r.code}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

export async function agentStatus(lab: string, host: string): Promise<AgentStatus> {
  return JSON.parse(await sh(lab, host, '/usr/local/lib/cplb/cplb-agent status')) as AgentStatus;
}

/**
 * A pinned copy of the agent builds: other work may rebuild dist/agent while a suite runs, and a
 * changed build would turn the second apply into an upload. The gzip must match the executable.
 */
export async function pinAgentBuild(): Promise<string> {
  const src = agentDistDir();
  for (let attempt = 0; ; attempt++) {
    const dir = await mkdtemp(join(tmpdir(), 'cplb-agent-pin-'));
    for (const f of ['cplb-agent', 'cplb-agent.gz', 'cplb-agent.js'])
      await copyFile(join(src, f), join(dir, f));
    const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
    const [sea, gz] = await Promise.all([
      readFile(join(dir, 'cplb-agent')),
      readFile(join(dir, 'cplb-agent.gz')),
    ]);
    if (sha(sea) === sha(gunzipSync(gz))) return dir;
    if (attempt >= 5)
      throw new Error(`${src}: cplb-agent.gz does not match cplb-agent (a build in progress?)`);
    await sleep(3000);
  }
}

export interface Probe {
  at: number;
  cn?: string;
  error?: string;
}

/** Run inside the client: new TLS connections to VIP:6443, one every `every` ms; one JSON line each. */
const PROBE_SCRIPT = `
const tls = require('node:tls');
const [vip, count, every] = [process.argv[1], Number(process.argv[2]), Number(process.argv[3])];
const once = () => new Promise((resolve) => {
  const s = tls.connect({ host: vip, port: 6443, rejectUnauthorized: false }, () => {
    const cn = s.getPeerCertificate().subject?.CN;
    s.end();
    resolve({ cn: Array.isArray(cn) ? cn.join(',') : cn });
  });
  s.setTimeout(2000, () => s.destroy(new Error('timeout')));
  s.on('error', (e) => resolve({ error: e.message }));
});
(async () => {
  const t0 = Date.now();
  for (let i = 0; i < count; i++) {
    const start = Date.now();
    process.stdout.write(JSON.stringify({ at: start - t0, ...(await once()) }) + '\\n');
    await new Promise((r) => setTimeout(r, Math.max(0, every - (Date.now() - start))));
  }
})();
`;

export async function probeVip(lab: LabInfo, count: number, everyMs: number): Promise<Probe[]> {
  const vip = lab.vip.split('/')[0]!;
  const r = await labExec(lab.name, 'client', [
    'node',
    '-e',
    PROBE_SCRIPT,
    vip,
    String(count),
    String(everyMs),
  ]);
  if (r.code !== 0) throw new Error(`probe from client: ${r.stderr}`);
  return r.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Probe);
}

/** Plain TCP connects from the client to each address:port: 'connected' or the error code. */
export async function dialFromClient(lab: string, addresses: string[], port: number): Promise<string[]> {
  const script = `const net = require('node:net');
const one = (host) => new Promise((resolve) => {
  const s = net.connect(${port}, host, () => { s.destroy(); resolve('connected'); });
  s.on('error', (e) => resolve(e.code));
  s.setTimeout(3000, () => { s.destroy(); resolve('timeout'); });
});
Promise.all(process.argv.slice(1).map(one)).then((r) => console.log(JSON.stringify(r)));`;
  const r = await labExec(lab, 'client', ['node', '-e', script, ...addresses]);
  if (r.code !== 0) throw new Error(`dial from client: ${r.stderr}`);
  return JSON.parse(r.stdout) as string[];
}

/**
 * Starts, on the client, `idle` TLS connections to VIP:6443 that send nothing after the handshake
 * and one that streams a chunked POST without end; resolves with the holder process's pid once all
 * are up. The process ends itself after 60 s, whatever happens to the test.
 */
export async function holdConnections(lab: string, vip: string, idle: number): Promise<number> {
  const script = `const tls = require('node:tls');
let up = 0;
const open = (busy) => {
  const s = tls.connect({ host: '${vip}', port: 6443, rejectUnauthorized: false }, () => {
    if (busy) {
      s.write('POST /version HTTP/1.1\\r\\nHost: x\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\n');
      setInterval(() => s.write('400\\r\\n' + 'x'.repeat(1024) + '\\r\\n'), 10);
    }
    if (++up === ${idle + 1}) require('node:fs').writeFileSync('/tmp/cplb-e2e-held', 'up');
  });
  s.on('data', () => undefined);
  s.on('error', () => undefined);
};
for (let i = 0; i < ${idle}; i++) open(false);
open(true);
setTimeout(() => process.exit(0), 60000);`;
  const pid = Number(
    (
      await sh(
        lab,
        'client',
        `rm -f /tmp/cplb-e2e-held; node -e ${shq(script)} </dev/null >/dev/null 2>&1 & echo $!`,
      )
    ).trim(),
  );
  for (let i = 0; i < 100; i++) {
    if ((await labExec(lab, 'client', ['test', '-e', '/tmp/cplb-e2e-held'])).code === 0) return pid;
    await sleep(100);
  }
  throw new Error('client connections through the VIP did not come up');
}

/** Polls the hosts' addresses (not the agents' word) until `ok`; the time it took, in ms since `t0`. */
export async function waitHolders(
  lab: LabInfo,
  hosts: readonly LabHost[],
  ok: (holders: string[]) => boolean,
  t0: number,
  timeoutMs: number,
): Promise<{ ms: number; holders: string[] }> {
  for (;;) {
    const holders = await vipHolders(lab.name, hosts, lab.vip);
    const ms = Date.now() - t0;
    if (ok(holders)) return { ms, holders };
    if (ms > timeoutMs) throw new Error(`after ${ms} ms the VIP holders are [${holders.join(', ')}]`);
    await sleep(50);
  }
}

const MARKER = '/tmp/cplb-test-marker';

/** Paths the agent or the host itself changes on its own: not apply's doing. */
const NOISE = [
  MARKER,
  '/run/cplb/*',
  '/var/log/cplb-agent.log',
  '/var/log/cplb-lab/*',
  '/run/cplb-lab/*',
  '/run/sshd*',
  '/var/log/journal/*',
  '/run/log/journal/*',
  '/run/motd.dynamic',
  '/run/utmp',
  '/var/log/wtmp',
  '/var/log/btmp',
  '/var/log/lastlog',
];

export async function markHost(lab: string, host: string): Promise<void> {
  await sh(lab, host, `touch ${MARKER}`);
}

/**
 * Files whose content, inode or mode changed since markHost (mtime or ctime newer than the marker),
 * minus NOISE and systemd's per-login bookkeeping (anything of cplb's under /run/systemd counts);
 * plus the inode and mtime of every file apply manages.
 */
export async function hostFingerprint(
  lab: string,
  host: string,
): Promise<{ changed: string[]; files: string }> {
  const not = NOISE.map((p) => `-not -path '${p}'`).join(' ');
  const find = `find /etc /usr/local /var/lib /var/log /run /tmp -xdev \\( -type f -o -type l \\) \\( -newer ${MARKER} -o -cnewer ${MARKER} \\) ${not} -not \\( -path '/run/systemd/*' -not -name '*cplb*' \\) 2>/dev/null || true`;
  const files = `stat -c '%n %i %Y %a' /etc/cplb/* /usr/local/lib/cplb/* /etc/systemd/system/cplb-agent.service 2>/dev/null || true`;
  const [changed, fp] = await Promise.all([sh(lab, host, find), sh(lab, host, files)]);
  return { changed: changed.split('\n').filter(Boolean), files: fp };
}

/** The agent's pid and its keepalived's, from the status socket. */
export async function pidsOf(
  lab: string,
  host: string,
): Promise<{ agent: number; keepalived: number | undefined }> {
  const s = await agentStatus(lab, host);
  return { agent: s.agent.pid, keepalived: s.keepalived.pid };
}

/**
 * The agent dies and stays dead: SIGKILL with its supervision off. Plain hosts: the launcher's
 * supervisor goes first. OpenRC: supervise-daemon goes with it (the service is left "crashed").
 * systemd: a runtime drop-in sets Restart=no (undone by reviveSupervision).
 * Returns the host clock's ms just before the kill (the lab shares the machine's clock).
 */
export async function killAgent(lab: string, host: string, flavor: LabFlavor): Promise<number> {
  const kill = {
    systemd: `d=/run/systemd/system/cplb-agent.service.d; mkdir -p $d && printf '[Service]\\nRestart=no\\n' >$d/test-norestart.conf && systemctl daemon-reload && p=$(systemctl show -p MainPID --value cplb-agent) && date +%s%3N && kill -9 $p`,
    openrc: `s=$(cat /run/supervise-cplb-agent.pid) && a=$(pgrep -P $s) && date +%s%3N && kill -9 $s $a`,
    plain: `s=$(cat /run/cplb/supervisor.pid) && a=$(cat /run/cplb/agent.pid) && date +%s%3N && kill -9 $s $a`,
  }[flavor];
  return Number((await sh(lab, host, kill)).trim());
}

/** Stops the agent the way an operator would (it stops keepalived first). */
export async function stopAgent(lab: string, host: string, flavor: LabFlavor): Promise<void> {
  await sh(
    lab,
    host,
    {
      systemd: 'systemctl stop cplb-agent',
      openrc: 'rc-service cplb-agent stop',
      plain: '/usr/local/lib/cplb/cplb-agent-ctl stop >/dev/null',
    }[flavor],
  );
}

/**
 * OpenRC hosts in the lab share the machine's PID 1, which reaps the killed supervise-daemon a second
 * or two late; until then `rc-service status` still says started. A host booted by OpenRC reaps at
 * once: wait for that state before the repair.
 */
const OPENRC_SUPERVISOR_ZOMBIE =
  's=$(cat /run/supervise-cplb-agent.pid 2>/dev/null); [ -n "$s" ] && grep -q "^State:.Z" /proc/$s/status 2>/dev/null';

export async function reviveSupervision(lab: string, host: string, flavor: LabFlavor): Promise<void> {
  if (flavor === 'systemd')
    await sh(lab, host, 'rm -rf /run/systemd/system/cplb-agent.service.d && systemctl daemon-reload');
  if (flavor === 'openrc')
    await sh(
      lab,
      host,
      `i=0; while ${OPENRC_SUPERVISOR_ZOMBIE} && [ $i -lt 100 ]; do i=$((i + 1)); sleep 0.1; done`,
    );
}

export async function agentRunning(lab: string, host: string, flavor: LabFlavor): Promise<boolean> {
  const cmd = {
    systemd: 'systemctl is-active --quiet cplb-agent',
    openrc: `if ${OPENRC_SUPERVISOR_ZOMBIE}; then exit 1; fi; rc-service cplb-agent status`,
    plain: '/usr/local/lib/cplb/cplb-agent-ctl status',
  }[flavor];
  return (await labExec(lab, host, ['sh', '-c', cmd])).code === 0;
}

/** Whether a pid is still a keepalived (pids are per machine on plain hosts, per host on systemd). */
export async function isKeepalived(lab: string, host: string, pid: number): Promise<boolean> {
  const r = await labExec(lab, host, ['sh', '-c', `grep -q keepalived /proc/${pid}/cmdline 2>/dev/null`]);
  return r.code === 0;
}

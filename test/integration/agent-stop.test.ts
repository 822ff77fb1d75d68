/**
 * The bundled agent stopping while clients hold connections through it (issue 12, item 5): one
 * node in a network namespace of its own (cplb-tstop, an eth0 on 198.19.254.0/24) with a real
 * keepalived, iptables and a stand-in API server; clients inside it reach VIP:6443 through the
 * OUTPUT REDIRECT. Nothing here touches the root namespace's addresses, routes or firewall.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readPidFile } from '../../src/agent/procs.js';
import { queryStatus } from '../../src/agent/status.js';
import { type AgentStatus } from '../../src/contract/status.js';
import { canRunAgentInNamespaces, makeCert, waitFor, writeUpstreamScript } from './agent-fixtures.js';

const NS = 'cplb-tstop';
const ADDR = '198.19.254.1';
const VIP = '198.19.254.100';
/** The drain this test configures; a stop must end within it plus keepalived's own stop. */
const DRAIN_MS = 2000;
/** keepalived's stop (TERM, at worst KILL after 5 s) and the rest of the cleanup. */
const STOP_MARGIN_MS = 8000;
const root = resolve(import.meta.dirname, '../..');
const bundle = join(root, 'dist/agent/cplb-agent.js');

const canRun = canRunAgentInNamespaces;

let dir: string;
const helpers: ChildProcess[] = []; // the stand-in, the agents and the clients we started
let agent: ChildProcess | undefined;

const sh = (cmd: string, args: string[]) => execFileSync(cmd, args, { encoding: 'utf8' });
const file = (name: string) => join(dir, name);
const status = (): Promise<AgentStatus> => queryStatus(file('agent.sock'));

function background(args: string[], log: string): ChildProcess {
  const out = openSync(file(log), 'a');
  return spawn('ip', ['netns', 'exec', NS, ...args], { stdio: ['ignore', out, out] });
}

function keepalivedConf(): string {
  return `global_defs {
  router_id ${NS}
  notify_fifo ${file('notify.fifo')}
}
track_file cplb_health {
  file ${file('health')}
  weight 0
}
vrrp_instance k0s-vip-0 {
  state BACKUP
  interface eth0
  virtual_router_id 51
  priority 100
  advert_int 1
  authentication {
    auth_type PASS
    auth_pass tstop
  }
  virtual_ipaddress {
    ${VIP}/24
  }
  track_file {
    cplb_health
  }
}
`;
}

function agentJson(extra: { bindPort?: number; logLevel?: string } = {}): string {
  return JSON.stringify({
    hostName: NS,
    logLevel: extra.logLevel ?? 'info',
    keepalived: {
      configPath: file('keepalived.conf'),
      trackFile: file('health'),
      notifyFifo: file('notify.fifo'),
      pidDir: file('run'),
    },
    proxy: {
      bindPort: extra.bindPort ?? 6444,
      drainTimeoutMs: DRAIN_MS,
      upstreams: [{ address: ADDR, port: 6443 }],
      healthCheck: { intervalMs: 200, timeoutMs: 500, fallCount: 2, riseCount: 1 },
    },
    vips: [{ address: VIP, prefix: 24, family: 4, instanceName: 'k0s-vip-0' }],
    statusSocket: file('agent.sock'),
    statusFile: file('status'),
    metrics: { enabled: false },
    iptables: { backend: 'nft', reassertIntervalMs: 1000 },
  });
}

function writeAgentJson(extra: Parameters<typeof agentJson>[0] = {}): void {
  writeFileSync(file('agent.json.tmp'), agentJson(extra));
  renameSync(file('agent.json.tmp'), file('agent.json'));
}

/** A preload that turns SIGUSR2 into an uncaught exception inside the agent's process. */
function writeThrower(): string {
  const path = file('throw-on-usr2.cjs');
  writeFileSync(path, "process.on('SIGUSR2', () => { throw new Error('test: uncaught exception'); });\n");
  return path;
}

async function startAgent(preload?: string): Promise<ChildProcess> {
  const node = preload ? [process.execPath, '-r', preload] : [process.execPath];
  agent = background([...node, bundle, '--config', file('agent.json')], 'agent.log');
  helpers.push(agent);
  await waitFor(
    'the agent to hold the VIP',
    async () => (await status().catch(() => undefined))?.instances[0]?.state === 'MASTER',
    20_000,
    200,
  );
  return agent;
}

/**
 * Clients inside the namespace: `idle` TLS connections that send nothing after the handshake
 * (a watch between events) and one busy connection streaming a chunked POST /echo without end.
 * Resolves once all are through the handshake.
 */
async function openClients(idle: number): Promise<ChildProcess> {
  const script = `const tls = require('node:tls');
let ready = 0;
const connect = (busy) => {
  const s = tls.connect({ host: '${VIP}', port: 6443, rejectUnauthorized: false }, () => {
    if (busy) {
      s.write('POST /echo HTTP/1.1\\r\\nHost: x\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\n');
      setInterval(() => s.write('400\\r\\n' + 'x'.repeat(1024) + '\\r\\n'), 5);
    }
    if (++ready === ${idle + 1}) console.log('ready');
  });
  s.on('data', () => undefined);
  s.on('error', () => undefined);
};
for (let i = 0; i < ${idle}; i++) connect(false);
connect(true);
`;
  const child = spawn('ip', ['netns', 'exec', NS, process.execPath, '-e', script], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  helpers.push(child);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  await waitFor('clients connected', () => out.includes('ready'), 10_000);
  return child;
}

/** Sends `signal` and waits for the exit; how long it took, and the code. */
async function stopWith(child: ChildProcess, signal: NodeJS.Signals) {
  const started = Date.now();
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  child.kill(signal);
  const limit = new Promise<'hung'>((r) => setTimeout(() => r('hung'), DRAIN_MS + STOP_MARGIN_MS).unref());
  const code = await Promise.race([exited, limit]);
  return { code, ms: Date.now() - started };
}

const leftovers = () => ['agent.sock', 'notify.fifo', 'status'].filter((name) => existsSync(file(name)));

describe.skipIf(!canRun)('agent stop with open client connections (network namespace)', () => {
  beforeAll(async () => {
    if ((sh('ip', ['route', 'show', 'table', 'all']) + sh('ip', ['addr'])).includes('198.19.254.'))
      throw new Error('198.19.254.0/24 is in use on this machine: refusing to run');
    if (sh('ip', ['netns', 'list']).includes(NS)) sh('ip', ['netns', 'del', NS]);
    execFileSync(process.execPath, [join(root, 'scripts/build-agent.mjs'), '--no-sea'], { stdio: 'ignore' });
    dir = mkdtempSync(join(tmpdir(), 'cplb-tstop-'));
    sh('ip', ['netns', 'add', NS]);
    // A veth pair with both ends inside (no dummy driver everywhere): eth0 carries the VIP.
    sh('ip', ['-n', NS, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth1']);
    sh('ip', ['-n', NS, 'link', 'set', 'eth1', 'up']);
    sh('ip', ['-n', NS, 'addr', 'add', `${ADDR}/24`, 'dev', 'eth0']);
    sh('ip', ['-n', NS, 'link', 'set', 'eth0', 'up']);
    sh('ip', ['-n', NS, 'link', 'set', 'lo', 'up']);
    writeFileSync(file('keepalived.conf'), keepalivedConf());
    writeAgentJson();
    const cert = makeCert(dir, 'up-a');
    const script = writeUpstreamScript(dir);
    const args = [process.execPath, script, 'up-a', cert.certPath, cert.keyPath, ADDR, '6443', file('sick')];
    helpers.push(background(args, 'up-a.log'));
  }, 60_000);

  afterAll(async () => {
    for (const child of helpers) if (child.exitCode === null) child.kill('SIGKILL');
    for (const f of ['keepalived.pid', 'keepalived-vrrp.pid']) {
      const pid = dir ? readPidFile(join(dir, 'run', f)) : undefined;
      if (pid) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } // prettier-ignore
    }
    try {
      sh('ip', ['netns', 'del', NS]);
    } catch {
      // not created
    }
    if (dir && process.env.CPLB_TEST_KEEP) console.log(`kept ${dir}`);
    else if (dir) rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  it('a reload that moves the proxy port, with a client connected, does not block the reloads after it', async () => {
    const child = await startAgent();
    await openClients(1);
    expect((await status()).proxy.openConnections).toBe(2);
    writeAgentJson({ bindPort: 6446 });
    child.kill('SIGHUP');
    await waitFor('the proxy on 6446', async () => (await status()).proxy.bindPort === 6446, 5000);
    const moved = (await status()).agent.configHash;
    writeAgentJson({ bindPort: 6446, logLevel: 'debug' });
    child.kill('SIGHUP');
    await waitFor('the next reload', async () => (await status()).agent.configHash !== moved, 5000);
    writeAgentJson();
    const { code } = await stopWith(child, 'SIGTERM');
    expect(code).toBe(0);
  }, 60_000);

  it('on SIGTERM with idle and busy connections open: drains, cuts them, exits 0 within the bound, leaves no socket, fifo or status file', async () => {
    const child = await startAgent();
    await openClients(3);
    expect((await status()).proxy.openConnections).toBe(4);
    const { code, ms } = await stopWith(child, 'SIGTERM');
    console.log(`agent stop with 3 idle and 1 busy connection open: ${ms} ms (drain ${DRAIN_MS} ms)`);
    expect(code).toBe(0);
    expect(leftovers()).toEqual([]);
    expect(sh('ip', ['netns', 'exec', NS, 'iptables-nft', '-t', 'nat', '-S'])).not.toMatch(/CPLB/);
    // The clients here sit on the node itself, with the VIP as their own address: once keepalived
    // has taken it away, the proxy's FINs cannot reach them. The agent's account says what it did.
    // The idle ones never end by themselves: they were cut (the busy one may die with the VIP first).
    const log = readFileSync(file('agent.log'), 'utf8');
    const cut = [...log.matchAll(/connections closed"? drained=\d+ destroyed=(\d+)/g)].at(-1);
    expect(Number(cut?.[1])).toBeGreaterThanOrEqual(3);
  }, 60_000);

  it('on an uncaught exception with connections open: exits non-zero within the bound (for its service manager to restart it), cleaned up', async () => {
    const child = await startAgent(writeThrower());
    await openClients(3);
    const { code, ms } = await stopWith(child, 'SIGUSR2');
    console.log(`agent exit after an uncaught exception with 4 connections open: ${ms} ms`);
    expect(code).toBe(1);
    expect(leftovers()).toEqual([]);
    expect(readFileSync(file('agent.log'), 'utf8')).toContain('test: uncaught exception');
  }, 60_000);
});

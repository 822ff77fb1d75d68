/**
 * The bundled agent with a real keepalived and real iptables, each in a network namespace of its
 * own (cplb-tagent-a/b, joined by a veth pair on 198.19.255.0/24). Nothing here touches the root
 * namespace's addresses, routes or firewall.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseStatusFile } from '../../src/contract/status.js';
import { canRunAgentInNamespaces, waitFor } from './agent-fixtures.js';
import { AgentPair, type Node } from './agent-pair.js';

const ADDR = { a: '198.19.255.1', b: '198.19.255.2' } as const;
const VIP = '198.19.255.100';

const canRun = canRunAgentInNamespaces;

const pair = new AgentPair({ a: 'cplb-tagent-a', b: 'cplb-tagent-b' });
const { agents, pids, inNs, nodeDir, status, state, sickFile, background, startAgent } = pair;
const tryInNs = (node: Node, cmd: string, args: string[]) => {
  try {
    inNs(node, cmd, args);
    return true;
  } catch {
    return false;
  }
};
const holds = (node: Node) =>
  inNs(node, 'ip', ['-4', '-o', 'addr', 'show', 'dev', 'eth0']).includes(` ${VIP}/`);

const keepalivedConf = (node: Node) =>
  pair.keepalivedConf(node, { virtualRouterId: 51, priority: 100, vip: `${VIP}/24`, authPass: 'tagent' });

function agentJson(node: Node, upstreams: Array<{ address: string; port: number }>): string {
  return JSON.stringify({
    ...pair.agentConfig(node, upstreams),
    vips: [{ address: VIP, prefix: 24, family: 4, instanceName: 'k0s-vip-0' }],
    drainFile: `${nodeDir(node)}/drained`,
  });
}

/** CNs of the API servers that answered TLS connections to VIP:6443 made from inside `node`. */
function namesViaVip(node: Node, n: number): string[] {
  const script = `const tls=require('node:tls');(async()=>{const out=[];for(let i=0;i<${n};i++){out.push(await new Promise(r=>{const s=tls.connect({host:'${VIP}',port:6443,rejectUnauthorized:false},()=>{r(s.getPeerCertificate().subject.CN);s.end()});s.on('error',e=>r('ERR '+e.code));s.setTimeout(3000,()=>{s.destroy();r('ERR timeout')})}))}console.log(JSON.stringify(out))})()`;
  return JSON.parse(inNs(node, process.execPath, ['-e', script])) as string[];
}

describe.skipIf(!canRun)('agent with real keepalived and iptables (network namespaces)', () => {
  beforeAll(async () => {
    pair.setUp({
      tmpPrefix: 'cplb-tagent-',
      networks: { '198.19.255.0/24': '198.19.255.' },
      addresses: { a: [`${ADDR.a}/24`], b: [`${ADDR.b}/24`] },
      keepalivedConf,
      standIns: [
        { node: 'a', name: 'up-a', host: ADDR.a, port: 6443 },
        { node: 'b', name: 'up-b', host: ADDR.b, port: 6443 },
        { node: 'b', name: 'up-b2', host: ADDR.b, port: 7443 },
      ],
    });
    // A's upstreams are a subset of B's: failing up-a and up-b leaves A with none while B keeps up-b2.
    const upA = { address: ADDR.a, port: 6443 };
    const upB = { address: ADDR.b, port: 6443 };
    const upB2 = { address: ADDR.b, port: 7443 };
    writeFileSync(join(nodeDir('a'), 'agent.json'), agentJson('a', [upA, upB]));
    writeFileSync(join(nodeDir('b'), 'agent.json'), agentJson('b', [upB, upA, upB2]));
    // A first, so it is the MASTER; B then joins as BACKUP (equal priority: no preemption).
    startAgent('a');
    await waitFor(
      'A to become MASTER',
      async () => (await state('a').catch(() => undefined)) === 'MASTER',
      15_000,
      200,
    );
    startAgent('b');
    await waitFor(
      'B to become BACKUP',
      async () => (await state('b').catch(() => undefined)) === 'BACKUP',
      10_000,
      200,
    );
  }, 60_000);

  afterAll(() => pair.tearDown(), 30_000);

  it('puts the VIP on exactly one node and reports it in status and metrics', async () => {
    expect([holds('a'), holds('b')]).toEqual([true, false]);
    const a = await status('a');
    expect(a.instances).toMatchObject([{ name: 'k0s-vip-0', state: 'MASTER' }]);
    expect(a.vips).toMatchObject([{ address: VIP, held: true }]);
    expect(a.keepalived).toMatchObject({ running: true, restarts: 0, foreign: [] });
    expect(a.health).toMatchObject({ ok: true, trackFileValue: 0 });
    // Three jumps (nat PREROUTING and OUTPUT, filter INPUT), the REDIRECT and the proxy port's guard.
    expect(a.iptables.rules.map((r) => `${r.kind} ${String(r.present)}`)).toEqual([
      'jump true',
      'jump true',
      'jump true',
      'redirect true',
      'guard true',
    ]);
    expect(a.proxy.upstreams.map((u) => u.health)).toEqual(['healthy', 'healthy']);
    expect((await status('b')).vips).toMatchObject([{ held: false }]);
    // The status file (what cplbctl reads over SSH) says the same, and was written this second.
    const file = parseStatusFile(readFileSync(join(nodeDir('a'), 'status'), 'utf8'));
    expect(Math.abs(file!.writtenAt - Date.now() / 1000)).toBeLessThan(2.5);
    expect(file!.status).toMatchObject({ instances: a.instances, vips: a.vips, health: a.health });
    expect(file!.status.agent.pid).toBe(a.agent.pid);
    const metrics = inNs('a', process.execPath, [
      '-e',
      "fetch('http://127.0.0.1:6445/metrics').then(r=>r.text()).then(t=>process.stdout.write(t))",
    ]);
    expect(metrics).toContain('cplb_vrrp_state{vrrp_instance="k0s-vip-0",state="MASTER"} 1');
    expect(metrics).toContain(`cplb_vip_held{address="${VIP}",vrrp_instance="k0s-vip-0"} 1`);
    // The agent's own memory, as a scraper sees it: a real figure, not a placeholder.
    const rss = Number(/^process_resident_memory_bytes (\d+)$/m.exec(metrics)?.[1]);
    const vmRss = Number(
      /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${a.agent.pid}/status`, 'utf8'))?.[1],
    );
    expect(rss / (vmRss * 1024)).toBeGreaterThan(0.7);
    expect(rss / (vmRss * 1024)).toBeLessThan(1.3);
  });

  it("serves VIP:6443 through the holder's proxy, from a peer (PREROUTING) and from itself (OUTPUT)", () => {
    expect(new Set(namesViaVip('b', 6))).toEqual(new Set(['up-a', 'up-b']));
    expect(new Set(namesViaVip('a', 6))).toEqual(new Set(['up-a', 'up-b']));
  });

  it('refuses connections to the proxy port that no REDIRECT brought, from a peer and from itself', () => {
    const dial = (node: Node, host: string, port: number) => {
      const script = `const s=require('node:net').connect(${port},'${host}',()=>{console.log('connected');s.destroy()});s.on('error',e=>console.log(e.code));s.setTimeout(3000,()=>{console.log('timeout');s.destroy()})`;
      return inNs(node, process.execPath, ['-e', script]).trim();
    };
    expect(dial('b', ADDR.a, 6444)).toBe('ECONNREFUSED');
    expect(dial('a', ADDR.a, 6444)).toBe('ECONNREFUSED');
    expect(dial('a', '127.0.0.1', 6444)).toBe('ECONNREFUSED');
    expect(dial('b', VIP, 6443)).toBe('connected');
  });

  it('keeps the VIP when only its own API server is down, the proxy still reaching another', async () => {
    writeFileSync(sickFile('up-a'), '');
    await waitFor(
      'up-a unhealthy on A',
      async () => (await status('a')).proxy.upstreams[0]?.health === 'unhealthy',
      5000,
    );
    await new Promise((r) => setTimeout(r, 1500));
    expect((await status('a')).health.ok).toBe(true);
    expect([holds('a'), holds('b')]).toEqual([true, false]);
    expect(new Set(namesViaVip('b', 4))).toEqual(new Set(['up-b']));
  });

  it('gives the VIP up (FAULT) when no upstream is healthy: it moves to the other node', async () => {
    // A neighbour entry for its own VIP on the holder, as a dual claim leaves it (see vipsToForget).
    inNs('a', 'ip', ['neigh', 'replace', VIP, 'lladdr', '02:00:00:00:00:99', 'dev', 'eth0', 'nud', 'stale']);
    writeFileSync(sickFile('up-b'), '');
    const t0 = Date.now();
    await waitFor('A in FAULT', async () => (await state('a')) === 'FAULT', 5000);
    await waitFor('B holds the VIP', () => holds('b') && !holds('a'), 5000);
    const moveMs = Date.now() - t0;
    // Given up, A forgot that entry: it asks ARP afresh and reaches B.
    await waitFor(
      'A flushed the stale entry',
      () => !inNs('a', 'ip', ['neigh', 'show', 'to', VIP]).includes('02:00:00:00:00:99'),
      3000,
    );
    expect(readFileSync(join(pair.dir, 'a-agent.log'), 'utf8')).toContain(
      'flushed the neighbour entry of a VIP given up',
    );
    expect((await status('a')).health).toMatchObject({
      ok: false,
      reason: 'no healthy upstream',
      trackFileValue: 1,
    });
    expect(await state('b')).toBe('MASTER');
    expect(new Set(namesViaVip('a', 3))).toEqual(new Set(['up-b2']));
    // Healed, A goes back to BACKUP and leaves the VIP where it is (no needless flap).
    rmSync(sickFile('up-a'));
    rmSync(sickFile('up-b'));
    await waitFor('A back to BACKUP', async () => (await state('a')) === 'BACKUP', 5000);
    await new Promise((r) => setTimeout(r, 1500));
    expect([holds('a'), holds('b')]).toEqual([false, true]);
    expect(moveMs).toBeLessThan(3000);
  });

  it('a drain marker gives the VIP up, reported as drained; removing it takes none back', async () => {
    // After the test before, B holds the VIP.
    await waitFor('B holds the VIP', () => holds('b') && !holds('a'), 5000);
    // What B sends when it leaves MASTER for FAULT, as A receives it.
    const capture = join(pair.dir, 'drain-vrrp.txt');
    const tcpdump = background(
      'a',
      ['tcpdump', '-l', '-n', '-tt', '-i', 'eth0', 'ip proto 112'],
      'drain-vrrp.txt',
    );
    await waitFor('tcpdump listening', () => readFileSync(capture, 'utf8').includes('listening on'), 5000);
    writeFileSync(join(nodeDir('b'), 'drained'), '');
    const t0 = Date.now();
    await waitFor('A holds the VIP, B none', () => holds('a') && !holds('b'), 5000, 20);
    const moveMs = Date.now() - t0;
    await new Promise((r) => setTimeout(r, 300));
    tcpdump.kill('SIGTERM');
    await new Promise((r) => tcpdump.once('exit', r));
    // `1733500000.123456 IP 198.19.255.2 > 224.0.0.18: VRRPv2, Advertisement, vrid 51, prio 0, ...`
    const prio0 = readFileSync(capture, 'utf8')
      .split('\n')
      .find((l) => l.includes(`IP ${ADDR.b} >`) && /\bprio 0\b/.test(l));
    expect(prio0, 'a priority-0 advert from B').toBeDefined();
    const advertMs = Math.round(Number(prio0!.split(' ')[0]) * 1000) - t0;
    console.log(
      `drain marker -> priority-0 advert from the holder: ${advertMs} ms (inotify; the tick looks every second too); -> VIP on the other node: ${moveMs} ms`,
    );
    expect(await state('b')).toBe('FAULT');
    expect((await status('b')).health).toMatchObject({ ok: false, drained: true, trackFileValue: 1 });
    // Still drained after its peer gives the VIP up: B takes none, so no one holds it.
    writeFileSync(sickFile('up-a'), '');
    writeFileSync(sickFile('up-b'), '');
    await waitFor('A in FAULT', async () => (await state('a')) === 'FAULT', 5000);
    await new Promise((r) => setTimeout(r, 1500));
    expect([holds('a'), holds('b')]).toEqual([false, false]);
    rmSync(sickFile('up-a'));
    rmSync(sickFile('up-b'));
    await waitFor('A holds the VIP again', () => holds('a'), 10_000);
    // Uncordoned: back to BACKUP, and the VIP stays where it is (equal priority, no preemption).
    rmSync(join(nodeDir('b'), 'drained'));
    await waitFor('B back to BACKUP', async () => (await state('b')) === 'BACKUP', 5000);
    const health = (await status('b')).health;
    expect(health.ok).toBe(true);
    expect(health.drained).toBeUndefined();
    await new Promise((r) => setTimeout(r, 1500));
    expect([holds('a'), holds('b')]).toEqual([true, false]);
  });

  it('restarts keepalived after a kill -9 (restart count 1)', async () => {
    const before = await status('b');
    const pid = before.keepalived.pid!;
    expect(before.keepalived.restarts).toBe(0);
    process.kill(pid, 'SIGKILL');
    await waitFor(
      'keepalived restarted',
      async () => {
        const k = (await status('b')).keepalived;
        return k.restarts === 1 && k.running && k.pid !== pid;
      },
      10_000,
    );
    await waitFor('exactly one holder again', () => holds('a') !== holds('b'), 10_000);
    expect((await status('b')).keepalived.lastExit).toMatchObject({ signal: 'SIGKILL' });
  });

  it('restarts keepalived when its killed pid files now name another live process (PID reuse)', async () => {
    // keepalived refuses to start ("daemon is already running", exit 0) while its pid file names
    // any live process. With pid_max 32768 a killed keepalived's PID is soon someone else's.
    const before = await status('b');
    const agent = agents.b!;
    const run = join(nodeDir('b'), 'run');
    const old = [
      readFileSync(join(run, 'keepalived.pid'), 'utf8'),
      readFileSync(join(run, 'keepalived-vrrp.pid'), 'utf8'),
    ].map(Number);
    agent.kill('SIGSTOP');
    const squatter = spawn('sleep', ['60'], { stdio: 'ignore' });
    pids.push(squatter.pid!);
    try {
      for (const pid of old) process.kill(pid, 'SIGKILL');
      await waitFor(
        'the killed keepalived gone',
        () =>
          old.every(
            (p) => !existsSync(`/proc/${p}/cmdline`) || readFileSync(`/proc/${p}/cmdline`, 'utf8') === '',
          ),
        5000,
      );
      for (const f of ['keepalived.pid', 'keepalived-vrrp.pid'])
        writeFileSync(join(run, f), `${squatter.pid}\n`);
    } finally {
      agent.kill('SIGCONT');
    }
    await waitFor(
      'keepalived running again beside the squatter',
      async () => {
        const k = (await status('b')).keepalived;
        return k.running && k.pid !== before.keepalived.pid && k.restarts > before.keepalived.restarts;
      },
      10_000,
    );
    // Running, not refusing: it stays up past the agent's first backoff step.
    await new Promise((r) => setTimeout(r, 1500));
    const k = (await status('b')).keepalived;
    expect(k.running).toBe(true);
    expect(k.restarts).toBe(before.keepalived.restarts + 1);
    expect(readFileSync(join(pair.dir, 'b-agent.log'), 'utf8')).not.toContain('daemon is already running');
    squatter.kill();
    await waitFor('exactly one holder again', () => holds('a') !== holds('b'), 10_000);
  });

  it('reports a keepalived it did not start, and leaves it alone', async () => {
    const conf = join(pair.dir, 'foreign.conf');
    writeFileSync(
      conf,
      'vrrp_instance other {\n  state BACKUP\n  interface eth0\n  virtual_router_id 77\n  priority 50\n  virtual_ipaddress {\n    198.19.255.200/24\n  }\n}\n',
    );
    const run = join(pair.dir, 'foreign');
    mkdirSync(run);
    const args = [
      'keepalived',
      '--dont-fork',
      '--log-console',
      '--no-syslog',
      '-f',
      conf,
      '-p',
      `${run}/k.pid`,
      '-r',
      `${run}/v.pid`,
    ];
    const foreign = background('b', args, 'foreign.log');
    pids.push(foreign.pid!);
    await waitFor(
      'foreign keepalived reported',
      async () => (await status('b')).keepalived.foreign.some((f) => f.pid === foreign.pid),
      5000,
    );
    expect((await status('a')).keepalived.foreign).toEqual([]); // other namespace: no clash
    expect(foreign.exitCode).toBeNull();
    foreign.kill('SIGTERM');
  });

  it('re-asserts the REDIRECT rule within reassertIntervalMs after a flush of the nat table', async () => {
    const spec = [
      '-t',
      'nat',
      '-C',
      'CPLB',
      '-d',
      `${VIP}/32`,
      '-p',
      'tcp',
      '--dport',
      '6443',
      '-m',
      'comment',
      '--comment',
      `cplb: k0s-vip-0 ${VIP}:6443`,
      '-j',
      'REDIRECT',
      '--to-ports',
      '6444',
    ];
    expect(tryInNs('a', 'iptables-nft', spec)).toBe(true);
    inNs('a', 'iptables-nft', ['-t', 'nat', '-F']);
    const t0 = Date.now();
    expect(tryInNs('a', 'iptables-nft', spec)).toBe(false);
    await waitFor('rule back', () => tryInNs('a', 'iptables-nft', spec), 3000, 100);
    expect(Date.now() - t0).toBeLessThan(1000 + 500);
    const jumps = inNs('a', 'iptables-nft', ['-t', 'nat', '-S']);
    expect(jumps).toContain('-A PREROUTING -m comment --comment "cplb: jump to CPLB" -j CPLB');
    expect(jumps).toContain(
      '-A OUTPUT -m addrtype --dst-type LOCAL -m comment --comment "cplb: jump to CPLB" -j CPLB',
    );
  });

  it('applies a changed agent.json and keepalived.conf on SIGHUP only, without a restart, and refuses a broken one', async () => {
    const before = await status('a');
    const replace = (file: string, text: string) => {
      // As the planner does it: a temp file renamed over the old one.
      writeFileSync(`${file}.tmp`, text);
      renameSync(`${file}.tmp`, file);
    };
    const ups = [
      { address: ADDR.a, port: 6443 },
      { address: ADDR.b, port: 6443 },
      { address: ADDR.b, port: 7443 },
    ];
    replace(join(nodeDir('a'), 'agent.json'), agentJson('a', ups));
    const conf = join(nodeDir('a'), 'keepalived.conf');
    replace(conf, keepalivedConf('a').replace('advert_int 1', 'advert_int 1\n  # reloaded'));
    // A file renamed into place is staged, not applied: apply switches every host first, then reloads
    // in its own order. Five times the old watch's 200 ms debounce, and still the old settings.
    await new Promise((r) => setTimeout(r, 1000));
    const staged = await status('a');
    expect(staged.agent.configHash).toBe(before.agent.configHash);
    expect(staged.agent.keepalivedConfigHash).toBe(before.agent.keepalivedConfigHash);
    expect(staged.proxy.upstreams).toHaveLength(before.proxy.upstreams.length);
    agents.a!.kill('SIGHUP');
    await waitFor('3 upstreams on A', async () => (await status('a')).proxy.upstreams.length === 3, 5000);
    const mid = await status('a');
    expect(mid.agent.configHash).not.toBe(before.agent.configHash);
    expect(mid.agent.pid).toBe(before.agent.pid);
    await waitFor(
      'keepalived reloaded',
      async () => (await status('a')).agent.keepalivedConfigHash !== before.agent.keepalivedConfigHash,
      5000,
    );
    await waitFor(
      'keepalived logs its reload',
      () => readFileSync(join(pair.dir, 'a-agent.log'), 'utf8').includes('reload signalled'),
      2000,
    );
    replace(conf, 'vrrp_instance broken {\n  virtual_router_id 300\n}\n');
    agents.a!.kill('SIGHUP');
    await waitFor(
      'broken config rejected',
      () => readFileSync(join(pair.dir, 'a-agent.log'), 'utf8').includes('keepalived config rejected'),
      5000,
    );
    const after = await status('a');
    expect(after.keepalived).toMatchObject({
      pid: before.keepalived.pid,
      restarts: before.keepalived.restarts,
      running: true,
    });
    replace(conf, keepalivedConf('a'));
    agents.a!.kill('SIGHUP');
    await waitFor(
      'SIGHUP reload',
      async () => (await status('a')).agent.keepalivedConfigHash === before.agent.keepalivedConfigHash,
      5000,
    );
  });

  it('on SIGTERM removes its chain and jumps, stops keepalived, its socket and its status file', async () => {
    const before = await status('b');
    const kpid = before.keepalived.pid!;
    const child = agents.b!;
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(inNs('b', 'iptables-nft', ['-t', 'nat', '-S'])).not.toMatch(/CPLB/);
    expect(inNs('b', 'iptables-nft', ['-t', 'filter', '-S'])).not.toMatch(/CPLB/);
    expect(existsSync(`/proc/${kpid}`)).toBe(false);
    expect(existsSync(join(nodeDir('b'), 'agent.sock'))).toBe(false);
    expect(existsSync(join(nodeDir('b'), 'status'))).toBe(false);
    await waitFor('A takes the VIP', () => holds('a') && !holds('b'), 5000);
  });
});

/**
 * Service definitions, checked by the real tools: `systemd-analyze verify` for the unit, `dash -n`
 * for the OpenRC script, and the plain launcher run for real under dash against a fake agent.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { printedIp } from '../../src/contract/net.js';
import { parseResetOutput, renderResetScript } from '../../src/render/reset.js';
import {
  agentArgv,
  renderOpenrcScript,
  renderPlainLauncher,
  renderService,
  renderSystemdUnit,
} from '../../src/render/service.js';

function verifyUnit(text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'cplb-unit-'));
  try {
    // verify insists the ExecStart binary exists: point it at one that does.
    writeFileSync(join(dir, 'cplb-agent.service'), text.replace(/^ExecStart=\S+/m, 'ExecStart=/bin/sleep'));
    const r = spawnSync('systemd-analyze', ['verify', join(dir, 'cplb-agent.service')], { encoding: 'utf8' });
    return `${r.status} ${r.stdout}${r.stderr}`.trim();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('systemd unit', () => {
  it('passes systemd-analyze verify without a word, for both builds', () => {
    expect(verifyUnit(renderSystemdUnit({ kind: 'sea' }))).toBe('0');
    expect(verifyUnit(renderSystemdUnit({ kind: 'js', nodePath: '/usr/bin/node' }))).toBe('0');
  });

  it('negative control: verify does report a bad setting', () => {
    expect(
      verifyUnit(renderSystemdUnit({ kind: 'sea' }).replace('KillMode=process', 'KillMode=sometimes')),
    ).toMatch(/kill mode/);
  });

  it('restarts always, stops the agent alone first, reloads with SIGHUP', () => {
    const unit = renderSystemdUnit({ kind: 'js', nodePath: '/usr/bin/node' });
    for (const line of [
      'Restart=always',
      'RestartSec=1',
      'KillMode=process',
      'ExecReload=/bin/kill -HUP $MAINPID',
      'After=network-online.target',
      'Wants=network-online.target',
    ])
      expect(unit.split('\n')).toContain(line);
    expect(unit).toContain(
      'ExecStart=/usr/bin/node /usr/local/lib/cplb/cplb-agent.js --config /etc/cplb/agent.json\n',
    );
  });
});

describe('OpenRC script and service commands', () => {
  it('is valid sh', () => {
    const r = spawnSync('dash', ['-n'], { input: renderOpenrcScript({ kind: 'sea' }), encoding: 'utf8' });
    expect([r.status, r.stderr]).toEqual([0, '']);
  });

  it('every init system has its definition file and commands', () => {
    expect(renderService('systemd', { kind: 'sea' })).toMatchObject({
      path: '/etc/systemd/system/cplb-agent.service',
      mode: 0o644,
    });
    expect(renderService('openrc', { kind: 'sea' }).commands.reload).toBe('rc-service cplb-agent reload');
    // A service whose supervise-daemon died is still "started" to OpenRC: start zaps it first.
    expect(renderService('openrc', { kind: 'sea' }).commands.start).toBe(
      '{ rc-service cplb-agent status >/dev/null 2>&1 || rc-service cplb-agent zap >/dev/null 2>&1; } && rc-service cplb-agent start',
    );
    expect(renderService('none', { kind: 'sea' })).toMatchObject({
      path: '/usr/local/lib/cplb/cplb-agent-ctl',
      mode: 0o755,
    });
  });
});

describe('plain launcher, run for real', () => {
  let dir: string;
  let ctl: string;
  let events: string;
  const started = new Set<number>();

  const sh = (verb: string) => spawnSync('dash', [ctl, verb], { encoding: 'utf8', timeout: 30_000 });
  const pidOf = (name: string) => Number(readFileSync(join(dir, 'run', name), 'utf8').trim());
  const eventLines = () => (existsSync(events) ? readFileSync(events, 'utf8').trim().split('\n') : []);
  const alive = (pid: number) =>
    existsSync(`/proc/${pid}`) && !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z ');
  const until = async (what: string, ok: () => boolean, ms = 5000) => {
    for (const t0 = Date.now(); Date.now() - t0 < ms; await new Promise((r) => setTimeout(r, 25)))
      if (ok()) return;
    throw new Error(`timed out waiting for ${what}; events: ${eventLines().join(' | ')}`);
  };

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'cplb-launcher-'));
    events = join(dir, 'events');
    const agent = join(dir, 'fake-cplb-agent');
    writeFileSync(
      agent,
      `#!/bin/sh\necho "started $$" >>${events}\ntrap 'echo "hup $$" >>${events}' HUP\ntrap 'echo "term $$" >>${events}; exit 0' TERM\nwhile :; do sleep 0.05; done\n`,
    );
    chmodSync(agent, 0o755);
    ctl = join(dir, 'cplb-agent-ctl');
    const paths = {
      runDir: join(dir, 'run'),
      log: join(dir, 'agent.log'),
      self: ctl,
      agentMarker: 'fake-cplb-agent',
    };
    writeFileSync(ctl, renderPlainLauncher([agent, '--config', '/nonexistent'], paths));
    execFileSync('dash', ['-n', ctl]);
  });

  afterAll(() => {
    sh('stop');
    for (const pid of started) if (alive(pid)) process.kill(pid, 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('start, start again, status, reload, crash recovery, stop', async () => {
    expect(sh('status').status).toBe(3);
    const first = sh('start');
    expect(first.status, first.stderr).toBe(0);
    const agent1 = pidOf('agent.pid');
    const supervisor = pidOf('supervisor.pid');
    started.add(agent1).add(supervisor);
    expect(first.stdout).toBe(`cplb-agent started (pid ${agent1})\n`);
    expect(sh('start').stdout).toBe(`cplb-agent is running (supervisor pid ${supervisor})\n`);
    expect(sh('status')).toMatchObject({ status: 0, stdout: `cplb-agent is running (pid ${agent1})\n` });
    await until('the agent to start', () => eventLines().includes(`started ${agent1}`));

    expect(sh('reload').status).toBe(0);
    await until('SIGHUP to reach the agent', () => eventLines().includes(`hup ${agent1}`));
    expect(alive(agent1)).toBe(true);

    process.kill(agent1, 'SIGKILL');
    await until('a new agent', () => eventLines().filter((l) => l.startsWith('started')).length === 2);
    const agent2 = pidOf('agent.pid');
    started.add(agent2);
    expect(agent2).not.toBe(agent1);

    expect(sh('stop').status).toBe(0);
    expect(eventLines()).toContain(`term ${agent2}`);
    expect([alive(agent2), alive(supervisor)]).toEqual([false, false]);
    expect(sh('status').status).toBe(3);
    expect(existsSync(join(dir, 'run', 'agent.pid'))).toBe(false);
  });

  it('an agent orphaned by a killed supervisor is stopped before a new one starts', async () => {
    expect(sh('start').status).toBe(0);
    const orphan = pidOf('agent.pid');
    const supervisor = pidOf('supervisor.pid');
    started.add(orphan).add(supervisor);
    await until('the agent to start', () => eventLines().includes(`started ${orphan}`));
    process.kill(supervisor, 'SIGKILL');
    await until('the supervisor to die', () => !alive(supervisor));
    expect(sh('start').status).toBe(0);
    const fresh = pidOf('agent.pid');
    started.add(fresh).add(pidOf('supervisor.pid'));
    expect(fresh).not.toBe(orphan);
    expect(eventLines()).toContain(`term ${orphan}`);
    expect(alive(orphan)).toBe(false);
  });

  it("raises the agent's open-file limit to the systemd unit's 65536, or the host's hard limit, from a shell that had 1024", async () => {
    const hard = Number(/^Max open files\s+\d+\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'))![1]);
    const r = spawnSync('dash', ['-c', `ulimit -S -n 1024 && exec dash ${ctl} start`], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const agent = pidOf('agent.pid');
    started.add(agent).add(pidOf('supervisor.pid'));
    const soft = Number(/^Max open files\s+(\d+)/m.exec(readFileSync(`/proc/${agent}/limits`, 'utf8'))![1]);
    expect(soft).toBe(Math.min(65536, hard));
    expect(sh('stop').status).toBe(0);
  });

  it('the default launcher runs the real agent path', () => {
    expect(renderPlainLauncher(agentArgv({ kind: 'sea' }))).toContain(
      '/usr/local/lib/cplb/cplb-agent --config /etc/cplb/agent.json </dev/null &',
    );
  });
});

describe('reset script', () => {
  it('parses in dash for every init, and names each VIP as ip prints it', () => {
    for (const init of ['systemd', 'openrc', 'none'] as const) {
      const script = renderResetScript({ init, vips: ['198.18.0.100', 'FD00:18:0::0100'] });
      expect(() => execFileSync('dash', ['-n', '-c', script])).not.toThrow();
      expect(script).toContain('198.18.0.100/*|fd00:18::100/*)');
    }
    expect(renderResetScript({ init: 'none', vips: [] })).not.toContain('ip addr del');
  });

  it('reports what it removed and what is still there, nothing else', () => {
    const out =
      'did: removed /etc/cplb\nnoise\ndid: stopped keepalived (pid 7)\nleft: the VIP 198.18.0.100/32 on eth1\n';
    expect(parseResetOutput(out)).toEqual({
      did: ['removed /etc/cplb', 'stopped keepalived (pid 7)'],
      left: ['the VIP 198.18.0.100/32 on eth1'],
    });
  });

  it('prints IPv6 the way ip does', () => {
    expect(printedIp('fd00:0018:0000::0100')).toBe('fd00:18::100');
    expect(printedIp('2001:db8:0:0:1:0:0:1')).toBe('2001:db8::1:0:0:1');
    expect(printedIp('10.0.0.1')).toBe('10.0.0.1');
  });
});

/** Starting, stopping and entering a lab host, whatever its flavor. */
import { spawn } from 'node:child_process';
import { CplbError } from '../core/errors.js';
import type { HostPlan } from './layout.js';
import { HOST_ENV, startPlainHost } from './host-plain.js';
import { hostCgroups, reapLauncher, removeCgroups, startSystemdHost } from './host-systemd.js';
import { waitForHost } from './probe.js';
import { isAlive, killNetnsProcesses } from './procs.js';
import { STANDIN_PORT } from './standin.js';
import { type LabState, hostPaths } from './state.js';

export function hostPlan(state: LabState, name: string): HostPlan {
  const host = state.layout.hosts.find((h) => h.name === name);
  if (!host) {
    const names = state.layout.hosts.map((h) => h.name).join(', ');
    throw new CplbError(`lab ${state.layout.name} has no host ${name}`, {
      code: 'LAB_NO_HOST',
      fault: 'usage',
      hint: `hosts: ${names}`,
    });
  }
  return host;
}

function readyPorts(host: HostPlan): number[] {
  return host.role === 'controller' ? [host.sshPort, STANDIN_PORT] : [host.sshPort];
}

/** Starts the host and waits until sshd (and the stand-in) answer. Updates state.hosts in place. */
export async function startHost(
  state: LabState,
  host: HostPlan,
  cgroupRoots: readonly string[],
): Promise<void> {
  const name = state.layout.name;
  const runtime = state.hosts[host.name];
  if (!runtime) throw new Error(`no runtime record for ${host.name}`);
  if (state.layout.flavor !== 'systemd') {
    runtime.pid = await startPlainHost(name, host, state.layout.flavor === 'openrc' ? 'openrc' : 'none');
    runtime.launcherPid = runtime.pid;
  } else {
    const cgroups = hostCgroups(cgroupRoots, host);
    for (const cg of cgroups) if (!state.cgroups.includes(cg)) state.cgroups.push(cg);
    Object.assign(runtime, await startSystemdHost(name, host, state.lowerRoot, cgroups));
  }
  const timeout = state.layout.flavor === 'systemd' ? 30_000 : 10_000;
  await waitForHost(
    host.name,
    host.address,
    readyPorts(host),
    runtime.pid as number,
    hostPaths(name, host.name).log,
    timeout,
  );
}

/** Power off: every process in the host's namespace, by PID, then the nspawn launcher and cgroups. */
export async function stopHost(state: LabState, host: HostPlan): Promise<void> {
  await killNetnsProcesses([host.netns]);
  const runtime = state.hosts[host.name];
  if (state.layout.flavor === 'systemd') {
    await reapLauncher(host, runtime?.launcherPid ?? null);
    const mine = state.cgroups.filter((cg) => cg.endsWith(`/${host.netns}`));
    await removeCgroups(mine);
  }
  if (runtime) {
    runtime.pid = null;
    runtime.launcherPid = null;
  }
}

export async function hostRunning(state: LabState, host: HostPlan): Promise<boolean> {
  return isAlive(state.hosts[host.name]?.pid);
}

export interface ExecResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs argv inside the host: its namespaces and its root, with a clean environment. */
export function execInHost(
  pid: number,
  argv: readonly string[],
  opts: { inherit?: boolean; input?: string; env?: Record<string, string> } = {},
): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('nsenter', ['-t', String(pid), '-a', '-r', '-w', '--', ...argv], {
      stdio: opts.inherit ? 'inherit' : ['pipe', 'pipe', 'pipe'],
      env: {
        ...HOST_ENV,
        ...(opts.inherit && process.env.TERM ? { TERM: process.env.TERM } : {}),
        ...opts.env,
      },
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout?.on('data', (b: Buffer) => out.push(b));
    child.stderr?.on('data', (b: Buffer) => err.push(b));
    child.on('error', reject);
    child.on('close', (code) =>
      resolve({ code, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() }),
    );
    if (child.stdin) {
      child.stdin.on('error', () => undefined);
      child.stdin.end(opts.input ?? '');
    }
  });
}

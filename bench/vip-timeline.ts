/**
 * Who held the VIP when, for a whole soak: `ip -ts monitor address` in every lab host's network
 * namespace (the kernel's own add and delete events, timestamped by `ip`), and the agents' logs
 * (keepalived's state lines, relayed with the agent's own timestamp). The parsers and the sweep are
 * pure; every host shares this machine's clock, so no offsets.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { canonicalIp } from '../src/contract/net.js';

export interface VipEvent {
  host: string;
  ms: number;
  kind: 'add' | 'del';
}

const MONITOR_LINE =
  /^\[(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?\]\s+(Deleted\s+)?\d+:\s+\S+\s+inet6?\s+([0-9a-fA-F.:]+)\//;

/** Add and delete events of `vip` from `ip -ts monitor address` output printed with TZ=UTC. */
export function parseMonitor(host: string, text: string, vip: string): VipEvent[] {
  const want = canonicalIp(vip);
  const out: VipEvent[] = [];
  for (const line of text.split('\n')) {
    const m = MONITOR_LINE.exec(line);
    if (!m || canonicalIp(m[4]!) !== want) continue;
    const ms = Date.parse(`${m[1]}Z`) + Number(`0.${m[2] ?? '0'}`) * 1000;
    out.push({ host, ms, kind: m[3] ? 'del' : 'add' });
  }
  return out;
}

/** One host holding the VIP from an add to its delete (or to the end of the watch, `open`). */
export interface Hold {
  host: string;
  startMs: number;
  endMs: number;
  open: boolean;
}

/** Each host's holds in time order; a repeated add or delete changes nothing. */
export function holds(events: readonly VipEvent[], endMs: number): Hold[] {
  const sorted = [...events].sort((a, b) => a.ms - b.ms);
  const since = new Map<string, number>();
  const out: Hold[] = [];
  for (const e of sorted) {
    const start = since.get(e.host);
    if (e.kind === 'add' && start === undefined) since.set(e.host, e.ms);
    else if (e.kind === 'del' && start !== undefined) {
      out.push({ host: e.host, startMs: start, endMs: e.ms, open: false });
      since.delete(e.host);
    }
  }
  for (const [host, start] of since) out.push({ host, startMs: start, endMs, open: true });
  return out.sort((a, b) => a.startMs - b.startMs);
}

export interface LogLine {
  ms: number;
  msg: string;
  line: string;
}

/** The agent's logfmt lines (`time=ISO level=... msg="..."`), from its log file or the journal. */
export function parseAgentLog(text: string): LogLine[] {
  const out: LogLine[] = [];
  for (const line of text.split('\n')) {
    // The agent quotes time= as logrus does; older logs did not.
    const m = /(?:^|\s)time="?([^"\s]+)"? level=\S+ msg=("(?:[^"\\]|\\.)*"|\S+)/.exec(line);
    if (!m) continue;
    const ms = Date.parse(m[1]!);
    if (Number.isNaN(ms)) continue;
    const msg = m[2]!.startsWith('"') ? (JSON.parse(m[2]!) as string) : m[2]!;
    out.push({ ms, msg, line });
  }
  return out;
}

/** The first line at or after `fromMs` whose msg matches. */
export function firstAfter(lines: readonly LogLine[], fromMs: number, re: RegExp): LogLine | undefined {
  return lines.find((l) => l.ms >= fromMs && re.test(l.msg));
}

/** `ip -n NETNS -ts monitor address` for the whole soak; `text()` is all it printed so far. */
export function startMonitor(netns: string): { text(): string; stop(): void; child: ChildProcess } {
  // `ip` stamps an event when it reads it: at real-time priority it reads at once, so two hosts'
  // monitors on a busy machine agree to well under a millisecond rather than a few.
  const child = spawn('chrt', ['-f', '50', 'ip', '-n', netns, '-ts', 'monitor', 'address'], {
    env: { ...process.env, TZ: 'UTC' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const chunks: Buffer[] = [];
  child.stdout.on('data', (b: Buffer) => chunks.push(b));
  child.stderr.on('data', (b: Buffer) => chunks.push(b));
  return {
    child,
    text: () => Buffer.concat(chunks).toString(),
    stop: () => void (child.exitCode === null && child.pid && process.kill(child.pid, 'SIGTERM')),
  };
}

/**
 * Helpers for the modes suite: cluster files for unicast and two-NIC setups written from the lab's
 * own file, and a sampler that watches several VIPs at once (one `ip addr` per host per sample, read
 * from the root namespace, so it works while a host's links are down).
 */
import { execFile, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { labExec, type LabHost, type LabInfo } from '../../src/lab/index.js';

const execFileAsync = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
export const bare = (cidr: string) => cidr.split('/')[0]!;

/** The lab's file with its one instance's lines followed by `extra` (YAML at the instance's indent). */
export function writeVariant(lab: LabInfo, path: string, extra: string[]): string {
  const text = readFileSync(lab.clusterFile, 'utf8').trimEnd();
  if (!text.endsWith('authPass: "lab-pass"'))
    throw new Error(`${lab.clusterFile} no longer ends with the instance's authPass`);
  writeFileSync(path, [text, ...extra, ''].join('\n'));
  return path;
}

/** The same host number on the secondary /24 (eth0) as the lab's VIP has on the main one. */
export function secondaryVip(lab: LabInfo): string {
  const net = lab.hosts[0]!.secondaryAddress.split('.').slice(0, 3).join('.');
  return `${net}.${bare(lab.vip).split('.')[3]}/24`;
}

/** Which hosts have each VIP on any NIC right now. */
export async function holdersByVip(
  hosts: readonly LabHost[],
  vips: readonly string[],
): Promise<Record<string, string[]>> {
  const out = await Promise.all(
    hosts.map(async (h) => (await execFileAsync('ip', ['-n', h.netns, '-o', '-4', 'addr', 'show'])).stdout),
  );
  return Object.fromEntries(
    vips.map((v) => [v, hosts.filter((_, i) => out[i]!.includes(` ${bare(v)}/`)).map((h) => h.name)]),
  );
}

export interface Sample {
  /** ms since the sampler started */
  at: number;
  holders: Record<string, string[]>;
}

export function sampleHolders(hosts: readonly LabHost[], vips: readonly string[], everyMs = 100) {
  const t0 = Date.now();
  const samples: Sample[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      const started = Date.now();
      samples.push({ at: started - t0, holders: await holdersByVip(hosts, vips) });
      await sleep(Math.max(0, everyMs - (Date.now() - started)));
    }
  })();
  return {
    t0,
    samples,
    async stop(): Promise<Sample[]> {
      running = false;
      await loop;
      return samples;
    },
  };
}

export async function waitFor<T>(
  what: string,
  timeoutMs: number,
  probe: () => Promise<T>,
  ok: (v: T) => boolean,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(v)}`);
    await sleep(100);
  }
}

export interface TimedProbe {
  /** ms from the first probe's start */
  at: number;
  /** how long the TLS handshake took, or until it failed */
  ms: number;
  cn?: string;
  error?: string;
}

/**
 * Run inside the client: a new TLS connection to VIP:6443 every `every` ms for `forMs`, each started
 * without waiting for the one before, each given `timeout` ms; one JSON line each when all are done.
 */
const TIMED_PROBES = `
const tls = require('node:tls');
const [vip, every, forMs, timeout] = [process.argv[1], ...process.argv.slice(2).map(Number)];
const t0 = Date.now();
const once = (at) => new Promise((resolve) => {
  const start = Date.now();
  const done = (r) => resolve({ at, ms: Date.now() - start, ...r });
  const s = tls.connect({ host: vip, port: 6443, rejectUnauthorized: false }, () => {
    const cn = s.getPeerCertificate().subject?.CN;
    s.end();
    done({ cn: Array.isArray(cn) ? cn.join(',') : cn });
  });
  s.setTimeout(timeout, () => s.destroy(new Error('timeout')));
  s.on('error', (e) => done({ error: e.message }));
});
(async () => {
  const all = [];
  while (Date.now() - t0 < forMs) {
    all.push(once(Date.now() - t0));
    await new Promise((r) => setTimeout(r, every));
  }
  for (const r of await Promise.all(all)) console.log(JSON.stringify(r));
})();
`;

/** Starts timed probes from the lab's client host; resolves when the last one has ended. */
export async function timedProbes(
  labName: string,
  vip: string,
  opts: { everyMs: number; forMs: number; timeoutMs: number },
): Promise<TimedProbe[]> {
  const args = [bare(vip), opts.everyMs, opts.forMs, opts.timeoutMs].map(String);
  const r = await labExec(labName, 'client', ['node', '-e', TIMED_PROBES, ...args]);
  if (r.code !== 0) throw new Error(`probes from client: ${r.stderr}`);
  return r.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as TimedProbe);
}

export interface NetEvent {
  host: string;
  /** ms since the epoch, from `ip -ts monitor`'s own timestamp (taken as the kernel event arrives) */
  at: number;
  /** an address added or deleted, or a link whose flags changed */
  kind: 'add' | 'delete' | 'link';
  /** the address (kind add/delete) */
  address?: string;
  /** the NIC */
  dev: string;
  /** kind link: whether it is administratively up */
  up?: boolean;
}

/**
 * `ip -ts -o monitor link address` in each host's namespace, from the root namespace (so a host
 * that powers off does not take its monitor with it): when each address came and went and each NIC
 * went down, to the microsecond, without a poll's latency.
 */
export function watchNet(hosts: readonly LabHost[]) {
  const procs = hosts.map((h) => {
    const child = spawn('ip', ['-ts', '-o', '-n', h.netns, 'monitor', 'link', 'address'], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    return { host: h.name, child, text: () => out };
  });
  const events = (): NetEvent[] => {
    const events: NetEvent[] = [];
    for (const p of procs) {
      for (const line of p.text().split('\n')) {
        const ts = /^\[([^\]]+)\] /.exec(line);
        if (!ts) continue;
        const at = Date.parse(ts[1]!);
        const rest = line.slice(ts[0].length);
        const addr = /^(Deleted )?\d+: (\S+)\s+inet6? (\S+)/.exec(rest);
        const link = /^\d+: ([^:@\s]+)(?:@\S+)?: <([^>]*)>/.exec(rest);
        if (addr)
          events.push({
            host: p.host,
            at,
            kind: addr[1] ? 'delete' : 'add',
            dev: addr[2]!,
            address: addr[3]!,
          });
        else if (link)
          events.push({
            host: p.host,
            at,
            kind: 'link',
            dev: link[1]!,
            up: link[2]!.split(',').includes('UP'),
          });
      }
    }
    return events.sort((a, b) => a.at - b.at);
  };
  return {
    /** What the monitors printed so far, in time order. */
    events,
    stop(): NetEvent[] {
      for (const p of procs) p.child.kill();
      return events();
    },
  };
}

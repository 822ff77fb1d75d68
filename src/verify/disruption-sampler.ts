/**
 * The two disruption samplers, from this machine: HTTPS GETs through the VIP, one after the other,
 * every `everyMs`. `new-connections` opens a connection per request (Connection: close);
 * `reused-connection` keeps one keep-alive connection and replaces it only when a request on it
 * fails, as a long-lived client does. A request fails on a network error, no complete answer within
 * `timeoutMs`, or a 5xx; any other status means the server behind the VIP answered (a hardened API
 * server answers 401 to an anonymous health check).
 */
import { Agent, request } from 'node:https';
import { disruption, type Disruption, type Request, type SamplerKind } from './disruption.js';

export interface SamplerTarget {
  /** An address, IPv6 without brackets. */
  host: string;
  port: number;
  path: string;
}

export interface SamplerOptions {
  everyMs?: number;
  timeoutMs?: number;
}

export interface RunningSampler {
  kind: SamplerKind;
  /** Ends the loop once the request in flight (if any) is done; the figures of the whole run. */
  stop(): Promise<Disruption>;
}

const now = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function get(
  target: SamplerTarget,
  agent: Agent | false,
  timeoutMs: number,
  onNewSocket: () => void,
): Promise<boolean> {
  return new Promise((resolve) => {
    let done = false;
    const finish = (ok: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve(ok);
    };
    const req = request(
      {
        host: target.host,
        port: target.port,
        path: target.path,
        agent,
        rejectUnauthorized: false,
        headers: agent ? { connection: 'keep-alive' } : { connection: 'close' },
      },
      (res) => {
        res.on('data', () => undefined);
        res.on('end', () => finish((res.statusCode ?? 500) < 500));
        res.on('error', () => finish(false));
      },
    );
    // The whole request, not an idle timer: a connection through a crashed holder hangs silently.
    const timer = setTimeout(() => {
      finish(false);
      req.destroy(new Error('timeout'));
    }, timeoutMs);
    req.on('socket', () => {
      if (!req.reusedSocket) onNewSocket();
    });
    req.on('error', () => finish(false));
    req.end();
  });
}

export function startSampler(
  kind: SamplerKind,
  target: SamplerTarget,
  opts: SamplerOptions = {},
): RunningSampler {
  const everyMs = opts.everyMs ?? 100;
  const timeoutMs = opts.timeoutMs ?? 1000;
  const agent = kind === 'reused-connection' ? new Agent({ keepAlive: true, maxSockets: 1 }) : false;
  const requests: Request[] = [];
  let connections = 0;
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const startMs = now();
      const ok = await get(target, agent, timeoutMs, () => connections++);
      requests.push({ startMs, endMs: now(), ok });
      const wait = startMs + everyMs - now();
      if (wait > 0 && !stopped) await sleep(wait);
    }
  })();
  return {
    kind,
    async stop() {
      stopped = true;
      await loop;
      if (agent) agent.destroy();
      return disruption(kind, requests, connections);
    },
  };
}

/** Both samplers against one target, started together. */
export function startBothSamplers(
  target: SamplerTarget,
  opts: SamplerOptions = {},
): { stop(): Promise<Disruption[]> } {
  const all = [
    startSampler('new-connections', target, opts),
    startSampler('reused-connection', target, opts),
  ];
  return { stop: () => Promise.all(all.map((s) => s.stop())) };
}

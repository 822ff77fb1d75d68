/** The upstream API servers, their health and counters, and the order the proxy dials them in. */
import type { AgentUpstream, HealthCheckSettings } from '../contract/agent-config.js';
import { hostPort } from '../contract/net.js';
import { HealthState, type CheckTarget } from './health.js';
import type { UpstreamStatus } from '../contract/status.js';

export class Upstream implements CheckTarget {
  readonly id: string;
  readonly health: HealthState;
  activeConnections = 0;
  totalConnections = 0;
  failedDials = 0;

  constructor(
    readonly address: string,
    readonly port: number,
    settings: Pick<HealthCheckSettings, 'fallCount' | 'riseCount'>,
  ) {
    this.id = upstreamId(address, port);
    this.health = new HealthState(settings.fallCount, settings.riseCount);
  }

  status(): UpstreamStatus {
    const h = this.health;
    return {
      address: this.address,
      port: this.port,
      health: h.status,
      consecutiveFailures: h.consecutiveFailures,
      lastError: h.lastError,
      ...(h.note !== undefined ? { note: h.note } : {}),
      lastCheckAt: h.lastCheckAt ? new Date(h.lastCheckAt).toISOString() : undefined,
      activeConnections: this.activeConnections,
      totalConnections: this.totalConnections,
      failedDials: this.failedDials,
    };
  }
}

export const upstreamId = hostPort;

export class UpstreamPool {
  private cursor = 0;

  constructor(readonly upstreams: Upstream[]) {}

  static fromConfig(
    list: AgentUpstream[],
    settings: HealthCheckSettings,
    previous?: UpstreamPool,
  ): UpstreamPool {
    const old = new Map(previous?.upstreams.map((u) => [u.id, u]));
    const seen = new Set<string>();
    const upstreams: Upstream[] = [];
    for (const { address, port } of list) {
      const id = upstreamId(address, port);
      if (seen.has(id)) continue;
      seen.add(id);
      // Kept upstreams keep their health and counters, so a reload does not reset what we know.
      const kept = old.get(id);
      if (kept) {
        kept.health.fallCount = settings.fallCount;
        kept.health.riseCount = settings.riseCount;
      }
      upstreams.push(kept ?? new Upstream(address, port, settings));
    }
    const pool = new UpstreamPool(upstreams);
    pool.cursor = previous?.cursor ?? 0;
    return pool;
  }

  get healthyCount(): number {
    return this.upstreams.filter((u) => u.health.status === 'healthy').length;
  }

  /**
   * Dial order for one connection: healthy upstreams in round robin, starting one further each
   * call. Upstreams not yet checked count only while none is known healthy (startup).
   */
  candidates(): Upstream[] {
    const healthy = this.upstreams.filter((u) => u.health.status === 'healthy');
    const usable = healthy.length > 0 ? healthy : this.upstreams.filter((u) => u.health.status === 'unknown');
    if (usable.length === 0) return [];
    const start = this.cursor % usable.length;
    this.cursor = (this.cursor + 1) % Number.MAX_SAFE_INTEGER;
    const order = [...usable.slice(start), ...usable.slice(0, start)];
    return [...order.filter((u) => !u.health.suspect), ...order.filter((u) => u.health.suspect)];
  }
}

export class NoUpstreamError extends Error {
  override name = 'NoUpstreamError';
  constructor(
    message: string,
    readonly attempts: Array<{ upstream: string; error: string }>,
  ) {
    super(message);
  }
}

/**
 * RFC 8305's connection attempt delay: how long a dial may go unanswered before the next candidate
 * is dialled beside it. An API server on a live host answers a SYN in well under a millisecond on a
 * LAN; a powered-off or cut-off host never does, and waiting out the dial timeout on it fails the
 * client (seen in the lab: 6-8 of 40 connections during a poweroff hand-off).
 */
export const DIAL_STAGGER_MS = 250;

/**
 * Dials the candidates in order until one connects: the next starts at once when a dial fails
 * (refused) and beside it when a dial has not answered within `staggerMs`. The first to connect
 * wins; a later one is handed to `discard`. A dead API server costs a client at most `staggerMs`,
 * not a failed request (k0s's proxy gives up on the first).
 */
export function dialFirst<T>(
  candidates: Upstream[],
  dial: (upstream: Upstream) => Promise<T>,
  opts: {
    staggerMs?: number;
    discard?: (connection: T) => void;
    onFailure?: (upstream: Upstream, err: unknown) => void;
  } = {},
): Promise<{ upstream: Upstream; connection: T }> {
  const attempts: Array<{ upstream: string; error: string }> = [];
  const staggerMs = opts.staggerMs ?? DIAL_STAGGER_MS;
  return new Promise((resolve, reject) => {
    let next = 0;
    let pending = 0;
    let done = false;
    let timer: NodeJS.Timeout | undefined;
    const giveUp = () => {
      done = true;
      reject(
        new NoUpstreamError(
          candidates.length === 0
            ? 'no healthy upstream'
            : `all ${candidates.length} upstreams failed to dial`,
          attempts,
        ),
      );
    };
    const startNext = (): void => {
      clearTimeout(timer);
      if (done) return;
      if (next >= candidates.length) {
        if (pending === 0) giveUp();
        return;
      }
      const upstream = candidates[next++]!;
      pending++;
      dial(upstream).then(
        (connection) => {
          pending--;
          upstream.health.suspect = false;
          if (done) return opts.discard?.(connection);
          done = true;
          clearTimeout(timer);
          resolve({ upstream, connection });
        },
        (err: unknown) => {
          pending--;
          upstream.failedDials++;
          upstream.health.suspect = true;
          attempts.push({ upstream: upstream.id, error: err instanceof Error ? err.message : String(err) });
          opts.onFailure?.(upstream, err);
          startNext();
        },
      );
      if (next < candidates.length) timer = setTimeout(startNext, staggerMs);
    };
    startNext();
  });
}

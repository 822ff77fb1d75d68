/** Active health checks of the API servers: HTTPS GET with fall/rise counting, like haproxy's. */
import https from 'node:https';
import type { HealthCheckSettings } from './config.js';

export type HealthStatus = 'unknown' | 'healthy' | 'unhealthy';

/**
 * fall/rise hysteresis. An upstream starts `unknown` (usable until its first check answers, so the
 * proxy serves at once); then one failure marks an unknown upstream down at once, while a healthy
 * one needs `fallCount` consecutive failures, and an unhealthy one `riseCount` successes.
 */
export class HealthState {
  status: HealthStatus = 'unknown';
  consecutiveFailures = 0;
  consecutiveSuccesses = 0;
  lastError: string | undefined;
  lastCheckAt: number | undefined;

  constructor(
    public fallCount: number,
    public riseCount: number,
  ) {}

  /** Records one probe result; returns true when the status changed. */
  record(ok: boolean, error?: string, at = Date.now()): boolean {
    const before = this.status;
    this.lastCheckAt = at;
    if (ok) {
      this.consecutiveSuccesses++;
      this.consecutiveFailures = 0;
      this.lastError = undefined;
      if (
        this.status !== 'healthy' &&
        (this.status === 'unknown' || this.consecutiveSuccesses >= this.riseCount)
      ) {
        this.status = 'healthy';
      }
    } else {
      this.consecutiveFailures++;
      this.consecutiveSuccesses = 0;
      this.lastError = error;
      if (
        this.status === 'unknown' ||
        (this.status === 'healthy' && this.consecutiveFailures >= this.fallCount)
      ) {
        this.status = 'unhealthy';
      }
    }
    return this.status !== before;
  }
}

export interface ProbeResult {
  ok: boolean;
  error?: string;
  statusCode?: number;
}

export type Probe = ((address: string, port: number) => Promise<ProbeResult>) & { close?: () => void };

/**
 * HTTPS GET; API server certificates are self-signed, so any is accepted. The connection is kept
 * alive between checks: a TLS handshake per check per upstream would be most of the agent's idle
 * CPU. A dead server breaks the kept connection, and the next check dials afresh.
 */
export function httpsProbe(path: string, timeoutMs: number): Probe {
  const agent = new https.Agent({ keepAlive: true, maxSockets: 1, rejectUnauthorized: false });
  const probe: Probe = (address, port) =>
    new Promise<ProbeResult>((resolve) => {
      const req = https.request(
        { host: address, port, path, method: 'GET', agent, headers: { 'user-agent': 'cplb-agent' } },
        (res) => {
          res.resume();
          const code = res.statusCode ?? 0;
          const ok = code >= 200 && code < 300;
          resolve(ok ? { ok, statusCode: code } : { ok, statusCode: code, error: `HTTP ${code}` });
        },
      );
      // One deadline for dial, handshake and answer; destroying the request drops its socket too.
      const timer = setTimeout(() => req.destroy(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
      req.on('close', () => clearTimeout(timer));
      req.on('error', (err: NodeJS.ErrnoException) => resolve({ ok: false, error: err.code ?? err.message }));
      req.end();
    });
  probe.close = () => agent.destroy();
  return probe;
}

export interface CheckTarget {
  readonly id: string;
  readonly address: string;
  readonly port: number;
  readonly health: HealthState;
}

/**
 * Probes every target each interval. A probe never overlaps itself (the next one is scheduled when
 * it settles), so a hung API server costs one socket, not one per interval.
 */
export class HealthChecker {
  private timers = new Map<string, NodeJS.Timeout>();
  private targets: CheckTarget[] = [];
  private stopped = true;
  private roundWaiters: Array<() => void> = [];
  private pendingFirst = new Set<string>();

  constructor(
    private settings: HealthCheckSettings,
    private readonly onChange: (target: CheckTarget) => void,
    private probe: Probe = httpsProbe(settings.path, settings.timeoutMs),
  ) {}

  start(targets: CheckTarget[]): void {
    this.stopped = false;
    this.setTargets(targets);
  }

  /** Swaps the target list: kept targets keep their schedule, new ones are probed at once. */
  setTargets(targets: CheckTarget[], settings?: HealthCheckSettings): void {
    if (settings) {
      this.settings = settings;
      this.probe.close?.();
      this.probe = httpsProbe(settings.path, settings.timeoutMs);
    }
    const keep = new Set(targets.map((t) => t.id));
    for (const [id, timer] of this.timers) {
      if (!keep.has(id)) {
        clearTimeout(timer);
        this.timers.delete(id);
        this.pendingFirst.delete(id);
      }
    }
    this.targets = targets;
    for (const target of targets) {
      if (!this.timers.has(target.id)) {
        this.pendingFirst.add(target.id);
        this.schedule(target, 0);
      }
    }
    this.settleRound();
  }

  /** Resolves once every current target has been probed at least once. */
  firstRound(): Promise<void> {
    if (this.pendingFirst.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.roundWaiters.push(resolve));
  }

  stop(): void {
    this.stopped = true;
    this.probe.close?.();
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
  }

  private schedule(target: CheckTarget, delay: number): void {
    const timer = setTimeout(() => void this.run(target), delay);
    timer.unref();
    this.timers.set(target.id, timer);
  }

  private async run(target: CheckTarget): Promise<void> {
    const result = await this.probe(target.address, target.port);
    if (this.stopped || !this.targets.includes(target)) return;
    if (target.health.record(result.ok, result.error)) this.onChange(target);
    this.pendingFirst.delete(target.id);
    this.settleRound();
    this.schedule(target, this.settings.intervalMs);
  }

  private settleRound(): void {
    if (this.pendingFirst.size > 0) return;
    for (const resolve of this.roundWaiters.splice(0)) resolve();
  }
}

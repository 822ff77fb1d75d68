/** Active health checks of the API servers: HTTPS GET with fall/rise counting, like haproxy's. */
import { readFileSync, statSync } from 'node:fs';
import https from 'node:https';
import type { HealthCheckSettings } from '../contract/agent-config.js';

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
  /**
   * Why "healthy" says less than usual (an anonymous 401: readiness unknown). Set by an up answer
   * with a note, cleared by an up answer without one or by going down: a failure that does not take
   * the upstream down leaves it, so a flaky network does not log the note again on every recovery.
   */
  note: string | undefined;
  /**
   * A client's dial failed and no check or dial has succeeded since: dialled after the others. A
   * host that vanished passes for healthy until fallCount checks fail; meanwhile no client should
   * wait on it first.
   */
  suspect = false;

  constructor(
    public fallCount: number,
    public riseCount: number,
  ) {}

  /** Records one probe result; returns true when the status changed. */
  record(ok: boolean, error?: string, at = Date.now(), note?: string): boolean {
    const before = this.status;
    this.lastCheckAt = at;
    if (ok) {
      this.suspect = false;
      this.note = note;
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
        // A down upstream is explained by lastError; a note about how it was up would mislead.
        this.note = undefined;
      }
    }
    return this.status !== before;
  }
}

export interface ProbeResult {
  ok: boolean;
  error?: string;
  statusCode?: number;
  /** Why an up answer says less than usual (an anonymous 401/403: readiness unknown). */
  note?: string;
}

export type Probe = ((address: string, port: number) => Promise<ProbeResult>) & { close?: () => void };

/** Files on this host that prove who the checker is: a client certificate and key, or a bearer token. */
export interface HealthCredentials {
  clientCertificate?: string;
  clientKey?: string;
  bearerTokenFile?: string;
}

const anonymousNote = (code: number) => `${code}: readiness not visible without credentials`;

/**
 * What an answer means. 2xx: up. 401/403 without credentials: the server is up and speaking TLS and
 * HTTP but refuses anonymous requests (kube-apiserver --anonymous-auth=false), so it counts as up
 * with readiness unknown; taking it for down would take the VIP down everywhere. With credentials,
 * 401/403 means they are wrong, and the check cannot see readiness: down. Anything else: down.
 */
function judgeAnswer(code: number, withCredentials: boolean): ProbeResult {
  if (code >= 200 && code < 300) return { ok: true, statusCode: code };
  if (code === 401 || code === 403)
    return withCredentials
      ? { ok: false, statusCode: code, error: `HTTP ${code}: the health check credentials were refused` }
      : { ok: true, statusCode: code, note: anonymousNote(code) };
  return { ok: false, statusCode: code, error: `HTTP ${code}` };
}

interface LoadedCredentials {
  key: string;
  agent: https.Agent;
  token?: string;
}

/**
 * Reads the credential files and keeps them while they stay the same (size, mtime, inode), so a
 * rotated certificate or token is picked up at the next check without a reload. A file that cannot
 * be read fails the check (down), naming the file; it never throws.
 */
function credentialLoader(
  credentials: HealthCredentials,
  agentOptions: https.AgentOptions,
  timeoutMs: number,
) {
  const files = [credentials.clientCertificate, credentials.clientKey, credentials.bearerTokenFile].filter(
    (f): f is string => f !== undefined,
  );
  let current: LoadedCredentials | undefined;
  return {
    load(): LoadedCredentials | { error: string } {
      let key = '';
      for (const file of files) {
        try {
          const st = statSync(file);
          key += `${file}:${st.ino}:${st.size}:${st.mtimeMs};`;
        } catch (err) {
          return {
            error: `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? errorMessage(err)}`,
          };
        }
      }
      if (current?.key === key) return current;
      try {
        const options: https.AgentOptions = { ...agentOptions };
        if (credentials.clientCertificate && credentials.clientKey) {
          options.cert = readFileSync(credentials.clientCertificate);
          options.key = readFileSync(credentials.clientKey);
        }
        const token = credentials.bearerTokenFile
          ? readFileSync(credentials.bearerTokenFile, 'utf8').trim()
          : undefined;
        // A kept connection of the old agent may still carry a check: close it after that check's deadline.
        const old = current?.agent;
        if (old) setTimeout(() => old.destroy(), timeoutMs + 1000).unref();
        current = { key, agent: new https.Agent(options), ...(token !== undefined ? { token } : {}) };
        return current;
      } catch (err) {
        return { error: `cannot use the health check credentials: ${errorMessage(err)}` };
      }
    },
    close() {
      current?.agent.destroy();
    },
  };
}

const errorMessage = (err: unknown) => (err instanceof Error ? err.message : String(err));

/**
 * HTTPS GET; API server certificates are self-signed, so any is accepted. The connection is kept
 * alive between checks: a TLS handshake per check per upstream would be most of the agent's idle
 * CPU. A dead server breaks the kept connection, and the next check dials afresh.
 */
export function httpsProbe(path: string, timeoutMs: number, credentials: HealthCredentials = {}): Probe {
  const withCredentials =
    credentials.bearerTokenFile !== undefined ||
    (credentials.clientCertificate !== undefined && credentials.clientKey !== undefined);
  const loader = credentialLoader(
    credentials,
    { keepAlive: true, maxSockets: 1, rejectUnauthorized: false },
    timeoutMs,
  );
  const probe: Probe = (address, port) =>
    new Promise<ProbeResult>((resolve) => {
      const loaded = loader.load();
      if ('error' in loaded) return resolve({ ok: false, error: loaded.error });
      const headers: Record<string, string> = { 'user-agent': 'cplb-agent' };
      if (loaded.token !== undefined) headers.authorization = `Bearer ${loaded.token}`;
      let req: ReturnType<typeof https.request>;
      try {
        req = https.request(
          { host: address, port, path, method: 'GET', agent: loaded.agent, headers },
          (res) => {
            res.resume();
            resolve(judgeAnswer(res.statusCode ?? 0, withCredentials));
          },
        );
      } catch (err) {
        // Node refuses some paths (a control byte, a character outside latin1) before any I/O.
        return resolve({ ok: false, error: `cannot send the check: ${errorMessage(err)}` });
      }
      // One deadline for dial, handshake and answer; destroying the request drops its socket too.
      const timer = setTimeout(() => req.destroy(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
      req.on('close', () => clearTimeout(timer));
      req.on('error', (err: NodeJS.ErrnoException) => resolve({ ok: false, error: err.code ?? err.message }));
      req.end();
    });
  probe.close = () => loader.close();
  return probe;
}

function probeFor(settings: HealthCheckSettings): Probe {
  const { clientCertificate, clientKey, bearerTokenFile } = settings;
  return httpsProbe(settings.path, settings.timeoutMs, { clientCertificate, clientKey, bearerTokenFile });
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
    private probe: Probe = probeFor(settings),
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
      this.probe = probeFor(settings);
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
    let result: ProbeResult;
    try {
      result = await this.probe(target.address, target.port);
    } catch (err) {
      // Whatever a probe throws, this upstream is down for the round and checking goes on.
      result = { ok: false, error: `check failed: ${errorMessage(err)}` };
    }
    if (this.stopped || !this.targets.includes(target)) return;
    const noteBefore = target.health.note;
    const changed = target.health.record(result.ok, result.error, Date.now(), result.note);
    if (changed || target.health.note !== noteBefore) this.onChange(target);
    this.pendingFirst.delete(target.id);
    this.settleRound();
    this.schedule(target, this.settings.intervalMs);
  }

  private settleRound(): void {
    if (this.pendingFirst.size > 0) return;
    for (const resolve of this.roundWaiters.splice(0)) resolve();
  }
}

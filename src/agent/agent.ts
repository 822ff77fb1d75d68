/** The node agent: wires the proxy, health checks, keepalived, iptables and the status endpoints. */
import { existsSync, watch, type FSWatcher } from 'node:fs';
import { mkdir, readFile, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { VERSION } from '../contract/version.js';
import { BUILD_STAMP } from './build-stamp.js';
import { hashConfigText, proxyBindAddress, type AgentConfig } from '../contract/agent-config.js';
import { loadAgentConfig } from './config.js';
import { HealthChecker } from './health.js';
import { IptablesRules } from './iptables.js';
import { redirectRules } from '../contract/nat-rules.js';
import { KeepalivedSupervisor } from './keepalived.js';
import { errorText, type Logger } from './log.js';
import { collectGarbage, QuietAfterBusy } from './memory.js';
import { MetricsServer } from './metrics.js';
import { NotifyFifoReader } from './notify.js';
import { UpstreamPool, type Upstream } from './pool.js';
import { findForeignKeepalived } from './procs.js';
import { type ForeignProcess } from '../contract/status.js';
import { TcpProxy } from './proxy.js';
import { StatusFile, StatusServer } from './status.js';
import { type AgentStatus } from '../contract/status.js';
import { nodeHealth, TrackFile, TRACK_FAULT, TRACK_OK, type NodeHealth } from './trackfile.js';
import {
  forgetNeighbour,
  heldVips,
  localAddresses,
  lowerAdvertOf,
  vipsToForget,
  VrrpStates,
} from './vrrp.js';
import { AddressLabels, labelWants, retiredWants } from './addrlabel.js';
import { expireHandOffFiles } from './handoff-files.js';
import { PREFER_TTL_MS, QUIESCE_FILE, QUIESCE_TTL_MS } from '../contract/paths.js';

/** The quiesce file beside the track file (tests move the run folder). */
const QUIESCE_FILE_PATH = (c: AgentConfig) => join(dirname(c.keepalived.trackFile), basename(QUIESCE_FILE));

export class Agent {
  private config: AgentConfig;
  private configHash: string;
  private keepalivedHash: string | undefined;
  private readonly startedAt = Date.now();
  private pool: UpstreamPool;
  private readonly checker: HealthChecker;
  private readonly proxy: TcpProxy;
  private readonly track: TrackFile;
  private readonly keepalived: KeepalivedSupervisor;
  private readonly notify: NotifyFifoReader;
  private iptables: IptablesRules;
  private readonly vrrp = new VrrpStates();
  private readonly labels: AddressLabels;
  private readonly statusServer: StatusServer;
  private readonly statusFile: StatusFile;
  private statusTick: NodeJS.Timeout | undefined;
  private metrics: MetricsServer | undefined;
  private health: NodeHealth = { ok: false, reason: 'starting' };
  private foreign: ForeignProcess[] = [];
  private tick: NodeJS.Timeout | undefined;
  private drainWatch: FSWatcher | undefined;
  private runWatch: FSWatcher | undefined;
  /** New SYNs are dropped for a hand-off (the quiesce file): see syncQuiesce. */
  private quiescing = false;
  private readonly quiet = new QuietAfterBusy();
  private reloading: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(
    private readonly configPath: string,
    loaded: { config: AgentConfig; hash: string },
    private readonly log: Logger,
  ) {
    this.config = loaded.config;
    this.configHash = loaded.hash;
    const c = this.config;
    log.setLevel(c.logLevel);
    this.pool = UpstreamPool.fromConfig(c.proxy.upstreams, c.proxy.healthCheck);
    const hLog = log.child({ component: 'health' });
    this.checker = new HealthChecker(c.proxy.healthCheck, (u) => {
      const up = u as Upstream;
      // Called on a change of status or of its note, so an API server that refuses anonymous checks
      // is logged once, not every second.
      hLog.info('upstream health changed', {
        upstream: up.id,
        health: up.health.status,
        error: up.health.lastError,
        note: up.health.note,
      });
      void this.updateHealth();
    });
    this.proxy = new TcpProxy(this.pool, {
      log: log.child({ component: 'proxy' }),
      dialTimeoutMs: c.proxy.dialTimeoutMs,
      maxConnections: c.proxy.maxConnections,
      idleTimeoutMs: c.proxy.idleTimeoutMs,
    });
    this.track = new TrackFile(c.keepalived.trackFile);
    this.keepalived = new KeepalivedSupervisor({
      binary: c.keepalived.binary,
      configPath: c.keepalived.configPath,
      pidDir: c.keepalived.pidDir,
      backoff: c.keepalived.restartBackoff,
      log,
      onExit: () => this.vrrp.markStopped(),
      onMessage: (msg) => {
        const inst = lowerAdvertOf(msg);
        // The moment a hand-off's preemption is due from: cplbctl reads it to time the holder's quiesce.
        if (inst && this.vrrp.noteLowerAdvert(inst)) void this.statusFile.write();
      },
    });
    const vLog = log.child({ component: 'vrrp' });
    this.labels = new AddressLabels(log.child({ component: 'addrlabel' }));
    this.notify = new NotifyFifoReader(
      c.keepalived.notifyFifo,
      (event) => {
        const before = this.vrrp.apply(event);
        if (before !== undefined) {
          vLog.info('vrrp state', { instance: event.name, state: event.state, from: before });
          void this.statusFile.write();
          for (const vip of vipsToForget(this.config.vips, event.name, before, event.state))
            void forgetNeighbour(vip, vLog);
          // keepalived adds or removes the VIPs before it writes the event: the addresses are current.
          void this.syncLabels(true);
        }
      },
      vLog,
    );
    this.iptables = this.makeIptables(c);
    this.vrrp.expect(c.vips.map((v) => v.instanceName));
    this.statusServer = new StatusServer(
      c.statusSocket,
      () => this.liveStatus(),
      log.child({ component: 'status' }),
    );
    this.statusFile = new StatusFile(c.statusFile, () => this.snapshot(), log.child({ component: 'status' }));
  }

  async start(): Promise<void> {
    const c = this.config;
    await mkdir(c.keepalived.pidDir, { recursive: true, mode: 0o755 });
    // Until the proxy is proven, this node must not take the VIP.
    await this.track.set(TRACK_FAULT);
    await this.notify.open();
    // A killed predecessor may have left the label of a VIP this node no longer holds.
    await this.syncLabels(true);
    await this.ensureProxy();
    this.checker.start(this.pool.upstreams);
    await this.ensureRules();
    this.keepalivedHash = await this.hashFile(c.keepalived.configPath);
    await this.keepalived.start();
    this.scanForeign();
    await this.statusServer.listen();
    await this.statusFile.write();
    this.watchDrain();
    this.watchRunDir();
    // Every second: readers judge a file older than a few seconds to be a dead agent's. The same tick
    // looks for the drain marker (one stat): a drain takes effect within a second even where the
    // watch cannot be set up.
    this.statusTick = setInterval(() => {
      void this.statusFile.write();
      if (this.isDrained() !== (this.health.drained === true)) void this.updateHealth();
      void this.syncQuiesce();
    }, 1000);
    if (c.metrics.enabled) {
      this.metrics = new MetricsServer(
        c.metrics.bindAddress,
        c.metrics.port,
        () => this.snapshot(),
        this.log.child({ component: 'metrics' }),
      );
      await this.metrics
        .listen()
        .catch((err) => this.log.error('metrics disabled', { error: errorText(err) }));
    }
    this.tick = setInterval(() => void this.periodic(), c.iptables.reassertIntervalMs);
    await this.checker.firstRound();
    await this.updateHealth();
    await this.statusFile.write();
    this.log.info('agent started', {
      version: VERSION,
      build: BUILD_STAMP,
      host: c.hostName,
      configHash: this.configHash,
    });
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.tick);
    clearInterval(this.statusTick);
    this.drainWatch?.close();
    this.runWatch?.close();
    // First: a reader must not take the VIP-holding status of a stopping agent for the truth.
    await this.statusFile.remove();
    this.checker.stop();
    // New connections first: from now on they wait for the next holder (see refuseNewConnections).
    await this.iptables
      .refuseNewConnections()
      .catch((err) => this.log.warn('refusing new connections failed', { error: errorText(err) }));
    // keepalived next: its priority-0 adverts hand the VIP over before the rules and proxy go.
    await this.keepalived.stop();
    await this.labels.sync(labelWants(this.config.vips, new Set()), true);
    await this.iptables
      .remove()
      .catch((err) => this.log.error('removing iptables rules failed', { error: errorText(err) }));
    const drain = await this.proxy.shutdown(this.config.proxy.drainTimeoutMs);
    if (drain.drained + drain.destroyed > 0) this.log.info('proxy connections closed', { ...drain });
    this.notify.close();
    await this.statusServer.close();
    await this.metrics?.close();
    this.log.info('agent stopped');
  }

  /**
   * Re-reads agent.json and keepalived.conf; applies what changed. Only on SIGHUP (the service's
   * reload): apply stages files on every host and then reloads them in its own order, so a file that
   * appears must not take effect by itself.
   */
  reload(): Promise<void> {
    this.reloading = this.reloading
      .then(() => this.doReload())
      .catch((err) => {
        this.log.error('reload failed', { error: errorText(err) });
      });
    return this.reloading;
  }

  private async doReload(): Promise<void> {
    if (this.stopped) return;
    const loaded = await loadAgentConfig(this.configPath);
    if (loaded.hash !== this.configHash) {
      const old = this.config;
      const c = loaded.config;
      this.config = c;
      this.configHash = loaded.hash;
      this.log.setLevel(c.logLevel);
      this.pool = UpstreamPool.fromConfig(c.proxy.upstreams, c.proxy.healthCheck, this.pool);
      this.checker.setTargets(this.pool.upstreams, c.proxy.healthCheck);
      this.proxy.setPool(this.pool);
      this.proxy.setLimits(c.proxy);
      this.vrrp.expect(c.vips.map((v) => v.instanceName));
      const local = localAddresses();
      await this.labels.sync(retiredWants(labelWants(old.vips, local), labelWants(c.vips, local)), true);
      await this.syncLabels(true);
      if (old.iptables.backend !== c.iptables.backend || old.iptables.chain !== c.iptables.chain) {
        await this.iptables.remove();
        this.iptables = this.makeIptables(c);
      }
      await this.ensureProxy();
      await this.ensureRules(true);
      const restartOnly = ['statusSocket', 'metrics', 'keepalived'] as const;
      for (const key of restartOnly) {
        if (JSON.stringify(old[key]) !== JSON.stringify(c[key])) {
          this.log.warn('setting changes only on agent restart', { setting: key });
        }
      }
      this.log.info('agent config reloaded', {
        configHash: loaded.hash,
        upstreams: this.pool.upstreams.length,
      });
      await this.updateHealth();
      await this.statusFile.write();
    }
    const kHash = await this.hashFile(this.config.keepalived.configPath);
    if (kHash !== undefined && kHash !== this.keepalivedHash) {
      const test = await this.keepalived.configTest();
      if (!test.ok) {
        this.log.error('keepalived config rejected, keeping the running one', { output: test.output });
        return;
      }
      this.keepalivedHash = kHash;
      this.keepalived.reload();
      await this.statusFile.write();
    }
  }

  private makeIptables(c: AgentConfig): IptablesRules {
    const rules = new IptablesRules({
      backend: c.iptables.backend,
      chain: c.iptables.chain,
      log: this.log.child({ component: 'iptables' }),
    });
    rules.setRules(c.proxy.enabled ? redirectRules(c.vips, c.proxy.bindPort) : []);
    return rules;
  }

  /** The addrlabel entries of the IPv6 VIPs this node holds now (see addrlabel.ts). */
  private syncLabels(force = false): Promise<void> {
    return this.labels.sync(labelWants(this.config.vips, localAddresses()), force);
  }

  private async ensureProxy(): Promise<void> {
    const c = this.config;
    try {
      // The guard rule exists per family of the VIPs: the listener takes no family without one.
      const ipv6Only = !c.vips.some((v) => v.family === 4);
      if (c.proxy.enabled) await this.proxy.listen(c.proxy.bindPort, proxyBindAddress(c), ipv6Only);
      else await this.proxy.close();
    } catch (err) {
      this.log.error('proxy cannot listen', { port: c.proxy.bindPort, error: errorText(err) });
    }
  }

  private async ensureRules(force = false): Promise<void> {
    const c = this.config;
    this.iptables.setRules(c.proxy.enabled ? redirectRules(c.vips, c.proxy.bindPort) : []);
    try {
      await this.iptables.assert(force);
      // Only once the rules send clients to the new port may a port the proxy left stop accepting.
      this.proxy.closeRetired();
    } catch (err) {
      this.log.error('iptables rules not in place', { error: errorText(err) });
    }
  }

  private async periodic(): Promise<void> {
    if (this.stopped) return;
    await this.ensureRules();
    // Cheap unless the held VIPs changed: keepalived's fifo is unreliable after a reload (2.2.x).
    await this.syncLabels();
    if (!this.proxy.listening) await this.ensureProxy();
    this.scanForeign();
    await this.updateHealth();
    const expired = await expireHandOffFiles(dirname(this.config.keepalived.trackFile), PREFER_TTL_MS);
    if (expired.length)
      this.log.warn('removed a hand-off file no cplbctl run cleared: this node is no longer preferred', {
        files: expired.join(','),
        ttlSeconds: PREFER_TTL_MS / 1000,
      });
    const total = this.pool.upstreams.reduce((n, u) => n + u.totalConnections, 0);
    if (this.quiet.sample(total)) {
      const before = process.memoryUsage.rss();
      collectGarbage();
      this.log.debug('proxy quiet after a busy spell: collected garbage', {
        rssMBBefore: Math.round(before / 1e6),
        rssMBAfter: Math.round(process.memoryUsage.rss() / 1e6),
      });
    }
  }

  /** A distro keepalived beside ours may fight over the same VRID: report it, never kill it. */
  private scanForeign(): void {
    const found = findForeignKeepalived(this.keepalived.ownPids(), this.config.keepalived.configPath);
    const key = (list: ForeignProcess[]) => list.map((p) => p.pid).join(',');
    if (found.length > 0 && key(found) !== key(this.foreign)) {
      this.log.warn('another keepalived runs on this node (not started by the agent)', {
        pids: key(found),
        hint: 'stop and disable the distro keepalived service',
      });
    }
    this.foreign = found;
  }

  private async updateHealth(): Promise<void> {
    if (this.stopped) return;
    const next = nodeHealth({
      drained: this.isDrained(),
      proxyEnabled: this.config.proxy.enabled,
      proxyListening: this.proxy.listening,
      healthyUpstreams: this.pool.healthyCount,
    });
    if (next.drained !== this.health.drained) {
      this.log.info(next.drained ? 'node drained: giving up the VIP, taking none' : 'node uncordoned', {
        marker: this.config.drainFile,
      });
    } else if (next.ok !== this.health.ok) {
      const level = next.ok ? 'info' : 'warn';
      this.log[level](next.ok ? 'node healthy: may hold the VIP' : 'node unhealthy: giving up the VIP', {
        reason: next.reason,
      });
    }
    const changed =
      next.ok !== this.health.ok ||
      next.reason !== this.health.reason ||
      next.drained !== this.health.drained;
    this.health = next;
    try {
      await this.track.set(next.ok ? TRACK_OK : TRACK_FAULT);
    } catch (err) {
      this.log.error('cannot write track file', {
        path: this.config.keepalived.trackFile,
        error: errorText(err),
      });
    }
    if (changed) void this.statusFile.write();
  }

  /**
   * inotify on the marker's directory: a drain or uncordon is acted on at once instead of at the next
   * tick (what the hand-off waits for). A missing directory or a failed watch leaves the tick alone.
   */
  private watchDrain(): void {
    const file = this.config.drainFile;
    try {
      this.drainWatch = watch(dirname(file), { persistent: false }, (_event, name) => {
        if (name === null || name === basename(file)) void this.updateHealth();
      });
      this.drainWatch.on('error', () => {
        this.drainWatch?.close();
        this.drainWatch = undefined;
      });
    } catch {
      // no directory yet: the tick still looks every second
    }
  }

  /** inotify on the run folder: a hand-off's quiesce file is acted on at once (the tick looks too). */
  private watchRunDir(): void {
    try {
      this.runWatch = watch(
        dirname(QUIESCE_FILE_PATH(this.config)),
        { persistent: false },
        (_event, name) => {
          if (name === null || name === basename(QUIESCE_FILE_PATH(this.config))) void this.syncQuiesce();
        },
      );
      this.runWatch.on('error', () => {
        this.runWatch?.close();
        this.runWatch = undefined;
      });
    } catch {
      // the tick still looks every second
    }
  }

  /**
   * While the quiesce file exists (and is younger than its TTL), new SYNs to the proxy are dropped:
   * another host is about to take this node's VIPs, and a connection accepted now would be reset when
   * the client's ARP follows them. A stale file (a cplbctl run cut off) is removed.
   */
  private async syncQuiesce(): Promise<void> {
    if (this.stopped) return;
    const file = QUIESCE_FILE_PATH(this.config);
    const st = await stat(file).catch(() => undefined);
    const stale = st !== undefined && Date.now() - st.mtimeMs > QUIESCE_TTL_MS;
    if (stale) await unlink(file).catch(() => undefined);
    const want = st !== undefined && !stale;
    if (want === this.quiescing) return;
    this.quiescing = want;
    if (want) await this.iptables.refuseNewConnections();
    else await this.iptables.allowNewConnections();
    this.log.info(
      want ? 'quiescing for a hand-off: new connections wait for the next holder' : 'quiesce ended',
      {
        ...(stale ? { reason: 'the quiesce file was older than its TTL' } : {}),
      },
    );
  }

  /** The drain marker exists (an unreadable directory counts as not drained: it cannot be told). */
  private isDrained(): boolean {
    return existsSync(this.config.drainFile);
  }

  private async hashFile(path: string): Promise<string | undefined> {
    try {
      return hashConfigText(await readFile(path));
    } catch {
      return undefined;
    }
  }

  /** Status from cached checks: cheap enough for every metrics scrape. */
  snapshot(): AgentStatus {
    const c = this.config;
    return {
      agent: {
        hostName: c.hostName,
        version: VERSION,
        ...(BUILD_STAMP ? { build: BUILD_STAMP } : {}),
        pid: process.pid,
        startedAt: new Date(this.startedAt).toISOString(),
        uptimeSeconds: Math.round((Date.now() - this.startedAt) / 1000),
        configHash: this.configHash,
        keepalivedConfigHash: this.keepalivedHash,
        revision: c.revision,
      },
      health: {
        ok: this.health.ok,
        reason: this.health.reason,
        trackFileValue: this.track.value,
        ...(this.health.drained ? { drained: true } : {}),
      },
      keepalived: { ...this.keepalived.status(), foreign: this.foreign },
      instances: this.vrrp.list(),
      vips: heldVips(c.vips),
      proxy: {
        enabled: c.proxy.enabled,
        listening: this.proxy.listening,
        bindAddress: proxyBindAddress(c),
        bindPort: this.proxy.address?.port ?? c.proxy.bindPort,
        openConnections: this.proxy.openConnections,
        maxConnections: this.proxy.maxConnections,
        refusedOverLimit: this.proxy.refusedOverLimit,
        healthyUpstreams: this.pool.healthyCount,
        upstreams: this.pool.upstreams.map((u) => u.status()),
      },
      iptables: {
        backend: c.iptables.backend,
        chain: c.iptables.chain,
        reasserts: this.iptables.reasserts,
        rules: this.iptables.lastChecks,
        repairs: this.iptables.repairs,
        lastRepairAt: this.iptables.lastRepairAt,
      },
    };
  }

  /** Status for the socket: rules and foreign keepalived processes checked live. */
  async liveStatus(): Promise<AgentStatus> {
    await this.iptables.check().catch(() => undefined);
    this.scanForeign();
    return this.snapshot();
  }
}

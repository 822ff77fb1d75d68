/**
 * Tells keepalived whether this node may hold the VIP, through its track_file. Checked against
 * keepalived 2.2.7 with
 *
 *     track_file cplb_health { file /run/cplb/health; weight 0 }   # top level
 *     vrrp_instance ... { track_file { cplb_health } }
 *
 * With weight 0, any non-zero integer in the file puts the instance into FAULT: it drops the VIP
 * and sends a priority-0 advert, so a BACKUP peer takes over at once (well under a second); 0 takes
 * it back to BACKUP. keepalived watches the file with inotify, and a rename onto it counts, so we
 * write atomically. (`vrrp_track_file` is the deprecated spelling of the top-level block.)
 */
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

export const TRACK_OK = 0;
export const TRACK_FAULT = 1;

export interface NodeHealthInput {
  /** The drain marker exists: the operator took this node out of service. */
  drained?: boolean;
  proxyEnabled: boolean;
  proxyListening: boolean;
  healthyUpstreams: number;
}

export interface NodeHealth {
  ok: boolean;
  reason: string;
  drained?: boolean;
}

/** The reason a drained node reports: status and verify tell it from a fault by `drained`, not by this text. */
export const DRAINED_REASON = 'drained (cplbctl uncordon returns it)';

/**
 * A drained node, a node whose proxy is down, or one that reaches no healthy API server gives up the VIP. Its own API
 * server being down does not matter while the proxy reaches others: the VIP stays, no flap.
 */
export function nodeHealth(input: NodeHealthInput): NodeHealth {
  // First: a drained node holds no VIP however healthy it is, and says why.
  if (input.drained) return { ok: false, reason: DRAINED_REASON, drained: true };
  if (input.proxyEnabled && !input.proxyListening) return { ok: false, reason: 'proxy not listening' };
  if (input.healthyUpstreams === 0) return { ok: false, reason: 'no healthy upstream' };
  return { ok: true, reason: `${input.healthyUpstreams} healthy upstream(s)` };
}

export class TrackFile {
  private written: number | undefined;
  private pending: Promise<void> = Promise.resolve();

  constructor(private readonly path: string) {}

  get value(): number | undefined {
    return this.written;
  }

  /** Writes only on change (plus the first time), so keepalived sees one event per transition. */
  set(value: number): Promise<void> {
    this.pending = this.pending
      .catch(() => undefined)
      .then(async () => {
        if (this.written === value) return;
        await mkdir(dirname(this.path), { recursive: true });
        const tmp = `${this.path}.${process.pid}.tmp`;
        await writeFile(tmp, `${value}\n`, { mode: 0o644 });
        await rename(tmp, this.path);
        this.written = value;
      });
    return this.pending;
  }
}

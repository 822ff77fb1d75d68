/** The pre-flight checks' remote step: one script per host, judged against every controller's facts. */
import type { Host } from '../config/types.js';
import {
  deafListen,
  judgeProbes,
  preflightError,
  probeFailedError,
  probesFor,
  type PreflightFinding,
} from '../plan/preflight.js';
import { parseProbeOutput, probeScript, probeScriptSeconds } from '../plan/preflight-script.js';
import type { ApplyState } from './state.js';
import { remoteOf } from './state.js';

/** What a host's checks found nothing wrong with, for the log. */
export interface SegmentClear {
  probes: number;
  /** Adverts the listens heard, and how many of them came from this cluster's controllers. */
  adverts: number;
  ours: number;
  /** The first listen heard no advert while a controller held a VIP, so it listened again. */
  relistened: boolean;
}

/**
 * Runs this host's probes and throws when the segment is not safe (PREFLIGHT_FAILED, exit 2) or a
 * probe could not run (PREFLIGHT_PROBE, exit 1).
 */
export async function checkSegment(state: ApplyState, host: Host): Promise<SegmentClear> {
  const probes = probesFor(state.cluster, host, state.facts);
  if (probes.length === 0) return { probes: 0, adverts: 0, ours: 0, relistened: false };
  const list = probes.map((p) => p.probe);
  const once = async () => {
    const res = await remoteOf(state, host).exec(probeScript(list), {
      timeoutMs: (probeScriptSeconds(list) + 20) * 1000,
    });
    return judgeProbes(state.cluster, host, state.facts, probes, parseProbeOutput(res.stdout, list.length));
  };
  let r = await once();
  const relistened = deafListen(r, state.facts);
  if (relistened) r = await once();
  if (r.findings.length) throw preflightError(host.name, r.findings);
  if (r.failures.length) throw probeFailedError(host.name, r.failures);
  return { probes: probes.length, adverts: r.adverts, ours: r.ours, relistened };
}

/** `the segment is clear (2 probes; heard 3 adverts, 3 of this cluster)`. */
export function segmentClearText(c: SegmentClear): string {
  const heard = c.probes
    ? `; heard ${c.adverts} advert${c.adverts === 1 ? '' : 's'}, ${c.ours} of this cluster`
    : '';
  const again = c.relistened
    ? "; the first listen heard none, not even this cluster's, so it listened again"
    : '';
  return `the segment is clear (${c.probes} probe${c.probes === 1 ? '' : 's'}${heard}${again})`;
}

export type { PreflightFinding };

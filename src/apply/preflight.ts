/** The pre-flight checks' remote step: one script per host, judged against every controller's facts. */
import type { Host } from '../config/types.js';
import {
  judgeProbes,
  preflightError,
  probeFailedError,
  probesFor,
  type PreflightFinding,
} from '../plan/preflight.js';
import { parseProbeOutput, probeScript, probeScriptSeconds } from '../plan/preflight-script.js';
import type { ApplyState } from './state.js';
import { remoteOf } from './state.js';

/**
 * Runs this host's probes and throws when the segment is not safe (PREFLIGHT_FAILED, exit 2) or a
 * probe could not run (PREFLIGHT_PROBE, exit 1). Returns how many probes ran, for the log.
 */
export async function checkSegment(state: ApplyState, host: Host): Promise<number> {
  const probes = probesFor(state.cluster, host, state.facts);
  if (probes.length === 0) return 0;
  const list = probes.map((p) => p.probe);
  const res = await remoteOf(state, host).exec(probeScript(list), {
    timeoutMs: (probeScriptSeconds(list) + 20) * 1000,
  });
  const { findings, failures } = judgeProbes(
    state.cluster,
    host,
    state.facts,
    probes,
    parseProbeOutput(res.stdout, list.length),
  );
  if (findings.length) throw preflightError(host.name, findings);
  if (failures.length) throw probeFailedError(host.name, failures);
  return probes.length;
}

export type { PreflightFinding };

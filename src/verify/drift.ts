/**
 * Config drift: what the cluster file renders for a host (the plan) against the files on the host
 * (sha256) and against what the agent says it loaded (its 16-hex hashes of agent.json and
 * keepalived.conf). A hand edit shows as `differs`; an edit the agent refused (keepalived
 * --config-test failed) or has not picked up yet shows as `not-loaded`.
 */
import type { HostPlan } from '../plan/plan.js';
import { AGENT_CONFIG, KEEPALIVED_CONF } from '../contract/paths.js';
import type { HostSnapshot } from './host-snapshot.js';

export type DriftState = 'match' | 'differs' | 'absent' | 'not-loaded';

export interface FileDrift {
  path: string;
  state: DriftState;
  /** sha256 of what the plan renders. */
  expected: string;
  /** sha256 on the host; null when absent. */
  onHost: string | null;
  /** The agent's hash of what it runs with (first 16 hex of the sha256), for agent.json and keepalived.conf. */
  loaded?: string;
}

/** Rendered text files only: the agent build is compared by version, not here. */
export function plannedTextFiles(plan: HostPlan): { path: string; sha256: string }[] {
  return plan.files
    .filter((f) => f.content !== undefined && f.sha256)
    .map((f) => ({ path: f.path, sha256: f.sha256! }));
}

export function fileDrift(plan: HostPlan, snap: HostSnapshot): FileDrift[] {
  const status = snap.agent.ok ? snap.agent.status : undefined;
  const loadedHash = new Map<string, string | undefined>([
    [AGENT_CONFIG, status?.agent.configHash],
    [KEEPALIVED_CONF, status?.agent.keepalivedConfigHash],
  ]);
  return plannedTextFiles(plan).map(({ path, sha256 }) => {
    const onHost = snap.hashes.get(path) ?? null;
    const loaded = loadedHash.get(path);
    const drift: FileDrift = { path, state: 'match', expected: sha256, onHost };
    if (loaded !== undefined) drift.loaded = loaded;
    if (onHost === null) drift.state = 'absent';
    else if (onHost !== sha256) drift.state = 'differs';
    else if (loaded !== undefined && !sha256.startsWith(loaded)) drift.state = 'not-loaded';
    return drift;
  });
}

export function describeDrift(d: FileDrift): string {
  switch (d.state) {
    case 'match':
      return `${d.path} matches`;
    case 'absent':
      return `${d.path} is missing`;
    case 'differs':
      return `${d.path} differs from what the cluster file renders (edited on the host, or applied from another file)`;
    case 'not-loaded':
      return `${d.path} matches on disk but the agent runs another version of it (a reload pending or refused: see the agent log)`;
  }
}

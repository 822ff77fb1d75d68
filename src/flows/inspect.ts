/** The phase lists of status and verify: apply's read-only phases, made tolerant of a host that fails them. */
import { acquireLockPhase } from '../../phases/acquire-lock.js';
import { connectPhase } from '../../phases/connect.js';
import { detectOsPhase } from '../../phases/detect-os.js';
import { disconnectPhase } from '../../phases/disconnect.js';
import { failoverPhase } from '../../phases/failover.js';
import { gatherFactsPhase } from '../../phases/gather-facts.js';
import { observePhase } from '../../phases/observe.js';
import { planExpectedPhase } from '../../phases/plan-expected.js';
import { releaseLockPhase } from '../../phases/release-lock.js';
import { snapshotPhase } from '../../phases/snapshot.js';
import type { Host } from '../config/types.js';
import type { Phase } from '../pipeline/index.js';
import { reachableHosts, tolerant, type InspectState } from '../verify/state.js';

type InspectPhase = Phase<InspectState, Host>;

const readPhases: readonly InspectPhase[] = [
  tolerant(connectPhase, 'unreachable'),
  tolerant(detectOsPhase, 'hostErrors'),
  tolerant(gatherFactsPhase, 'hostErrors'),
  planExpectedPhase,
  tolerant(snapshotPhase, 'hostErrors', reachableHosts),
];

export const statusPhases: readonly InspectPhase[] = [...readPhases, disconnectPhase];

/** --failover changes hosts for a while: it holds the same lock as apply, so the two never overlap. */
export function verifyPhases(failover: boolean): readonly InspectPhase[] {
  if (!failover) return [...readPhases, observePhase, disconnectPhase];
  const [connect, ...rest] = readPhases;
  return [
    connect!,
    acquireLockPhase,
    ...rest,
    observePhase,
    failoverPhase,
    releaseLockPhase,
    disconnectPhase,
  ];
}

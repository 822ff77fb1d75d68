/** `cplbctl drain` and `uncordon`: read every host under the lock, then set or clear one host's marker. */
import { acquireLockPhase } from '../../phases/acquire-lock.js';
import { connectPhase } from '../../phases/connect.js';
import { detectOsPhase } from '../../phases/detect-os.js';
import { disconnectPhase } from '../../phases/disconnect.js';
import { drainPhase } from '../../phases/drain.js';
import { gatherFactsPhase } from '../../phases/gather-facts.js';
import { releaseLockPhase } from '../../phases/release-lock.js';
import { snapshotPhase } from '../../phases/snapshot.js';
import { uncordonPhase } from '../../phases/uncordon.js';
import type { Host } from '../config/types.js';
import type { Phase } from '../pipeline/index.js';
import { onReachable, reachableHosts, tolerant, type InspectState } from '../verify/state.js';

/** An unreachable controller is a row (it cannot take a VIP), not the end of the run. */
export const drainPhases: readonly Phase<InspectState, Host>[] = [
  tolerant(connectPhase, 'unreachable'),
  onReachable(acquireLockPhase),
  tolerant(detectOsPhase, 'hostErrors'),
  tolerant(gatherFactsPhase, 'hostErrors'),
  tolerant(snapshotPhase, 'hostErrors', reachableHosts),
  drainPhase,
  uncordonPhase,
  onReachable(releaseLockPhase),
  disconnectPhase,
];

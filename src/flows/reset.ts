/** `cplbctl reset`: connect, detect, lock, read which host holds a VIP, then take cplb away. */
import { acquireLockPhase } from '../../phases/acquire-lock.js';
import { connectPhase } from '../../phases/connect.js';
import { detectOsPhase } from '../../phases/detect-os.js';
import { disconnectPhase } from '../../phases/disconnect.js';
import { gatherFactsPhase } from '../../phases/gather-facts.js';
import { releaseLockPhase } from '../../phases/release-lock.js';
import { resetHostsPhase } from '../../phases/reset-hosts.js';
import type { Host } from '../config/types.js';
import type { Phase } from '../pipeline/index.js';
import type { ApplyState } from '../apply/state.js';

export const resetPhases: readonly Phase<ApplyState, Host>[] = [
  connectPhase,
  detectOsPhase,
  acquireLockPhase,
  gatherFactsPhase,
  resetHostsPhase,
  releaseLockPhase,
  disconnectPhase,
];

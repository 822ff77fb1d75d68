/**
 * The apply pipeline reads like data: one phase per file under phases/. A dry run runs the same list:
 * read-only phases run, changing phases print what they would do (dryRun), the rest are skipped.
 */
import { acquireLockPhase } from '../../phases/acquire-lock.js';
import { connectPhase } from '../../phases/connect.js';
import { detectOsPhase } from '../../phases/detect-os.js';
import { diffPhase } from '../../phases/diff.js';
import { disconnectPhase } from '../../phases/disconnect.js';
import { preflightPhase } from '../../phases/preflight.js';
import { prepareHostsPhase } from '../../phases/prepare-hosts.js';
import { startServicesPhase } from '../../phases/start-services.js';
import { uploadAgentPhase } from '../../phases/upload-agent.js';
import { verifyVipPhase } from '../../phases/verify-vip.js';
import { writeConfigPhase } from '../../phases/write-config.js';
import { gatherFactsPhase } from '../../phases/gather-facts.js';
import { planPhase } from '../../phases/plan.js';
import { releaseLockPhase } from '../../phases/release-lock.js';
import { validateFactsPhase } from '../../phases/validate-facts.js';
import type { Host } from '../config/types.js';
import type { Phase } from '../pipeline/index.js';
import type { ApplyState } from '../apply/state.js';

type ApplyPhase = Phase<ApplyState, Host>;

export const applyPhases: readonly ApplyPhase[] = [
  connectPhase,
  detectOsPhase,
  acquireLockPhase,
  gatherFactsPhase,
  validateFactsPhase,
  planPhase,
  diffPhase,
  preflightPhase,
  prepareHostsPhase,
  uploadAgentPhase,
  writeConfigPhase,
  startServicesPhase,
  verifyVipPhase,
  releaseLockPhase,
  disconnectPhase,
];

/**
 * What apply would change: the plan against the files now on each host. Pure and deterministic.
 * Displayed diffs hide authPass; the files written still hold it.
 */
import { createTwoFilesPatch } from 'diff';
import type { HostPlan, Plan, PlannedFile } from './plan.js';
import { redactFileSecrets } from '../core/redact.js';
import { planRollout, type Rollout } from './rollout.js';

/** Per host, per path: the file's current text (the sha256 hex for agent builds), null when absent. */
export type CurrentFiles = Map<string, Map<string, string | null>>;

export type ServiceAction = 'start' | 'restart' | 'reload' | 'none';

export interface FileChange {
  path: string;
  change: 'create' | 'update' | 'unchanged' | 'unknown';
}

export interface HostDiff {
  host: string;
  files: FileChange[];
  /** Unified diffs of the changed text files, redacted; empty when nothing changes. */
  patch: string;
  /** The service definition changed: apply runs the service's install command first. */
  install: boolean;
  action: ServiceAction;
  reason: string;
}

export interface PlanDiff {
  hosts: HostDiff[];
  /** Hosts with any change or service action. */
  changedHosts: string[];
  /** How the staged files are switched in and the agents reloaded (see rollout.ts). */
  rollout: Rollout;
}

function fileChange(file: PlannedFile, current: string | null | undefined): FileChange['change'] {
  if (current === undefined) return 'unknown';
  if (current === null) return 'create';
  if (file.content !== undefined) return current === file.content ? 'unchanged' : 'update';
  // An agent build is compared by hash; without the local hash its state is unknown.
  if (!file.sha256) return 'unknown';
  return current === file.sha256 ? 'unchanged' : 'update';
}

function patchOf(file: PlannedFile, current: string | null | undefined): string {
  if (file.content === undefined) return '';
  const before = redactFileSecrets(current ?? '');
  const after = redactFileSecrets(file.content);
  if (before === after) return '';
  return createTwoFilesPatch(
    file.path,
    file.path,
    before,
    after,
    current ? 'on host' : '(absent)',
    'planned',
    { context: 3 },
  );
}

function actionOf(
  host: HostPlan,
  files: FileChange[],
): { action: ServiceAction; install: boolean; reason: string } {
  const changed = (path: string) =>
    files.some((f) => f.path === path && (f.change === 'create' || f.change === 'update'));
  const agentPaths = host.files.filter((f) => f.artifact).map((f) => f.path);
  const install = changed(host.service.definitionPath);
  const restart = install || agentPaths.some(changed);
  const reload = host.files.some((f) => f.content !== undefined && changed(f.path));
  if (host.agentRunning !== true)
    return {
      action: 'start',
      install: install || host.agentRunning === false,
      reason: 'the agent is not running',
    };
  if (restart)
    return {
      action: 'restart',
      install,
      reason: install ? 'the service definition changed' : 'the agent build changed',
    };
  if (reload) return { action: 'reload', install, reason: 'the configuration changed' };
  return { action: 'none', install, reason: 'nothing changed' };
}

export function diffPlan(plan: Plan, currentFiles: CurrentFiles): PlanDiff {
  const hosts = plan.hosts.map((host): HostDiff => {
    const current = currentFiles.get(host.host) ?? new Map<string, string | null>();
    const files = host.files.map((f) => ({ path: f.path, change: fileChange(f, current.get(f.path)) }));
    const patch = host.files.map((f) => patchOf(f, current.get(f.path))).join('');
    return { host: host.host, files, patch, ...actionOf(host, files) };
  });
  const changedHosts = hosts
    .filter((h) => h.action !== 'none' || h.files.some((f) => f.change !== 'unchanged'))
    .map((h) => h.host);
  return { hosts, changedHosts, rollout: planRollout(plan, currentFiles) };
}

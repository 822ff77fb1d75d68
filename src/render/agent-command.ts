/** How the agent is started on a host: the single executable, or the JS bundle on the host's node. */
import { AGENT_BIN, AGENT_CONFIG, AGENT_JS } from '../contract/paths.js';

/** `nodePath` is absolute: systemd and supervise-daemon do not search PATH the way a shell does. */
export type AgentCommand = { kind: 'sea' } | { kind: 'js'; nodePath: string };

/** argv that runs the agent in the foreground. */
export function agentArgv(cmd: AgentCommand): string[] {
  const head = cmd.kind === 'sea' ? [AGENT_BIN] : [cmd.nodePath, AGENT_JS];
  return [...head, '--config', AGENT_CONFIG];
}

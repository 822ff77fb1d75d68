/** Which build of the agent a host runs: the single executable, or the JS bundle on the host's node. */
import type { HostFacts } from './facts.js';
import type { Resolved } from './resolve.js';

export type AgentPackaging = 'sea' | 'js';

export const MIN_NODE_MAJOR = 18;

/** The single executable embeds a glibc x86_64 node: musl (Alpine) and other arches need their own node. */
export function agentPackaging(facts: HostFacts): Resolved<AgentPackaging> {
  const musl = facts.os.id === 'alpine' || facts.os.idLike.includes('alpine');
  if (facts.arch === 'x86_64' && !musl) return { ok: true, value: 'sea' };
  const why =
    facts.arch === 'x86_64' ? `${facts.os.prettyName} uses musl libc` : `linux ${facts.arch} is not x86_64`;
  const major = Number.parseInt(facts.node?.version ?? '', 10);
  if (facts.node?.present && (Number.isNaN(major) || major >= MIN_NODE_MAJOR))
    return { ok: true, value: 'js' };
  return {
    ok: false,
    message: `${why}, so the agent runs on the host's node, but ${facts.node?.present ? `node ${facts.node.version} is older than ${MIN_NODE_MAJOR}` : 'node is not installed'}`,
    hint: `install Node.js ${MIN_NODE_MAJOR} or newer on the host (e.g. ${facts.packageManager === 'apk' ? 'apk add nodejs' : "the distribution's nodejs package"}), then run again`,
  };
}

import { readAgentBuild } from '../src/apply/agent-artifacts.js';
import type { ApplyState } from '../src/apply/state.js';
import { diffOf, hostPlanOf, remoteOf } from '../src/apply/state.js';
import { discardStaged, markStaged } from '../src/apply/staging.js';
import { stagedPath } from '../src/contract/paths.js';
import type { Host } from '../src/config/types.js';
import { perHost } from '../src/pipeline/index.js';

/**
 * Stages the agent build the plan chose beside its target (Start services switches it in); skipped
 * when the host's copy has the same sha256.
 */
export const uploadAgentPhase = perHost<ApplyState, Host>({
  title: 'Upload the node agent',
  hosts: (ctx) =>
    ctx.state.cluster.controllers.filter((h) =>
      diffOf(ctx.state, h).files.some((f) => f.path === agentPath(ctx.state, h) && f.change !== 'unchanged'),
    ),
  async dryRun(host, ctx) {
    ctx.log.info(
      `would upload the agent (${hostPlanOf(ctx.state, host).packaging}) to ${agentPath(ctx.state, host)}`,
    );
  },
  async run(host, ctx) {
    const hp = hostPlanOf(ctx.state, host);
    const file = hp.files.find((f) => f.artifact)!;
    const art = await readAgentBuild(ctx.state.agentBuilds, file.artifact!);
    const remote = remoteOf(ctx.state, host);
    const res = await remote.upload(stagedPath(file.path), art.data, {
      mode: file.mode,
      owner: 'root',
      group: 'root',
      gzipped: art.gzipped,
    });
    markStaged(ctx.state, host, { path: file.path, stampSha256: res.sha256 });
    const why =
      hp.packaging === 'sea'
        ? 'single executable, linux x86_64'
        : `JS bundle on the host's node ${ctx.state.facts.get(host.name)?.node?.version ?? ''}`.trim();
    ctx.log.info(
      `${res.changed ? 'uploaded' : 'found'} the agent (${why}, ${(art.data.length / 1e6).toFixed(1)} MB) staged for ${file.path}`,
    );
  },
  cleanup: (host, ctx) => discardStaged(ctx.state, host),
});

function agentPath(state: ApplyState, host: Host): string {
  return hostPlanOf(state, host).files.find((f) => f.artifact)!.path;
}

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AGENT_ARTIFACTS, agentDistDir } from '../src/apply/agent-artifacts.js';
import type { ApplyState } from '../src/apply/state.js';
import { hostPlanOf, remoteOf } from '../src/apply/state.js';
import type { Host } from '../src/config/types.js';
import { CplbError } from '../src/errors.js';
import { perHost } from '../src/pipeline/index.js';

const cache = new Map<string, Promise<Buffer>>();

function readArtifact(kind: 'agent-sea' | 'agent-js'): Promise<Buffer> {
  const file = join(agentDistDir(), kind === 'agent-sea' ? AGENT_ARTIFACTS.sea : AGENT_ARTIFACTS.js);
  let p = cache.get(file);
  if (!p) {
    p = readFile(file).catch((err: unknown) => {
      throw new CplbError(`the agent build ${file} is missing`, {
        code: 'AGENT_BUILD_MISSING',
        fault: 'internal',
        hint: 'run `npm run build` (npm ci does it)',
        cause: err,
      });
    });
    cache.set(file, p);
  }
  return p;
}

/** The agent build the plan chose for the host; skipped when the host's copy has the same sha256. */
export const uploadAgentPhase = perHost<ApplyState, Host>({
  title: 'Upload the node agent',
  async dryRun(host, ctx) {
    const change = ctx.state.diff!.hosts.find((h) => h.host === host.name)!.files[0];
    if (change && change.change !== 'unchanged') ctx.log.info(`would upload the agent to ${change.path}`);
  },
  async run(host, ctx) {
    const hp = hostPlanOf(ctx.state, host);
    const file = hp.files.find((f) => f.artifact)!;
    const data = await readArtifact(file.artifact!);
    const remote = remoteOf(ctx.state, host);
    await remote.exec(`mkdir -p ${hp.directories.map((d) => d.path).join(' ')}`);
    const res = await remote.upload(file.path, data, { mode: file.mode, owner: 'root', group: 'root' });
    ctx.state.written.get(host.name)!.add(file.path);
    if (!res.changed) ctx.state.written.get(host.name)!.delete(file.path);
    ctx.log.info(res.changed ? `uploaded the agent (${(data.length / 1e6).toFixed(1)} MB, ${hp.packaging}) to ${file.path}` : 'the agent is current');
  },
});

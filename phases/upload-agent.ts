import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import { AGENT_ARTIFACTS, agentDistDir } from '../src/apply/agent-artifacts.js';
import type { ApplyState } from '../src/apply/state.js';
import { diffOf, hostPlanOf, remoteOf } from '../src/apply/state.js';
import { discardStaged, markStaged } from '../src/apply/staging.js';
import { stagedPath } from '../src/contract/paths.js';
import type { Host } from '../src/config/types.js';
import { CplbError } from '../src/core/errors.js';
import { perHost } from '../src/pipeline/index.js';

interface Artifact {
  data: Buffer;
  /** The build's gzip, sent instead when there is one (the single executable: 83 MB → ~32 MB). */
  gzipped?: Buffer;
}

const gunzipAsync = promisify(gunzip);
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

const cache = new Map<string, Promise<Artifact>>();

function readArtifact(kind: 'agent-sea' | 'agent-js'): Promise<Artifact> {
  const file = join(agentDistDir(), kind === 'agent-sea' ? AGENT_ARTIFACTS.sea : AGENT_ARTIFACTS.js);
  let p = cache.get(file);
  if (!p) {
    p = (async () => {
      const data = await readFile(file).catch((err: unknown) => {
        throw new CplbError(`the agent build ${file} is missing`, {
          code: 'AGENT_BUILD_MISSING',
          fault: 'internal',
          hint: 'run `npm run build` (npm ci does it)',
          cause: err,
        });
      });
      const gzipped = kind === 'agent-sea' ? await readFile(`${file}.gz`).catch(() => undefined) : undefined;
      // The host's hash stamp trusts that the gzip is this build: a stale .gz is not sent.
      if (gzipped && sha256(await gunzipAsync(gzipped).catch(() => Buffer.alloc(0))) !== sha256(data))
        return { data };
      return { data, gzipped };
    })();
    cache.set(file, p);
  }
  return p;
}

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
    const art = await readArtifact(file.artifact!);
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

import { createHash } from 'node:crypto';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import { CplbError } from '../core/errors.js';

let embeddedAgentDir: (() => string) | undefined;

/** The CLI as one file (src/sea-main.ts) carries the agent builds: where they are unpacked, when first asked. */
export function useEmbeddedAgent(dir: () => string): void {
  let memo: string | undefined;
  embeddedAgentDir = () => (memo ??= dir());
}

/**
 * $CPLBCTL_AGENT_DIR when set (packagers, or tests that pin one build while the tree is rebuilt);
 * else the single executable's own copy (useEmbeddedAgent), or dist/agent next to the running CLI
 * (dist/cli.js), or, from the sources, the repo's dist/agent.
 */
export function agentDistDir(): string {
  const fromEnv = process.env.CPLBCTL_AGENT_DIR;
  if (fromEnv) return fromEnv;
  if (embeddedAgentDir) return embeddedAgentDir();
  const here = dirname(fileURLToPath(import.meta.url));
  return here.endsWith('/dist') ? join(here, 'agent') : join(here, '..', '..', 'dist', 'agent');
}

const AGENT_ARTIFACTS = { sea: 'cplb-agent', js: 'cplb-agent.js' } as const;

interface HashCache {
  size: number;
  mtimeMs: number;
  sha256: string;
}

/**
 * Hashing the 87 MB single executable costs ~0.2 s on every run, dry runs included: the hash is
 * kept beside the file and trusted while the file's size and mtime are those it was taken at.
 */
async function sha256Of(path: string): Promise<string | undefined> {
  const info = await stat(path).catch(() => undefined);
  if (!info) return undefined;
  const cachePath = `${path}.sha256.json`;
  const cached = await readFile(cachePath, 'utf8')
    .then((t) => JSON.parse(t) as HashCache)
    .catch(() => undefined);
  if (cached && cached.size === info.size && cached.mtimeMs === info.mtimeMs) return cached.sha256;
  const sha256 = createHash('sha256')
    .update(await readFile(path))
    .digest('hex');
  const entry: HashCache = { size: info.size, mtimeMs: info.mtimeMs, sha256 };
  await writeFile(cachePath, JSON.stringify(entry)).catch(() => undefined); // a read-only install just hashes each time
  return sha256;
}

export async function localAgentSha256(): Promise<{ sea?: string; js?: string }> {
  const dir = agentDistDir();
  const [sea, js] = await Promise.all([
    sha256Of(join(dir, AGENT_ARTIFACTS.sea)),
    sha256Of(join(dir, AGENT_ARTIFACTS.js)),
  ]);
  return { sea, js };
}

export interface AgentBuild {
  data: Buffer;
  /** The build's gzip, sent instead when there is one (the single executable: 83 MB → ~32 MB). */
  gzipped?: Buffer;
}

const gunzipAsync = promisify(gunzip);
const sha256Hex = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** A local agent build, read once per run (`cache` is the run's: a later run reads a rebuilt tree). */
export function readAgentBuild(
  cache: Map<string, Promise<AgentBuild>>,
  kind: 'agent-sea' | 'agent-js',
): Promise<AgentBuild> {
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
      if (gzipped && sha256Hex(await gunzipAsync(gzipped).catch(() => Buffer.alloc(0))) !== sha256Hex(data))
        return { data };
      return { data, gzipped };
    })();
    cache.set(file, p);
  }
  return p;
}

import { createHash } from 'node:crypto';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

/**
 * $CPLBCTL_AGENT_DIR when set (packagers, or tests that pin one build while the tree is rebuilt);
 * else dist/agent next to the running CLI (dist/cli.js) or, from the sources, the repo's dist/agent.
 */
export function agentDistDir(): string {
  const fromEnv = process.env.CPLBCTL_AGENT_DIR;
  if (fromEnv) return fromEnv;
  const here = dirname(fileURLToPath(import.meta.url));
  return here.endsWith('/dist') ? join(here, 'agent') : join(here, '..', '..', 'dist', 'agent');
}

export const AGENT_ARTIFACTS = { sea: 'cplb-agent', js: 'cplb-agent.js' } as const;

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

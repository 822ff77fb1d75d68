import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
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

async function sha256Of(path: string): Promise<string | undefined> {
  try {
    return createHash('sha256')
      .update(await readFile(path))
      .digest('hex');
  } catch {
    return undefined;
  }
}

export async function localAgentSha256(): Promise<{ sea?: string; js?: string }> {
  const dir = agentDistDir();
  const [sea, js] = await Promise.all([
    sha256Of(join(dir, AGENT_ARTIFACTS.sea)),
    sha256Of(join(dir, AGENT_ARTIFACTS.js)),
  ]);
  return { sea, js };
}

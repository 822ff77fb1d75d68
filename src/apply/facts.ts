import type { Cluster, Host } from '../config/types.js';
import type { HostFacts } from '../plan/facts.js';
import { healthCheckFilesOf, healthFilesScript, parseHealthFiles } from '../plan/health-files.js';
import { NET_SCRIPT, OS_SCRIPT, parseFactsOutput } from '../plan/parse-facts.js';
import type { Remote } from '../ssh/remote.js';

/** Detect: what the host is (OS, init, tools). The raw output is kept for Gather to complete. */
export async function readOsFacts(remote: Remote): Promise<string> {
  return (await remote.exec(OS_SCRIPT, { timeoutMs: 20_000 })).stdout;
}

/**
 * Gather: what the host looks like now (addresses, routes, clock, agent), joined with Detect's
 * output into HostFacts. The lock's round trip has usually read it already (`read`); otherwise it is
 * read now. The local clock is taken at the exec's midpoint, for the skew check.
 */
export async function readHostFacts(
  remote: Remote,
  host: Host,
  cluster: Cluster,
  osOutput: string,
  read?: { stdout: string; localMs: number },
): Promise<HostFacts> {
  let facts: HostFacts;
  if (read) facts = parseFactsOutput(host.name, osOutput + read.stdout, cluster, read.localMs);
  else {
    const before = Date.now();
    const res = await remote.exec(NET_SCRIPT, { timeoutMs: 20_000 });
    const localMs = Math.round((before + Date.now()) / 2);
    facts = parseFactsOutput(host.name, osOutput + res.stdout, cluster, localMs);
  }
  // A round trip of its own, and only when the cluster names credential files: most clusters do not.
  const paths = healthCheckFilesOf(cluster).map((f) => f.path);
  if (paths.length) {
    const res = await remote.exec(healthFilesScript(paths), { timeoutMs: 20_000 });
    const files = parseHealthFiles(paths, res.stdout);
    if (files) facts.healthCheckFiles = files;
  }
  return facts;
}

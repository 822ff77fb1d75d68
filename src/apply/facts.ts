import type { Cluster, Host } from '../config/types.js';
import type { HostFacts } from '../plan/facts.js';
import { NET_SCRIPT, OS_SCRIPT, parseFactsOutput } from '../plan/parse-facts.js';
import type { Remote } from '../ssh/remote.js';

/** Detect: what the host is (OS, init, tools). The raw output is kept for Gather to complete. */
export async function readOsFacts(remote: Remote): Promise<string> {
  return (await remote.exec(OS_SCRIPT, { timeoutMs: 20_000 })).stdout;
}

/**
 * Gather: what the host looks like now (addresses, routes, clock, agent), joined with Detect's
 * output into HostFacts. The local clock is read at the exec's midpoint, for the skew check.
 */
export async function readHostFacts(
  remote: Remote,
  host: Host,
  cluster: Cluster,
  osOutput: string,
): Promise<HostFacts> {
  const before = Date.now();
  const res = await remote.exec(NET_SCRIPT, { timeoutMs: 20_000 });
  const localMs = Math.round((before + Date.now()) / 2);
  return parseFactsOutput(host.name, osOutput + res.stdout, cluster, localMs);
}

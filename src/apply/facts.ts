import type { Cluster, Host } from '../config/types.js';
import type { HostFacts } from '../plan/facts.js';
import { FACTS_SCRIPT, parseFactsOutput } from '../plan/parse-facts.js';
import type { Remote } from '../ssh/remote.js';

/** One round trip: the whole facts script, parsed. The local clock is read at the exec's midpoint. */
export async function runFactsScript(remote: Remote, host: Host, cluster: Cluster): Promise<HostFacts> {
  const before = Date.now();
  const res = await remote.exec(FACTS_SCRIPT, { timeoutMs: 20_000 });
  const localMs = Math.round((before + Date.now()) / 2);
  return parseFactsOutput(host.name, res.stdout, cluster, localMs);
}

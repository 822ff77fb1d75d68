/**
 * Disruption as OpenShift's disruption monitors count it: a client requests through the VIP again and
 * again, and the seconds during which its requests failed add up to the disruption. Two clients: one
 * opens a new connection per request (what a new kubectl sees), one reuses a keep-alive connection
 * (what a controller's long-lived client sees: its connection dies with the holder and must be
 * noticed and replaced). Pure: the samplers (disruption-sampler.ts) collect the requests.
 */

export type SamplerKind = 'new-connections' | 'reused-connection';
export const SAMPLER_KINDS: readonly SamplerKind[] = ['new-connections', 'reused-connection'];

/** One request, on this machine's clock (ms). */
export interface Request {
  startMs: number;
  endMs: number;
  ok: boolean;
}

export interface Disruption {
  sampler: SamplerKind;
  requests: number;
  failed: number;
  /** Sum of the disrupted intervals, seconds (3 decimals). */
  disruptionSeconds: number;
  /** Each from the start of the first failed request of a run to the start of the next good one. */
  intervals: { startMs: number; endMs: number }[];
  /** Connections the sampler opened (the reused one opens a second only when the first broke). */
  connections: number;
}

/**
 * A run of failed requests (in start order) is one disrupted interval: from when the first of them
 * was sent until a request that then succeeded was sent. A run at the end that nothing good followed
 * lasts until its last request ended. Requests are sequential per sampler, so runs never overlap.
 */
export function disruptedIntervals(requests: readonly Request[]): { startMs: number; endMs: number }[] {
  const sorted = [...requests].sort((a, b) => a.startMs - b.startMs);
  const out: { startMs: number; endMs: number }[] = [];
  let openAt: number | undefined;
  let lastEnd = 0;
  for (const r of sorted) {
    if (!r.ok) {
      openAt ??= r.startMs;
      lastEnd = Math.max(lastEnd, r.endMs);
    } else if (openAt !== undefined) {
      out.push({ startMs: openAt, endMs: r.startMs });
      openAt = undefined;
    }
  }
  if (openAt !== undefined) out.push({ startMs: openAt, endMs: lastEnd });
  return out;
}

export function disruption(
  sampler: SamplerKind,
  requests: readonly Request[],
  connections: number,
): Disruption {
  const intervals = disruptedIntervals(requests);
  const ms = intervals.reduce((n, i) => n + (i.endMs - i.startMs), 0);
  return {
    sampler,
    requests: requests.length,
    failed: requests.filter((r) => !r.ok).length,
    disruptionSeconds: Math.round(ms) / 1000,
    intervals,
    connections,
  };
}

/** The line a person reads, e.g. `new connections: 2.950 s disrupted, 29 of 61 requests failed`. */
export function describeDisruption(d: Disruption): string {
  const label = d.sampler === 'new-connections' ? 'new connections' : 'reused connection';
  const conns = d.sampler === 'reused-connection' ? ` (${d.connections} connections)` : '';
  return `${label}: ${d.disruptionSeconds.toFixed(3)} s disrupted, ${d.failed} of ${d.requests} requests failed${conns}`;
}

const KEY: Record<SamplerKind, string> = { 'new-connections': 'New', 'reused-connection': 'Reused' };

/**
 * Flat figures for event data and JUnit properties: disruptionNewSeconds, disruptionNewFailed,
 * disruptionNewRequests, and the same with Reused.
 */
export function disruptionData(list: readonly Disruption[] | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  for (const d of list ?? []) {
    out[`disruption${KEY[d.sampler]}Seconds`] = d.disruptionSeconds;
    out[`disruption${KEY[d.sampler]}Failed`] = d.failed;
    out[`disruption${KEY[d.sampler]}Requests`] = d.requests;
  }
  return out;
}

/** Figures from probe results, all on this machine's clock (see clock.ts). Pure. */
import type { Distribution, VantageFigures } from './types.js';

export interface Probe {
  startMs: number;
  endMs: number;
  ok: boolean;
}

/**
 * A handshake this slow is part of the outage though it succeeded: its SYN waited for the VIP's new
 * owner to answer ARP (the kernel queues it while the neighbour entry resolves). On the lab a
 * handshake takes 5-20 ms.
 */
export const SLOW_PROBE_MS = 200;

/**
 * Probes that ended before the fault tell whether the VIP served to begin with; every other probe
 * counts (one in flight at the fault may be cut by it). "Served again" is when the first prompt
 * handshake started after the last failed or slow one completed; 0 when none failed or lagged.
 */
export function vantageFigures(from: string, probes: readonly Probe[], t0: number): VantageFigures {
  const sorted = [...probes].sort((a, b) => a.startMs - b.startMs);
  const before = sorted.filter((p) => p.endMs < t0);
  const after = sorted.filter((p) => p.endMs >= t0);
  const slow = (p: Probe) => p.ok && p.endMs - p.startMs > SLOW_PROBE_MS;
  const bad = after.filter((p) => !p.ok || slow(p));
  const lastBad = bad.length ? Math.max(...bad.map((p) => p.startMs)) : undefined;
  let servedAgainMs: number | null = 0;
  if (lastBad !== undefined) {
    const next = after.find((p) => p.ok && !slow(p) && p.startMs > lastBad);
    servedAgainMs = next ? Math.round(next.endMs - t0) : null;
  }
  return {
    from,
    probes: sorted.length,
    failed: after.filter((p) => !p.ok).length,
    slow: after.filter(slow).length,
    servedAgainMs,
    failedBefore: before.filter((p) => !p.ok).length,
  };
}

export function distribution(values: readonly number[]): Distribution | null {
  if (values.length === 0) return null;
  const s = [...values].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]!;
  const mid = Math.floor(s.length / 2);
  const median = s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
  return { n: s.length, min: s[0]!, median, p90: at(0.9), max: s[s.length - 1]! };
}

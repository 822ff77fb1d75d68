/**
 * One time axis for a round: this machine's clock. Each host's offset is measured from the exchange
 * with the shortest round trip (the error is at most half of it, a few ms on a LAN); `sudo` is left
 * out of it so the trip is symmetric.
 */
import type { Remote } from '../../ssh/remote.js';
import { nsToMs } from '../sh.js';

/** Wall-clock ms with sub-ms resolution. */
export const nowMs = (): number => performance.timeOrigin + performance.now();

/** Host clock minus this machine's clock, in ms. */
export async function clockOffset(remote: Remote, tries = 3): Promise<number> {
  let best = { rtt: Infinity, offset: 0 };
  for (let i = 0; i < tries; i++) {
    const t1 = nowMs();
    const res = await remote.exec('date +%s%N', { sudo: false, timeoutMs: 10_000 });
    const t2 = nowMs();
    const remoteMs = nsToMs(res.stdout);
    if (remoteMs !== undefined && t2 - t1 < best.rtt)
      best = { rtt: t2 - t1, offset: remoteMs - (t1 + t2) / 2 };
  }
  if (!Number.isFinite(best.rtt)) throw new Error(`[${remote.name}] cannot read the host clock (date +%s%N)`);
  return best.offset;
}

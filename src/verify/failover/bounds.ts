/**
 * How long a failover may take, from the VRRP timers (RFC 3768 / 5798, as keepalived implements them):
 * a backup declares the master down after Master_Down_Interval = 3 × advert + skew without an advert,
 * skew = (256 − priority) / 256 s in VRRPv2 and (256 − priority) × advert / 256 in VRRPv3. A crash
 * costs at most that (less by however much of an advert interval had passed since the last advert).
 * A graceful stop sends a priority-0 advert, after which a backup waits only the skew.
 */
import { VRRP_PRIORITY } from '../../render/keepalived.js';
import type { Bounds, FailoverMode } from './types.js';

/** Process scheduling, netlink, the first gratuitous ARP and the 50 ms probe grid. */
export const MOVE_MARGIN_MS = 150;
/** After the VIP moved: the next probe (≤ 50 ms later) and its TLS handshake through the proxy. */
const SERVE_MARGIN_MS = 200;

export function skewSeconds(version: 2 | 3, advertSeconds: number, priority = VRRP_PRIORITY): number {
  return version === 3 ? ((256 - priority) * advertSeconds) / 256 : (256 - priority) / 256;
}

export function masterDownSeconds(version: 2 | 3, advertSeconds: number, priority = VRRP_PRIORITY): number {
  return 3 * advertSeconds + skewSeconds(version, advertSeconds, priority);
}

export function boundsFor(mode: FailoverMode, version: 2 | 3, advertSeconds: number): Bounds {
  const skew = skewSeconds(version, advertSeconds);
  const timerMs = (mode === 'crash' ? masterDownSeconds(version, advertSeconds) : skew) * 1000;
  const movedMs = Math.round(timerMs + MOVE_MARGIN_MS);
  const what =
    mode === 'crash'
      ? `3 × ${advertSeconds} s advert + ${round3(skew)} s skew`
      : `${round3(skew)} s skew after a priority-0 advert`;
  return {
    movedMs,
    servedMs: movedMs + SERVE_MARGIN_MS,
    basis: `VRRPv${version}: ${what} + ${MOVE_MARGIN_MS} ms margin; served again ${SERVE_MARGIN_MS} ms after that`,
  };
}

const round3 = (x: number) => Math.round(x * 1000) / 1000;

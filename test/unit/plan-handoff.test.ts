/** Which host takes each VIP a holder is about to give up (make-before-break). */
import { describe, expect, it } from 'vitest';
import type { AgentStatus } from '../../src/contract/status.js';
import {
  handOffDone,
  planHandOff,
  QUIESCE_LEAD_MS,
  QUIESCE_MAX_MS,
  quiesceDelayMs,
  type HandOffHostView,
} from '../../src/plan/handoff.js';

const V0 = { name: 'k0s-vip-0', vips: ['198.18.0.100'] };
const V1 = { name: 'k0s-vip-1', vips: ['fd00::100'] };

function host(
  name: string,
  states: Record<string, string>,
  opts: { held?: string[]; ok?: boolean; drained?: boolean; running?: boolean; noStatus?: boolean } = {},
): HandOffHostView {
  const addresses = [`198.18.0.${name.slice(1)}`, ...(opts.held ?? [])];
  if (opts.noStatus) return { name, addresses };
  const status = {
    health: {
      ok: opts.ok ?? true,
      reason: opts.drained ? 'drained' : 'x',
      trackFileValue: 0,
      drained: opts.drained,
    },
    keepalived: { running: opts.running ?? true },
    instances: Object.entries(states).map(([n, state]) => ({ name: n, state, priority: 200, since: '' })),
  } as unknown as AgentStatus;
  return { name, status, addresses };
}

describe('planHandOff', () => {
  it('gives each VIP the holder holds to the first host in BACKUP for it, and moves nothing it does not hold', () => {
    const hosts = [
      host('c1', { 'k0s-vip-0': 'MASTER', 'k0s-vip-1': 'BACKUP' }, { held: ['198.18.0.100'] }),
      host('c2', { 'k0s-vip-0': 'BACKUP', 'k0s-vip-1': 'MASTER' }, { held: ['fd00::100'] }),
      host('c3', { 'k0s-vip-0': 'BACKUP', 'k0s-vip-1': 'BACKUP' }),
    ];
    expect(planHandOff('c1', [V0, V1], hosts)).toEqual({
      moves: [{ instance: 'k0s-vip-0', vips: ['198.18.0.100'], to: 'c2' }],
      stuck: [],
    });
    // c2 holds vip-1: it goes to c1, the first other host in BACKUP for it.
    expect(planHandOff('c2', [V0, V1], hosts).moves).toEqual([
      { instance: 'k0s-vip-1', vips: ['fd00::100'], to: 'c1' },
    ]);
    expect(planHandOff('c3', [V0, V1], hosts)).toEqual({ moves: [], stuck: [] });
  });

  it('passes over drained, unhealthy, stopped, unread and still-starting hosts, and says why none fits', () => {
    const holder = host('c1', { 'k0s-vip-0': 'MASTER' }, { held: ['198.18.0.100'] });
    const unfit = [
      host('c2', { 'k0s-vip-0': 'FAULT' }, { ok: false, drained: true }),
      host('c3', { 'k0s-vip-0': 'FAULT' }, { ok: false }),
      host('c4', { 'k0s-vip-0': 'BACKUP' }, { running: false }),
      host('c5', {}, { noStatus: true }),
      host('c6', { 'k0s-vip-0': 'INIT' }),
    ];
    const p = planHandOff('c1', [V0], [holder, ...unfit]);
    expect(p.moves).toEqual([]);
    expect(p.stuck).toHaveLength(1);
    const why = p.stuck[0]!.why;
    for (const w of [
      'c2 drained',
      'c3 unhealthy',
      'c4 keepalived not running',
      'c5 agent status unreadable',
      'c6 k0s-vip-0 is INIT',
    ])
      expect(why).toContain(w);
    expect(planHandOff('c1', [V0], [...unfit, host('c7', { 'k0s-vip-0': 'BACKUP' }), holder]).moves).toEqual([
      { instance: 'k0s-vip-0', vips: ['198.18.0.100'], to: 'c7' },
    ]);
    expect(planHandOff('c1', [V0], [holder]).stuck[0]!.why).toBe('no other controller');
  });

  it('is done only once every VIP is on its new host and off the holder (both at once is not yet done)', () => {
    const moves = [{ instance: 'k0s-vip-0', vips: ['198.18.0.100'], to: 'c2' }];
    const before = [host('c1', {}, { held: ['198.18.0.100'] }), host('c2', {})];
    const both = [host('c1', {}, { held: ['198.18.0.100'] }), host('c2', {}, { held: ['198.18.0.100'] })];
    const after = [host('c1', {}), host('c2', {}, { held: ['198.18.0.100'] })];
    expect(handOffDone(moves, before[0]!, before)).toBe(false);
    expect(handOffDone(moves, both[0]!, both)).toBe(false);
    expect(handOffDone(moves, after[0]!, after)).toBe(true);
    // IPv6 written another way is the same address.
    const v6 = [{ instance: 'k0s-vip-1', vips: ['fd00:0::100'], to: 'c2' }];
    expect(handOffDone(v6, host('c1', {}), [host('c1', {}), host('c2', {}, { held: ['fd00::100'] })])).toBe(
      true,
    );
  });
});

describe('quiesceDelayMs', () => {
  it('quiesces the holder QUIESCE_LEAD_MS before the third discarded advert (two adverts after the first), at once when that is past', () => {
    expect(quiesceDelayMs(10_000, 10_400, 1)).toBe(12_000 - QUIESCE_LEAD_MS - 10_400);
    expect(QUIESCE_LEAD_MS + 750).toBeLessThan(1000); // the latest preemption seen still inside a SYN's resend
    expect(QUIESCE_MAX_MS).toBeLessThan(1000);
    expect(quiesceDelayMs(10_000, 10_050, 0.1)).toBe(0);
  });
});

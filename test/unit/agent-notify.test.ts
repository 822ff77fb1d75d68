import { describe, expect, it } from 'vitest';
import { LineSplitter, parseNotifyLine } from '../../src/agent/notify.js';
import { lowerAdvertOf, VrrpStates } from '../../src/agent/vrrp.js';

describe('notify fifo lines', () => {
  it('parses instance lines as keepalived 2.2.7 writes them', () => {
    expect(parseNotifyLine('INSTANCE "k0s-vip-0" MASTER 100')).toEqual({
      kind: 'INSTANCE',
      name: 'k0s-vip-0',
      state: 'MASTER',
      priority: 100,
    });
    expect(parseNotifyLine('INSTANCE "k0s-vip-0" FAULT 100\n')?.state).toBe('FAULT');
    expect(parseNotifyLine('INSTANCE "vi" MASTER_RX_LOWER_PRI 100')?.state).toBe('MASTER_RX_LOWER_PRI');
    expect(parseNotifyLine('GROUP "g1" BACKUP')).toEqual({ kind: 'GROUP', name: 'g1', state: 'BACKUP' });
  });

  it('ignores virtual server lines and garbage', () => {
    expect(parseNotifyLine('VS [198.18.0.100]:tcp:6443 UP')).toBeUndefined();
    expect(parseNotifyLine('INSTANCE k0s MASTER 100')).toBeUndefined();
    expect(parseNotifyLine('')).toBeUndefined();
  });

  it('splits chunks into whole lines', () => {
    const s = new LineSplitter();
    expect(s.push('INSTANCE "a" MAS')).toEqual([]);
    expect(s.push('TER 100\nINSTANCE "b" BACKUP 100\nINST')).toEqual([
      'INSTANCE "a" MASTER 100',
      'INSTANCE "b" BACKUP 100',
    ]);
    expect(s.push('ANCE "c" FAULT 100\n')).toEqual(['INSTANCE "c" FAULT 100']);
  });
});

describe('VrrpStates', () => {
  it('tracks state per instance and reports transitions once', () => {
    const v = new VrrpStates();
    v.expect(['k0s-vip-0']);
    expect(v.list()[0]?.state).toBe('UNKNOWN');
    expect(v.apply({ kind: 'INSTANCE', name: 'k0s-vip-0', state: 'BACKUP', priority: 100 })).toBe('UNKNOWN');
    expect(v.apply({ kind: 'INSTANCE', name: 'k0s-vip-0', state: 'BACKUP', priority: 100 })).toBeUndefined();
    expect(v.apply({ kind: 'INSTANCE', name: 'k0s-vip-0', state: 'MASTER', priority: 100 })).toBe('BACKUP');
    v.markStopped();
    expect(v.list()).toMatchObject([{ name: 'k0s-vip-0', state: 'STOP' }]);
    v.expect([]);
    expect(v.list()).toEqual([]);
  });
});

describe('a hand-off seen from the new holder', () => {
  it("reads keepalived's discard line, and keeps the first discard of a BACKUP until its state changes", () => {
    expect(
      lowerAdvertOf('(k0s-vip-0) received lower priority (200) advert from 198.18.0.11 - discarding'),
    ).toBe('k0s-vip-0');
    expect(lowerAdvertOf('(k0s-vip-0) Entering MASTER STATE')).toBeUndefined();
    const v = new VrrpStates();
    v.expect(['k0s-vip-0']);
    // Not yet BACKUP: nothing to note.
    expect(v.noteLowerAdvert('k0s-vip-0', 't0')).toBe(false);
    v.apply({ kind: 'INSTANCE', name: 'k0s-vip-0', state: 'BACKUP', priority: 200 });
    expect(v.noteLowerAdvert('k0s-vip-0', 't1')).toBe(true);
    expect(v.noteLowerAdvert('k0s-vip-0', 't2')).toBe(false);
    expect(v.list()[0]).toMatchObject({ state: 'BACKUP', lowerAdvertSince: 't1' });
    // The same state with another priority keeps it; MASTER drops it.
    v.apply({ kind: 'INSTANCE', name: 'k0s-vip-0', state: 'BACKUP', priority: 254 });
    expect(v.list()[0]).toMatchObject({ lowerAdvertSince: 't1' });
    v.apply({ kind: 'INSTANCE', name: 'k0s-vip-0', state: 'MASTER', priority: 254 });
    expect(v.list()[0]!.lowerAdvertSince).toBeUndefined();
  });
});

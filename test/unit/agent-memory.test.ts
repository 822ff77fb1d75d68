import { describe, expect, it } from 'vitest';
import { collectGarbage, QuietAfterBusy } from '../../src/agent/memory.js';

describe('QuietAfterBusy', () => {
  it('fires once, on the first quiet tick after enough connections, then waits for the next spell', () => {
    const q = new QuietAfterBusy(100);
    const ticks = [0, 40, 90, 150, 150, 150, 160, 300, 300];
    expect(ticks.map((t) => q.sample(t))).toEqual([
      false,
      false,
      false,
      false,
      true,
      false,
      false,
      false,
      true,
    ]);
  });

  it('never fires for a trickle below the threshold', () => {
    const q = new QuietAfterBusy(100);
    expect([0, 10, 10, 20, 20, 30, 30].map((t) => q.sample(t))).not.toContain(true);
  });

  it('counts a reload that drops upstreams (the total falls) as activity, not as quiet', () => {
    const q = new QuietAfterBusy(100);
    expect([0, 200, 50].map((t) => q.sample(t))).toEqual([false, false, false]);
    expect(q.sample(50)).toBe(true);
  });
});

describe('collectGarbage', () => {
  it('runs a full GC in this process: an object only a WeakRef points at is gone after it', async () => {
    const ref = new WeakRef({ payload: Buffer.alloc(1 << 20) });
    // A WeakRef's target lives to the end of the job that made it: collect in a later one.
    await new Promise((r) => setTimeout(r, 0));
    collectGarbage();
    expect(ref.deref()).toBeUndefined();
  });
});

/** Disruption arithmetic: runs of failed requests become intervals, and their seconds add up. */
import { describe, expect, it } from 'vitest';
import {
  describeDisruption,
  disruptedIntervals,
  disruption,
  type Request,
} from '../../src/verify/disruption.js';

const r = (startMs: number, endMs: number, ok: boolean): Request => ({ startMs, endMs, ok });

describe('disruption', () => {
  it('is zero when every request succeeded', () => {
    const d = disruption('new-connections', [r(0, 10, true), r(100, 110, true)], 2);
    expect(d).toMatchObject({ requests: 2, failed: 0, disruptionSeconds: 0, intervals: [] });
  });

  it('runs from the first failed request of a run to the next good request sent', () => {
    const reqs = [
      r(0, 10, true),
      r(100, 1100, false),
      r(1200, 2200, false),
      r(2300, 2310, true),
      r(2400, 2410, true),
    ];
    expect(disruptedIntervals(reqs)).toEqual([{ startMs: 100, endMs: 2300 }]);
    expect(disruption('reused-connection', reqs, 2)).toMatchObject({ failed: 2, disruptionSeconds: 2.2 });
  });

  it('adds separate runs, and ends a run nothing good followed with its last request', () => {
    const reqs = [
      r(0, 1000, false),
      r(1100, 1110, true),
      r(1200, 1210, true),
      r(1300, 1800, false),
      r(1900, 2900, false),
    ];
    expect(disruptedIntervals(reqs)).toEqual([
      { startMs: 0, endMs: 1100 },
      { startMs: 1300, endMs: 2900 },
    ]);
    expect(disruption('new-connections', reqs, 5).disruptionSeconds).toBe(2.7);
  });

  it('orders requests by when they were sent, whatever order they finished in', () => {
    const reqs = [r(200, 210, true), r(0, 1000, false), r(100, 1100, false)];
    expect(disruptedIntervals(reqs)).toEqual([{ startMs: 0, endMs: 200 }]);
  });

  it('reads as one line per sampler', () => {
    const d = disruption('reused-connection', [r(0, 1000, false), r(1100, 1110, true)], 2);
    expect(describeDisruption(d)).toBe(
      'reused connection: 1.100 s disrupted, 1 of 2 requests failed (2 connections)',
    );
    expect(describeDisruption({ ...d, sampler: 'new-connections' })).toBe(
      'new connections: 1.100 s disrupted, 1 of 2 requests failed',
    );
  });
});

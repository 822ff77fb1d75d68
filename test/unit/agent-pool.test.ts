import { describe, expect, it } from 'vitest';
import { dialFirst, NoUpstreamError, Upstream, UpstreamPool, upstreamId } from '../../src/agent/pool.js';

const hc = { path: '/readyz', intervalMs: 1000, timeoutMs: 1000, fallCount: 1, riseCount: 1 };
const pool3 = () =>
  UpstreamPool.fromConfig(
    ['a', 'b', 'c'].map((address) => ({ address, port: 6443 })),
    hc,
  );
const ids = (list: Upstream[]) => list.map((u) => u.address).join('');

describe('UpstreamPool round robin', () => {
  it('rotates over healthy upstreams only', () => {
    const pool = pool3();
    for (const u of pool.upstreams) u.health.record(true);
    pool.upstreams[1]!.health.record(false);
    const firsts = Array.from({ length: 6 }, () => pool.candidates()[0]!.address);
    expect(firsts).toEqual(['a', 'c', 'a', 'c', 'a', 'c']);
    expect(ids(pool.candidates())).toHaveLength(2);
  });

  it('gives each connection the full healthy list, starting one further each time', () => {
    const pool = pool3();
    for (const u of pool.upstreams) u.health.record(true);
    expect([
      ids(pool.candidates()),
      ids(pool.candidates()),
      ids(pool.candidates()),
      ids(pool.candidates()),
    ]).toEqual(['abc', 'bca', 'cab', 'abc']);
  });

  it('uses unchecked upstreams only while none is known healthy', () => {
    const pool = pool3();
    expect(ids(pool.candidates())).toHaveLength(3);
    pool.upstreams[0]!.health.record(false);
    expect(ids(pool.candidates()).split('').sort().join('')).toBe('bc');
    pool.upstreams[2]!.health.record(true);
    expect(ids(pool.candidates())).toBe('c');
    pool.upstreams[2]!.health.record(false);
    pool.upstreams[1]!.health.record(false);
    expect(pool.candidates()).toEqual([]);
  });

  it('a reload keeps the health and counters of upstreams that stay, drops the others', () => {
    const pool = pool3();
    pool.upstreams[0]!.health.record(true);
    pool.upstreams[0]!.totalConnections = 7;
    const next = UpstreamPool.fromConfig(
      [
        { address: 'a', port: 6443 },
        { address: 'd', port: 6443 },
        { address: 'a', port: 6443 },
      ],
      hc,
      pool,
    );
    expect(next.upstreams.map((u) => u.id)).toEqual(['a:6443', 'd:6443']);
    expect(next.upstreams[0]).toBe(pool.upstreams[0]);
    expect(next.upstreams[0]!.totalConnections).toBe(7);
    expect(next.upstreams[1]!.health.status).toBe('unknown');
  });

  it('brackets IPv6 ids', () => {
    expect(upstreamId('fd00::1', 6443)).toBe('[fd00::1]:6443');
  });
});

describe('UpstreamPool after a failed dial', () => {
  it('dials an upstream whose last dial failed last, until a check or a dial succeeds', async () => {
    const pool = pool3();
    for (const u of pool.upstreams) u.health.record(true);
    const first = pool.candidates();
    expect(ids(first)).toBe('abc');
    await dialFirst(first, async (u) => {
      if (u.address === 'a') throw new Error('connect timed out');
      return u.address;
    });
    // Still healthy (checks have not caught up), but no client should wait on it first again.
    expect(pool.upstreams[0]!.health.status).toBe('healthy');
    expect([ids(pool.candidates()), ids(pool.candidates()), ids(pool.candidates())]).toEqual([
      'bca',
      'cba',
      'bca',
    ]);
    pool.upstreams[0]!.health.record(true);
    expect([ids(pool.candidates()), ids(pool.candidates())]).toEqual(['bca', 'cab']);
  });
});

describe('dialFirst (retry the next upstream)', () => {
  it('returns the first upstream that dials, counting failures on the others', async () => {
    const pool = pool3();
    const tried: string[] = [];
    const failures: string[] = [];
    const result = await dialFirst(
      pool.upstreams,
      async (u) => {
        tried.push(u.address);
        if (u.address !== 'c') throw new Error(`ECONNREFUSED ${u.address}`);
        return `conn-${u.address}`;
      },
      { onFailure: (u) => failures.push(u.address) },
    );
    expect(result.connection).toBe('conn-c');
    expect(result.upstream.address).toBe('c');
    expect(tried).toEqual(['a', 'b', 'c']);
    expect(failures).toEqual(['a', 'b']);
    expect(pool.upstreams.map((u) => u.failedDials)).toEqual([1, 1, 0]);
  });

  it('stops at the first success', async () => {
    const pool = pool3();
    const tried: string[] = [];
    await dialFirst(pool.upstreams, async (u) => tried.push(u.address));
    expect(tried).toEqual(['a']);
  });

  it('fails with every attempt listed when all fail, or with none to try', async () => {
    const pool = pool3();
    const err = await dialFirst(pool.upstreams, async () => {
      throw new Error('refused');
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NoUpstreamError);
    expect((err as NoUpstreamError).attempts.map((a) => a.upstream)).toEqual(['a:6443', 'b:6443', 'c:6443']);
    await expect(dialFirst([], async () => 1)).rejects.toThrow('no healthy upstream');
  });
});

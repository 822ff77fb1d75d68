/**
 * The pure part of the agent's addrlabel handling: parsing `ip addrlabel list`, and which entries to
 * add or remove. test/integration/agent-addrlabel.test.ts runs it against a real kernel and keepalived.
 */
import { describe, expect, it } from 'vitest';
import {
  AddressLabels,
  labelChanges,
  labelWants,
  parseAddrlabelList,
  retiredWants,
} from '../../src/agent/addrlabel.js';
import type { AgentVip } from '../../src/contract/agent-config.js';
import type { RunResult } from '../../src/agent/iptables.js';
import type { Logger } from '../../src/agent/log.js';

// As iproute2 6.1 prints it (trailing blank included), plus an entry bound to a device.
const LISTED = `prefix fd5e:1::100/128 label 30000 
prefix fd5e:1::/64 dev eth0 label 77 
prefix ::1/128 label 0 
prefix ::ffff:0.0.0.0/96 label 4 
prefix fc00::/7 label 5 
prefix ::/0 label 1 
`;

const vip = (address: string, extra: Partial<AgentVip> = {}): AgentVip => ({
  address,
  prefix: 64,
  family: address.includes(':') ? 6 : 4,
  apiServerPort: 6443,
  instanceName: 'k0s-vip-0',
  ...extra,
});

describe('parseAddrlabelList', () => {
  it('reads prefix, length, device and label, addresses in canonical form', () => {
    const table = parseAddrlabelList(LISTED);
    expect(table[0]).toEqual({ prefix: 'fd5e:1:0:0:0:0:0:100', length: 128, label: 30000 });
    expect(table[1]).toEqual({ prefix: 'fd5e:1:0:0:0:0:0:0', length: 64, dev: 'eth0', label: 77 });
    expect(table).toHaveLength(6);
    expect(parseAddrlabelList('garbage\n\n')).toEqual([]);
  });
});

describe('labelWants', () => {
  it("takes IPv6 VIPs only, with their label or k0s's default 10000, held when an address of this node", () => {
    const vips = [vip('198.18.0.100'), vip('fd5e:1::100', { addressLabel: 30000 }), vip('fd5e:2::100')];
    expect(labelWants(vips, new Set(['fd5e:1:0:0:0:0:0:100']))).toEqual([
      { address: 'fd5e:1::100', label: 30000, held: true },
      { address: 'fd5e:2::100', label: 10000, held: false },
    ]);
  });
});

describe('labelChanges', () => {
  const table = parseAddrlabelList(LISTED);
  it('adds the entry of a held VIP, and leaves one already right', () => {
    expect(labelChanges([{ address: 'fd5e:2::100', label: 10000, held: true }], table)).toEqual([
      { op: 'add', address: 'fd5e:2::100', label: 10000 },
    ]);
    expect(labelChanges([{ address: 'fd5e:1::100', label: 30000, held: true }], table)).toEqual([]);
  });
  it("replaces a held VIP's entry that carries another label (k0s replaces it too)", () => {
    expect(labelChanges([{ address: 'fd5e:1::100', label: 10000, held: true }], table)).toEqual([
      { op: 'del', address: 'fd5e:1::100', label: 30000 },
      { op: 'add', address: 'fd5e:1::100', label: 10000 },
    ]);
  });
  it('removes the entry of a VIP not held only when its label is ours', () => {
    expect(labelChanges([{ address: 'fd5e:1::100', label: 30000, held: false }], table)).toEqual([
      { op: 'del', address: 'fd5e:1::100', label: 30000 },
    ]);
    expect(labelChanges([{ address: 'fd5e:1::100', label: 10000, held: false }], table)).toEqual([]);
    expect(labelChanges([{ address: 'fd5e:9::1', label: 10000, held: false }], table)).toEqual([]);
  });
  it('never touches a prefix that is not VIP/128, nor an entry bound to a device', () => {
    const devOnly = parseAddrlabelList('prefix fd5e:3::100/128 dev eth0 label 10000\n');
    expect(labelChanges([{ address: 'fd5e:3::100', label: 10000, held: false }], devOnly)).toEqual([]);
    expect(labelChanges([{ address: 'fd5e:3::100', label: 10000, held: true }], devOnly)).toEqual([
      { op: 'add', address: 'fd5e:3::100', label: 10000 },
    ]);
  });
});

describe('retiredWants', () => {
  it('names the old entries the new config drops (VIP gone or label changed), as not held', () => {
    const old = [
      { address: 'fd5e:1::100', label: 30000, held: true },
      { address: 'fd5e:2::100', label: 10000, held: false },
    ];
    const next = [{ address: 'fd5e:2:0::100', label: 10000, held: false }];
    expect(retiredWants(old, next)).toEqual([{ address: 'fd5e:1::100', label: 30000, held: false }]);
  });
});

describe('AddressLabels', () => {
  const quiet: Logger = {
    debug: () => undefined,
    info: () => undefined,
    warn: () => undefined,
    error: () => undefined,
    child: () => quiet,
    setLevel: () => undefined,
  };
  function fake(listed = LISTED) {
    const calls: string[] = [];
    const run = (cmd: string, args: string[]): Promise<RunResult> => {
      calls.push([cmd, ...args].join(' '));
      return Promise.resolve({ code: 0, stdout: args.includes('list') ? listed : '', stderr: '' });
    };
    return { calls, labels: new AddressLabels(quiet, run) };
  }

  it('runs ip only when the held set changed or when forced, and never without IPv6 VIPs', async () => {
    const { calls, labels } = fake();
    const held = [{ address: 'fd5e:2::100', label: 10000, held: true }];
    await labels.sync(held);
    expect(calls).toEqual(['ip -6 addrlabel list', 'ip -6 addrlabel add prefix fd5e:2::100/128 label 10000']);
    await labels.sync(held);
    expect(calls).toHaveLength(2);
    await labels.sync(held, true);
    expect(calls).toHaveLength(4);
    await labels.sync([]);
    await labels.sync([], true);
    expect(calls).toHaveLength(4);
  });
});

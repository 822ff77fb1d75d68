import { afterAll, describe, expect, it } from 'vitest';
import { labDown, labHosts, labUp } from '../../src/lab/index.js';
import { tcpOpen } from '../../src/lab/probe.js';
import { ssh } from './lab-helpers.js';
import { defineLabSuite } from './lab-suite.js';

defineLabSuite({ name: 't-plain', flavor: 'plain', upBudgetMs: 5000 });

describe('lab (plain, 30 hosts)', () => {
  const name = 't-plain30';
  afterAll(async () => {
    await labDown(name);
  });

  it('starts 30 controllers and a client, all answering', async () => {
    await labDown(name);
    const started = Date.now();
    const info = await labUp({ name, flavor: 'plain', hosts: 30 });
    const upMs = Date.now() - started;
    const hosts = await labHosts(name);
    expect(hosts).toHaveLength(31);
    const open = await Promise.all(hosts.map((h) => tcpOpen(h.address, h.sshPort, 2000)));
    expect(open.every(Boolean)).toBe(true);
    const api = await Promise.all(
      hosts.filter((h) => h.role === 'controller').map((h) => tcpOpen(h.address, 6443, 2000)),
    );
    expect(api.every(Boolean)).toBe(true);
    const last = hosts[29];
    expect((await ssh(info, last!, 'hostname')).stdout.trim()).toBe('c30');
    expect(upMs).toBeLessThan(20_000);
    const downStarted = Date.now();
    expect(await labDown(name)).toBe(true);
    console.log(`lab plain x30: up ${upMs} ms, down ${Date.now() - downStarted} ms`);
  }, 60_000);
});

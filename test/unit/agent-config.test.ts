import { describe, expect, it } from 'vitest';
import {
  addressLabelOf,
  agentConfigSchema,
  AgentConfigError,
  hashConfigText,
  parseAgentConfig,
  proxyBindAddress,
  type AgentConfigInput,
} from '../../src/contract/agent-config.js';
import { renderAgentConfig } from '../../src/render/agent-config.js';

const minimal: AgentConfigInput = {
  hostName: 'controller-0',
  proxy: { upstreams: [{ address: '198.18.0.11' }, { address: '198.18.0.12', port: 7443 }] },
  vips: [{ address: '198.18.0.100', prefix: 24, family: 4, instanceName: 'k0s-vip-0' }],
};

/** What the planner hands the agent.json renderer for one host. */
const RENDER_INPUT = {
  hostName: 'h',
  proxyEnabled: true,
  proxyPort: 6444,
  upstreams: [{ address: '198.18.0.11', port: 6443 }],
  healthCheck: { path: '/readyz', intervalSeconds: 1, timeoutSeconds: 1, fallCount: 3, riseCount: 1 },
  vips: [
    {
      address: '198.18.0.100',
      prefix: 24,
      family: 4 as const,
      apiServerPort: 6443,
      instanceName: 'k0s-vip-0',
    },
  ],
  iptablesBackend: 'nft' as const,
  limits: { maxConnections: 10000, idleTimeoutSeconds: 86400 },
  metrics: { bindAddress: '127.0.0.1', port: 6445 },
};

describe('agent config schema', () => {
  it("takes k0s's addressLabel on a VIP, and files without it (older renders) still parse", () => {
    const v6 = { address: 'fd00::100', prefix: 64, family: 6 as const, instanceName: 'k0s-vip-1' };
    const parse = (vip: object) => agentConfigSchema.safeParse({ ...minimal, vips: [vip] });
    expect(parse(v6).success).toBe(true);
    expect(parse(v6).data?.vips[0]?.addressLabel).toBeUndefined();
    expect(addressLabelOf(parse(v6).data!.vips[0]!)).toBe(10000);
    expect(parse({ ...v6, addressLabel: 30000 }).data?.vips[0]?.addressLabel).toBe(30000);
    expect(addressLabelOf(parse({ ...v6, addressLabel: 30000 }).data!.vips[0]!)).toBe(30000);
    for (const bad of [0, 0xffffffff, 1.5, -1, '30000'])
      expect(parse({ ...v6, addressLabel: bad }).success, String(bad)).toBe(false);
  });

  it('fills every default from a minimal file', () => {
    const c = agentConfigSchema.parse(minimal);
    expect(c.schemaVersion).toBe(1);
    expect(c.keepalived).toEqual({
      binary: 'keepalived',
      configPath: '/etc/cplb/keepalived.conf',
      trackFile: '/run/cplb/health',
      notifyFifo: '/run/cplb/notify.fifo',
      pidDir: '/run/cplb',
      restartBackoff: { initialMs: 500, maxMs: 30_000 },
    });
    expect(c.proxy.bindPort).toBe(6444);
    expect(c.proxy.enabled).toBe(true);
    expect(c.proxy.upstreams).toEqual([
      { address: '198.18.0.11', port: 6443 },
      { address: '198.18.0.12', port: 7443 },
    ]);
    expect(c.proxy.healthCheck).toEqual({
      path: '/readyz',
      intervalMs: 1000,
      timeoutMs: 1000,
      fallCount: 3,
      riseCount: 1,
    });
    expect(c.vips[0]?.apiServerPort).toBe(6443);
    expect(c.statusSocket).toBe('/run/cplb/agent.sock');
    expect(c.metrics).toEqual({ enabled: true, bindAddress: '127.0.0.1', port: 6445 });
    expect(c.iptables).toEqual({ backend: 'nft', chain: 'CPLB', reassertIntervalMs: 5000 });
  });

  it('rejects a family that does not match the address', () => {
    const bad = { ...minimal, vips: [{ address: 'fd00::100', prefix: 64, family: 4, instanceName: 'x' }] };
    const r = agentConfigSchema.safeParse(bad);
    expect(r.success).toBe(false);
    expect(r.error?.issues.map((i) => i.path.join('.'))).toContain('vips.0.family');
  });

  it('rejects unknown keys, bad chain names, relative paths and empty upstreams', () => {
    expect(agentConfigSchema.safeParse({ ...minimal, extra: 1 }).success).toBe(false);
    expect(agentConfigSchema.safeParse({ ...minimal, iptables: { chain: 'has space' } }).success).toBe(false);
    expect(agentConfigSchema.safeParse({ ...minimal, iptables: { chain: 'X'.repeat(29) } }).success).toBe(
      false,
    );
    expect(agentConfigSchema.safeParse({ ...minimal, statusSocket: 'run/agent.sock' }).success).toBe(false);
    expect(agentConfigSchema.safeParse({ ...minimal, proxy: { upstreams: [] } }).success).toBe(false);
    expect(
      agentConfigSchema.safeParse({ ...minimal, vips: [{ ...minimal.vips[0], prefix: 33 }] }).success,
    ).toBe(false);
  });

  it('takes health check credentials as a complete pair or a token file, and URL paths only', () => {
    const hc = (healthCheck: Record<string, unknown>) =>
      agentConfigSchema.safeParse({ ...minimal, proxy: { ...minimal.proxy, healthCheck } });
    expect(hc({ clientCertificate: '/pki/hc.crt', clientKey: '/pki/hc.key' }).success).toBe(true);
    expect(hc({ bearerTokenFile: '/etc/hc.token' }).success).toBe(true);
    expect(hc({ clientCertificate: '/pki/hc.crt' }).success).toBe(false);
    expect(hc({ bearerTokenFile: 'hc.token' }).success).toBe(false);
    expect(hc({ clientCertificate: '/a', clientKey: '/b', bearerTokenFile: '/c' }).success).toBe(false);
    expect(hc({ path: '/ready\u0001z' }).success).toBe(false);
    expect(hc({ path: '/r\u00e9adyz' }).success).toBe(false);
    expect(hc({ path: '/readyz?verbose' }).success).toBe(true);
  });

  it('is rendered with the credentials the cluster file names, and without them when it names none', () => {
    const input = RENDER_INPUT;
    const plain = parseAgentConfig(renderAgentConfig(input));
    expect(plain.proxy.healthCheck).not.toHaveProperty('bearerTokenFile');
    const withToken = parseAgentConfig(
      renderAgentConfig({
        ...input,
        healthCheck: { ...input.healthCheck, bearerTokenFile: '/etc/hc.token' },
      }),
    );
    expect(withToken.proxy.healthCheck.bearerTokenFile).toBe('/etc/hc.token');
  });

  it('writes the metrics address only where the cluster file moves it (the default leaves the file as it was)', () => {
    const input = RENDER_INPUT;
    expect(renderAgentConfig(input)).not.toContain('metrics');
    expect(parseAgentConfig(renderAgentConfig(input)).metrics).toEqual({
      enabled: true,
      bindAddress: '127.0.0.1',
      port: 6445,
    });
    const open = parseAgentConfig(
      renderAgentConfig({ ...input, metrics: { bindAddress: '0.0.0.0', port: 9445 } }),
    );
    expect(open.metrics).toEqual({ enabled: true, bindAddress: '0.0.0.0', port: 9445 });
  });

  it('parseAgentConfig names the file and every bad path', () => {
    expect(() => parseAgentConfig('{', '/etc/cplb/agent.json')).toThrow(/agent\.json: not valid JSON/);
    try {
      parseAgentConfig(JSON.stringify({ ...minimal, hostName: '' }), 'a.json');
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(AgentConfigError);
      expect((err as Error).message).toMatch(/a\.json: invalid agent config:\n {2}hostName: /);
    }
  });

  it('binds the proxy dual-stack only when a VIP is IPv6', () => {
    expect(proxyBindAddress(agentConfigSchema.parse(minimal))).toBe('0.0.0.0');
    const v6 = {
      ...minimal,
      vips: [{ address: 'fd00::100', prefix: 64, family: 6 as const, instanceName: 'v6' }],
    };
    expect(proxyBindAddress(agentConfigSchema.parse(v6))).toBe('::');
  });

  it('hashes text stably and shortly', () => {
    expect(hashConfigText('a')).toBe(hashConfigText(Buffer.from('a')));
    expect(hashConfigText('a')).toMatch(/^[0-9a-f]{16}$/);
    expect(hashConfigText('a')).not.toBe(hashConfigText('b'));
  });
});

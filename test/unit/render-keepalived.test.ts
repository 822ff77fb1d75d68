import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  renderKeepalivedConf,
  PREFERRED_PRIORITY,
  VRRP_PRIORITY,
  type KeepalivedConfInput,
  type KeepalivedInstance,
} from '../../src/render/keepalived.js';
import { preferFile, RUN_DIR, TRACK_FILE, TRACK_NAME } from '../../src/contract/paths.js';

const v4: KeepalivedInstance = {
  name: 'k0s-vip-0',
  interface: 'eth1',
  family: 4,
  virtualRouterID: 51,
  advertIntervalSeconds: 1,
  authPass: 'Example',
  vips: ['198.18.0.100/24'],
};
const v6: KeepalivedInstance = {
  ...v4,
  name: 'k0s-vip-1',
  family: 6,
  virtualRouterID: 52,
  vips: ['fd5e:1::100/64'],
};
const input = (o: Partial<KeepalivedConfInput> = {}): KeepalivedConfInput => ({
  routerId: 'ctl1',
  vrrpVersion: 2,
  instances: [v4],
  virtualServers: [],
  ...o,
});

/** The body of one vrrp_instance block. */
function instanceBlock(conf: string, name: string): string {
  const start = conf.indexOf(`vrrp_instance ${name} {`);
  return conf.slice(start, conf.indexOf('\n}', start));
}

describe('renderKeepalivedConf', () => {
  it('every controller is BACKUP at one priority, never MASTER, never nopreempt', () => {
    const conf = renderKeepalivedConf(input({ instances: [v4, v6] }));
    expect(conf.match(/state BACKUP/g)).toHaveLength(2);
    expect(conf.match(new RegExp(`priority ${VRRP_PRIORITY}\\n`, 'g'))).toHaveLength(2);
    expect(conf).not.toMatch(/MASTER|nopreempt/);
  });

  it('authentication only for VRRP v2 over IPv4; IPv6 instances are v3 by nature', () => {
    const v2 = renderKeepalivedConf(input({ instances: [v4, v6] }));
    expect(instanceBlock(v2, 'k0s-vip-0')).toContain('auth_pass Example');
    expect(instanceBlock(v2, 'k0s-vip-1')).not.toContain('authentication');
    expect(instanceBlock(v2, 'k0s-vip-1')).toContain('version 3');
    expect(v2).not.toContain('vrrp_version');
    const v3 = renderKeepalivedConf(
      input({ vrrpVersion: 3, instances: [{ ...v4, advertIntervalSeconds: 0.1 }, v6] }),
    );
    expect(v3).not.toContain('authentication');
    expect(v3).toMatch(
      /global_defs \{\n {2}router_id ctl1\n {2}notify_fifo \/run\/cplb\/notify.fifo\n {2}vrrp_version 3\n\}/,
    );
    expect(v3).toContain('advert_int 0.1\n');
    expect(instanceBlock(v3, 'k0s-vip-1')).not.toMatch(/\bversion 3/);
  });

  it('ties every instance to the health file with weight 0', () => {
    const conf = renderKeepalivedConf(input({ instances: [v4, v6] }));
    expect(conf).toContain(`track_file ${TRACK_NAME} {\n  file "${TRACK_FILE}"\n  weight 0\n}`);
    for (const name of ['k0s-vip-0', 'k0s-vip-1'])
      expect(instanceBlock(conf, name)).toContain(`track_file {\n    ${TRACK_NAME} weight 0\n`);
    expect(conf).not.toMatch(/script/);
  });

  it('gives each instance its own hand-off file, whose 1 lifts the priority to the highest keepalived allows', () => {
    const conf = renderKeepalivedConf(input({ instances: [v4, v6] }));
    for (const name of ['k0s-vip-0', 'k0s-vip-1']) {
      const weight = PREFERRED_PRIORITY - VRRP_PRIORITY;
      expect(conf).toContain(
        `track_file cplb_prefer_${name} {\n  file "${preferFile(name)}"\n  weight ${weight}\n}`,
      );
      // Each instance follows its own file only: handing one VIP over moves no other.
      expect(instanceBlock(conf, name)).toContain(
        `track_file {\n    ${TRACK_NAME} weight 0\n    cplb_prefer_${name} weight ${weight}\n  }`,
      );
      expect(preferFile(name).startsWith(`${RUN_DIR}/`)).toBe(true);
      expect(preferFile(name).slice(RUN_DIR.length + 1)).not.toContain('/');
    }
    expect(PREFERRED_PRIORITY).toBe(254);
  });

  it('VIPs as `CIDR dev IFACE`; unicast source and peers', () => {
    const conf = renderKeepalivedConf(
      input({
        instances: [
          {
            ...v4,
            vips: ['198.18.0.100/24', '198.18.0.101/32'],
            unicast: { source: '198.18.0.11', peers: ['198.18.0.12'] },
          },
        ],
      }),
    );
    expect(conf).toContain(
      'virtual_ipaddress {\n    198.18.0.100/24 dev eth1\n    198.18.0.101/32 dev eth1\n  }',
    );
    expect(conf).toContain('unicast_src_ip 198.18.0.11\n  unicast_peer {\n    198.18.0.12\n  }');
  });

  it('starts with the managed-by header and ends with one newline', () => {
    const conf = renderKeepalivedConf(input());
    expect(conf.startsWith('# Managed by cplbctl: do not edit.')).toBe(true);
    expect(conf.endsWith('}\n')).toBe(true);
  });

  it("refuses values that would change the file's structure", () => {
    expect(() => renderKeepalivedConf(input({ instances: [{ ...v4, authPass: 'a b' }] }))).toThrow(
      /auth_pass/,
    );
    expect(() => renderKeepalivedConf(input({ instances: [{ ...v4, authPass: 'x}' }] }))).toThrow(
      /auth_pass/,
    );
    expect(() => renderKeepalivedConf(input({ routerId: 'ctl1\n}' }))).toThrow(/router_id/);
    expect(() => renderKeepalivedConf(input({ instances: [{ ...v4, interface: 'eth0#' }] }))).toThrow(
      /interface/,
    );
  });

  it('advert_int prints as written, whatever float arithmetic did', () => {
    const conf = renderKeepalivedConf(
      input({ vrrpVersion: 3, instances: [{ ...v4, advertIntervalSeconds: 0.1 + 0.2 }] }),
    );
    expect(conf).toContain('advert_int 0.3\n');
  });

  it('is deterministic and has balanced braces for any instance set', () => {
    const inst = fc.record({
      family: fc.constantFrom<4 | 6>(4, 6),
      vrid: fc.integer({ min: 1, max: 255 }),
      pass: fc.stringMatching(/^[A-Za-z0-9]{1,8}$/),
    });
    fc.assert(
      fc.property(
        fc.array(inst, { minLength: 1, maxLength: 4 }),
        fc.constantFrom<2 | 3>(2, 3),
        (list, version) => {
          const instances = list.map((r, i) => ({
            ...(r.family === 4 ? v4 : v6),
            name: `k0s-vip-${i}`,
            virtualRouterID: r.vrid,
            authPass: r.pass,
          }));
          const conf = renderKeepalivedConf(input({ vrrpVersion: version, instances }));
          expect(renderKeepalivedConf(input({ vrrpVersion: version, instances }))).toBe(conf);
          expect(conf.split('{').length).toBe(conf.split('}').length);
          expect(conf.match(/^vrrp_instance /gm)).toHaveLength(list.length);
        },
      ),
    );
  });
});

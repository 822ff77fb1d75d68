/**
 * Fields newer k0s releases added to the CPLB section: vrrpInstances[].addressLabel (k0s 1.34) and
 * keepalived.configTemplateVRRP / configTemplateVS (k0s 1.35.1). Checked as k0s's own validation
 * does (pkg/apis/k0s/v1beta1/cplb.go), plus what cplbctl cannot honour.
 */
import { ipFamily } from '../../contract/net.js';
import { ADDRESS_LABEL_MAX } from '../schema.js';
import type { Rule } from '../rule.js';
import { instancesOf } from './vrrp.js';

export const addressLabel: Rule = {
  name: 'address-label',
  check(input, report) {
    for (const { inst, path } of instancesOf(input)) {
      const label = inst.addressLabel;
      if (label === undefined) continue;
      const at = [...path, 'addressLabel'];
      // k0s: "AddressLabel 0xffffffff is reserved"; the kernel refuses it too.
      if (label === ADDRESS_LABEL_MAX)
        report.error(
          at,
          `addressLabel ${label} (0xffffffff) is reserved`,
          'use 1 to 4294967294, or leave it out for the default 10000',
        );
      const families = inst.virtualIPs.map((v) => ipFamily(v.split('/')[0]!));
      if (label !== 0 && families.length > 0 && !families.includes(6))
        report.warn(
          at,
          'addressLabel applies to IPv6 VIPs only, and this instance has none',
          'remove it, or move it to the instance holding the IPv6 VIPs (k0s ignores it here too)',
        );
    }
  },
};

const TEMPLATE_FIELDS = {
  configTemplateVRRP: {
    renders:
      "one vrrp_instance per vrrpInstances entry (state BACKUP, equal priority, the agent's track_file and notify_fifo)",
    instead:
      'express the change with vrrpInstances (interface, virtualRouterID, advertIntervalSeconds, unicastSourceIP, unicastPeers) and keepalived.vrrpVersion',
  },
  configTemplateVS: {
    renders: 'one virtual_server per virtualServers entry, a real_server per controller',
    instead: 'express the change with virtualServers (delayLoop, lbAlgo, lbKind, persistenceTimeoutSeconds)',
  },
} as const;

/**
 * k0s renders these Go templates with its own variables (.K0sBin, .RunDir, notify scripts that call
 * k0s); cplbctl writes keepalived.conf for its agent instead. Refusing beats deploying a file other
 * than the one the user wrote a template for.
 */
export const configTemplate: Rule = {
  name: 'config-template',
  check({ cplb, paths }, report) {
    const ka = cplb?.enabled ? cplb.keepalived : undefined;
    if (!ka) return;
    for (const [field, text] of Object.entries(TEMPLATE_FIELDS)) {
      const value = ka[field as keyof typeof TEMPLATE_FIELDS];
      if (!value) continue; // k0s reads "" as unset too
      const at = [...paths.cplb, 'keepalived', field];
      // k0s reads configTemplateVS only when there are virtualServers: ignoring it matches k0s.
      if (field === 'configTemplateVS' && ka.virtualServers.length === 0) {
        report.warn(
          at,
          'configTemplateVS has no effect without virtualServers (k0s ignores it then too)',
          'remove it (with virtualServers, cplbctl refuses it: it renders the virtual_server blocks itself)',
        );
        continue;
      }
      report.error(
        at,
        `cplbctl renders keepalived.conf itself and does not read Go templates: ${text.renders}`,
        `${text.instead}, check the result with \`cplbctl apply --dry-run\`, and remove ${field} from the file cplbctl reads`,
      );
    }
  },
};

/** Every config rule, in the order their findings read best. Each is a named function with its own tests. */
import type { Rule } from '../rule.js';
import {
  cplbEnabled,
  cplbHasInstances,
  healthCheck,
  healthCheckCredentials,
  healthCheckPath,
  ports,
  metricsPort,
} from './cplb.js';
import {
  controllersPresent,
  hostKeyFormat,
  keyPathExists,
  privateInterface,
  singleController,
  singleRole,
  sshAddress,
  sshPresent,
  uniqueHosts,
} from './hosts.js';
import { addressLabel, configTemplate } from './k0s-fields.js';
import { unicast } from './unicast.js';
import { virtualServers } from './virtual-servers.js';
import {
  advertInterval,
  authPass,
  authPassWithV3,
  interfaceRef,
  vipCidr,
  vipFamily,
  vipNotHostAddress,
  vipUnique,
  virtualRouterID,
} from './vrrp.js';

export const RULES: readonly Rule[] = [
  cplbEnabled,
  cplbHasInstances,
  controllersPresent,
  singleRole,
  singleController,
  sshPresent,
  sshAddress,
  uniqueHosts,
  keyPathExists,
  hostKeyFormat,
  privateInterface,
  vipCidr,
  vipFamily,
  vipUnique,
  vipNotHostAddress,
  authPass,
  authPassWithV3,
  virtualRouterID,
  advertInterval,
  interfaceRef,
  addressLabel,
  unicast,
  virtualServers,
  configTemplate,
  ports,
  metricsPort,
  healthCheck,
  healthCheckPath,
  healthCheckCredentials,
];

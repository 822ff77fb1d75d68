/** `cplbctl apply` end to end on hosts that OpenRC booted: the agent as an OpenRC service under supervise-daemon. */
import { defineApplySuite } from './apply-suite.js';

defineApplySuite({ name: 't-applyo', flavor: 'openrc' });

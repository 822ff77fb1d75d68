/** `cplbctl apply` end to end on plain hosts (no init system: the sh launcher supervises the agent). */
import { defineApplySuite } from './apply-suite.js';

defineApplySuite({ name: 't-applyp', flavor: 'plain' });

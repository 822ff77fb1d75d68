/** `cplbctl apply` end to end on systemd hosts (systemd-nspawn): the unit path, install and start. */
import { ensureRootfs } from '../../src/lab/rootfs.js';
import { defineApplySuite } from './apply-suite.js';

// The rootfs is made once (debootstrap, about a minute) and cached.
defineApplySuite({ name: 't-applys', flavor: 'systemd', prepare: async () => void (await ensureRootfs()) });

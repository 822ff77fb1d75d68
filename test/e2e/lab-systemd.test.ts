import { ensureRootfs } from '../../src/lab/rootfs.js';
import { defineLabSuite } from './lab-suite.js';

// The rootfs is made once (debootstrap, about a minute) and cached: only `lab up` itself is timed.
defineLabSuite({
  name: 't-sysd',
  flavor: 'systemd',
  upBudgetMs: 15_000,
  prepare: async () => void (await ensureRootfs()),
});

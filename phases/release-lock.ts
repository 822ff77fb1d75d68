import type { ApplyState } from '../src/apply/state.js';
import type { Host } from '../src/config/types.js';
import { perHost } from '../src/pipeline/index.js';
import { releaseOn } from '../src/apply/lock.js';

export const releaseLockPhase = perHost<ApplyState, Host>({
  title: 'Release exclusive host lock',
  readOnly: true,
  async run(host, ctx) {
    await releaseOn(ctx.state, host);
  },
});

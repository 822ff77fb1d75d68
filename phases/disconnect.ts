import type { ApplyState } from '../src/apply/state.js';
import type { Host } from '../src/config/types.js';
import { perHost } from '../src/pipeline/index.js';

export const disconnectPhase = perHost<ApplyState, Host>({
  title: 'Disconnect from hosts',
  readOnly: true,
  async run(host, ctx) {
    const remote = ctx.state.remotes.get(host.name);
    ctx.state.remotes.delete(host.name);
    await remote?.close();
  },
});

import type { ApplyState } from '../src/apply/state.js';
import type { Host } from '../src/config/types.js';
import { perHost } from '../src/pipeline/index.js';
import { connect } from '../src/ssh/index.js';

export const connectPhase = perHost<ApplyState, Host>({
  title: 'Connect to hosts',
  readOnly: true,
  async run(host, ctx) {
    // Ctrl-C aborts the handshake, but a connection once open stays usable: the cleanups (releasing
    // the lock) run over it after the cancel.
    const handshake = new AbortController();
    const abort = () => handshake.abort(ctx.signal.reason);
    ctx.signal.addEventListener('abort', abort, { once: true });
    let remote;
    try {
      remote = await connect(host.ssh, {
        ...ctx.state.ssh,
        signal: handshake.signal,
        onEvent: (msg) => ctx.log.debug(msg),
      });
    } finally {
      ctx.signal.removeEventListener('abort', abort);
    }
    ctx.state.remotes.set(host.name, remote);
    ctx.log.info(remote.isRoot ? 'connected' : `connected as ${remote.user} (sudo -n works)`);
  },
  // After a failure later on, the Disconnect phase never runs: close what is open here.
  async cleanup(host, ctx) {
    const remote = ctx.state.remotes.get(host.name);
    ctx.state.remotes.delete(host.name);
    await remote?.close();
  },
});

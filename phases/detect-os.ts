import type { ApplyState } from '../src/apply/state.js';
import { remoteOf } from '../src/apply/state.js';
import type { Host } from '../src/config/types.js';
import { perHost } from '../src/pipeline/index.js';
import { runFactsScript } from '../src/apply/facts.js';

export const detectOsPhase = perHost<ApplyState, Host>({
  title: 'Detect host operating systems',
  readOnly: true,
  async run(host, ctx) {
    const facts = await runFactsScript(remoteOf(ctx.state, host), host, ctx.state.cluster);
    ctx.state.facts.set(host.name, facts);
    const tools = [
      facts.keepalived.present ? `keepalived ${facts.keepalived.version ?? '?'}` : 'no keepalived',
      facts.iptables.present ? `iptables ${facts.iptables.version ?? '?'} (${facts.iptables.backend ?? '?'})` : 'no iptables',
    ];
    ctx.log.info(`is running ${facts.os.prettyName} (${facts.arch}, init: ${facts.init}; ${tools.join(', ')})`);
  },
});

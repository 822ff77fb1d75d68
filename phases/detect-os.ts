import type { ApplyState } from '../src/apply/state.js';
import { remoteOf } from '../src/apply/state.js';
import { readOsFacts } from '../src/apply/facts.js';
import type { Host } from '../src/config/types.js';
import { perHost } from '../src/pipeline/index.js';
import { parseInit, parseOsRelease } from '../src/plan/parse-facts.js';
import { sectionMap } from '../src/contract/script.js';

export const detectOsPhase = perHost<ApplyState, Host>({
  title: 'Detect host operating systems',
  readOnly: true,
  async run(host, ctx) {
    const out = await readOsFacts(remoteOf(ctx.state, host));
    ctx.state.osFacts.set(host.name, out);
    const s = sectionMap(out);
    const line = (name: string, n: number) => (s.get(name) ?? '').split('\n')[n]?.trim() ?? '';
    // A tool's section: its path, then its version where the script asks for one (not keepalived's).
    const tool = (name: string) =>
      line(name, 1) || (line(name, 0) ? `${name} at ${line(name, 0)}` : `no ${name}`);
    ctx.log.info(
      `is running ${parseOsRelease(s.get('os') ?? '').prettyName} (${s.get('arch')?.trim() || '?'}, init: ${parseInit(s.get('init') ?? '')}; ${tool('keepalived')}, ${tool('iptables')})`,
    );
  },
});

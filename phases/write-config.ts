import type { ApplyState } from '../src/apply/state.js';
import { hostPlanOf, remoteOf } from '../src/apply/state.js';
import type { Host } from '../src/config/types.js';
import { perHost } from '../src/pipeline/index.js';
import { shq } from '../src/ssh/quote.js';

/**
 * Writes the service definition, agent.json and keepalived.conf, each atomically (temp file,
 * mode, rename), secrets at 0600. A file whose sha256 already matches is not touched.
 */
export const writeConfigPhase = perHost<ApplyState, Host>({
  title: 'Write configuration',
  async dryRun(host, ctx) {
    const changes = ctx.state.diff!.hosts.find((h) => h.host === host.name)!.files.slice(1);
    for (const f of changes)
      if (f.change !== 'unchanged') ctx.log.debug(`would write ${f.path} (${f.change})`);
  },
  async run(host, ctx) {
    const hp = hostPlanOf(ctx.state, host);
    const remote = remoteOf(ctx.state, host);
    await remote.exec(
      hp.directories
        .map((d) => `mkdir -p ${shq(d.path)} && chmod ${d.mode.toString(8)} ${shq(d.path)}`)
        .join(' && '),
    );
    const written = ctx.state.written.get(host.name)!;
    const results = await Promise.all(
      hp.files
        .filter((f) => f.content !== undefined)
        .map(async (f) => ({
          f,
          res: await remote.upload(f.path, f.content!, { mode: f.mode, owner: f.owner, group: f.group }),
        })),
    );
    for (const { f, res } of results) if (res.changed) written.add(f.path);
    const changed = results.filter((r) => r.res.changed).map((r) => r.f.path);
    ctx.log.info(changed.length ? `wrote ${changed.join(', ')}` : 'configuration is current');
  },
});

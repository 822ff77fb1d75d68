import type { ApplyState } from '../src/apply/state.js';
import { hostPlanOf, remoteOf } from '../src/apply/state.js';
import type { Host } from '../src/config/types.js';
import { perHost } from '../src/pipeline/index.js';
import type { FileMeta } from '../src/apply/current-files.js';
import type { PlannedFile } from '../src/plan/plan.js';
import { metadataMatches } from '../src/ssh/commands.js';
import { shq } from '../src/ssh/quote.js';

/**
 * Writes the service definition, agent.json and keepalived.conf, each atomically (temp file,
 * mode, rename), secrets at 0600. A file whose content, mode and owner already match is not touched.
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
    // What the plan read is what is there (the lock is held): only what differs costs a round trip.
    const meta = ctx.state.currentMeta.get(host.name) ?? new Map<string, FileMeta>();
    const current = ctx.state.current.get(host.name);
    const dirs = hp.directories.filter((d) => meta.get(d.path)?.mode !== d.mode.toString(8));
    if (dirs.length)
      await remote.exec(
        dirs.map((d) => `mkdir -p ${shq(d.path)} && chmod ${d.mode.toString(8)} ${shq(d.path)}`).join(' && '),
      );
    const isCurrent = (f: PlannedFile) => {
      const m = meta.get(f.path);
      return (
        current?.get(f.path) === f.content &&
        m !== undefined &&
        metadataMatches(m, { mode: f.mode, owner: f.owner, group: f.group })
      );
    };
    const written = ctx.state.written.get(host.name)!;
    const results = await Promise.all(
      hp.files
        .filter((f) => f.content !== undefined && !isCurrent(f))
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

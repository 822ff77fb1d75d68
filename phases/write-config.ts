import type { ApplyState } from '../src/apply/state.js';
import { hostPlanOf, remoteOf } from '../src/apply/state.js';
import { discardStaged, markStaged } from '../src/apply/staging.js';
import { stagedPath } from '../src/contract/paths.js';
import type { Host } from '../src/config/types.js';
import { perHost } from '../src/pipeline/index.js';
import type { FileMeta } from '../src/apply/current-files.js';
import type { PlannedFile } from '../src/plan/plan.js';
import { metadataMatches } from '../src/ssh/index.js';
import { shq } from '../src/contract/quote.js';

/**
 * Stages the service definition, agent.json and keepalived.conf beside their targets (each written
 * atomically and checked, secrets at 0600). Nothing takes effect here: Start services switches them
 * in once every host has staged everything. A file whose content, mode and owner already match is
 * not touched.
 */
export const writeConfigPhase = perHost<ApplyState, Host>({
  title: 'Stage configuration',
  async dryRun(host, ctx) {
    const changes = ctx.state.diff!.hosts.find((h) => h.host === host.name)!.files.slice(1);
    for (const f of changes)
      if (f.change !== 'unchanged') ctx.log.debug(`would stage ${f.path} (${f.change})`);
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
    const changing = hp.files.filter((f) => f.content !== undefined && !isCurrent(f));
    await Promise.all(
      changing.map((f) =>
        remote.upload(stagedPath(f.path), f.content!, { mode: f.mode, owner: f.owner, group: f.group }),
      ),
    );
    // Staged whether or not this upload wrote it: a staged copy left by a cut run counts too.
    for (const f of changing) markStaged(ctx.state, host, { path: f.path });
    ctx.log.info(
      changing.length ? `staged ${changing.map((f) => f.path).join(', ')}` : 'configuration is current',
    );
  },
  cleanup: (host, ctx) => discardStaged(ctx.state, host),
});

/**
 * Staged writes. Apply puts every changed file beside its target under a staged name on every host
 * first; only when all hosts have all of theirs does it switch them in (rename) and reload, in the
 * order the plan's rollout gives. A run that fails before the switch leaves each host on the files it
 * had, and a re-run stages again.
 */
import { posix } from 'node:path';
import type { Host } from '../config/types.js';
import { stagedPath } from '../contract/paths.js';
import { shq } from '../contract/quote.js';
import { writeHashStampScript } from './current-files.js';
import { remoteOf, type ApplyState, type StagedFile } from './state.js';

/**
 * Checks that every staged file is there before it moves any (a host that lost one switches nothing),
 * renames them into place, writes the agent's hash stamp for the file now in place (a rename changes
 * its ctime), and syncs the directories so the switch survives a crash of the host.
 */
export function switchScript(files: readonly StagedFile[]): string {
  if (files.length === 0) return 'true';
  const staged = files.map((f) => shq(stagedPath(f.path))).join(' ');
  const dirs = [...new Set(files.map((f) => shq(posix.dirname(f.path))))].join(' ');
  return [
    `for f in ${staged}; do [ -f "$f" ] || { echo "staged file $f is missing: run apply again" >&2; exit 3; }; done`,
    ...files.map((f) => {
      const move = `mv -f -- ${shq(stagedPath(f.path))} ${shq(f.path)}`;
      return f.stampSha256 ? `${move} && ${writeHashStampScript(f.path, f.stampSha256)}` : move;
    }),
    // busybox sync may take no operands: then all of it.
    `{ sync -- ${dirs} 2>/dev/null || sync; }`,
  ].join(' &&\n');
}

export function discardScript(paths: readonly string[]): string {
  return `rm -f -- ${paths.map((p) => shq(stagedPath(p))).join(' ')}`;
}

/** Records a file as staged on the host (and as a change of this run). */
export function markStaged(state: ApplyState, host: Host, file: StagedFile): void {
  let staged = state.staged.get(host.name);
  if (!staged) state.staged.set(host.name, (staged = new Map()));
  staged.set(file.path, file);
  state.written.get(host.name)?.add(file.path);
}

/** Switches in what is staged on the host, of `only` those paths when given; returns what moved. */
export function takeStaged(state: ApplyState, host: Host, only?: (path: string) => boolean): StagedFile[] {
  const staged = state.staged.get(host.name);
  if (!staged) return [];
  const files = [...staged.values()].filter((f) => !only || only(f.path));
  for (const f of files) staged.delete(f.path);
  return files;
}

/** A cleanup: removes what a failed or cancelled run staged and never switched. */
export async function discardStaged(state: ApplyState, host: Host): Promise<void> {
  const files = takeStaged(state, host);
  if (files.length === 0) return;
  await remoteOf(state, host).exec(discardScript(files.map((f) => f.path)), { timeoutMs: 15_000 });
}

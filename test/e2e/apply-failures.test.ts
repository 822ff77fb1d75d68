/**
 * The apply pipeline when things go wrong on real lab hosts: two applies racing for the host locks,
 * a third party holding one, and a connection killed between phases.
 */
import { describe, expect, it } from 'vitest';
import { connectPhase } from '../../phases/connect.js';
import { detectOsPhase } from '../../phases/detect-os.js';
import { acquireLockPhase } from '../../phases/acquire-lock.js';
import { gatherFactsPhase } from '../../phases/gather-facts.js';
import { planPhase } from '../../phases/plan.js';
import { releaseLockPhase } from '../../phases/release-lock.js';
import { disconnectPhase } from '../../phases/disconnect.js';
import { applyPhases } from '../../src/flows/apply.js';
import type { Host } from '../../src/config/types.js';
import { loadCluster } from '../../src/config/load.js';
import { labExec } from '../../src/lab/index.js';
import { acquireScript, releaseScript } from '../../src/lock/host-lock.js';
import { perHost, runPipeline, type Phase, type PipelineEvent } from '../../src/pipeline/index.js';
import { assertLockHeld, type ApplyState } from '../../src/apply/state.js';
import { CplbError } from '../../src/core/errors.js';
import { applyArgs, cli, type CliResult, useLab } from './apply-support.js';
import { applyState, killSshSessions, lockState, type RunTimes, runTimes } from './apply-failures-support.js';

const LAB = 't-fail';
const lab = useLab(LAB);
const controllers = () => lab().hosts.filter((h) => h.role === 'controller');

const dryRunJson = () => cli(applyArgs(lab(), '--dry-run', '-o', 'json'));
const locksLeft = async () =>
  (
    await Promise.all(controllers().map(async (h) => ((await lockState(LAB, h.name)) ? h.name : null)))
  ).filter(Boolean);

/** A run that lost must say why; a run that won must have held every lock from acquire to release. */
function outcomeOf(res: CliResult): RunTimes | 'locked' {
  const text = res.stdout + res.stderr;
  if (res.code === 0) return runTimes(res.stdout);
  expect(res.code, text).toBe(1);
  expect(text).toContain('locked by');
  expect(text).not.toContain('"phase":"Gather host facts"');
  return 'locked';
}

describe('two applies at once', () => {
  it('never both hold a host: each run either wins every lock or fails naming the holder', async () => {
    const tally = { one: 0, both: 0, none: 0 };
    for (let round = 0; round < 5; round++) {
      const [resA, resB] = await Promise.all([dryRunJson(), dryRunJson()]);
      const [a, b] = [outcomeOf(resA), outcomeOf(resB)];
      if (a !== 'locked' && b !== 'locked') {
        // Both won: only possible one after the other, never with overlapping lock holds.
        expect(a.releaseStart < b.acquireEnd || b.releaseStart < a.acquireEnd, JSON.stringify({ a, b })).toBe(
          true,
        );
        tally.both++;
      } else if (a === 'locked' && b === 'locked') tally.none++;
      else tally.one++;
      expect(await locksLeft()).toEqual([]);
    }
    // Both meet on the first host in name order (the gate), so two racing runs never shut each other out.
    expect(tally.none, JSON.stringify(tally)).toBe(0);
    // ...and the runs did race (started together, one lost to the other) in at least one round.
    expect(tally.one, JSON.stringify(tally)).toBeGreaterThan(0);
  }, 60_000);

  it('both fail clearly while a third party holds one host, and leave only that lock', async () => {
    // The last host in lock order: whichever run passes the gate first runs into it.
    const held = controllers()[2]!;
    const owner = {
      owner: 'ops@elsewhere',
      pid: 4242,
      token: 'third-party',
      command: 'manual',
      startedAt: 'now',
    };
    await labExec(LAB, held.name, ['sh', '-c', acquireScript(owner)]);
    try {
      const runs = await Promise.all([dryRunJson(), dryRunJson()]);
      for (const res of runs) {
        expect(res.code).toBe(1);
        expect(res.stdout).toContain('"msg":"locked by');
        expect(res.stdout).toContain('"code":"HOST_LOCKED"');
      }
      const namingThirdParty = runs.filter((r) =>
        r.stdout.includes('locked by ops@elsewhere (pid 4242, `manual`'),
      );
      expect(namingThirdParty.length).toBeGreaterThanOrEqual(1);
      expect(namingThirdParty[0]!.stdout).toContain(`"host":"${held.address}:${held.sshPort}"`);
      expect(await locksLeft()).toEqual([held.name]);
      expect(await lockState(LAB, held.name)).toContain('token=third-party');
    } finally {
      await labExec(LAB, held.name, ['sh', '-c', releaseScript('third-party')]);
    }
  });
});

describe('a connection killed between the lock and the plan', () => {
  it('fails naming host and phase, frees the other hosts, and the stale lock is broken later', async () => {
    const { cluster } = loadCluster(lab().clusterFile);
    const cut = cluster.controllers[1]!;
    const cutName = lab().hosts.find((h) => `${h.address}:${h.sshPort}` === cut.name)!.name;
    const cutPhase = perHost<ApplyState, Host>({
      title: 'Cut one host',
      readOnly: true,
      hosts: (ctx) => ctx.hosts.filter((h) => h.name === cut.name),
      run: async () => expect(await killSshSessions(LAB, cutName)).toBeGreaterThan(0),
    });
    const phases: Phase<ApplyState, Host>[] = [
      connectPhase,
      detectOsPhase,
      acquireLockPhase,
      gatherFactsPhase,
      cutPhase,
      planPhase,
      releaseLockPhase,
      disconnectPhase,
    ];
    const events: PipelineEvent[] = [];
    const first = await applyState(cluster, lab().knownHosts, 2);
    const err = await runPipeline({
      phases,
      hosts: cluster.controllers,
      state: first,
      dryRun: true,
      reporters: [{ onEvent: (e) => events.push(e) }],
      cleanupTimeoutMs: 3000,
    }).then(
      () => null,
      (e: unknown) => e,
    );
    const runEnded = Date.now();
    expect(err).toBeInstanceOf(CplbError);
    expect(err).toMatchObject({ phase: 'Plan the changes', host: cut.name });
    expect((err as Error).message).toContain(`${cut.name}: `);
    const hostError = events.find((e) => e.type === 'host-error');
    expect(hostError).toMatchObject({
      host: cut.name,
      phase: 'Plan the changes',
      code: 'SSH_CHANNEL_CLOSED',
    });

    // Released where the connection lived; left on the cut host, which release could not reach.
    expect(await locksLeft()).toEqual([cutName]);
    expect(await lockState(LAB, cutName)).toContain(`token=${first.lock.owner.token}`);

    // Still fresh: a new run is refused, naming the dead run as holder.
    const early = await runPipeline({
      phases: applyPhases,
      hosts: cluster.controllers,
      state: await applyState(cluster, lab().knownHosts, 60),
      dryRun: true,
    }).catch((e: unknown) => e);
    expect(early).toMatchObject({
      host: cut.name,
      message: expect.stringContaining(`locked by ${first.lock.owner.owner} (pid ${process.pid}`),
    });

    // Once unrefreshed for longer than the TTL, the next run breaks it and goes through.
    await new Promise((r) => setTimeout(r, Math.max(0, 3100 - (Date.now() - runEnded))));
    const later: PipelineEvent[] = [];
    await runPipeline({
      phases: applyPhases,
      hosts: cluster.controllers,
      state: await applyState(cluster, lab().knownHosts, 2),
      dryRun: true,
      reporters: [{ onEvent: (e) => later.push(e) }],
    });
    expect(later).toContainEqual(
      expect.objectContaining({
        host: cut.name,
        level: 'warn',
        msg: expect.stringContaining(`broke a stale lock of ${first.lock.owner.owner} (pid ${process.pid})`),
      }),
    );
    expect(await locksLeft()).toEqual([]);
    const cliRun = await cli(applyArgs(lab(), '--dry-run'));
    expect(cliRun.code, cliRun.stdout + cliRun.stderr).toBe(0);
    expect(await locksLeft()).toEqual([]);
  }, 40_000);
});

describe('a lock taken from under a running apply', () => {
  it('stops the run before its first change and fails naming the run that took it', async () => {
    const { cluster } = loadCluster(lab().clusterFile);
    const victim = cluster.controllers[2]!;
    const victimName = lab().hosts.find((h) => `${h.address}:${h.sshPort}` === victim.name)!.name;
    const thief = { owner: 'ops@elsewhere', pid: 4242, token: 'thief', command: 'apply', startedAt: 'now' };
    // A real (not dry) apply with a 3 s TTL, so the lock is refreshed every second.
    const state: ApplyState = { ...(await applyState(cluster, lab().knownHosts, 3)), dryRun: false };
    // Another run takes the victim's lock, then we wait for a refresh to notice.
    const steal: Phase<ApplyState, Host> = {
      title: 'Another run takes one lock',
      readOnly: true,
      async run() {
        // A TTL of -1: it finds our lock stale whatever its age and breaks it, in one step.
        await labExec(LAB, victimName, ['sh', '-c', acquireScript(thief, -1)]);
        const lost = () => (state.lock as { lost?: unknown }).lost !== undefined;
        for (let i = 0; i < 100 && !lost(); i++) await new Promise((r) => setTimeout(r, 100));
      },
    };
    const at = applyPhases.findIndex((p) => p.title === 'Prepare hosts');
    const phases = [...applyPhases.slice(0, at), steal, ...applyPhases.slice(at)];
    const events: PipelineEvent[] = [];
    try {
      const err = await runPipeline({
        phases,
        hosts: cluster.controllers,
        state,
        // As the CLI runs it (src/commands/apply.ts).
        beforePhase: () => assertLockHeld(state),
        reporters: [{ onEvent: (e) => events.push(e) }],
        cleanupTimeoutMs: 3000,
      }).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(CplbError);
      expect(err).toMatchObject({ code: 'LOCK_LOST', host: victim.name, exitCode: 1 });
      expect((err as Error).message).toContain('ops@elsewhere (pid 4242, `apply`');
      // Nothing after the theft started, and nothing was written anywhere.
      const started = events.flatMap((e) => (e.type === 'phase-start' ? [e.phase] : []));
      expect(started.at(-1)).toBe('Another run takes one lock');
      for (const h of controllers()) {
        const there = 'for p in /etc/cplb /usr/local/lib/cplb; do [ ! -e $p ] || echo $p; done';
        expect((await labExec(LAB, h.name, ['sh', '-c', there])).stdout).toBe('');
      }
      // Our other locks were released; the thief's lock is left to the thief.
      expect(await locksLeft()).toEqual([victimName]);
      expect(await lockState(LAB, victimName)).toContain('token=thief');
    } finally {
      await labExec(LAB, victimName, ['sh', '-c', releaseScript('thief')]);
    }
  }, 60_000);
});

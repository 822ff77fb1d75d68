/**
 * The supervisor's backoff state, with a real child that exits at once (`false` standing in for a
 * keepalived that cannot start): status says how many failures in a row and when the next start is.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { KeepalivedSupervisor } from '../../src/agent/keepalived.js';
import { createLogger } from '../../src/agent/log.js';

let dir: string | undefined;
let supervisor: KeepalivedSupervisor | undefined;
afterEach(async () => {
  await supervisor?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const waitFor = async (what: string, ok: () => boolean, ms = 5000) => {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

describe('KeepalivedSupervisor backoff state', () => {
  it('counts failures in a row and says when the next start is due; stop clears it', async () => {
    dir = mkdtempSync(join(tmpdir(), 'cplb-backoff-'));
    supervisor = new KeepalivedSupervisor({
      binary: 'false',
      configPath: join(dir, 'keepalived.conf'),
      pidDir: dir,
      backoff: { initialMs: 300, maxMs: 10_000 },
      log: createLogger('error', () => undefined),
    });
    const t0 = Date.now();
    await supervisor.start();
    await waitFor(
      'the first restart to be scheduled',
      () => supervisor!.status().nextRestartAt !== undefined,
    );
    const first = supervisor.status();
    expect(first.running).toBe(false);
    expect(first.consecutiveFailures).toBe(1);
    expect(Date.parse(first.nextRestartAt!)).toBeGreaterThanOrEqual(t0 + 300);
    await waitFor('the second failure', () => supervisor!.status().consecutiveFailures === 2);
    const second = supervisor.status();
    // Doubled: the second wait is 600 ms from the second exit.
    expect(Date.parse(second.nextRestartAt!) - Date.parse(second.lastExit!.at)).toBeGreaterThanOrEqual(550);
    await supervisor.stop();
    expect(supervisor.status().nextRestartAt).toBeUndefined();
  });
});

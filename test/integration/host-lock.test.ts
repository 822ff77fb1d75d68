/**
 * The host lock's scripts on a real host (this machine, over a real sshd): racing runs that all find a
 * stale lock, and lock directories another user could have prepared.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { acquireScript, parseAcquire, refreshScript, type LockOwner } from '../../src/lock/host-lock.js';
import { connect, type Remote } from '../../src/ssh/index.js';
import { shq } from '../../src/contract/quote.js';
import { makeKeyPair, startSshd, tempDir, type KeyPair, type Sshd } from './ssh-fixture.js';

const RACERS = 6;
const ROUNDS = 5;

let dir: string;
let key: KeyPair;
let sshd: Sshd;
/** One connection per racing run, as separate cplbctl processes would have. */
let remotes: Remote[] = [];

const owner = (name: string): LockOwner => ({
  owner: `${name}@test`,
  pid: 1000,
  token: `token-${name}`,
  command: 'apply',
  startedAt: 'now',
});

/**
 * Widens the window between reading the lock's age and acting on it, as a slow or busy host does:
 * every `stat` the script runs pauses a little afterwards.
 */
const SLOW_STAT = 'stat() { command stat "$@"; s=$?; sleep 0.3; return $s; }';

beforeAll(async () => {
  dir = tempDir();
  key = makeKeyPair(dir, 'id');
  sshd = await startSshd({ authorizedKeys: [key.pub], extraConfig: ['MaxSessions 20'] });
  const knownHosts = join(dir, 'known_hosts');
  const { writeFileSync } = await import('node:fs');
  writeFileSync(knownHosts, sshd.knownHostsLine() + '\n');
  remotes = await Promise.all(
    Array.from({ length: RACERS }, () =>
      connect(
        { address: sshd.address, port: sshd.port, keyPath: key.path },
        { knownHostsFiles: [knownHosts], sshConfigPath: join(dir, 'none'), commandTimeoutMs: 30_000 },
      ),
    ),
  );
}, 30_000);

afterAll(async () => {
  await Promise.all(remotes.map((r) => r.close()));
  await sshd?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('breaking a stale lock', () => {
  it(`lets exactly one of ${RACERS} racing runs proceed, every time`, async () => {
    const winners: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const base = mkdtempSync(join(dir, 'lock-'));
      const lockDir = join(base, 'cplbctl');
      // A run that died long ago left its lock.
      const dead = await remotes[0]!.exec(acquireScript(owner('dead'), 60, lockDir));
      expect(parseAcquire(dead.stdout).acquired, dead.stdout).toBe(true);
      await remotes[0]!.exec(`find ${shq(base)} -exec touch -h -d @1000000000 {} +`);

      const results = await Promise.all(
        remotes.map((r, i) => r.exec(`${SLOW_STAT}\n${acquireScript(owner(`run${i}`), 60, lockDir)}`)),
      );
      const won = results.map((r) => parseAcquire(r.stdout)).filter((r) => r.acquired);
      winners.push(won.length);
      // The one that proceeds really holds it: its refresh succeeds, every other run's says lost.
      const refreshed = await Promise.all(
        remotes.map(async (r, i) => (await r.exec(refreshScript(`token-run${i}`, lockDir))).stdout.trim()),
      );
      expect(refreshed.filter((s) => s === 'ok')).toHaveLength(1);
    }
    expect(winners).toEqual(Array.from({ length: ROUNDS }, () => 1));
  }, 120_000);
});

describe('the lock directory', () => {
  it.each([
    ['writable by everyone', 'chmod 1777'],
    ['owned by another user', 'chown nobody'],
  ])('is refused when %s, and left as it was', async (_what, prepare) => {
    const base = mkdtempSync(join(dir, 'unsafe-'));
    const lockDir = join(base, 'cplbctl');
    await remotes[0]!.exec(`mkdir ${shq(lockDir)} && ${prepare} ${shq(lockDir)}`);
    const res = await remotes[0]!.exec(acquireScript(owner('me'), 60, lockDir));
    const result = parseAcquire(res.stdout);
    expect(result, res.stdout).toMatchObject({ acquired: false, refused: expect.stringContaining(lockDir) });
    const ls = await remotes[0]!.exec(`ls -A ${shq(lockDir)}`);
    expect(ls.stdout).toBe('');
  });
});

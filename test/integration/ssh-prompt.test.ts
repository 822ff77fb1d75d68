import { spawn } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeKeyPair, startSshd, tempDir, type KeyPair, type Sshd } from './ssh-fixture.js';

/**
 * The passphrase prompt on a real terminal: `script` gives the child a pty, the test types the
 * passphrase when asked and checks it was neither echoed nor needed twice.
 */

let dir: string;
let key: KeyPair;
let sshd: Sshd;
const PASSPHRASE = 'typed at the prompt';

beforeAll(async () => {
  dir = tempDir();
  key = makeKeyPair(dir, 'id_encrypted', { passphrase: PASSPHRASE });
  sshd = await startSshd({ authorizedKeys: [key.pub] });
  writeFileSync(join(dir, 'known_hosts'), sshd.knownHostsLine() + '\n');
});

afterAll(async () => {
  await sshd?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('passphrase prompt', () => {
  it('asks once on a TTY, without echo, and connects', async () => {
    const runner = join(dir, 'runner.mts');
    const api = resolve('src/ssh/index.ts');
    writeFileSync(
      runner,
      `import { connect } from ${JSON.stringify(api)};
const opts = { knownHostsFiles: [${JSON.stringify(join(dir, 'known_hosts'))}], sshConfigPath: '/dev/null' };
const target = { address: '127.0.0.1', port: ${sshd.port}, keyPath: ${JSON.stringify(key.path)} };
// Two hosts at once share one prompt.
const remotes = await Promise.all([connect(target, opts), connect(target, opts)]);
for (const r of remotes) process.stdout.write((await r.exec('echo connected-$((20+22))')).stdout);
await Promise.all(remotes.map((r) => r.close()));
`,
    );
    const env = { ...process.env };
    delete env.CPLBCTL_SSH_PASSPHRASE;
    delete env.SSH_AUTH_SOCK;
    const tsx = resolve('node_modules/.bin/tsx');
    const child = spawn('script', ['-qec', `${tsx} ${runner}`, '/dev/null'], {
      env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let output = '';
    let prompts = 0;
    child.stdout.on('data', (d: Buffer) => {
      output += d.toString();
      const asked = (output.match(/Passphrase for /g) ?? []).length;
      if (asked > prompts) {
        prompts = asked;
        child.stdin.write(`${PASSPHRASE}\r`);
      }
    });
    const code = await new Promise<number | null>((r) => child.on('close', r));
    child.stdin.destroy();
    expect(output).toContain(`Passphrase for ${key.path}`);
    expect(prompts).toBe(1);
    expect(output.match(/connected-42/g)).toHaveLength(2);
    expect(output).not.toContain(PASSPHRASE);
    expect(code).toBe(0);
  });
});

/** The options every host-reaching command shares: parsed by commander as a user types them. */
import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { addRunOptions, sshSettingsOf, type RunOptions } from '../../src/commands/run-options.js';
import { CplbError } from '../../src/core/errors.js';

function parse(argv: string[]): RunOptions {
  const cmd = addRunOptions(new Command('status').exitOverride());
  cmd.parse(argv, { from: 'user' });
  return cmd.opts<RunOptions>();
}

describe('run options', () => {
  it('--command-timeout and --connect-timeout reach the SSH settings in milliseconds', () => {
    expect(sshSettingsOf(parse([]))).toMatchObject({ connectTimeoutMs: 10_000, commandTimeoutMs: 120_000 });
    expect(sshSettingsOf(parse(['--command-timeout', '7', '--connect-timeout', '3']))).toMatchObject({
      connectTimeoutMs: 3_000,
      commandTimeoutMs: 7_000,
    });
  });

  it('refuses a timeout that is not a whole number of seconds above 0 (a usage error, exit 2)', () => {
    for (const bad of ['0', '-1', '1.5', 'soon']) {
      try {
        parse(['--command-timeout', bad]);
        expect.unreachable(bad);
      } catch (err) {
        expect(err).toBeInstanceOf(CplbError);
        expect((err as CplbError).message).toBe(`--command-timeout ${bad}: expected a whole number above 0`);
        expect((err as CplbError).exitCode).toBe(2);
      }
    }
  });
});

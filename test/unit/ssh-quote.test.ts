import { execFileSync, spawnSync } from 'node:child_process';
import { realpathSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { shJoin, shq } from '../../src/contract/quote.js';
import { withSudo } from '../../src/ssh/commands.js';

// The property runs through the real /bin/sh (dash on Debian, the remote shell we target).
const SH = '/bin/sh';

/** Runs a command line the way sshd does (`sh -c line`) and returns its stdout bytes. */
function sh(line: string, env: NodeJS.ProcessEnv = {}): Buffer {
  return execFileSync(SH, ['-c', line], { env: { PATH: process.env.PATH, ...env } });
}

// Characters that mean something to a shell, plus newlines, unicode and control bytes.
const hostile = fc
  .oneof(
    fc.string({
      unit: fc.constantFrom(...Array.from(`'"\`$(){}[]<>|&;*?~#!\\ \t\n\r=%^,:@-.\u00e9\u{1F600}\x01\x7f`)),
    }),
    fc.string({ unit: 'grapheme' }),
    fc.string({ unit: 'binary' }),
  )
  .map((s) => s.replaceAll('\0', ''));

describe('shq', () => {
  it('uses dash as /bin/sh here, so the property proves what remote hosts see', () => {
    expect(realpathSync(SH)).toMatch(/dash$/);
  });

  it('round-trips any string through a real sh -c unchanged', () => {
    fc.assert(
      fc.property(hostile, (s) => {
        expect(sh(`printf '%s' ${shq(s)}`).toString('utf8')).toBe(s);
      }),
      { numRuns: 300 },
    );
  });

  it('round-trips whole argv lists through shJoin, word boundaries intact', () => {
    fc.assert(
      fc.property(fc.array(hostile, { maxLength: 6 }), (argv) => {
        const out = sh(shJoin(['printf', '%s\\0', ...argv]) + (argv.length ? '' : ' ""')).toString('utf8');
        const words = out.split('\0').slice(0, -1);
        expect(words).toEqual(argv.length ? argv : ['']);
      }),
      { numRuns: 200 },
    );
  });

  it('survives the double quoting of the sudo wrapper', () => {
    fc.assert(
      fc.property(hostile, (s) => {
        // A stand-in sudo: drop `-n`, exec the rest, exactly what real sudo does with argv.
        const line = withSudo(`printf '%s' ${shq(s)}`).replace(/^sudo -n /, '');
        expect(sh(line).toString('utf8')).toBe(s);
      }),
      { numRuns: 200 },
    );
  });

  it('leaves plain words bare for readable commands, and quotes what the shell would touch', () => {
    expect(shJoin(['systemctl', 'restart', 'cplb-agent.service'])).toBe(
      'systemctl restart cplb-agent.service',
    );
    expect(shq('')).toBe("''");
    expect(shq('a b')).toBe("'a b'");
    expect(shq("it's")).toBe(`'it'\\''s'`);
    expect(shq('FOO=bar')).toBe("'FOO=bar'");
    expect(shq('~root')).toBe("'~root'");
    expect(shq('if')).toBe("'if'");
    // Bare, `FOO=bar` would be a silent assignment; quoted it is a command that does not exist.
    expect(spawnSync(SH, ['-c', shJoin(['FOO=bar'])]).status).toBe(127);
  });

  it('does not let reserved words or assignments change the parse', () => {
    for (const word of ['if', 'then', 'fi', 'done', '!', '{', 'A=1']) {
      expect(sh(shJoin(['printf', '%s', word])).toString()).toBe(word);
    }
  });

  it('rejects NUL, which no argv can carry', () => {
    expect(() => shq('a\0b')).toThrow(/NUL/);
    expect(() => shJoin(['ok', 'x\0'])).toThrow(/NUL/);
  });
});

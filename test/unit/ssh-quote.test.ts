import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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

/**
 * Runs command lines through one real `sh -c`, one line each, and returns each line's stdout: line
 * i writes it to its own file, so no output can bleed into another's. A process per case made
 * these properties the slowest unit file; a quoting bug still shows as a wrong output or a syntax
 * error of the whole script.
 */
function shEach(lines: string[]): string[] {
  const dir = mkdtempSync(join(tmpdir(), 'cplb-shq-'));
  try {
    execFileSync(SH, ['-c', lines.map((line, i) => `${line} >${i}`).join('\n')], {
      cwd: dir,
      env: { PATH: process.env.PATH },
    });
    return lines.map((_, i) => readFileSync(join(dir, String(i)), 'utf8'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Each property run checks a batch of cases in one shell; runs x BATCH = the cases checked. */
const BATCH = 10;
const batch = <T>(arb: fc.Arbitrary<T>) => fc.array(arb, { minLength: BATCH, maxLength: BATCH });

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
      fc.property(batch(hostile), (strings) => {
        expect(shEach(strings.map((s) => `printf '%s' ${shq(s)}`))).toEqual(strings);
      }),
      { numRuns: 300 / BATCH },
    );
  });

  it('round-trips whole argv lists through shJoin, word boundaries intact', () => {
    fc.assert(
      fc.property(batch(fc.array(hostile, { maxLength: 6 })), (argvs) => {
        const outs = shEach(
          argvs.map((argv) => shJoin(['printf', '%s\\0', ...argv]) + (argv.length ? '' : ' ""')),
        );
        const words = outs.map((out) => out.split('\0').slice(0, -1));
        expect(words).toEqual(argvs.map((argv) => (argv.length ? argv : [''])));
      }),
      { numRuns: 200 / BATCH },
    );
  });

  it('survives the double quoting of the sudo wrapper', () => {
    fc.assert(
      fc.property(batch(hostile), (strings) => {
        // A stand-in sudo: drop `-n`, exec the rest, exactly what real sudo does with argv.
        const lines = strings.map((s) => withSudo(`printf '%s' ${shq(s)}`).replace(/^sudo -n /, ''));
        expect(shEach(lines)).toEqual(strings);
      }),
      { numRuns: 200 / BATCH },
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

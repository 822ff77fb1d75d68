import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fitsCommandShell, MarkerScanner, newMarker, shellRequest } from '../../src/ssh/command-shell.js';

describe('MarkerScanner', () => {
  it('finds the end marker however the stream is cut into chunks', () => {
    const marker = newMarker();
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 300 }),
        fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 30 }),
        (output, cuts) => {
          const stream = Buffer.concat([Buffer.from(output), Buffer.from(`\n${marker}:17\n`)]);
          const scanner = new MarkerScanner(marker);
          let at = 0;
          for (let i = 0; at < stream.length; i++) {
            const size = cuts[i % cuts.length]!;
            scanner.push(stream.subarray(at, at + size));
            at += size;
          }
          expect(scanner.output()).toEqual(Buffer.from(output));
          expect(scanner.afterMarker()).toBe(':17');
        },
      ),
    );
  });

  it('has no status until the marker line is complete', () => {
    const scanner = new MarkerScanner('@@m');
    scanner.push(Buffer.from('out\n@@m:'));
    expect(scanner.afterMarker()).toBeUndefined();
    scanner.push(Buffer.from('0\n'));
    expect(scanner.afterMarker()).toBe(':0');
    expect(scanner.output().toString()).toBe('out');
  });
});

describe('what goes through the command shell', () => {
  it('takes short text stdin, never NUL bytes, invalid UTF-8 or large input', () => {
    expect(fitsCommandShell(undefined)).toBe(true);
    expect(fitsCommandShell('vrrp_instance a {}\n')).toBe(true);
    expect(fitsCommandShell(Buffer.from('caf\u00e9'))).toBe(true);
    expect(fitsCommandShell('a\0b')).toBe(false);
    expect(fitsCommandShell(Buffer.from([0xff, 0xfe]))).toBe(false);
    expect(fitsCommandShell('x'.repeat(64 * 1024 + 1))).toBe(false);
  });

  it('quotes the command and its stdin as data and ends both streams with the marker', () => {
    const request = shellRequest("echo '$x'", 'data', '@@m');
    expect(request).toBe(
      [
        `c='echo '\\''$x'\\'''`,
        'i=data',
        'printf %s "$i" | ( eval "$c" )',
        `s=$?; unset c i; printf '\\n%s:%s\\n' @@m "$s"; printf '\\n%s\\n' @@m >&2`,
        '',
      ].join('\n'),
    );
  });
});

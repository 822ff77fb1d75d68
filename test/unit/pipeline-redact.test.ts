import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { CplbError } from '../../src/core/errors.js';
import {
  createRedactor,
  createReporters,
  perHost,
  runPipeline,
  type PipelineEvent,
} from '../../src/pipeline/index.js';

const SECRET = 's3cr3tPW';
const PASSPHRASE = `it's "quoted"`;

function sink(tty: boolean): NodeJS.WriteStream & { text(): string } {
  let out = '';
  const stream = new Writable({
    write(chunk: Buffer | string, _enc, done) {
      out += chunk.toString();
      done();
    },
  }) as unknown as NodeJS.WriteStream & { text(): string };
  Object.assign(stream, { isTTY: tty, columns: 200, rows: 50, text: () => out });
  return stream;
}

describe('createRedactor', () => {
  it('replaces secrets, their JSON-escaped and shell-quoted spellings, longest first', () => {
    const r = createRedactor([SECRET, PASSPHRASE, `${SECRET}-longer`, '', undefined]);
    expect(r.text(`auth_pass ${SECRET} and ${SECRET}-longer`)).toBe('auth_pass [REDACTED] and [REDACTED]');
    expect(r.text(JSON.stringify({ pass: PASSPHRASE }))).toBe('{"pass":"[REDACTED]"}');
    expect(r.text(`echo 'it'\\''s "quoted"' | ssh-add`)).toBe(`echo '[REDACTED]' | ssh-add`);
  });

  it('redacts very short secrets only as whole words, so messages stay readable', () => {
    const r = createRedactor(['ab']);
    expect(r.text('auth_pass ab')).toBe('auth_pass [REDACTED]');
    expect(r.text('grab a cab')).toBe('grab a cab');
  });

  it('returns the same event object when nothing matched', () => {
    const r = createRedactor([SECRET]);
    const event: PipelineEvent = { type: 'host-message', time: 0, level: 'info', msg: 'fine' };
    expect(r.deep(event)).toBe(event);
    expect(createRedactor([]).active).toBe(false);
  });
});

describe('secrets never reach a reporter', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cplbctl-redact-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it.each(['logfmt', 'json', 'tty'] as const)('%s output and the debug log', async (output) => {
    const stream = sink(output === 'tty');
    const { reporters, logFile } = createReporters({
      output,
      stream,
      color: false,
      debug: true,
      command: `redact-${output}`,
      env: { XDG_CACHE_HOME: dir },
    });
    const phase = perHost<unknown, { name: string }>({
      title: 'Configure keepalived',
      run: async (host, ctx) => {
        ctx.log.info(`rendered auth_pass ${SECRET}`, { authPass: SECRET });
        ctx.log.debug(`ssh-add with '${PASSPHRASE.replaceAll("'", `'\\''`)}'`);
        if (host.name === 'b:22') {
          throw new CplbError(`keepalived rejected auth_pass ${SECRET}`, {
            code: 'CONFIG_TEST',
            fault: 'remote',
            hint: `check ${SECRET}`,
          });
        }
        throw new Error('upload failed', {
          cause: new Error(`stderr: bad password ${JSON.stringify(PASSPHRASE)}`),
        });
      },
    });
    let thrown: unknown;
    try {
      await runPipeline({
        phases: [phase],
        hosts: [{ name: 'a:22' }, { name: 'b:22' }],
        state: {},
        reporters,
        secrets: [SECRET, PASSPHRASE],
      });
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(CplbError);
    const outputs = [stream.text(), readFileSync(logFile!, 'utf8')];
    for (const text of outputs) {
      expect(text).toContain('[REDACTED]');
      expect(text).not.toContain(SECRET);
      expect(text).not.toContain('s3cr3t');
      expect(text).not.toContain("it's");
      expect(text).not.toContain(`it'\\''s`);
      expect(text).not.toContain('\\"quoted\\"');
    }
    // the error's cause chain made it into the output, redacted
    expect(outputs[1]).toContain('upload failed: stderr: bad password \\"[REDACTED]\\"');
    // and what the CLI catches is redacted too
    const err = thrown as Error;
    expect(err.message).not.toContain(SECRET);
    expect(err.stack).not.toContain(SECRET);
    expect(
      String((err.cause as AggregateError).errors.map((e: Error) => e.message + String(e.cause))),
    ).not.toContain('quoted');
  });
});

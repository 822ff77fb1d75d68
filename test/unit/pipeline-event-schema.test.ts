/** The `-o json` lines of a run that does everything (skips, messages with data, a failure with causes) fit the published schema. */
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { CplbError } from '../../src/core/errors.js';
import { createReporters, perHost, runPipeline } from '../../src/pipeline/index.js';
import { checkEventLines } from '../support/events.js';

const hosts = [{ name: '10.0.0.1:22' }, { name: '10.0.0.2:22' }];

function capture(): { stream: NodeJS.WriteStream; text(): string } {
  let out = '';
  const stream = new Writable({
    write(chunk: Buffer | string, _enc, done) {
      out += chunk.toString();
      done();
    },
  }) as unknown as NodeJS.WriteStream;
  return { stream, text: () => out };
}

describe('-o json event lines', () => {
  it('every line a run prints fits `cplbctl schema --events`, version 1', async () => {
    const out = capture();
    const { reporters } = createReporters({
      output: 'json',
      stream: out.stream,
      logFile: false,
      debug: true,
    });
    const phases = [
      perHost<unknown, { name: string }>({
        title: 'Read',
        readOnly: true,
        run: async (host, ctx) => {
          ctx.log.info('read', { iface: 'eth0', vips: 2, held: true, none: null });
          ctx.log.debug(`detail of ${host.name}`);
        },
      }),
      perHost<unknown, { name: string }>({ title: 'Nothing', hosts: () => [], run: async () => undefined }),
      perHost<unknown, { name: string }>({
        title: 'Change',
        run: async (host) => {
          if (host.name === '10.0.0.2:22')
            throw new CplbError('upload failed', {
              code: 'UPLOAD',
              fault: 'remote',
              hint: 'is the disk full?',
              cause: new Error('ENOSPC'),
            });
        },
      }),
    ];
    await runPipeline({ phases, hosts, state: {}, reporters }).catch(() => undefined);
    const lines = out.text();
    const { checked, problems } = checkEventLines(lines);
    expect(problems).toEqual([]);
    for (const type of ['run-start', 'phase-start', 'phase-end', 'host-message', 'host-error', 'run-end'])
      expect(lines, type).toContain(`{"type":"${type}"`);
    expect(checked).toBe(lines.trim().split('\n').length);
    expect(JSON.parse(lines.split('\n')[0]!)).toMatchObject({ type: 'run-start', schemaVersion: 1 });
  });

  it('refuses a line that breaks the contract (an unknown field, a missing one, a bad time)', () => {
    const ok = {
      type: 'phase-start',
      time: '2026-12-06T10:00:00.000Z',
      level: 'info',
      msg: 'm',
      phase: 'p',
      index: 0,
      dryRun: false,
    };
    expect(checkEventLines(JSON.stringify(ok)).problems).toEqual([]);
    const bad = [
      { ...ok, extra: 1 },
      { ...ok, index: undefined },
      { ...ok, time: 'yesterday' },
      { ...ok, type: 'phase-begin' },
    ];
    for (const line of bad)
      expect(checkEventLines(JSON.stringify(line)).problems, JSON.stringify(line)).toHaveLength(1);
  });
});

import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { CplbError } from '../../src/core/errors.js';
import {
  createReporters,
  debugLogPath,
  perHost,
  runPipeline,
  type Phase,
  type Reporter,
} from '../../src/pipeline/index.js';
import { formatLogfmt, formatLogfmtValue } from '../../src/contract/logfmt.js';

interface FakeHost {
  readonly name: string;
}
const hosts: FakeHost[] = [{ name: '10.0.0.1:22' }, { name: '10.0.0.2:22' }];

/** A stand-in for process.stdout that keeps what was written; `tty` makes it look like a terminal. */
function fakeStream(tty = false): NodeJS.WriteStream & { text(): string } {
  let out = '';
  const stream = new Writable({
    write(chunk: Buffer | string, _enc, done) {
      out += chunk.toString();
      done();
    },
  }) as unknown as NodeJS.WriteStream & { text(): string };
  Object.assign(stream, { isTTY: tty, columns: 120, rows: 40, text: () => out });
  return stream;
}

const stripAnsi = (text: string) => text.replace(/\u001b\[[0-9;?]*[A-Za-z]/g, '');

/** A small deterministic run: facts on both hosts, one host fails to configure. */
function scenario(): Phase<unknown, FakeHost>[] {
  return [
    perHost({
      title: 'Gather host facts',
      readOnly: true,
      run: async (host, ctx) => {
        ctx.log.info('discovered eth1 as private interface');
        ctx.log.debug(`uname on ${host.name}`);
      },
    }),
    perHost({
      title: 'Configure keepalived',
      run: async (host, ctx) => {
        if (host.name === '10.0.0.2:22') {
          throw new CplbError('upload failed', {
            code: 'UPLOAD',
            fault: 'remote',
            hint: 'is the disk full?',
          });
        }
        ctx.log.warn('interface has no IPv4 address', { iface: 'eth1' });
      },
    }),
  ];
}

async function run(reporters: Reporter[], phases = scenario()): Promise<unknown> {
  try {
    await runPipeline({ phases, hosts, state: {}, reporters });
  } catch (err) {
    return err;
  }
  return undefined;
}

describe('logfmt', () => {
  it('quotes like logrus: bare when safe, JSON-escaped otherwise', () => {
    expect(formatLogfmtValue('info')).toBe('info');
    expect(formatLogfmtValue('10.0.0.1')).toBe('10.0.0.1');
    expect(formatLogfmtValue('')).toBe('""');
    expect(formatLogfmtValue('a b')).toBe('"a b"');
    expect(formatLogfmtValue('k=v')).toBe('"k=v"');
    expect(formatLogfmtValue('say "hi"')).toBe('"say \\"hi\\""');
    expect(formatLogfmtValue('back\\slash')).toBe('"back\\\\slash"');
    expect(formatLogfmtValue('two\nlines')).toBe('"two\\nlines"');
    expect(formatLogfmtValue('\u001b[31mred')).toBe('"\\u001b[31mred"');
    expect(
      formatLogfmt([
        ['level', 'info'],
        ['msg', 'x'],
        ['bad key!', 3],
        ['ok', true],
      ]),
    ).toBe('level=info msg=x bad_key_=3 ok=true');
  });

  it('prints k0sctl-style lines (golden)', async () => {
    const stream = fakeStream();
    const { reporters } = createReporters({
      output: 'logfmt',
      stream,
      logFile: '/tmp/cplbctl-test/apply.log',
    });
    await run(reporters);
    const lines = stream.text().split('\n');
    expect(lines.slice(0, -3)).toEqual([
      'level=info msg="==> Running phase: Gather host facts"',
      'level=info msg="[ssh] 10.0.0.1:22: discovered eth1 as private interface"',
      'level=info msg="[ssh] 10.0.0.2:22: discovered eth1 as private interface"',
      'level=info msg="==> Running phase: Configure keepalived"',
      'level=warn msg="[ssh] 10.0.0.1:22: interface has no IPv4 address" iface=eth1',
      'level=error msg="[ssh] 10.0.0.2:22: upload failed (hint: is the disk full?)" phase="Configure keepalived" code=UPLOAD',
    ]);
    expect(lines.at(-3)).toMatch(
      /^level=error msg="==> Failed after \d+ms: Configure keepalived failed on 1 of 2 hosts: 10\.0\.0\.2:22: upload failed \(hint: is the disk full\?\)"$/,
    );
    expect(lines.at(-2)).toBe('level=info msg="Debug log: /tmp/cplbctl-test/apply.log"');
    expect(lines.at(-1)).toBe('');
  });

  it('shows debug lines only with debug, and ends a good run with "Finished in"', async () => {
    const quiet = fakeStream();
    const loud = fakeStream();
    const phases = scenario().slice(0, 1);
    await run([...createReporters({ output: 'logfmt', stream: quiet, logFile: false }).reporters], phases);
    await run(
      [...createReporters({ output: 'logfmt', stream: loud, logFile: false, debug: true }).reporters],
      phases,
    );
    expect(quiet.text()).not.toContain('level=debug');
    expect(quiet.text()).toMatch(/level=info msg="==> Finished in \d+ms"\n$/);
    expect(loud.text()).toContain('level=debug msg="[ssh] 10.0.0.2:22: uname on 10.0.0.2:22"');
    expect(loud.text()).toContain('level=debug msg="==> Finished phase: Gather host facts in ');
  });

  it('says so when a dry run skips a phase', async () => {
    const stream = fakeStream();
    const { reporters } = createReporters({ output: 'logfmt', stream, logFile: false });
    await runPipeline({ phases: scenario(), hosts, state: {}, reporters, dryRun: true });
    expect(stream.text()).toContain('level=info msg="==> Dry run: no host will be changed"\n');
    expect(stream.text()).toContain(
      'level=info msg="==> Skipping phase: Configure keepalived (dry run: changes hosts)"\n',
    );
    expect(stream.text()).toMatch(/msg="==> Finished in \d+ms \(dry run: nothing was changed\)"/);
  });
});

describe('json', () => {
  it('writes one parseable event per line with a stable shape', async () => {
    const stream = fakeStream();
    const { reporters } = createReporters({ output: 'json', stream, logFile: '/tmp/cplbctl-test/apply.log' });
    await run(reporters);
    const events = stream
      .text()
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    for (const e of events) {
      expect(Object.keys(e).slice(0, 4)).toEqual(['type', 'time', 'level', 'msg']);
      expect(new Date(e.time as string).toISOString()).toBe(e.time);
    }
    expect(events.map((e) => e.type)).toEqual([
      'run-start',
      'phase-start',
      'host-message',
      'host-message',
      'phase-end',
      'phase-start',
      'host-message',
      'host-error',
      'phase-end',
      'run-end',
    ]); // no debug messages without debug
    expect(events[2]).toMatchObject({
      level: 'info',
      msg: 'discovered eth1 as private interface',
      phase: 'Gather host facts',
      host: '10.0.0.1:22',
    });
    expect(events[6]).toMatchObject({ level: 'warn', host: '10.0.0.1:22', data: { iface: 'eth1' } });
    expect(events[7]).toMatchObject({
      level: 'error',
      msg: 'upload failed',
      host: '10.0.0.2:22',
      code: 'UPLOAD',
      fault: 'remote',
      hint: 'is the disk full?',
    });
    expect(events[8]).toMatchObject({ status: 'failed', phase: 'Configure keepalived' });
    expect(events[0]).toMatchObject({ level: 'info', hosts: ['10.0.0.1:22', '10.0.0.2:22'] });
    expect(events[9]).toMatchObject({
      level: 'error',
      ok: false,
      error: { code: 'HOSTS_FAILED' },
      logFile: '/tmp/cplbctl-test/apply.log',
    });
  });
});

describe('tty (listr2)', () => {
  it('draws phases as tasks, host lines under them, and lists host errors under the failed phase', async () => {
    const stream = fakeStream(true);
    const { reporters, format } = createReporters({
      stream,
      color: false,
      logFile: '/tmp/cplbctl-test/apply.log',
    });
    expect(format).toBe('tty');
    const phases: Phase<unknown, FakeHost>[] = [
      ...scenario(),
      { title: 'Restart keepalived', run: async () => {} },
    ];
    await run(reporters, phases);
    const text = stripAnsi(stream.text());
    const finalFrame = text.slice(text.lastIndexOf('Gather host facts') - 2);
    expect(finalFrame).toContain('✔ Gather host facts');
    expect(finalFrame).toContain('✖ Configure keepalived');
    expect(finalFrame).toContain('10.0.0.2:22: upload failed (hint: is the disk full?)');
    expect(finalFrame).toMatch(/◼ Restart keepalived/); // never started
    expect(text).toContain('10.0.0.1:22: discovered eth1 as private interface');
    expect(text).toContain('WARN 10.0.0.1:22: interface has no IPv4 address');
    expect(text).toMatch(/==> Failed after \d+ms: Configure keepalived failed on 1 of 2 hosts/);
    expect(text).toContain('Debug log: /tmp/cplbctl-test/apply.log');
    expect(stream.text()).not.toMatch(/\u001b\[3[0-9]m/); // color: false
  });

  it('marks dry-run skips and keeps what dryRun() reported on screen', async () => {
    const stream = fakeStream(true);
    const { reporters } = createReporters({ output: 'tty', stream, color: false, logFile: false });
    const upload = perHost<unknown, FakeHost>({
      title: 'Upload config',
      run: async () => {},
      dryRun: async (_host, ctx) => ctx.log.info('would write /etc/cplb/keepalived.conf'),
    });
    await runPipeline({ phases: [...scenario(), upload], hosts, state: {}, reporters, dryRun: true });
    const text = stripAnsi(stream.text());
    expect(text).toContain('Configure keepalived (skipped: dry run: changes hosts)');
    const raw = stream.text();
    const summary = stripAnsi(raw.slice(raw.lastIndexOf('\u001b[?25h'))); // below the task list
    expect(summary).toContain(
      'Dry run: Upload config\n  10.0.0.1:22: would write /etc/cplb/keepalived.conf\n  10.0.0.2:22: would write /etc/cplb/keepalived.conf\n',
    );
    expect(summary).not.toContain('discovered eth1'); // ordinary info lines are transient
    expect(text).toMatch(/==> Finished in \d+ms \(dry run: nothing was changed\)/);
  });
});

describe('tty (listr2) cancellation', () => {
  it('finishes drawing when the run is cancelled between phases', async () => {
    const stream = fakeStream(true);
    const controller = new AbortController();
    const { reporters } = createReporters({ output: 'tty', stream, color: false, logFile: false });
    const phases: Phase[] = [
      { title: 'First', run: async () => controller.abort() },
      { title: 'Second', run: async () => {} },
    ];
    const err = await runPipeline({ phases, hosts, state: {}, reporters, signal: controller.signal }).catch(
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ fault: 'cancelled' });
    const text = stripAnsi(stream.text());
    expect(text).toMatch(/==> Cancelled after \d+ms/);
  });
});

describe('createReporters', () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });

  it('picks logfmt for a pipe and listr2 for a TTY, and NO_COLOR turns colour off', async () => {
    expect(createReporters({ stream: fakeStream(false), logFile: false }).format).toBe('logfmt');
    expect(createReporters({ stream: fakeStream(true), logFile: false }).format).toBe('tty');
    const stream = fakeStream(true);
    const { reporters } = createReporters({ stream, logFile: false, env: { NO_COLOR: '1' } });
    await run(reporters);
    expect(stream.text()).not.toMatch(/\u001b\[(1|2|3[0-9])m/);
  });

  it('always writes a debug log (all events, debug included) under $XDG_CACHE_HOME/cplbctl', async () => {
    dir = mkdtempSync(join(tmpdir(), 'cplbctl-log-'));
    const env = { HOME: join(dir, 'home'), XDG_CACHE_HOME: join(dir, 'cache') };
    const stream = fakeStream();
    const { reporters, logFile } = createReporters({ output: 'logfmt', stream, command: 'apply', env });
    await run(reporters);

    expect(logFile).toMatch(
      new RegExp(
        `^${join(dir, 'cache', 'cplbctl')}/apply-\\d{4}-\\d\\d-\\d\\dT\\d\\d-\\d\\d-\\d\\d\\.\\d{3}Z\\.log$`,
      ),
    );
    expect(readdirSync(join(dir, 'cache', 'cplbctl'))).toHaveLength(1);
    expect(statSync(logFile!).mode & 0o777).toBe(0o600);
    const log = readFileSync(logFile!, 'utf8');
    expect(log).toMatch(/^time="[^"]+Z" level=debug msg="==> Starting: 2 phases on 2 hosts/);
    expect(log).toContain(
      'level=debug msg="[ssh] 10.0.0.1:22: uname on 10.0.0.1:22" phase="Gather host facts"',
    );
    expect(log).toContain('level=error msg="[ssh] 10.0.0.2:22: upload failed');
    expect(stream.text()).toContain(`Debug log: ${logFile}`); // named on failure
  });

  it('falls back to ~/.cache without XDG_CACHE_HOME', () => {
    expect(debugLogPath('apply', new Date('2025-01-02T03:04:05.678Z'), { HOME: '/home/op' })).toBe(
      '/home/op/.cache/cplbctl/apply-2025-01-02T03-04-05.678Z.log',
    );
  });

  it('a log file that cannot be written is a warning, not a failure', async () => {
    dir = mkdtempSync(join(tmpdir(), 'cplbctl-log-'));
    const stream = fakeStream();
    const blocked = join(dir, 'file');
    writeFileSync(blocked, 'not a directory');
    const set = createReporters({ output: 'logfmt', stream, env: { XDG_CACHE_HOME: blocked } });
    expect(set.logFile).toBeUndefined();
    await run(set.reporters, scenario().slice(0, 1));
    expect(stream.text()).toMatch(
      /^level=warn msg="cannot write the debug log .*cplbctl\/run-.*\.log: ENOTDIR/,
    );
    expect(stream.text()).toContain('Finished in');
  });
});

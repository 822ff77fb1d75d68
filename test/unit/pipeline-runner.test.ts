import { describe, expect, it } from 'vitest';
import { CplbError } from '../../src/core/errors.js';
import {
  HostsFailedError,
  perHost,
  runPipeline,
  type Phase,
  type PipelineEvent,
  type Reporter,
} from '../../src/pipeline/index.js';

interface FakeHost {
  readonly name: string;
}

const hostsOf = (n: number): FakeHost[] =>
  Array.from({ length: n }, (_, i) => ({ name: `10.0.0.${i + 1}:22` }));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function recorder(): Reporter & { events: PipelineEvent[]; closed: number } {
  const rec = {
    events: [] as PipelineEvent[],
    closed: 0,
    onEvent: (e: PipelineEvent) => void rec.events.push(e),
    close: async () => void rec.closed++,
  };
  return rec;
}

async function failureOf(promise: Promise<unknown>): Promise<CplbError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(CplbError);
    return err as CplbError;
  }
  throw new Error('expected the run to fail');
}

describe('runPipeline', () => {
  it('never runs more hosts at once than the concurrency limit, and does reach it', async () => {
    let inFlight = 0;
    let maxInFlight = 0;
    const phase = perHost<unknown, FakeHost>({
      title: 'Slow',
      run: async () => {
        maxInFlight = Math.max(maxInFlight, ++inFlight);
        await sleep(2);
        inFlight--;
      },
    });
    await runPipeline({ phases: [phase], hosts: hostsOf(50), state: {}, concurrency: 7 });
    expect(maxInFlight).toBe(7);

    maxInFlight = 0;
    await runPipeline({ phases: [phase], hosts: hostsOf(50), state: {} });
    expect(maxInFlight).toBe(30); // the default
  });

  it('honours a phase-level concurrency override (rolling restarts)', async () => {
    let inFlight = 0;
    let maxInFlight = 0;
    const rolling = perHost<unknown, FakeHost>({
      title: 'Restart one by one',
      concurrency: 1,
      run: async () => {
        maxInFlight = Math.max(maxInFlight, ++inFlight);
        await sleep(1);
        inFlight--;
      },
    });
    await runPipeline({ phases: [rolling], hosts: hostsOf(5), state: {} });
    expect(maxInFlight).toBe(1);
  });

  it('waits for every host and names every failed host, with each error as a cause', async () => {
    const finished: string[] = [];
    const rec = recorder();
    const phase = perHost<unknown, FakeHost>({
      title: 'Configure keepalived',
      run: async (host) => {
        if (host.name.endsWith('.2:22')) throw new Error('boom two');
        await sleep(host.name.endsWith('.4:22') ? 20 : 1);
        if (host.name.endsWith('.4:22')) {
          throw new CplbError('keepalived --config-test failed', {
            code: 'CONFIG_TEST',
            fault: 'remote',
            hint: 'see the log',
          });
        }
        finished.push(host.name);
      },
    });
    const later: Phase = { title: 'Later', run: async () => void finished.push('later') };
    const err = await failureOf(
      runPipeline({ phases: [phase, later], hosts: hostsOf(5), state: {}, reporters: [rec] }),
    );

    expect(finished.sort()).toEqual(['10.0.0.1:22', '10.0.0.3:22', '10.0.0.5:22']); // all others finished, no later phase
    expect(err).toBeInstanceOf(HostsFailedError);
    expect(err.fault).toBe('remote');
    expect(err.exitCode).toBe(1);
    expect(err.message).toBe(
      'Configure keepalived failed on 2 of 5 hosts: 10.0.0.2:22: boom two; 10.0.0.4:22: keepalived --config-test failed',
    );
    const failures = (err as HostsFailedError).failures;
    expect(failures.map((f) => f.host)).toEqual(['10.0.0.2:22', '10.0.0.4:22']);
    expect((err.cause as AggregateError).errors).toHaveLength(2);

    const hostErrors = rec.events.filter((e) => e.type === 'host-error');
    expect(hostErrors.map((e) => [e.host, e.msg, e.phase])).toEqual([
      ['10.0.0.2:22', 'boom two', 'Configure keepalived'],
      ['10.0.0.4:22', 'keepalived --config-test failed', 'Configure keepalived'],
    ]);
    expect(hostErrors[1]).toMatchObject({ code: 'CONFIG_TEST', hint: 'see the log' });
    const ends = rec.events.filter((e) => e.type === 'phase-end');
    expect(ends).toEqual([expect.objectContaining({ phase: 'Configure keepalived', status: 'failed' })]);
    const runEnd = rec.events.at(-1)!;
    expect(runEnd).toMatchObject({
      type: 'run-end',
      ok: false,
      error: { code: 'HOSTS_FAILED', fault: 'remote' },
    });
    expect(rec.closed).toBe(1);
  });

  it('keeps the fault of the hosts: all unhealthy → exit code 3', async () => {
    const phase = perHost<unknown, FakeHost>({
      title: 'Verify',
      run: async () => {
        throw new CplbError('no VIP holder', { code: 'NO_HOLDER', fault: 'unhealthy' });
      },
    });
    const err = await failureOf(runPipeline({ phases: [phase], hosts: hostsOf(2), state: {} }));
    expect(err.exitCode).toBe(3);
  });

  it('failFast starts no further hosts after a failure', async () => {
    const started: string[] = [];
    const phase = perHost<unknown, FakeHost>({
      title: 'Rolling',
      concurrency: 1,
      failFast: true,
      run: async (host) => {
        started.push(host.name);
        if (started.length === 2) throw new Error('restart failed');
      },
    });
    const err = await failureOf(runPipeline({ phases: [phase], hosts: hostsOf(4), state: {} }));
    expect(started).toHaveLength(2);
    expect(err.message).toContain('failed on 1 of 4 hosts: 10.0.0.2:22: restart failed');
  });

  it('runs cleanups in reverse order, after a failure too, and not for phases that never started', async () => {
    const log: string[] = [];
    const phase = (title: string, fail = false): Phase => ({
      title,
      run: async () => {
        log.push(`run ${title}`);
        if (fail) throw new Error(`${title} broke`);
      },
      cleanup: async () => void log.push(`cleanup ${title}`),
    });
    const skipped: Phase = { ...phase('skipped'), shouldRun: () => false };
    const err = await failureOf(
      runPipeline({
        phases: [phase('a'), skipped, phase('b'), phase('c', true), phase('d')],
        hosts: hostsOf(1),
        state: {},
      }),
    );
    expect(err.message).toBe('c broke');
    expect(err.fault).toBe('remote');
    expect(log).toEqual(['run a', 'run b', 'run c', 'cleanup c', 'cleanup b', 'cleanup a']);
  });

  it('a failing cleanup warns but neither hides the run error nor stops other cleanups', async () => {
    const log: string[] = [];
    const rec = recorder();
    const phases: Phase[] = [
      { title: 'a', run: async () => {}, cleanup: async () => void log.push('cleanup a') },
      {
        title: 'b',
        run: async () => {},
        cleanup: async () => {
          throw new Error('disconnect failed');
        },
      },
    ];
    const result = await runPipeline({ phases, hosts: hostsOf(1), state: {}, reporters: [rec] });
    expect(result.phases.map((p) => p.status)).toEqual(['ok', 'ok']);
    expect(log).toEqual(['cleanup a']);
    expect(rec.events).toContainEqual(
      expect.objectContaining({
        type: 'host-message',
        level: 'warn',
        msg: 'cleanup of b failed: disconnect failed',
      }),
    );
  });

  it('per-host cleanup failures are warnings naming each host, not host errors', async () => {
    const rec = recorder();
    const phase = perHost<unknown, FakeHost>({
      title: 'Connect',
      run: async () => {},
      cleanup: async (host) => {
        if (host.name !== '10.0.0.1:22') throw new Error('socket closed');
      },
    });
    await runPipeline({ phases: [phase], hosts: hostsOf(3), state: {}, reporters: [rec] });
    expect(rec.events.filter((e) => e.type === 'host-error')).toEqual([]);
    const warnings = rec.events.filter((e) => e.type === 'host-message' && e.level === 'warn');
    expect(warnings.map((e) => (e.type === 'host-message' ? `${e.host} ${e.msg}` : ''))).toEqual([
      '10.0.0.2:22 cleanup of Connect failed: socket closed',
      '10.0.0.3:22 cleanup of Connect failed: socket closed',
    ]);
  });

  it('per-host cleanup runs on every targeted host with the host bound to its logger', async () => {
    const rec = recorder();
    const phase = perHost<unknown, FakeHost>({
      title: 'Connect',
      readOnly: true,
      run: async () => {},
      cleanup: async (host, ctx) => ctx.log.info(`bye ${host.name}`),
    });
    await runPipeline({ phases: [phase], hosts: hostsOf(3), state: {}, reporters: [rec] });
    const byes = rec.events.filter((e) => e.type === 'host-message' && e.msg.startsWith('bye'));
    expect(byes.map((e) => (e.type === 'host-message' ? [e.host, e.msg] : []))).toEqual([
      ['10.0.0.1:22', 'bye 10.0.0.1:22'],
      ['10.0.0.2:22', 'bye 10.0.0.2:22'],
      ['10.0.0.3:22', 'bye 10.0.0.3:22'],
    ]);
  });

  it('dry run: calls dryRun() where defined, run() of readOnly phases, and skips the rest saying so', async () => {
    const calls: string[] = [];
    const rec = recorder();
    const phases: Phase<unknown, FakeHost>[] = [
      perHost({
        title: 'Gather facts',
        readOnly: true,
        run: async (_h, ctx) => void calls.push(`facts dry=${ctx.dryRun}`),
      }),
      perHost({
        title: 'Upload config',
        run: async () => void calls.push('upload RUN'),
        dryRun: async (host) => void calls.push(`upload would change ${host.name}`),
      }),
      { title: 'Restart keepalived', run: async () => void calls.push('restart RUN') },
    ];
    const result = await runPipeline({
      phases,
      hosts: hostsOf(1),
      state: {},
      dryRun: true,
      reporters: [rec],
    });
    expect(calls).toEqual(['facts dry=true', 'upload would change 10.0.0.1:22']);
    expect(result.phases.map((p) => [p.title, p.status])).toEqual([
      ['Gather facts', 'ok'],
      ['Upload config', 'ok'],
      ['Restart keepalived', 'skipped'],
    ]);
    expect(rec.events).toContainEqual(
      expect.objectContaining({
        type: 'phase-end',
        phase: 'Restart keepalived',
        status: 'skipped',
        reason: 'dry run: changes hosts',
      }),
    );
    expect(
      rec.events.filter((e) => e.type === 'phase-start').map((e) => e.type === 'phase-start' && e.dryRun),
    ).toEqual([
      false, // readOnly run()
      true, // dryRun()
    ]);

    calls.length = 0;
    await runPipeline({ phases, hosts: hostsOf(1), state: {}, dryRun: false });
    expect(calls).toEqual(['facts dry=false', 'upload RUN', 'restart RUN']);
  });

  it('cancellation: the running phase sees the abort, cleanups run, the run fails "cancelled" (exit 130)', async () => {
    const controller = new AbortController();
    const log: string[] = [];
    const rec = recorder();
    const phases: Phase<unknown, FakeHost>[] = [
      {
        title: 'Connect',
        run: async () => {},
        cleanup: async (ctx) => void log.push(`cleanup, aborted=${ctx.signal.aborted}`),
      },
      perHost({
        title: 'Long',
        run: (host, ctx) =>
          new Promise<void>((_resolve, reject) => {
            if (host.name.endsWith('.1:22')) setTimeout(() => controller.abort(), 5);
            ctx.signal.addEventListener('abort', () => {
              log.push(`aborted ${host.name}`);
              reject(new Error('channel closed'));
            });
          }),
      }),
      { title: 'Never', run: async () => void log.push('never') },
    ];
    const err = await failureOf(
      runPipeline({ phases, hosts: hostsOf(2), state: {}, signal: controller.signal, reporters: [rec] }),
    );
    expect(err.fault).toBe('cancelled');
    expect(err.exitCode).toBe(130);
    expect(log).toEqual(['aborted 10.0.0.1:22', 'aborted 10.0.0.2:22', 'cleanup, aborted=false']);
    // Hosts failing because they were aborted are not reported as host errors.
    expect(rec.events.filter((e) => e.type === 'host-error')).toEqual([]);
    expect(rec.events.at(-1)).toMatchObject({ type: 'run-end', ok: false, error: { fault: 'cancelled' } });
  });

  it('cancellation does not wait forever for a phase that ignores the signal', async () => {
    const controller = new AbortController();
    let cleaned = false;
    const phases: Phase[] = [
      {
        title: 'Stubborn',
        run: () => new Promise<void>(() => setTimeout(() => controller.abort(), 1)),
        cleanup: async () => void (cleaned = true),
      },
    ];
    const started = performance.now();
    const err = await failureOf(
      runPipeline({ phases, hosts: hostsOf(1), state: {}, signal: controller.signal, abortGraceMs: 20 }),
    );
    expect(err.fault).toBe('cancelled');
    expect(cleaned).toBe(true);
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it('an already aborted signal runs no phase', async () => {
    const controller = new AbortController();
    controller.abort();
    let ran = false;
    const err = await failureOf(
      runPipeline({
        phases: [{ title: 'x', run: async () => void (ran = true) }],
        hosts: [],
        state: {},
        signal: controller.signal,
      }),
    );
    expect(ran).toBe(false);
    expect(err.code).toBe('CANCELLED');
  });

  it('beforePhase: what it throws fails the run before that phase starts, and cleanups still run', async () => {
    const ran: string[] = [];
    let lost = false;
    const phase = (title: string, after?: () => void): Phase<unknown, FakeHost> => ({
      title,
      run: async () => {
        ran.push(title);
        after?.();
      },
      cleanup: async () => void ran.push(`cleanup ${title}`),
    });
    const rec = recorder();
    const err = await failureOf(
      runPipeline({
        phases: [phase('Lock', () => (lost = true)), phase('Write')],
        hosts: hostsOf(1),
        state: {},
        reporters: [rec],
        beforePhase: () => {
          if (lost) throw new CplbError('lost the host lock', { code: 'LOCK_LOST', fault: 'remote' });
        },
      }),
    );
    expect(err).toMatchObject({ code: 'LOCK_LOST', exitCode: 1 });
    expect(ran).toEqual(['Lock', 'cleanup Lock']);
    expect(rec.events.filter((e) => e.type === 'phase-start').map((e) => e.phase)).toEqual(['Lock']);
    expect(rec.events).toContainEqual(
      expect.objectContaining({ type: 'phase-end', phase: 'Write', status: 'failed' }),
    );
  });

  it('a bug in a phase (TypeError) is an internal fault', async () => {
    const phases: Phase[] = [
      {
        title: 'Buggy',
        run: async () => {
          throw new TypeError('x is undefined');
        },
      },
    ];
    const err = await failureOf(runPipeline({ phases, hosts: hostsOf(1), state: {} }));
    expect(err).toMatchObject({ fault: 'internal', phase: 'Buggy', message: 'x is undefined' });
  });

  it('gives phases the shared state, the hosts and a message emitter', async () => {
    const rec = recorder();
    const state = { facts: new Map<string, string>() };
    const phases: Phase<typeof state, FakeHost>[] = [
      perHost({
        title: 'Gather',
        readOnly: true,
        run: async (host, ctx) => void ctx.state.facts.set(host.name, 'eth1'),
      }),
      {
        title: 'Report',
        readOnly: true,
        run: async (ctx) => {
          ctx.emit({
            level: 'info',
            msg: `facts for ${ctx.state.facts.size} of ${ctx.hosts.length}`,
            data: { vip: '10.0.0.100' },
          });
          ctx.logFor('10.0.0.1:22').debug('details');
        },
      },
    ];
    await runPipeline({ phases, hosts: hostsOf(2), state, reporters: [rec] });
    expect(rec.events).toContainEqual(
      expect.objectContaining({
        type: 'host-message',
        phase: 'Report',
        msg: 'facts for 2 of 2',
        data: { vip: '10.0.0.100' },
      }),
    );
    expect(rec.events).toContainEqual(
      expect.objectContaining({ type: 'host-message', level: 'debug', host: '10.0.0.1:22', msg: 'details' }),
    );
  });

  it('emits a well-ordered event stream', async () => {
    const rec = recorder();
    await runPipeline({
      phases: [
        { title: 'one', run: async () => {} },
        { title: 'two', shouldRun: () => false, run: async () => {} },
      ],
      hosts: hostsOf(2),
      state: {},
      reporters: [rec],
    });
    expect(rec.events.map((e) => e.type + ('phase' in e && e.phase ? `:${e.phase}` : ''))).toEqual([
      'run-start',
      'phase-start:one',
      'phase-end:one',
      'phase-end:two',
      'run-end',
    ]);
    expect(rec.events[0]).toMatchObject({
      hosts: ['10.0.0.1:22', '10.0.0.2:22'],
      phases: ['one', 'two'],
      concurrency: 30,
    });
  });

  it('a reporter that throws is dropped, the run goes on', async () => {
    const rec = recorder();
    const broken: Reporter = {
      onEvent: () => {
        throw new Error('EPIPE');
      },
    };
    await runPipeline({
      phases: [{ title: 'one', run: async () => {} }],
      hosts: [],
      state: {},
      reporters: [broken, rec],
    });
    expect(rec.events).toContainEqual(
      expect.objectContaining({ level: 'warn', msg: 'a reporter failed: EPIPE' }),
    );
    expect(rec.events.at(-1)).toMatchObject({ type: 'run-end', ok: true });
  });

  it('30 hosts listening on the run signal at once raise no listener-leak warning', async () => {
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on('warning', onWarning);
    try {
      const controller = new AbortController();
      const phase = perHost<unknown, FakeHost>({
        title: 'Listen',
        run: async (_h, ctx) => {
          const onAbort = () => undefined;
          ctx.signal.addEventListener('abort', onAbort, { once: true });
          await new Promise((r) => setTimeout(r, 5));
          ctx.signal.removeEventListener('abort', onAbort);
        },
      });
      await runPipeline({ phases: [phase], hosts: hostsOf(30), state: {}, signal: controller.signal });
      await new Promise((r) => setImmediate(r)); // warnings are emitted on the next tick
    } finally {
      process.off('warning', onWarning);
    }
    expect(warnings.map((w) => w.name)).not.toContain('MaxListenersExceededWarning');
  });
});

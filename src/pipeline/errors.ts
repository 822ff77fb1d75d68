/** Errors the runner makes: one phase failing on several hosts, cancellation, and bugs in a phase. */
import { CplbError, type Fault } from '../core/errors.js';
import type { ErrorSummary } from './events.js';

export interface HostFailure {
  readonly host: string;
  readonly error: unknown;
}

/** A per-host phase failed on at least one host; `failures` names every one of them. */
export class HostsFailedError extends CplbError {
  readonly failures: readonly HostFailure[];

  constructor(phase: string, failures: readonly HostFailure[], attempted: number) {
    const list = failures.map((f) => `${f.host}: ${messageOf(f.error)}`).join('; ');
    const only = failures.length === 1 ? failures[0]?.error : undefined;
    super(`${phase} failed on ${failures.length} of ${attempted} hosts: ${list}`, {
      code: 'HOSTS_FAILED',
      fault: commonFault(failures.map((f) => f.error)),
      phase,
      host: failures.length === 1 ? failures[0]?.host : undefined,
      hint: only instanceof CplbError ? only.hint : undefined,
      cause: new AggregateError(
        failures.map((f) => f.error),
        list,
      ),
    });
    this.name = 'HostsFailedError';
    this.failures = failures;
  }
}

export function cancelledError(phase: string | undefined, cause?: unknown): CplbError {
  return new CplbError('Cancelled', { code: 'CANCELLED', fault: 'cancelled', phase, cause });
}

/** Anything a phase throws, as a CplbError; plain errors keep their message and become the cause. */
export function toCplbError(err: unknown, phase: string, host?: string): CplbError {
  if (err instanceof CplbError) return err;
  return new CplbError(messageOf(err), { code: 'PHASE_ERROR', fault: faultOf(err), phase, host, cause: err });
}

function faultOf(err: unknown): Fault {
  if (err instanceof CplbError) return err.fault;
  // Programming errors are ours; anything else a phase lets escape came from talking to a host.
  const bug = err instanceof TypeError || err instanceof RangeError || err instanceof ReferenceError;
  return bug ? 'internal' : 'remote';
}

function commonFault(errors: readonly unknown[]): Fault {
  const faults = new Set(errors.map(faultOf));
  const [only] = faults;
  return faults.size === 1 && only ? only : 'remote';
}

/** The message alone: events carry host and phase in fields of their own. */
export function messageOf(err: unknown): string {
  if (err instanceof Error) return err.message || err.name;
  return String(err);
}

/** The reporter-facing summary: message, code, fault, hint and the cause chain's messages. */
export function summarizeError(err: unknown): ErrorSummary {
  const causes: string[] = [];
  const seen = new Set<unknown>([err]);
  // A HostsFailedError's message already lists every host error; its AggregateError cause adds nothing.
  let cause = err instanceof HostsFailedError ? undefined : causeOf(err);
  while (cause !== undefined && !seen.has(cause) && causes.length < 8) {
    seen.add(cause);
    causes.push(messageOf(cause));
    cause = causeOf(cause);
  }
  const summary: ErrorSummary = {
    msg: err instanceof CplbError ? err.message : messageOf(err),
    code: err instanceof CplbError ? err.code : 'PHASE_ERROR',
    fault: faultOf(err),
  };
  return {
    ...summary,
    ...(err instanceof CplbError && err.hint ? { hint: err.hint } : {}),
    ...(causes.length ? { causes } : {}),
  };
}

function causeOf(err: unknown): unknown {
  return err instanceof Error ? err.cause : undefined;
}

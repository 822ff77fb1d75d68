/**
 * One error type for the whole tool. The code is stable (scripts match on it), `fault` says whose
 * fault it is, and the exit code follows from it: 2 config/usage, 1 remote, 3 verified-unhealthy.
 */
export type Fault = 'config' | 'usage' | 'remote' | 'unhealthy' | 'internal' | 'cancelled';

const EXIT_CODES: Record<Fault, number> = {
  config: 2,
  usage: 2,
  remote: 1,
  internal: 1,
  unhealthy: 3,
  cancelled: 130,
};

export interface CplbErrorOptions {
  code: string;
  fault: Fault;
  host?: string;
  phase?: string;
  hint?: string;
  cause?: unknown;
}

export class CplbError extends Error {
  readonly code: string;
  readonly fault: Fault;
  readonly host?: string;
  readonly phase?: string;
  readonly hint?: string;

  constructor(message: string, opts: CplbErrorOptions) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'CplbError';
    this.code = opts.code;
    this.fault = opts.fault;
    this.host = opts.host;
    this.phase = opts.phase;
    this.hint = opts.hint;
  }

  get exitCode(): number {
    return EXIT_CODES[this.fault];
  }

  /** One line for logs: `[host] phase: message (hint)`. */
  describe(): string {
    const where = [this.host && `[${this.host}]`, this.phase && `${this.phase}:`].filter(Boolean).join(' ');
    return `${where ? where + ' ' : ''}${this.message}${this.hint ? ` (${this.hint})` : ''}`;
  }
}

export function exitCodeOf(err: unknown): number {
  return err instanceof CplbError ? err.exitCode : 1;
}

import { CplbError } from '../core/errors.js';
import type { ResolvedTarget } from './target.js';

/** Turns ssh2 and socket errors into CplbErrors with a stable code, the host, and a hint. */

interface Ssh2Error extends Error {
  level?: string;
  code?: string;
}

/** Only these may be retried: a refused or slow connection can heal, wrong keys cannot. */
export const RETRYABLE_CODES = new Set(['SSH_CONNECT', 'SSH_TIMEOUT']);

export function connectError(
  err: unknown,
  target: ResolvedTarget,
  detail: { timeoutMs: number; authTried: string },
): CplbError {
  if (err instanceof CplbError) return err;
  const e = (err instanceof Error ? err : new Error(String(err))) as Ssh2Error;
  const base = { fault: 'remote' as const, host: target.name, cause: err };
  const via = target.bastion ? ` (via bastion ${target.bastion.name})` : '';
  if (e.level === 'client-authentication') {
    return new CplbError(`authentication failed for user ${target.user}${via}`, {
      ...base,
      fault: 'config',
      code: 'SSH_AUTH',
      hint: `tried ${detail.authTried}; add the public key to ~${target.user}/.ssh/authorized_keys on the host, or set keyPath`,
    });
  }
  if (e.level === 'client-timeout') {
    return new CplbError(`no SSH handshake within ${detail.timeoutMs} ms${via}`, {
      ...base,
      code: 'SSH_TIMEOUT',
      hint: 'check that the address and port are right and that a firewall does not drop the traffic',
    });
  }
  const hints: Record<string, string> = {
    ECONNREFUSED: `nothing listens on port ${target.port}: is sshd running, is the port right?`,
    EHOSTUNREACH: 'no route to the host: check the address and the network',
    ENETUNREACH: 'no route to the host: check the address and the network',
    ETIMEDOUT: 'the host did not answer: check the address and firewalls',
    ENOTFOUND: 'the name does not resolve: check the address (or HostName in ~/.ssh/config)',
    EAI_AGAIN: 'name resolution failed temporarily',
    ECONNRESET: 'the server dropped the connection (MaxStartups, fail2ban, or a crash?)',
  };
  return new CplbError(`cannot connect to ${target.host}:${target.port}${via}: ${e.message}`, {
    ...base,
    code: 'SSH_CONNECT',
    hint: (e.code && hints[e.code]) ?? undefined,
  });
}

export function channelClosedError(host: string, what: string, cause?: unknown): CplbError {
  return new CplbError(`connection lost while running: ${truncate(what)}`, {
    code: 'SSH_CHANNEL_CLOSED',
    fault: 'remote',
    host,
    cause,
    hint: 'the host rebooted, sshd restarted, or the network dropped; rerun the command',
  });
}

/** For commands started after the connection ended (or was closed on purpose). */
export function connectionGoneError(host: string, why: string, cause?: unknown): CplbError {
  return new CplbError(`the SSH connection is closed (${why})`, {
    code: 'SSH_CHANNEL_CLOSED',
    fault: 'remote',
    host,
    cause,
  });
}

export function commandTimeoutError(host: string, what: string, timeoutMs: number): CplbError {
  return new CplbError(`command timed out after ${timeoutMs} ms: ${truncate(what)}`, {
    code: 'SSH_TIMEOUT',
    fault: 'remote',
    host,
    hint: 'the command was killed; raise the timeout if the host is just slow',
  });
}

export function outputTooLargeError(host: string, what: string, maxBytes: number): CplbError {
  return new CplbError(`command printed more than ${maxBytes / 2 ** 20} MiB: ${truncate(what)}`, {
    code: 'SSH_OUTPUT_TOO_LARGE',
    fault: 'remote',
    host,
    hint: 'the command was killed; no command cplbctl runs prints that much, so check what runs on the host',
  });
}

export function cancelledError(host: string): CplbError {
  return new CplbError('cancelled', { code: 'CANCELLED', fault: 'cancelled', host });
}

export function truncate(text: string, max = 400): string {
  return text.length > max ? `${text.slice(0, max)}...` : text;
}

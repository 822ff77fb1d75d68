import { homedir } from 'node:os';
import { join } from 'node:path';
import { access } from 'node:fs/promises';
import type { Duplex } from 'node:stream';
import ssh2, { type AnyAuthMethod, type Client, type ConnectConfig, type ParsedKey } from 'ssh2';
import { CplbError } from '../core/errors.js';
import { AuthSequence, PASSPHRASE_ENV, type AuthStep } from './auth.js';
import { preferredHostKeyAlgorithms, verifyHostKey, type HostKeyPolicy } from './host-key.js';
import { loadKnownHosts } from './known-hosts.js';
import type { Remote } from './remote.js';
import { cancelledError, connectError, RETRYABLE_CODES } from './ssh-errors.js';
import { SshRemote } from './ssh-remote.js';
import { Ssh2Transport } from './transport.js';
import { loadSshConfig, resolveTarget, type ResolvedTarget, type SshTarget } from './target.js';

/** The only place that opens ssh2 connections: hops, retries, host keys, auth, then a Remote. */

export interface ConnectOptions {
  /** Replaces the defaults (SSH_KNOWN_HOSTS, else ~/.ssh/known_hosts + /etc/ssh/ssh_known_hosts). */
  knownHostsFiles?: string[];
  /** Trust on first use: unknown keys are accepted and appended to the first known_hosts file. */
  acceptNewHostKeys?: boolean;
  connectTimeoutMs?: number;
  commandTimeoutMs?: number;
  /** Extra attempts after a failed connect (refused, timed out); commands are never retried. */
  retries?: number;
  sshConfigPath?: string;
  onEvent?: (msg: string) => void;
  signal?: AbortSignal;
}

// ssh2 is CommonJS: Node's ESM loader cannot see its named exports, so take them off the default.
const { Client: SshClient, utils } = ssh2;

const DEFAULTS = { connectTimeoutMs: 10_000, commandTimeoutMs: 120_000, retries: 2 };
const KEEPALIVE_INTERVAL_MS = 10_000;
const BACKOFF_BASE_MS = 250;

interface Context {
  opts: ConnectOptions;
  policy: HostKeyPolicy;
  connectTimeoutMs: number;
  retries: number;
}

export function defaultKnownHostsFiles(env = process.env): string[] {
  if (env.SSH_KNOWN_HOSTS) return [env.SSH_KNOWN_HOSTS];
  return [join(homedir(), '.ssh', 'known_hosts'), '/etc/ssh/ssh_known_hosts'];
}

export async function connect(target: SshTarget, opts: ConnectOptions = {}): Promise<Remote> {
  const resolved = resolveTarget(target, loadSshConfig(opts.sshConfigPath));
  const knownHostsFiles = opts.knownHostsFiles?.length ? opts.knownHostsFiles : defaultKnownHostsFiles();
  const ctx: Context = {
    opts,
    connectTimeoutMs: opts.connectTimeoutMs ?? DEFAULTS.connectTimeoutMs,
    retries: opts.retries ?? DEFAULTS.retries,
    policy: {
      entries: await loadKnownHosts(knownHostsFiles),
      knownHostsFiles,
      acceptNew: opts.acceptNewHostKeys ?? false,
      onEvent: opts.onEvent,
    },
  };
  const chain = await openChain(resolved, ctx);
  const [client, ...bastions] = chain;
  if (!client) throw new CplbError('no connection opened', { code: 'INTERNAL', fault: 'internal' });
  const commandTimeoutMs = opts.commandTimeoutMs ?? DEFAULTS.commandTimeoutMs;
  const transport = new Ssh2Transport(client, resolved.name, bastions, opts.signal);
  try {
    return await SshRemote.open(resolved.name, resolved.user, transport, commandTimeoutMs);
  } catch (err) {
    await transport.close();
    throw err;
  }
}

/** Connects every hop from the outermost bastion inwards; returns [target, ...bastions]. */
async function openChain(target: ResolvedTarget, ctx: Context): Promise<Client[]> {
  if (target.requiredKeyPath) await assertReadable(target.requiredKeyPath, target.name);
  const outer = target.bastion ? await openChain(target.bastion, ctx) : [];
  const bastion = outer[0];
  try {
    const client = await withRetries(target, ctx, async () => {
      const sock = bastion ? await forward(bastion, target, ctx.connectTimeoutMs) : undefined;
      return openHop(target, ctx, sock);
    });
    return [client, ...outer];
  } catch (err) {
    outer.forEach((c) => c.end());
    throw err;
  }
}

async function assertReadable(path: string, host: string): Promise<void> {
  await access(path).catch((err: Error) => {
    throw new CplbError(`SSH key ${path} is not readable: ${err.message}`, {
      code: 'SSH_KEY',
      fault: 'config',
      host,
      hint: 'fix keyPath in the cluster file',
    });
  });
}

/** A TCP stream to the target, opened by the bastion (direct-tcpip), to run SSH over. */
function forward(bastion: Client, target: ResolvedTarget, timeoutMs: number): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      const err = Object.assign(new Error('the bastion did not open the forward'), {
        level: 'client-timeout',
      });
      reject(connectError(err, target, { timeoutMs, authTried: '' }));
    }, timeoutMs);
    bastion.forwardOut('127.0.0.1', 0, target.host, target.port, (err, stream) => {
      clearTimeout(timer);
      if (err) reject(connectError(err, target, { timeoutMs, authTried: '' }));
      else resolve(stream);
    });
  });
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

async function withRetries<T>(target: ResolvedTarget, ctx: Context, attempt: () => Promise<T>): Promise<T> {
  const { signal, onEvent } = ctx.opts;
  for (let i = 0; ; i++) {
    if (signal?.aborted) throw cancelledError(target.name);
    try {
      return await attempt();
    } catch (err) {
      const retryable = err instanceof CplbError && RETRYABLE_CODES.has(err.code);
      if (!retryable || i >= ctx.retries || signal?.aborted) throw err;
      const delay = Math.round(BACKOFF_BASE_MS * 2 ** i * (0.75 + Math.random() * 0.5));
      onEvent?.(`${target.name}: ${err.message}; retry ${i + 1}/${ctx.retries} in ${delay} ms`);
      await sleep(delay, signal);
    }
  }
}

function toSsh2Auth(step: AuthStep, username: string): AnyAuthMethod {
  if (step.type === 'agent') return { type: 'agent', username, agent: step.agent };
  return { type: 'publickey', username, key: step.key as ParsedKey };
}

function openHop(target: ResolvedTarget, ctx: Context, sock?: Duplex): Promise<Client> {
  const started = performance.now();
  const agentSocket = process.env.SSH_AUTH_SOCK || undefined;
  const auth = new AuthSequence({
    keyPaths: target.keyPaths,
    agentSocket,
    parseKey: (data, passphrase) => utils.parseKey(data, passphrase),
    passphrase: process.env[PASSPHRASE_ENV],
    canPrompt: Boolean(process.stdin.isTTY),
  });
  const tried: string[] = [];
  return new Promise((resolve, reject) => {
    const client = new SshClient();
    let failure: CplbError | undefined;
    let settled = false;
    // Our own handshake timer instead of ssh2's readyTimeout: it pauses while a passphrase
    // prompt waits for a human.
    let timer: NodeJS.Timeout | undefined;
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(
        () => fail(Object.assign(new Error('handshake timeout'), { level: 'client-timeout' })),
        ctx.connectTimeoutMs,
      );
    };
    const onAbort = () => fail(cancelledError(target.name));
    const fail = (err: unknown) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      ctx.opts.signal?.removeEventListener('abort', onAbort);
      client.destroy();
      const authTried =
        [...tried, ...auth.skipped.map((s) => `skipped ${s}`)].join(', ') || 'no keys (none found)';
      reject(failure ?? connectError(err, target, { timeoutMs: ctx.connectTimeoutMs, authTried }));
    };
    ctx.opts.signal?.addEventListener('abort', onAbort, { once: true });
    client.on('ready', () => {
      settled = true;
      clearTimeout(timer);
      ctx.opts.signal?.removeEventListener('abort', onAbort);
      ctx.opts.onEvent?.(
        `${target.name}: connected as ${target.user} in ${Math.round(performance.now() - started)} ms`,
      );
      resolve(client);
    });
    client.on('error', (err: Error & { level?: string }) => {
      // A dead agent only costs that method: ssh2 moves on to the next one itself.
      if (err.level === 'agent') auth.skipped.push(`ssh-agent: ${err.message}`);
      else fail(err);
    });
    client.on('close', () => fail(new Error('connection closed during the SSH handshake')));
    const config: ConnectConfig = {
      host: target.host,
      port: target.port,
      username: target.user,
      sock,
      readyTimeout: 0,
      keepaliveInterval: KEEPALIVE_INTERVAL_MS,
      keepaliveCountMax: 3,
      algorithms: { serverHostKey: preferredHostKeyAlgorithms(target, ctx.policy.entries) as never },
      hostVerifier: (key: Buffer, verify: (ok: boolean) => void) => {
        verifyHostKey(target, key, ctx.policy).then(
          () => verify(true),
          (err: unknown) => {
            failure =
              err instanceof CplbError ? err : connectError(err, target, { timeoutMs: 0, authTried: '' });
            verify(false);
          },
        );
      },
      authHandler: (_methodsLeft, _partial, next) => {
        clearTimeout(timer);
        auth.next().then(
          (step) => {
            arm();
            if (step) tried.push(step.type === 'agent' ? 'ssh-agent' : step.path);
            next(step ? toSsh2Auth(step, target.user) : (false as never));
          },
          (err: unknown) => {
            failure = err instanceof CplbError ? err : undefined;
            next(false as never);
          },
        );
      },
    };
    arm();
    client.connect(config);
    // Each exec is a few small request/response packets: Nagle plus delayed ACKs would add
    // ~40 ms to every one of them.
    client.setNoDelay(true);
  });
}

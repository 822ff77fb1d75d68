import { readFile } from 'node:fs/promises';
import { CplbError } from '../core/errors.js';
import { promptHidden } from './prompt.js';

/**
 * Which credentials to offer, in which order, without ssh2 types (connection.ts injects ssh2's key
 * parser). Plain key files go first, then the agent, then encrypted keys: a key the agent already
 * holds never costs a passphrase prompt or a slow bcrypt decryption.
 */

export const PASSPHRASE_ENV = 'CPLBCTL_SSH_PASSPHRASE';

/** Returns a parsed key (opaque here), an array of them, or an Error. */
export type ParseKey = (data: Buffer, passphrase?: string) => unknown;

export type AuthStep = { type: 'publickey'; key: unknown; path: string } | { type: 'agent'; agent: string };

export interface AuthOptions {
  keyPaths: string[];
  agentSocket?: string;
  parseKey: ParseKey;
  passphrase?: string;
  /** Only true on an interactive terminal: CI must fail fast, not hang on a prompt. */
  canPrompt: boolean;
}

interface LoadedKey {
  path: string;
  data: Buffer;
  plain: unknown;
  encrypted: boolean;
}

// Parsing and especially decrypting keys is shared by every host of a run (and every retry).
const loadedKeys = new Map<string, Promise<LoadedKey | null>>();
const decryptedKeys = new Map<string, Promise<unknown>>();

export class AuthSequence {
  /** Why keys were skipped: goes into the SSH_AUTH hint, never the passphrase itself. */
  readonly skipped: string[] = [];
  private steps: Array<() => Promise<AuthStep | null>> | null = null;

  constructor(private readonly opts: AuthOptions) {}

  async next(): Promise<AuthStep | null> {
    this.steps ??= await this.plan();
    for (let step = this.steps.shift(); step; step = this.steps.shift()) {
      const auth = await step();
      if (auth) return auth;
    }
    return null;
  }

  private async plan(): Promise<Array<() => Promise<AuthStep | null>>> {
    const loaded = await Promise.all(
      this.opts.keyPaths.map((p) =>
        loadKey(p, this.opts.parseKey).catch((err: Error) => {
          this.skipped.push(err.message);
          return null;
        }),
      ),
    );
    const keys = loaded.filter((k): k is LoadedKey => k !== null);
    const steps: Array<() => Promise<AuthStep | null>> = [];
    for (const key of keys.filter((k) => !k.encrypted)) {
      steps.push(async () => ({ type: 'publickey', key: key.plain, path: key.path }));
    }
    const agent = this.opts.agentSocket;
    if (agent) steps.push(async () => ({ type: 'agent', agent }));
    for (const key of keys.filter((k) => k.encrypted)) steps.push(() => this.decrypt(key));
    return steps;
  }

  private async decrypt(key: LoadedKey): Promise<AuthStep | null> {
    const parsed = await decryptKey(key, this.opts);
    if (parsed instanceof Error) {
      this.skipped.push(`${key.path}: ${parsed.message}`);
      return null;
    }
    return { type: 'publickey', key: parsed, path: key.path };
  }
}

async function loadKey(path: string, parseKey: ParseKey): Promise<LoadedKey | null> {
  let pending = loadedKeys.get(path);
  if (!pending) {
    pending = readFile(path).then(
      (data) => {
        const parsed = firstKey(parseKey(data));
        if (!(parsed instanceof Error)) return { path, data, plain: parsed, encrypted: false };
        if (/encrypt|passphrase/i.test(parsed.message)) return { path, data, plain: null, encrypted: true };
        throw new CplbError(`cannot use SSH key ${path}: ${parsed.message}`, {
          code: 'SSH_KEY',
          fault: 'config',
          hint: 'point keyPath at an OpenSSH or PEM private key',
        });
      },
      (err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return null;
        throw new CplbError(`cannot read SSH key ${path}: ${err.message}`, {
          code: 'SSH_KEY',
          fault: 'config',
        });
      },
    );
    loadedKeys.set(path, pending);
  }
  return pending;
}

async function decryptKey(key: LoadedKey, opts: AuthOptions): Promise<unknown> {
  const cached = decryptedKeys.get(key.path);
  if (cached) return cached;
  const pending = (async () => {
    let passphrase = opts.passphrase;
    if (passphrase === undefined) {
      if (!opts.canPrompt) return new Error(`encrypted and ${PASSPHRASE_ENV} is not set (no TTY to ask on)`);
      passphrase = await promptHidden(`Passphrase for ${key.path}: `);
    }
    const parsed = firstKey(opts.parseKey(key.data, passphrase));
    return parsed instanceof Error ? new Error('wrong passphrase or unreadable key') : parsed;
  })();
  decryptedKeys.set(key.path, pending);
  // A mistyped prompt answer should be asked again on the next host, not cached as a failure.
  pending
    .then((v) => v instanceof Error && decryptedKeys.delete(key.path))
    .catch(() => decryptedKeys.delete(key.path));
  return pending;
}

function firstKey(parsed: unknown): unknown {
  return Array.isArray(parsed) ? (parsed[0] ?? new Error('no key in file')) : parsed;
}

/** For tests: forget cached keys between cases that reuse a path with different content. */
export function clearKeyCache(): void {
  loadedKeys.clear();
  decryptedKeys.clear();
}

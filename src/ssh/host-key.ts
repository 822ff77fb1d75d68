import { CplbError } from '../core/errors.js';
import { keyTypeOf, matchesPinnedKey, sha256Fingerprint } from './fingerprint.js';
import {
  appendKnownHost,
  checkHostKey,
  hostToken,
  knownHostsLine,
  knownKeyTypes,
  loadKnownHosts,
  type KnownHostEntry,
} from './known-hosts.js';
import { shq } from '../contract/quote.js';
import type { ResolvedTarget } from './target.js';

/** The host key decision: pinned key first, then known_hosts, trust-on-first-use only when asked. */

export interface HostKeyPolicy {
  entries: readonly KnownHostEntry[];
  /** The first file is where accepted keys are appended. */
  knownHostsFiles: readonly string[];
  acceptNew: boolean;
  onEvent?: (msg: string) => void;
}

/**
 * Keys accepted for new hosts by this process, per known_hosts file and host token, with the append
 * that records each. Every connection loads known_hosts on its own, so without this several hosts
 * behind one bastion, or concurrent first contacts, would each accept (and append) whatever key they
 * were shown: now the first contact decides, and any other key for that target is a changed key.
 */
const accepted = new Map<string, { key: Buffer; recorded: Promise<void> }>();

export async function verifyHostKey(
  target: ResolvedTarget,
  key: Buffer,
  policy: HostKeyPolicy,
): Promise<void> {
  const fingerprint = `${keyTypeOf(key)} ${sha256Fingerprint(key)}`;
  const base = { fault: 'remote' as const, host: target.name };
  const check = checkHostKey(policy.entries, target.host, target.port, key);
  // A revoked key stays revoked, pinned or not.
  if (check.status === 'revoked') throw revokedError(check.entry, fingerprint, base);
  if (target.hostKey !== undefined) {
    if (matchesPinnedKey(target.hostKey, key)) return;
    throw new CplbError(`host key mismatch: pinned ${target.hostKey}, the host presented ${fingerprint}`, {
      ...base,
      code: 'SSH_HOST_KEY_MISMATCH',
      hint: 'if the host was reinstalled, update hostKey in the cluster file; otherwise someone may be intercepting the connection',
    });
  }
  const file = policy.knownHostsFiles[0] ?? '~/.ssh/known_hosts';
  const token = hostToken(target.host, target.port);
  if (check.status === 'match') return;
  if (check.status === 'mismatch') throw changedError(check.entries, fingerprint, token, file, base);
  if (!policy.acceptNew)
    throw new CplbError(
      `unknown host key ${fingerprint}: ${token} is not in ${policy.knownHostsFiles.join(', ')}`,
      {
        ...base,
        code: 'SSH_HOST_UNKNOWN',
        hint: `check the fingerprint on the host (ssh-keygen -lf /etc/ssh/ssh_host_${keyTypeOf(key).replace(/^ssh-|-.*$/g, '')}_key.pub), then trust it: ssh-keyscan -p ${target.port} ${shq(target.host)} >> ${shq(file)}, or pass --accept-new-host-keys`,
      },
    );

  const id = `${file}\n${token}`;
  const decided = accepted.get(id);
  if (decided) {
    if (!decided.key.equals(key))
      throw changedError(
        [{ file, line: 0, keyType: keyTypeOf(decided.key), key: decided.key }],
        fingerprint,
        token,
        file,
        base,
      );
    return decided.recorded;
  }
  // Decided synchronously, before any await: a concurrent contact sees this decision.
  const recorded = (async () => {
    // Another process may have recorded the target since this one read known_hosts.
    const now = checkHostKey(await loadKnownHosts(policy.knownHostsFiles), target.host, target.port, key);
    if (now.status === 'revoked') throw revokedError(now.entry, fingerprint, base);
    if (now.status === 'mismatch') throw changedError(now.entries, fingerprint, token, file, base);
    if (now.status === 'match') return;
    await appendKnownHost(file, knownHostsLine(target.host, target.port, key));
    policy.onEvent?.(`${target.name}: trusted new host key ${fingerprint}, added to ${file}`);
  })();
  accepted.set(id, { key, recorded });
  return recorded;
}

type Base = { fault: 'remote'; host: string };

function revokedError(entry: KnownHostEntry, fingerprint: string, base: Base): CplbError {
  return new CplbError(`host key ${fingerprint} is marked @revoked in ${entry.file}:${entry.line}`, {
    ...base,
    code: 'SSH_HOST_KEY_REVOKED',
    hint: 'the host must get a new host key before it can be trusted',
  });
}

/** Entries with line 0 are keys this run accepted moments ago (not yet read back from the file). */
function changedError(
  entries: readonly Pick<KnownHostEntry, 'file' | 'line' | 'keyType' | 'key'>[],
  fingerprint: string,
  token: string,
  file: string,
  base: Base,
): CplbError {
  const where = entries.map(
    (e) =>
      `${e.line > 0 ? `${e.file}:${e.line}` : `${e.file} (accepted by this run)`} (${e.keyType} ${sha256Fingerprint(e.key)})`,
  );
  return new CplbError(
    `HOST KEY CHANGED: the host presented ${fingerprint}, known_hosts has ${where.join(', ')}`,
    {
      ...base,
      code: 'SSH_HOST_KEY_MISMATCH',
      hint: `if the host was reinstalled, remove the old key with: ssh-keygen -R ${shq(token)} -f ${shq(entries[0]?.file ?? file)}; otherwise someone may be intercepting the connection`,
    },
  );
}

const ALGORITHMS_FOR_KEY_TYPE: Record<string, string[]> = {
  'ssh-rsa': ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'],
};

const DEFAULT_ORDER = [
  'ssh-ed25519',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'rsa-sha2-512',
  'rsa-sha2-256',
  'ssh-rsa',
];

/**
 * Host key algorithms with the types known_hosts (or the pin) already holds for this host first,
 * as OpenSSH does: otherwise a server with an RSA and an Ed25519 key, known by its RSA key, would
 * present the Ed25519 one and fail as "changed".
 */
export function preferredHostKeyAlgorithms(
  target: ResolvedTarget,
  entries: readonly KnownHostEntry[],
): string[] {
  const pinnedType = target.hostKey?.includes(' ') ? [target.hostKey.trim().split(/\s+/)[0] ?? ''] : [];
  const known = target.hostKey !== undefined ? pinnedType : knownKeyTypes(entries, target.host, target.port);
  const first = known
    .flatMap((type) => ALGORITHMS_FOR_KEY_TYPE[type] ?? [type])
    .filter((a) => DEFAULT_ORDER.includes(a));
  return [...new Set([...first, ...DEFAULT_ORDER])];
}

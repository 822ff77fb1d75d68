/** Key material: the lab's client key, each host's SSH host key and each stand-in's certificate. */
import { createHash } from 'node:crypto';
import { access, readFile, rm } from 'node:fs/promises';
import { run } from './run.js';

/** `SHA256:...` exactly as `ssh-keygen -lf` prints it, from an OpenSSH public key line. */
export function fingerprintOf(publicKeyLine: string): string {
  const blob = publicKeyLine.trim().split(/\s+/)[1];
  if (!blob) throw new Error(`not an OpenSSH public key: ${publicKeyLine}`);
  const digest = createHash('sha256').update(Buffer.from(blob, 'base64')).digest('base64');
  return `SHA256:${digest.replace(/=+$/, '')}`;
}

/** Makes an ed25519 key pair at `path` unless one is there; returns the public key line. */
export async function ensureEd25519(path: string, comment: string): Promise<string> {
  const exists = await access(path).then(
    () => true,
    () => false,
  );
  if (!exists) {
    await rm(`${path}.pub`, { force: true });
    await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', path]);
  }
  return (await readFile(`${path}.pub`, 'utf8')).trim();
}

/**
 * A self-signed P-256 certificate naming the host (CN and SAN = name and address), so a client can tell
 * which stand-in answered. EC keys because 30 RSA keys would eat the 5-second budget.
 */
export async function makeCertificate(certPath: string, keyPath: string, name: string, address: string) {
  await run('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-days',
    '3650',
    '-subj',
    `/CN=${name}`,
    '-addext',
    `subjectAltName=DNS:${name},IP:${address}`,
    '-keyout',
    keyPath,
    '-out',
    certPath,
  ]);
}

import { createHash } from 'node:crypto';

/** Host key fingerprints in the exact text `ssh-keygen -l` prints, so users can compare by eye. */

/** `SHA256:` + unpadded base64 of the SHA-256 of the raw public key blob. */
export function sha256Fingerprint(keyBlob: Buffer): string {
  return 'SHA256:' + createHash('sha256').update(keyBlob).digest('base64').replace(/=+$/, '');
}

/** `MD5:aa:bb:...`, the legacy form some inventories still pin. */
export function md5Fingerprint(keyBlob: Buffer): string {
  const hex = createHash('md5').update(keyBlob).digest('hex');
  return 'MD5:' + (hex.match(/../g) ?? []).join(':');
}

/** The algorithm name stored as the first SSH string of a public key blob (e.g. `ssh-ed25519`). */
export function keyTypeOf(keyBlob: Buffer): string {
  if (keyBlob.length < 4) return 'unknown';
  const len = keyBlob.readUInt32BE(0);
  if (len > keyBlob.length - 4 || len > 64) return 'unknown';
  return keyBlob.subarray(4, 4 + len).toString('latin1');
}

/**
 * Does a pinned host key match the presented blob? Accepts `SHA256:...` (padding optional),
 * `MD5:..` and a full `type base64` public key line.
 */
export function matchesPinnedKey(pinned: string, keyBlob: Buffer): boolean {
  const value = pinned.trim();
  if (/^SHA256:/i.test(value)) {
    return value.slice(7).replace(/=+$/, '') === sha256Fingerprint(keyBlob).slice(7);
  }
  if (/^MD5:/i.test(value)) return value.toLowerCase() === md5Fingerprint(keyBlob).toLowerCase();
  const [, base64] = value.split(/\s+/);
  return base64 !== undefined && Buffer.from(base64, 'base64').equals(keyBlob);
}

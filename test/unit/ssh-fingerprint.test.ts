import { describe, expect, it } from 'vitest';
import { keyTypeOf, matchesPinnedKey, md5Fingerprint, sha256Fingerprint } from '../../src/ssh/fingerprint.js';

// Reference values printed by `ssh-keygen -l` (OpenSSH 9.2) for these exact keys.
const ED25519 = 'AAAAC3NzaC1lZDI1NTE5AAAAIOUZZXPX/RbN4z0J+WZJg4Em1fdeWfOSQ3i73tiTb+Q5';
const ED25519_SHA256 = 'SHA256:nxrh2fOnJu6xfLQLSB/ppCAeWyzdNXxBEYi7xkVNUZc';
const ED25519_MD5 = 'MD5:9d:85:c2:3f:1c:e2:df:90:b6:89:63:7e:a5:fd:3d:01';
const ECDSA =
  'AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBH0CbZBrv9N8yD2RhIo/AyttKZHqwfyhsPuA/b0YZHtbK54qgAQ/W5PzzEImgvAv9m+5/Mn0gaXYmg9OAks5PK8=';
const ECDSA_SHA256 = 'SHA256:RXaVwUNzw4UGJpp2OCYE2R8VszIQZcCTjaP6S1QfT+E';

const blob = (b64: string) => Buffer.from(b64, 'base64');

describe('host key fingerprints', () => {
  it('match ssh-keygen -l byte for byte (SHA256, unpadded base64)', () => {
    expect(sha256Fingerprint(blob(ED25519))).toBe(ED25519_SHA256);
    expect(sha256Fingerprint(blob(ECDSA))).toBe(ECDSA_SHA256);
    expect(sha256Fingerprint(blob(ECDSA))).not.toMatch(/=$/);
  });

  it('match ssh-keygen -l -E md5', () => {
    expect(md5Fingerprint(blob(ED25519))).toBe(ED25519_MD5);
  });

  it('read the key type from the blob', () => {
    expect(keyTypeOf(blob(ED25519))).toBe('ssh-ed25519');
    expect(keyTypeOf(blob(ECDSA))).toBe('ecdsa-sha2-nistp256');
    expect(keyTypeOf(Buffer.from([0, 0]))).toBe('unknown');
  });

  it('compare pinned keys in every accepted spelling', () => {
    const key = blob(ED25519);
    expect(matchesPinnedKey(ED25519_SHA256, key)).toBe(true);
    expect(matchesPinnedKey(`${ED25519_SHA256}=`, key)).toBe(true);
    expect(matchesPinnedKey(ED25519_MD5.toUpperCase(), key)).toBe(true);
    expect(matchesPinnedKey(`ssh-ed25519 ${ED25519} comment`, key)).toBe(true);
    expect(matchesPinnedKey(ECDSA_SHA256, key)).toBe(false);
    expect(matchesPinnedKey(`ecdsa-sha2-nistp256 ${ECDSA}`, key)).toBe(false);
    expect(matchesPinnedKey('garbage', key)).toBe(false);
  });
});

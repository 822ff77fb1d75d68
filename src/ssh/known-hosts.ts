import { createHmac } from 'node:crypto';
import { appendFile, mkdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { keyTypeOf } from './fingerprint.js';
import { matchPatternList } from './patterns.js';

/** known_hosts in OpenSSH's format: plain and hashed (`|1|salt|hmac`) names, `[host]:port`, markers. */

export interface KnownHostEntry {
  /** `@cert-authority` lines are kept but never match a plain host key (certificates are unsupported). */
  marker: 'cert-authority' | 'revoked' | null;
  /** Comma-separated host patterns, or null for a hashed entry. */
  patterns: string[] | null;
  hashed: { salt: Buffer; hash: Buffer } | null;
  keyType: string;
  key: Buffer;
  file: string;
  line: number;
}

export type HostKeyCheck =
  | { status: 'match'; entry: KnownHostEntry }
  | { status: 'revoked'; entry: KnownHostEntry }
  /** The host is known, but with other keys: never accepted, not even with accept-new. */
  | { status: 'mismatch'; entries: KnownHostEntry[] }
  | { status: 'unknown' };

/** The name OpenSSH records: bare host on port 22, `[host]:port` otherwise. */
export function hostToken(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

export function parseKnownHosts(text: string, file = 'known_hosts'): KnownHostEntry[] {
  const entries: KnownHostEntry[] = [];
  text.split('\n').forEach((rawLine, index) => {
    const fields = rawLine.trim().split(/\s+/);
    if (fields[0] === undefined || fields[0] === '' || fields[0].startsWith('#')) return;
    let marker: KnownHostEntry['marker'] = null;
    if (fields[0].startsWith('@')) {
      const name = fields.shift();
      if (name !== '@cert-authority' && name !== '@revoked') return; // unknown marker: ignore the line
      marker = name === '@revoked' ? 'revoked' : 'cert-authority';
    }
    const [hosts, keyType, base64] = fields;
    if (hosts === undefined || keyType === undefined || base64 === undefined) return;
    const key = Buffer.from(base64, 'base64');
    if (key.length === 0 || keyTypeOf(key) !== keyType) return; // corrupt line: skip like OpenSSH
    const hashed = parseHashed(hosts);
    if (hosts.startsWith('|') && hashed === null) return;
    const patterns = hashed ? null : hosts.split(',').filter(Boolean);
    entries.push({ marker, patterns, hashed, keyType, key, file, line: index + 1 });
  });
  return entries;
}

function parseHashed(hosts: string): KnownHostEntry['hashed'] {
  const match = /^\|1\|([^|]+)\|([^|]+)$/.exec(hosts);
  if (!match?.[1] || !match[2]) return null;
  return { salt: Buffer.from(match[1], 'base64'), hash: Buffer.from(match[2], 'base64') };
}

function entryMatchesHost(entry: KnownHostEntry, token: string): boolean {
  if (entry.hashed) {
    const hmac = createHmac('sha1', entry.hashed.salt).update(token.toLowerCase()).digest();
    return hmac.equals(entry.hashed.hash);
  }
  return matchPatternList(entry.patterns ?? [], token);
}

export function checkHostKey(
  entries: readonly KnownHostEntry[],
  host: string,
  port: number,
  key: Buffer,
): HostKeyCheck {
  const token = hostToken(host, port);
  const forHost = entries.filter((e) => e.marker !== 'cert-authority' && entryMatchesHost(e, token));
  const revoked = entries.find((e) => e.marker === 'revoked' && e.key.equals(key));
  if (revoked) return { status: 'revoked', entry: revoked };
  const plain = forHost.filter((e) => e.marker === null);
  const match = plain.find((e) => e.key.equals(key));
  if (match) return { status: 'match', entry: match };
  return plain.length > 0 ? { status: 'mismatch', entries: plain } : { status: 'unknown' };
}

/** Key types already recorded for a host: offered first, so the server presents a key we know. */
export function knownKeyTypes(entries: readonly KnownHostEntry[], host: string, port: number): string[] {
  const token = hostToken(host, port);
  const types = entries.filter((e) => e.marker === null && entryMatchesHost(e, token)).map((e) => e.keyType);
  return [...new Set(types)];
}

export function knownHostsLine(host: string, port: number, key: Buffer): string {
  return `${hostToken(host, port)} ${keyTypeOf(key)} ${key.toString('base64')}`;
}

/** Reads every file that exists; a missing file is simply empty (as in OpenSSH). */
export async function loadKnownHosts(files: readonly string[]): Promise<KnownHostEntry[]> {
  const texts = await Promise.all(
    files.map((file) =>
      readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return '';
        throw err;
      }),
    ),
  );
  return texts.flatMap((text, i) => parseKnownHosts(text, files[i]));
}

export async function appendKnownHost(file: string, line: string): Promise<void> {
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  const existing = await readFile(file, 'utf8').catch(() => '');
  const separator = existing === '' || existing.endsWith('\n') ? '' : '\n';
  await appendFile(file, `${separator}${line}\n`, { mode: 0o600 });
}

import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { SettleError } from './errors.js';

/**
 * Secrets at rest (a seller's OAuth access and refresh tokens): AES-256-GCM with a random 96-bit IV per value and
 * the value's purpose bound in as additional authenticated data, so a sealed token copied into another column or
 * row does not open there.
 *
 * Sealed form: `v1.<key id>.<iv>.<ciphertext>.<tag>` (base64url parts). The key id (first 8 hex digits of the
 * key's SHA-256) names the key that sealed the value, which makes rotation possible: configure the new key as
 * current and the old one as previous; values sealed with either open, `needsReseal()` says which to re-seal, and
 * once none is left the previous key can go (docs/security.md).
 */

export interface SealingKeys {
  current: Buffer;
  /** Keys that may still open older values (rotation). */
  previous: readonly Buffer[];
}

const VERSION = 'v1';

export function keyId(key: Buffer): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 8);
}

/** Parses a 32-byte key given as 64 hex digits or base64/base64url (43–44 characters). */
export function parseSealingKey(text: string): Buffer {
  const t = text.trim();
  const key = /^[0-9a-fA-F]{64}$/.test(t) ? Buffer.from(t, 'hex') : Buffer.from(t, 'base64');
  if (key.length !== 32 || (!/^[0-9a-fA-F]{64}$/.test(t) && !/^[A-Za-z0-9+/_-]{43}=?$/.test(t)))
    throw new SettleError(
      'config_invalid',
      'An encryption key must be 32 random bytes, as 64 hex digits or base64 (e.g. `openssl rand -base64 32`).',
    );
  return key;
}

export function seal(keys: SealingKeys, plaintext: string, purpose: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', keys.current, iv);
  cipher.setAAD(Buffer.from(purpose, 'utf8'));
  const data = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  const tag = cipher.getAuthTag();
  return [
    VERSION,
    keyId(keys.current),
    iv.toString('base64url'),
    data.toString('base64url'),
    tag.toString('base64url'),
  ].join('.');
}

/** Opens a sealed value; a wrong key, another purpose or any altered byte is an error (never a wrong plaintext). */
export function open(keys: SealingKeys, sealed: string, purpose: string): string {
  const parts = sealed.split('.');
  if (parts.length !== 5 || parts[0] !== VERSION) throw new Error('not a sealed value');
  const [, id, ivText, dataText, tagText] = parts as [string, string, string, string, string];
  const key = [keys.current, ...keys.previous].find((k) => keyId(k) === id);
  if (key === undefined) throw new Error(`no configured key opens this value (key id ${id})`);
  const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(ivText, 'base64url'));
  decipher.setAAD(Buffer.from(purpose, 'utf8'));
  decipher.setAuthTag(Buffer.from(tagText, 'base64url'));
  try {
    return Buffer.concat([decipher.update(Buffer.from(dataText, 'base64url')), decipher.final()]).toString(
      'utf8',
    );
  } catch {
    throw new Error('sealed value failed authentication (wrong key, purpose or altered bytes)');
  }
}

/** True when the value was sealed with a key other than the current one (re-seal it during a rotation). */
export function needsReseal(keys: SealingKeys, sealed: string): boolean {
  return sealed.split('.')[1] !== keyId(keys.current);
}

/** A fresh random key (the demo's, whose sealed values live only as long as its database). */
export function randomSealingKeys(): SealingKeys {
  return { current: randomBytes(32), previous: [] };
}

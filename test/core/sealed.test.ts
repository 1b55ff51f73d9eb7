import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { keyId, needsReseal, open, parseSealingKey, seal, type SealingKeys } from '../../src/core/sealed.js';

const k1 = randomBytes(32);
const k2 = randomBytes(32);

describe('sealed secrets (AES-256-GCM)', () => {
  it('round-trips, never shows the plaintext, and uses a fresh IV each time', () => {
    const keys: SealingKeys = { current: k1, previous: [] };
    const token = 'EAAAEexample-access-token-0123456789';
    const a = seal(keys, token, 'square.access_token');
    const b = seal(keys, token, 'square.access_token');
    expect(a).not.toBe(b);
    expect(a).not.toContain(token);
    expect(a.startsWith(`v1.${keyId(k1)}.`)).toBe(true);
    expect(open(keys, a, 'square.access_token')).toBe(token);
  });

  it('refuses another purpose, another key and any altered byte', () => {
    const keys: SealingKeys = { current: k1, previous: [] };
    const s = seal(keys, 'secret', 'square.refresh_token');
    expect(() => open(keys, s, 'square.access_token')).toThrow(/failed authentication/);
    expect(() => open({ current: k2, previous: [] }, s, 'square.refresh_token')).toThrow(/no configured key/);
    const parts = s.split('.');
    const data = Buffer.from(parts[3] ?? '', 'base64url');
    data[0] = (data[0] ?? 0) ^ 1;
    parts[3] = data.toString('base64url');
    expect(() => open(keys, parts.join('.'), 'square.refresh_token')).toThrow(/failed authentication/);
    expect(() => open(keys, 'plain-token', 'square.refresh_token')).toThrow(/not a sealed value/);
  });

  it('rotation: values sealed with the previous key still open and are flagged for re-sealing', () => {
    const old = seal({ current: k1, previous: [] }, 'tok', 'p');
    const rotated: SealingKeys = { current: k2, previous: [k1] };
    expect(open(rotated, old, 'p')).toBe('tok');
    expect(needsReseal(rotated, old)).toBe(true);
    const fresh = seal(rotated, 'tok', 'p');
    expect(needsReseal(rotated, fresh)).toBe(false);
    expect(() => open({ current: k2, previous: [] }, old, 'p')).toThrow(/no configured key/);
  });

  it('keys are 32 bytes as hex or base64; anything else is a configuration error', () => {
    expect(parseSealingKey(k1.toString('hex'))).toEqual(k1);
    expect(parseSealingKey(k1.toString('base64'))).toEqual(k1);
    expect(parseSealingKey(k1.toString('base64url'))).toEqual(k1);
    for (const bad of ['', 'short', randomBytes(16).toString('hex'), randomBytes(31).toString('base64')])
      expect(() => parseSealingKey(bad)).toThrow(/32 random bytes/);
  });
});

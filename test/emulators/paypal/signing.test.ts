import { X509Certificate, createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  createSigningKey,
  crc32Decimal,
  rawMemberText,
  signTransmission,
  verifyTransmission,
} from '../../../src/emulators/paypal/signing.js';

describe('PayPal webhook signing', () => {
  const key = createSigningKey(Date.parse('2026-01-01T00:00:00Z'));

  it('makes a self-signed X.509 certificate Node can parse and verify', () => {
    const cert = new X509Certificate(key.certPem);
    expect(cert.verify(cert.publicKey)).toBe(true);
    expect(cert.subject).toContain('CN=messageverificationcerts.sandbox.paypal.com (emulator)');
    expect(cert.issuer).toBe(cert.subject);
    expect(Date.parse(cert.validTo)).toBeGreaterThan(Date.parse('2035-01-01T00:00:00Z'));
    expect(cert.publicKey.asymmetricKeyType).toBe('rsa');
    expect(key.certId).toMatch(/^CERT-[0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8}$/);
    expect(createHash('sha256').update(key.certPem).digest('hex')).toHaveLength(64);
  });

  it('CRC32 as an unsigned decimal', () => {
    expect(crc32Decimal('')).toBe('0');
    expect(crc32Decimal('The quick brown fox jumps over the lazy dog')).toBe(String(0x414fa339));
  });

  it('signs id|time|webhookId|crc32 and verifies only the same bytes and webhook id', () => {
    const body = '{"id":"WH-1","event_type":"PAYMENT.CAPTURE.COMPLETED"}';
    const sig = signTransmission(key.privateKey, 't-1', '2026-01-01T00:00:00Z', 'WEBHOOK1', body);
    expect(verifyTransmission(key.certPem, sig, 't-1', '2026-01-01T00:00:00Z', 'WEBHOOK1', body)).toBe(true);
    expect(verifyTransmission(key.certPem, sig, 't-1', '2026-01-01T00:00:00Z', 'WEBHOOK2', body)).toBe(false);
    expect(verifyTransmission(key.certPem, sig, 't-2', '2026-01-01T00:00:00Z', 'WEBHOOK1', body)).toBe(false);
    expect(verifyTransmission(key.certPem, sig, 't-1', '2026-01-01T00:00:00Z', 'WEBHOOK1', `${body} `)).toBe(
      false,
    );
    expect(verifyTransmission(key.certPem, 'not-base64!', 't-1', 'x', 'WEBHOOK1', body)).toBe(false);
  });

  it('finds the raw text of a top-level member (strings with escapes, nesting, spacing kept)', () => {
    const json = '{ "a" : [1, {"b": "}"}], "webhook_event" :{"x":"\\"}{","y":[true,null,-1.5e3]}  , "z": 1 }';
    expect(rawMemberText(json, 'webhook_event')).toBe('{"x":"\\"}{","y":[true,null,-1.5e3]}');
    expect(rawMemberText(json, 'z')).toBe('1');
    expect(rawMemberText(json, 'missing')).toBeNull();
    expect(rawMemberText('[1]', 'a')).toBeNull();
    expect(rawMemberText('{"webhook_event": {"unterminated": ', 'webhook_event')).toBeNull();
  });
});

import { createSign } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { SettleError } from '../../../src/core/errors.js';
import {
  PAYPAL_CERT_HOSTS,
  PayPalWebhookVerifier,
  WEBHOOK_MAX_AGE_SECONDS,
} from '../../../src/providers/paypal/webhook-verify.js';

/**
 * Offline PayPal webhook verification: RSA-SHA256 over `transmission_id|transmission_time|webhook_id|crc32(body)`
 * with the certificate from PAYPAL-CERT-URL, fetched only from PayPal's hosts. The certificate and key are a
 * test-only self-signed pair (fixtures/README.md); fetches are counted by an injected fetcher.
 */

const FIXTURES = join(import.meta.dirname, 'fixtures');
const CERT = readFileSync(join(FIXTURES, 'test-webhook-cert.pem'), 'utf8');
const KEY = readFileSync(join(FIXTURES, 'test-webhook-key.pem'), 'utf8');
const WEBHOOK_ID = '8PT597110X687430LKGECATA';
const CERT_URL = 'https://api-m.sandbox.paypal.com/v1/notifications/certs/CERT-360caa42-fca2a594-a5cafa77';

function sign(body: string, opts: { webhookId?: string; time?: string; id?: string; certUrl?: string } = {}) {
  const id = opts.id ?? 'b2384410-f8d2-11ef-9c2e-0d4f6c3b2a11';
  const time = opts.time ?? new Date().toISOString();
  const message = `${id}|${time}|${opts.webhookId ?? WEBHOOK_ID}|${crc32(Buffer.from(body))}`;
  const sig = createSign('sha256').update(message).sign(KEY, 'base64');
  return {
    'paypal-transmission-id': id,
    'paypal-transmission-time': time,
    'paypal-transmission-sig': sig,
    'paypal-cert-url': opts.certUrl ?? CERT_URL,
    'paypal-auth-algo': 'SHA256withRSA',
    'content-type': 'application/json',
  };
}

function verifier(
  opts: { now?: () => Date; emulatorOrigin?: string | null; webhookId?: string | null } = {},
) {
  const fetched: string[] = [];
  const v = new PayPalWebhookVerifier({
    webhookId: opts.webhookId === undefined ? WEBHOOK_ID : opts.webhookId,
    emulatorOrigin: opts.emulatorOrigin ?? null,
    fetchCert: async (url) => {
      fetched.push(url.toString());
      return CERT;
    },
    ...(opts.now ? { now: opts.now } : {}),
  });
  return { v, fetched };
}

async function refusal(p: Promise<unknown>): Promise<SettleError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(SettleError);
  return err as SettleError;
}

const BODY = JSON.stringify({
  id: 'WH-2WR32451HC0233532-67976317FL4543714',
  event_type: 'PAYMENT.CAPTURE.COMPLETED',
  create_time: '2026-11-28T10:00:00.000Z',
  resource: { id: '2GG279541U471931P', amount: { currency_code: 'USD', value: '10.00' } },
});

describe('PayPal webhook verification (offline)', () => {
  it('accepts a delivery signed over id|time|webhook id|crc32(raw body), fetching the certificate once', async () => {
    const { v, fetched } = verifier();
    await v.verify(Buffer.from(BODY), sign(BODY));
    await v.verify(Buffer.from(BODY), sign(BODY, { id: 'another-transmission' }));
    expect(fetched).toEqual([CERT_URL]);
  });

  it('refuses a forged signature, an altered body and another webhook id', async () => {
    const { v } = verifier();
    const forged = {
      ...sign(BODY),
      'paypal-transmission-sig': Buffer.from('x'.repeat(256)).toString('base64'),
    };
    expect((await refusal(v.verify(Buffer.from(BODY), forged))).code).toBe('webhook_signature_invalid');
    const altered = BODY.replace('10.00', '1000.00');
    expect((await refusal(v.verify(Buffer.from(altered), sign(BODY)))).message).toMatch(/does not match/);
    // Signed for another webhook (another subscription, another platform): the message differs.
    const other = sign(BODY, { webhookId: 'WEBHOOK_ID' });
    expect((await refusal(v.verify(Buffer.from(BODY), other))).message).toMatch(/does not match/);
    // No webhook id configured: nothing verifies.
    const none = verifier({ webhookId: null });
    expect((await refusal(none.v.verify(Buffer.from(BODY), sign(BODY)))).message).toMatch(
      /PAYPAL_WEBHOOK_ID/,
    );
    expect(none.fetched).toEqual([]);
  });

  it('a certificate URL outside the allow-list is refused without any fetch', async () => {
    const { v, fetched } = verifier();
    for (const url of [
      'https://attacker.example/v1/notifications/certs/CERT-1',
      'http://api-m.paypal.com/v1/notifications/certs/CERT-1', // not https
      'https://api-m.paypal.com.attacker.example/v1/notifications/certs/CERT-1',
      'https://user@api-m.paypal.com/v1/notifications/certs/CERT-1',
      'https://api-m.paypal.com:8443/v1/notifications/certs/CERT-1',
      'https://api-m.paypal.com/v1/oauth2/token', // a PayPal host, not a certificate path
      'https://api-m.paypal.com/v1/notifications/certs/../../oauth2/token',
      'https://169.254.169.254/v1/notifications/certs/CERT-1',
      'http://127.0.0.1:12112/v1/notifications/certs/CERT-1', // an emulator's, but not in emulator mode
      'not a url',
    ]) {
      const err = await refusal(v.verify(Buffer.from(BODY), sign(BODY, { certUrl: url })));
      expect(err.code, url).toBe('webhook_signature_invalid');
      expect(err.message, url).toMatch(/not a PayPal certificate URL/);
    }
    expect(fetched).toEqual([]);
    for (const host of PAYPAL_CERT_HOSTS)
      expect(v.allowedCertUrl(`https://${host}/v1/notifications/certs/CERT-1`)).not.toBeNull();
  });

  it('in emulator mode the emulator origin is allowed too, and only it', async () => {
    const { v, fetched } = verifier({ emulatorOrigin: 'http://127.0.0.1:12112' });
    const url = 'http://127.0.0.1:12112/v1/notifications/certs/CERT-emulator';
    await v.verify(Buffer.from(BODY), sign(BODY, { certUrl: url }));
    expect(fetched).toEqual([url]);
    const other = await refusal(
      v.verify(
        Buffer.from(BODY),
        sign(BODY, { certUrl: 'http://127.0.0.1:9999/v1/notifications/certs/CERT-x' }),
      ),
    );
    expect(other.message).toMatch(/127\.0\.0\.1:12112/);
  });

  it('refuses old, future and malformed transmission times, missing and repeated headers, other algorithms', async () => {
    const { v } = verifier();
    const old = new Date(Date.now() - (WEBHOOK_MAX_AGE_SECONDS + 60) * 1000).toISOString();
    expect((await refusal(v.verify(Buffer.from(BODY), sign(BODY, { time: old })))).message).toMatch(
      /too old/,
    );
    const future = new Date(Date.now() + 3600_000).toISOString();
    expect((await refusal(v.verify(Buffer.from(BODY), sign(BODY, { time: future })))).message).toMatch(
      /future/,
    );
    expect((await refusal(v.verify(Buffer.from(BODY), sign(BODY, { time: 'yesterday' })))).message).toMatch(
      /malformed/,
    );
    const { 'paypal-transmission-sig': _sig, ...missing } = sign(BODY);
    expect((await refusal(v.verify(Buffer.from(BODY), missing))).message).toMatch(/missing or repeated/);
    const repeated = { ...sign(BODY), 'paypal-cert-url': [CERT_URL, CERT_URL] };
    expect((await refusal(v.verify(Buffer.from(BODY), repeated))).message).toMatch(/missing or repeated/);
    const md5 = { ...sign(BODY), 'paypal-auth-algo': 'MD5withRSA' };
    expect((await refusal(v.verify(Buffer.from(BODY), md5))).message).toMatch(/PAYPAL-AUTH-ALGO/);
  });

  it('checks the certificate validity dates at every use', async () => {
    const later = new Date('2200-01-01T00:00:00Z');
    const { v } = verifier({ now: () => later });
    const err = await refusal(v.verify(Buffer.from(BODY), sign(BODY, { time: later.toISOString() })));
    expect(err.message).toMatch(/not valid now/);
    const earlier = new Date('2000-01-01T00:00:00Z');
    const before = verifier({ now: () => earlier });
    const err2 = await refusal(
      before.v.verify(Buffer.from(BODY), sign(BODY, { time: earlier.toISOString() })),
    );
    expect(err2.message).toMatch(/not valid now/);
  });

  it('a certificate that cannot be fetched is an outage (503, PayPal retries), not a verdict', async () => {
    const v = new PayPalWebhookVerifier({
      webhookId: WEBHOOK_ID,
      emulatorOrigin: null,
      fetchCert: async () => {
        throw new Error('ECONNRESET');
      },
    });
    const err = await refusal(v.verify(Buffer.from(BODY), sign(BODY)));
    expect(err.code).toBe('provider_unavailable');
    const garbage = new PayPalWebhookVerifier({
      webhookId: WEBHOOK_ID,
      emulatorOrigin: null,
      fetchCert: async () => 'not a certificate',
    });
    expect((await refusal(garbage.verify(Buffer.from(BODY), sign(BODY)))).code).toBe(
      'webhook_signature_invalid',
    );
  });
});

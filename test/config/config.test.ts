import { describe, expect, it } from 'vitest';
import { adminTokenProblem, estimateSecretBits, loadConfig, looksTyped } from '../../src/config/config.js';
import type { SettleError } from '../../src/core/errors.js';
import { ADMIN_TOKEN } from '../helpers/settle.js';

const LIVE = {
  STRIPE_SECRET_KEY: 'sk_live_configtest',
  PUBLIC_URL: 'https://market.example.com',
  STRIPE_WEBHOOK_SECRET: 'whsec_platformSecretAbc123',
  STRIPE_CONNECT_WEBHOOK_SECRET: 'whsec_connectSecretXyz789',
  SETTLE_ADMIN_TOKEN: 'Zq8vR2mK7xWp4sNc9Lb3Tf6H',
};

/** The configuration error's message, or null when the environment loads. */
function refusal(env: Record<string, string>): string | null {
  try {
    loadConfig(env);
    return null;
  } catch (err) {
    expect((err as SettleError).code).toBe('config_invalid');
    return (err as SettleError).message;
  }
}

describe('configuration refusals', () => {
  it('a webhook secret needs content after whsec_ (on either endpoint)', () => {
    const platform = refusal({ ...LIVE, STRIPE_WEBHOOK_SECRET: 'whsec_' });
    expect(platform).toContain('STRIPE_WEBHOOK_SECRET: a secret must have content after whsec_');
    const connect = refusal({ ...LIVE, STRIPE_CONNECT_WEBHOOK_SECRET: 'whsec_good123,whsec_' });
    expect(connect).toContain('STRIPE_CONNECT_WEBHOOK_SECRET: a secret must have content after whsec_');
    expect(refusal({ ...LIVE, STRIPE_WEBHOOK_SECRET: 'whsec_---' })).toContain('content after whsec_');
    // Demo mode (no key) checks the format too.
    expect(refusal({ STRIPE_WEBHOOK_SECRET: 'whsec_' })).toContain('content after whsec_');
    expect(refusal({ ...LIVE, STRIPE_WEBHOOK_SECRET: 'sk_live_oops' })).toContain(
      'STRIPE_WEBHOOK_SECRET: each secret must start with whsec_',
    );
  });

  it('a low-entropy admin token is refused with a message that never echoes it', () => {
    for (const token of [
      'a'.repeat(16),
      'a'.repeat(40),
      'abababababababab',
      'abcdefghijklmnopqrstuvwxyz',
      '0123456789012345678901234',
      'password12password12',
      '0123abcd0123abcd0123',
      '4f3c2a1b9d8e7f60', // 16 hex characters: 64 bits
    ]) {
      const msg = refusal({ SETTLE_ADMIN_TOKEN: token });
      expect(msg, token).toContain('SETTLE_ADMIN_TOKEN: is too easy to guess');
      expect(msg, token).not.toContain(token);
    }
    expect(refusal({ SETTLE_ADMIN_TOKEN: 'short-Token-1' })).toContain(
      'SETTLE_ADMIN_TOKEN: must be at least 16 characters',
    );
    expect(refusal({ SETTLE_ADMIN_TOKEN: 'has spaces Zq8vR2mK7xWp4' })).toContain(
      'printable ASCII without spaces',
    );
  });

  it('random tokens and the test suites\u2019 tokens pass', () => {
    for (const token of [
      ADMIN_TOKEN,
      'admin-token-0123456789',
      'deployment-admin-token-0123456789',
      'Zq8vR2mK7xWp4sNc', // 16 random letters and digits
      '4f3c2a1b9d8e7f6051a2', // openssl rand -hex 10
      'x3/Jb9+Qm2Lw7ZkP0aYt1Rc5VhN8sE6u4GdF=', // openssl rand -base64 …
    ]) {
      expect(adminTokenProblem(token), token).toBeNull();
      expect(refusal({ SETTLE_ADMIN_TOKEN: token }), token).toBeNull();
    }
    expect(estimateSecretBits('4f3c2a1b9d8e7f6051a2')).toBe(80);
    expect(looksTyped('Zq8vR2mK7xWp4sNc')).toBe(false);
  });

  it('a live key refuses one secret on both endpoints; test mode allows it (Stripe CLI forwarding)', () => {
    const shared = 'whsec_sharedSecret0123456789';
    const live = refusal({
      ...LIVE,
      STRIPE_WEBHOOK_SECRET: `whsec_old123,${shared}`,
      STRIPE_CONNECT_WEBHOOK_SECRET: shared,
    });
    expect(live).toContain('the same secret is set for both endpoints');
    expect(live).not.toContain(shared);
    expect(refusal(LIVE)).toBeNull();
    const test = loadConfig({
      ...LIVE,
      STRIPE_SECRET_KEY: 'sk_test_configtest',
      STRIPE_WEBHOOK_SECRET: shared,
      STRIPE_CONNECT_WEBHOOK_SECRET: shared,
    });
    expect(test.stripe.mode).toBe('test');
    expect(test.stripe.webhookSecrets).toEqual([shared]);
  });

  it('lists every problem at once', () => {
    const msg = refusal({ ...LIVE, STRIPE_WEBHOOK_SECRET: 'whsec_', SETTLE_ADMIN_TOKEN: 'a'.repeat(16) });
    expect(msg).toContain('SETTLE_ADMIN_TOKEN');
    expect(msg).toContain('content after whsec_');
  });
});

describe('Square configuration', () => {
  const KEY = Buffer.alloc(32, 7).toString('base64');
  const SANDBOX = {
    SQUARE_APPLICATION_ID: 'sandbox-sq0idb-abcdefghijklmnopqrstuv',
    SQUARE_APPLICATION_SECRET: 'sandbox-sq0csb-abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG',
    SQUARE_WEBHOOK_SIGNATURE_KEY: 'sigkey123',
    SQUARE_WEBHOOK_URL: 'https://market.example.com/webhooks/square',
    SQUARE_ENVIRONMENT: 'sandbox',
    SETTLE_ENCRYPTION_KEY: KEY,
    SETTLE_ADMIN_TOKEN: 'Zq8vR2mK7xWp4sNc9Lb3Tf6H',
  };

  it('loads a complete sandbox setup', () => {
    const c = loadConfig(SANDBOX);
    expect(c.square.environment).toBe('sandbox');
    expect(c.square.webhookUrl).toBe(SANDBOX.SQUARE_WEBHOOK_URL);
    expect(c.sealingKeys?.current.length).toBe(32);
  });

  it('never assumes production: SQUARE_ENVIRONMENT is required and must match the credentials', () => {
    const { SQUARE_ENVIRONMENT: _e, ...noEnv } = SANDBOX;
    expect(refusal(noEnv)).toContain('SQUARE_ENVIRONMENT: required when Square is configured');
    expect(refusal({ ...SANDBOX, SQUARE_ENVIRONMENT: 'production' })).toContain(
      'production, but the application credentials are sandbox ones',
    );
    expect(refusal({ ...SANDBOX, SQUARE_ENVIRONMENT: 'live' })).toContain('SQUARE_ENVIRONMENT');
  });

  it('requires the signature key, the notification URL, the encryption key and the operator token', () => {
    const msg = refusal({
      SQUARE_APPLICATION_ID: SANDBOX.SQUARE_APPLICATION_ID,
      SQUARE_APPLICATION_SECRET: SANDBOX.SQUARE_APPLICATION_SECRET,
      SQUARE_ENVIRONMENT: 'sandbox',
    });
    for (const name of [
      'SQUARE_WEBHOOK_SIGNATURE_KEY',
      'SQUARE_WEBHOOK_URL',
      'SETTLE_ENCRYPTION_KEY',
      'SETTLE_ADMIN_TOKEN',
    ])
      expect(msg).toContain(`${name}: required`);
  });

  it('refuses half a setup, a bad key, and the emulator base or http in production', () => {
    expect(refusal({ SQUARE_WEBHOOK_URL: 'https://x.example/webhooks/square' })).toContain(
      'Square is off without SQUARE_APPLICATION_ID',
    );
    expect(refusal({ ...SANDBOX, SETTLE_ENCRYPTION_KEY: 'short' })).toContain(
      'SETTLE_ENCRYPTION_KEY: An encryption key must be 32 random bytes',
    );
    const prod = {
      ...SANDBOX,
      SQUARE_APPLICATION_ID: 'sq0idp-abcdefghijklmnopqrstuv',
      SQUARE_APPLICATION_SECRET: 'sq0csp-abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG',
      SQUARE_ENVIRONMENT: 'production',
      PUBLIC_URL: 'https://market.example.com',
    };
    expect(refusal(prod)).toBeNull();
    expect(refusal({ ...prod, SQUARE_API_BASE: 'http://127.0.0.1:12113' })).toContain(
      'SQUARE_API_BASE: must not be set with SQUARE_ENVIRONMENT=production',
    );
    expect(refusal({ ...prod, SQUARE_WEBHOOK_URL: 'http://market.example.com/webhooks/square' })).toContain(
      'SQUARE_WEBHOOK_URL: must be https://',
    );
    expect(refusal({ ...prod, PUBLIC_URL: 'http://market.example.com' })).toContain(
      'PUBLIC_URL: must be https:// with SQUARE_ENVIRONMENT=production',
    );
  });
});

import Stripe from 'stripe';
import { describe, expect, it } from 'vitest';
import { SettleError } from '../../../src/core/errors.js';
import { startStripeEmulator, stripeClientFor } from '../../../src/emulators/stripe/index.js';
import {
  StripeProvider,
  checkoutOutcome,
  refundStatus,
  scrubSecrets,
  toSettleError,
} from '../../../src/providers/stripe/index.js';

type S = Stripe.Checkout.Session;
const session = (p: Partial<S>): S =>
  ({
    id: 'cs_test_x',
    status: 'open',
    payment_status: 'unpaid',
    amount_total: 5000,
    payment_intent: null,
    ...p,
  }) as S;

describe('checkoutOutcome', () => {
  it.each<[Partial<S>, string]>([
    [{ status: 'complete', payment_status: 'paid', amount_total: 5000, payment_intent: 'pi_1' }, 'succeeded'],
    [{ status: 'complete', payment_status: 'no_payment_required', amount_total: 0 }, 'zero_amount'],
    [{ status: 'complete', payment_status: 'paid', amount_total: 0 }, 'zero_amount'],
    // Never zero_amount when merely unpaid, or when a PaymentIntent exists.
    [{ status: 'complete', payment_status: 'unpaid', amount_total: 0 }, 'processing'],
    [{ status: 'complete', payment_status: 'paid', amount_total: 0, payment_intent: 'pi_1' }, 'open'],
    [
      { status: 'complete', payment_status: 'unpaid', amount_total: 5000, payment_intent: 'pi_1' },
      'processing',
    ],
    [{ status: 'expired' }, 'expired'],
    [{ status: 'open' }, 'open'],
    [{ status: 'open', payment_status: 'no_payment_required', amount_total: 0 }, 'open'],
  ])('%o → %s', (p, outcome) => {
    expect(checkoutOutcome(session(p))).toBe(outcome);
  });

  it('a complete, unpaid session is failed when its PaymentIntent says the delayed payment failed', () => {
    const unpaid = session({ status: 'complete', payment_status: 'unpaid', amount_total: 5000 });
    const pi = (status: Stripe.PaymentIntent.Status) => ({ id: 'pi_1', status }) as Stripe.PaymentIntent;
    expect(checkoutOutcome(unpaid, pi('processing'))).toBe('processing');
    expect(checkoutOutcome(unpaid, pi('requires_payment_method'))).toBe('failed');
    expect(checkoutOutcome(unpaid, pi('canceled'))).toBe('failed');
    // Expanded on the session, the same.
    expect(checkoutOutcome({ ...unpaid, payment_intent: pi('requires_payment_method') })).toBe('failed');
  });

  it('maps refund statuses', () => {
    expect(['succeeded', 'pending', 'requires_action', 'failed', 'canceled', null].map(refundStatus)).toEqual(
      ['succeeded', 'pending', 'pending', 'failed', 'failed', 'pending'],
    );
  });
});

describe('toSettleError', () => {
  it('scrubs keys and secrets', () => {
    expect(scrubSecrets('Invalid API Key provided: sk_live_abc123 and whsec_zzz')).toBe(
      'Invalid API Key provided: [redacted] and [redacted]',
    );
  });

  it('connection refused and timeouts are provider_unavailable; non-Stripe errors are rethrown', async () => {
    const emu = await startStripeEmulator({ timeScale: 0.01 });
    try {
      const slow = stripeClientFor(emu, 'sk_test_timeout', { timeout: 200 });
      emu.faults.set({ apiTimeout: { path: '/v1/accounts', next: 1, ms: 1000 } });
      const p = new StripeProvider({ stripe: slow, livemode: false, secrets: { platform: [], connect: [] } });
      await expect(p.retrieveSellerAccount('acct_x')).rejects.toMatchObject({ code: 'provider_unavailable' });
    } finally {
      await emu.close();
    }
    const dead = stripeClientFor('http://127.0.0.1:9', 'sk_test_dead');
    const p = new StripeProvider({ stripe: dead, livemode: false, secrets: { platform: [], connect: [] } });
    const err: unknown = await p.retrieveSellerAccount('acct_x').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SettleError);
    expect(err).toMatchObject({ code: 'provider_unavailable', httpStatus: 503 });
    expect(() => toSettleError(new TypeError('bug'), 'x')).toThrow(TypeError);
  });

  it('authentication errors are provider_error without the key', async () => {
    const emu = await startStripeEmulator({ timeScale: 0.01 });
    try {
      const bad = stripeClientFor(emu, 'sk_live_supersecretvalue123');
      const p = new StripeProvider({ stripe: bad, livemode: true, secrets: { platform: [], connect: [] } });
      const err: unknown = await p.retrieveSellerAccount('acct_x').catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'provider_error', httpStatus: 502 });
      expect((err as Error).message).toContain('STRIPE_SECRET_KEY');
      expect((err as Error).message).not.toContain('supersecretvalue');
    } finally {
      await emu.close();
    }
  });
});

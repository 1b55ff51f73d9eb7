import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AccountContext } from '../../../src/core/provider.js';
import { TEST_CARDS } from '../../../src/emulators/stripe/index.js';
import { ensurePromotionCode } from '../../../src/providers/stripe/index.js';
import { checkoutInput, startProviderHarness, type ProviderHarness } from './harness.js';

let h: ProviderHarness;

beforeAll(async () => {
  h = await startProviderHarness();
});
afterAll(async () => {
  await h?.close();
});

/** Where the promotion code must live: on the seller's account for direct charges, else on the platform. */
const promoAccount = (a: AccountContext): string | undefined =>
  a.chargeType === 'direct' ? a.accountId : undefined;

describe.each(['direct', 'destination'] as const)('%s charges', (chargeType) => {
  const account = (): AccountContext => (chargeType === 'direct' ? h.direct : h.destination);

  it('creates the session on the right account with fee and routing, and reads back a paid checkout', async () => {
    const input = checkoutInput(account());
    const hosted = await h.provider.createCheckout(input);
    expect(hosted.sessionId).toMatch(/^cs_test_/);
    expect(hosted.url).toContain(hosted.sessionId);
    expect(hosted.expiresAt.getTime()).toBe(Math.floor(input.expiresAt.getTime() / 1000) * 1000);

    const create = h.emu.requests.find(
      (r) => r.method === 'POST' && r.idempotencyKey === input.idempotencyKey,
    );
    expect(create?.path).toBe('/v1/checkout/sessions');
    expect(create?.account).toBe(chargeType === 'direct' ? account().accountId : null);

    // The session exists only where it should.
    const opts = chargeType === 'direct' ? { stripeAccount: account().accountId } : {};
    const raw = await h.stripe.checkout.sessions.retrieve(hosted.sessionId, {}, opts);
    // Codes are entered on Settle's page before checkout: the hosted page offers no code field.
    expect(raw.allow_promotion_codes).toBeNull();
    expect(await (await fetch(hosted.url)).text()).not.toContain('name="promotion_code"');
    expect(raw.client_reference_id).toBe(input.orderId);
    expect(raw.metadata).toEqual({ orderId: input.orderId });
    expect(raw.customer_email).toBe('buyer@example.com');
    await expect(
      h.stripe.checkout.sessions.retrieve(
        hosted.sessionId,
        {},
        chargeType === 'direct' ? {} : { stripeAccount: account().accountId },
      ),
    ).rejects.toThrow(/No such checkout.session/);

    const open = await h.provider.retrieveCheckout(hosted.sessionId, account());
    expect(open).toMatchObject({
      outcome: 'open',
      paymentId: null,
      amountTotal: 5000,
      orderId: input.orderId,
    });

    const paid = await h.emu.paySession(hosted.sessionId, { card_number: TEST_CARDS.success });
    expect(paid.status).toBe(303);
    const state = await h.provider.retrieveCheckout(hosted.sessionId, account());
    expect(state).toMatchObject({
      provider: 'stripe',
      sessionId: hosted.sessionId,
      orderId: input.orderId,
      accountId: account().accountId,
      outcome: 'succeeded',
      amountTotal: 5000,
      currency: 'eur',
      applicationFee: 500,
      promotionCode: null,
    });
    expect(state.paymentId).toMatch(/^pi_/);
    const pi = await h.stripe.paymentIntents.retrieve(state.paymentId ?? '', {}, opts);
    expect(pi.application_fee_amount).toBe(500);
    if (chargeType === 'destination') {
      expect(pi.transfer_data?.destination).toBe(account().accountId);
      expect(pi.on_behalf_of).toBe(account().accountId);
    } else {
      expect(pi.transfer_data).toBeNull();
    }
  });

  it('omits application_fee_amount when the fee is 0', async () => {
    const hosted = await h.provider.createCheckout(checkoutInput(account(), { applicationFee: 0 }));
    await h.emu.paySession(hosted.sessionId, { card_number: TEST_CARDS.success });
    const state = await h.provider.retrieveCheckout(hosted.sessionId, account());
    expect(state.outcome).toBe('succeeded');
    expect(state.applicationFee).toBe(0);
  });

  it('applies a 10 % promotion code chosen before checkout (discounts)', async () => {
    const promo = await ensurePromotionCode(
      h.stripe,
      { code: 'TENOFF', percentOff: 10 },
      promoAccount(account()),
    );
    const id = await h.provider.findPromotionCodeId('TENOFF', account());
    expect(id).toBe(promo.id);
    const hosted = await h.provider.createCheckout(
      checkoutInput(account(), { promotionCodeProviderId: id, applicationFee: 450 }),
    );
    const opts = chargeType === 'direct' ? { stripeAccount: account().accountId } : {};
    const raw = await h.stripe.checkout.sessions.retrieve(hosted.sessionId, {}, opts);
    expect(raw.allow_promotion_codes).toBeNull();
    await h.emu.paySession(hosted.sessionId, { card_number: TEST_CARDS.success });
    const state = await h.provider.retrieveCheckout(hosted.sessionId, account());
    expect(state).toMatchObject({
      outcome: 'succeeded',
      amountTotal: 4500,
      promotionCode: 'TENOFF',
      applicationFee: 450,
    });
  });

  it('a code typed on the hosted page is refused: the session and its fee stay as Settle priced them', async () => {
    await ensurePromotionCode(h.stripe, { code: 'TENOFF', percentOff: 10 }, promoAccount(account()));
    const hosted = await h.provider.createCheckout(checkoutInput(account()));
    const refused = await h.emu.paySession(hosted.sessionId, {
      card_number: TEST_CARDS.success,
      promotion_code: 'tenoff',
    });
    expect(refused.status).toBe(400);
    expect(await h.provider.retrieveCheckout(hosted.sessionId, account())).toMatchObject({
      outcome: 'open',
      amountTotal: 5000,
      promotionCode: null,
    });
    expect((await h.emu.paySession(hosted.sessionId, { card_number: TEST_CARDS.success })).status).toBe(303);
    const state = await h.provider.retrieveCheckout(hosted.sessionId, account());
    expect(state).toMatchObject({
      outcome: 'succeeded',
      amountTotal: 5000,
      applicationFee: 500,
      promotionCode: null,
    });
  });

  it.each(['no_payment_required', 'paid'] as const)(
    'a 100 %% promotion code completing with payment_status %s is zero_amount',
    async (status) => {
      await ensurePromotionCode(h.stripe, { code: 'FREE100', percentOff: 100 }, promoAccount(account()));
      h.emu.setZeroAmountPaymentStatus(status);
      const id = await h.provider.findPromotionCodeId('FREE100', account());
      const hosted = await h.provider.createCheckout(
        checkoutInput(account(), { promotionCodeProviderId: id, applicationFee: 0 }),
      );
      await h.emu.paySession(hosted.sessionId, {});
      const opts = chargeType === 'direct' ? { stripeAccount: account().accountId } : {};
      const raw = await h.stripe.checkout.sessions.retrieve(hosted.sessionId, {}, opts);
      expect(raw.payment_status).toBe(status);
      const state = await h.provider.retrieveCheckout(hosted.sessionId, account());
      expect(state).toMatchObject({
        outcome: 'zero_amount',
        amountTotal: 0,
        paymentId: null,
        applicationFee: 0,
        promotionCode: 'FREE100',
      });
      h.emu.setZeroAmountPaymentStatus('no_payment_required');
    },
  );

  it('a delayed payment is processing, then succeeded', async () => {
    const hosted = await h.provider.createCheckout(checkoutInput(account()));
    await h.emu.paySession(hosted.sessionId, { payment_method: 'delayed' });
    const processing = await h.provider.retrieveCheckout(hosted.sessionId, account());
    expect(processing.outcome).toBe('processing');
    expect(processing.paymentId).toMatch(/^pi_/);
    await h.emu.completeDelayedPayment(hosted.sessionId, 'succeeded');
    const done = await h.provider.retrieveCheckout(hosted.sessionId, account());
    expect(done).toMatchObject({
      outcome: 'succeeded',
      paymentId: processing.paymentId,
      applicationFee: 500,
    });
  });

  it('expired sessions read as expired; expireCheckout ends open sessions and leaves others alone', async () => {
    const a = await h.provider.createCheckout(checkoutInput(account()));
    await h.emu.expireSession(a.sessionId);
    expect((await h.provider.retrieveCheckout(a.sessionId, account())).outcome).toBe('expired');
    await h.provider.expireCheckout(a.sessionId, account()); // already expired: no error, no request

    const b = await h.provider.createCheckout(checkoutInput(account()));
    await h.provider.expireCheckout(b.sessionId, account());
    expect((await h.provider.retrieveCheckout(b.sessionId, account())).outcome).toBe('expired');
    const expireReq = h.emu.requests.find((r) => r.path.endsWith(`${b.sessionId}/expire`));
    expect(expireReq?.idempotencyKey).toBe(`expire:${b.sessionId}`);
    expect(expireReq?.account).toBe(chargeType === 'direct' ? account().accountId : null);

    const c = await h.provider.createCheckout(checkoutInput(account()));
    await h.emu.paySession(c.sessionId, { card_number: TEST_CARDS.success });
    await h.provider.expireCheckout(c.sessionId, account());
    expect((await h.provider.retrieveCheckout(c.sessionId, account())).outcome).toBe('succeeded');
  });

  it('partial then full refund with the fee returned (and the transfer reversed for destination)', async () => {
    const input = checkoutInput(account());
    const hosted = await h.provider.createCheckout(input);
    await h.emu.paySession(hosted.sessionId, { card_number: TEST_CARDS.success });
    const state = await h.provider.retrieveCheckout(hosted.sessionId, account());
    const paymentId = state.paymentId ?? '';

    const partial = await h.provider.refund({
      account: account(),
      paymentId,
      currency: 'eur',
      amount: 2000,
      idempotencyKey: `refund:${input.orderId}:1`,
      orderId: input.orderId,
      refundId: 'rf_1',
    });
    expect(partial.status).toBe('succeeded');
    expect(partial.providerRefundId).toMatch(/^re_/);
    // Same key again: the same refund comes back, no second refund.
    const replay = await h.provider.refund({
      account: account(),
      paymentId,
      currency: 'eur',
      amount: 2000,
      idempotencyKey: `refund:${input.orderId}:1`,
      orderId: input.orderId,
      refundId: 'rf_1',
    });
    expect(replay.providerRefundId).toBe(partial.providerRefundId);

    const full = await h.provider.refund({
      account: account(),
      paymentId,
      currency: 'eur',
      amount: 3000,
      idempotencyKey: `refund:${input.orderId}:2`,
      orderId: input.orderId,
      refundId: 'rf_2',
    });
    expect(full.status).toBe('succeeded');

    const opts = chargeType === 'direct' ? { stripeAccount: account().accountId } : {};
    const refunds = await h.stripe.refunds.list({ payment_intent: paymentId, limit: 10 }, opts);
    expect(
      refunds.data.map((r) => [r.amount, r.metadata?.['refundId'], r.metadata?.['orderId']]).sort(),
    ).toEqual([
      [2000, 'rf_1', input.orderId],
      [3000, 'rf_2', input.orderId],
    ]);
    const pi = await h.stripe.paymentIntents.retrieve(paymentId, {}, opts);
    const charge = await h.stripe.charges.retrieve(String(pi.latest_charge), {}, opts);
    expect(charge.amount_refunded).toBe(5000);
    expect(charge.refunded).toBe(true);
    const fee = await h.stripe.applicationFees.retrieve(String(charge.application_fee));
    expect(fee.amount_refunded).toBe(500);
    if (chargeType === 'destination') {
      const tr = await h.stripe.transfers.retrieve(String(charge.transfer));
      expect(tr.reversed).toBe(true);
      expect(tr.amount_reversed).toBe(tr.amount);
    }

    await expect(
      h.provider.refund({
        account: account(),
        paymentId,
        currency: 'eur',
        amount: 1,
        idempotencyKey: `refund:${input.orderId}:3`,
        orderId: input.orderId,
        refundId: 'rf_3',
      }),
    ).rejects.toMatchObject({ code: 'provider_error' });
  });
});

describe('sellers', () => {
  it('creates an account, an onboarding link, and reads the account state', async () => {
    const created = await h.provider.createSellerAccount({
      sellerId: 'sel_new',
      email: 'new@example.com',
      idempotencyKey: 'seller:sel_new',
    });
    expect(created).toMatchObject({ detailsSubmitted: false, chargesEnabled: false, payoutsEnabled: false });
    const again = await h.provider.createSellerAccount({
      sellerId: 'sel_new',
      email: 'new@example.com',
      idempotencyKey: 'seller:sel_new',
    });
    expect(again.accountId).toBe(created.accountId);
    const raw = await h.stripe.accounts.retrieve(created.accountId);
    expect(raw.metadata).toEqual({ sellerId: 'sel_new' });
    expect(raw.type).toBe('express');

    const link = await h.provider.createOnboardingLink({
      accountId: created.accountId,
      returnUrl: 'http://shop.test/sellers/return',
      refreshUrl: 'http://shop.test/sellers/refresh',
    });
    expect(link.url.startsWith(h.emu.url)).toBe(true);
    await h.emu.completeOnboarding(created.accountId);
    expect(await h.provider.retrieveSellerAccount(created.accountId)).toEqual({
      accountId: created.accountId,
      detailsSubmitted: true,
      chargesEnabled: true,
      payoutsEnabled: true,
    });
  });

  it('maps Stripe errors to SettleError codes', async () => {
    await expect(h.provider.retrieveSellerAccount('acct_missing')).rejects.toMatchObject({
      code: 'provider_error',
    });
    h.emu.faults.set({ api5xx: { path: '/v1/accounts', next: 1, status: 503 } });
    await expect(h.provider.retrieveSellerAccount(h.direct.accountId)).rejects.toMatchObject({
      code: 'provider_unavailable',
    });
    h.emu.faults.set({ apiRateLimit: { path: '/v1/accounts', next: 1 } });
    await expect(h.provider.retrieveSellerAccount(h.direct.accountId)).rejects.toMatchObject({
      code: 'provider_unavailable',
    });
    h.emu.faults.reset();
    expect((await h.provider.retrieveSellerAccount(h.direct.accountId)).chargesEnabled).toBe(true);
  });
});

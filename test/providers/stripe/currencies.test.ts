import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AccountContext } from '../../../src/core/provider.js';
import { TEST_CARDS } from '../../../src/emulators/stripe/index.js';
import { checkoutInput, startProviderHarness, type ProviderHarness } from './harness.js';

/**
 * The Stripe adapter converts every amount at its boundary: Settle's ISO 4217 minor units out, Stripe's API units
 * back in (ISK/UGX in hundredths, MGA in whole ariary), and refuses what Stripe cannot charge before calling it.
 */
let h: ProviderHarness;

beforeAll(async () => {
  h = await startProviderHarness({ disputeDelayMs: 100 });
});
afterAll(async () => {
  await h?.close();
});

describe.each(['direct', 'destination'] as const)('%s charges', (chargeType) => {
  const account = (): AccountContext => (chargeType === 'direct' ? h.direct : h.destination);
  const opts = () => (chargeType === 'direct' ? { stripeAccount: account().accountId } : {});

  it('ISK 5 000 × 2 is sent as 500000 per unit with a 100000 fee, and read back as 10 000 and 1 000 kr', async () => {
    const input = checkoutInput(account(), {
      currency: 'isk',
      lineItem: { name: 'Glacier walk', unitAmount: 5000, quantity: 2 },
      applicationFee: 1000,
    });
    const hosted = await h.provider.createCheckout(input);
    const raw = await h.stripe.checkout.sessions.retrieve(
      hosted.sessionId,
      { expand: ['line_items'] },
      opts(),
    );
    expect(raw.currency).toBe('isk');
    expect(raw.line_items?.data[0]?.price?.unit_amount).toBe(500_000);
    expect(raw.amount_total).toBe(1_000_000);
    // The hosted page shows krónur, not hundredths.
    const page = await (await fetch(hosted.url)).text();
    expect(page).toContain('ISK 10,000');

    expect((await h.provider.retrieveCheckout(hosted.sessionId, account())).amountTotal).toBe(10_000);
    await h.emu.paySession(hosted.sessionId, { card_number: TEST_CARDS.success });
    const state = await h.provider.retrieveCheckout(hosted.sessionId, account());
    expect(state).toMatchObject({
      outcome: 'succeeded',
      amountTotal: 10_000,
      currency: 'isk',
      applicationFee: 1000,
    });
    const pi = await h.stripe.paymentIntents.retrieve(state.paymentId ?? '', {}, opts());
    expect(pi.amount).toBe(1_000_000);
    expect(pi.application_fee_amount).toBe(100_000);

    // A partial refund of 2 000 kr is 200000 at Stripe, and its event reads back as 2 000.
    const refund = await h.provider.refund({
      account: account(),
      paymentId: state.paymentId ?? '',
      currency: state.currency,
      amount: 2000,
      idempotencyKey: `refund:${input.orderId}:isk`,
      orderId: input.orderId,
      refundId: 'rf_isk',
    });
    expect(refund.status).toBe('succeeded');
    const stripeRefund = await h.stripe.refunds.retrieve(refund.providerRefundId, {}, opts());
    expect(stripeRefund.amount).toBe(200_000);
    const events = await h.stripe.events.list({ type: 'refund.updated', limit: 100 }, opts());
    const ev = events.data.find((e) => (e.data.object as { id?: string }).id === refund.providerRefundId);
    expect(ev).toBeDefined();
    const normalized = await h.provider.normalizeEvent(chargeType === 'direct' ? 'connect' : 'platform', ev);
    expect(normalized.event).toMatchObject({
      kind: 'refund.updated',
      refund: { amount: 2000, refundId: 'rf_isk', status: 'succeeded' },
    });
  });

  it('a disputed ISK charge reads back in krónur', async () => {
    const hosted = await h.provider.createCheckout(
      checkoutInput(account(), {
        currency: 'isk',
        lineItem: { name: 'Whale watching', unitAmount: 7000, quantity: 1 },
        applicationFee: 700,
      }),
    );
    await h.emu.paySession(hosted.sessionId, { card_number: TEST_CARDS.disputed });
    await h.emu.idle();
    const state = await h.provider.retrieveCheckout(hosted.sessionId, account());
    const disputes = await h.stripe.disputes.list({ payment_intent: state.paymentId ?? '' }, opts());
    expect(disputes.data[0]?.amount).toBe(700_000);
    const events = await h.stripe.events.list({ type: 'charge.dispute.created', limit: 100 }, opts());
    const ev = events.data.find((e) => (e.data.object as { id?: string }).id === disputes.data[0]?.id);
    const normalized = await h.provider.normalizeEvent(chargeType === 'direct' ? 'connect' : 'platform', ev);
    expect(normalized.event).toMatchObject({
      kind: 'dispute.created',
      dispute: { amount: 7000, currency: 'isk' },
    });
  });

  it('MGA (ISO two decimals, Stripe none) is sent in whole ariary', async () => {
    const hosted = await h.provider.createCheckout(
      checkoutInput(account(), {
        currency: 'mga',
        lineItem: { name: 'Baobab tour', unitAmount: 5_000_000, quantity: 1 },
        applicationFee: 500_000,
      }),
    );
    const raw = await h.stripe.checkout.sessions.retrieve(hosted.sessionId, {}, opts());
    expect(raw.amount_total).toBe(50_000);
    expect((await h.provider.retrieveCheckout(hosted.sessionId, account())).amountTotal).toBe(5_000_000);
  });

  it('an amount Stripe cannot charge is refused before any request (KWD 1.005, a fee of KWD 0.101)', async () => {
    const before = h.emu.requests.length;
    await expect(
      h.provider.createCheckout(
        checkoutInput(account(), {
          currency: 'kwd',
          lineItem: { name: 'Dhow cruise', unitAmount: 1005, quantity: 1 },
          applicationFee: 100,
        }),
      ),
    ).rejects.toMatchObject({ code: 'amount_not_supported', httpStatus: 400 });
    await expect(
      h.provider.createCheckout(
        checkoutInput(account(), {
          currency: 'kwd',
          lineItem: { name: 'Dhow cruise', unitAmount: 1010, quantity: 1 },
          applicationFee: 101,
        }),
      ),
    ).rejects.toMatchObject({ code: 'amount_not_supported', message: /The platform fee KWD 0\.101/ });
    expect(h.emu.requests.length).toBe(before);

    const ok = await h.provider.createCheckout(
      checkoutInput(account(), {
        currency: 'kwd',
        lineItem: { name: 'Dhow cruise', unitAmount: 1010, quantity: 1 },
        applicationFee: 100,
      }),
    );
    await h.emu.paySession(ok.sessionId, { card_number: TEST_CARDS.success });
    const state = await h.provider.retrieveCheckout(ok.sessionId, account());
    expect(state).toMatchObject({ amountTotal: 1010, applicationFee: 100 });
    await expect(
      h.provider.refund({
        account: account(),
        paymentId: state.paymentId ?? '',
        currency: state.currency,
        amount: 505,
        idempotencyKey: `refund:${ok.sessionId}:kwd`,
        orderId: 'ord_kwd',
        refundId: 'rf_kwd',
      }),
    ).rejects.toMatchObject({ code: 'amount_not_supported' });
  });
});

describe('promotion codes', () => {
  it('a fixed ISK amount off is converted, and offering it again is idempotent', async () => {
    const spec = { code: 'ISK500', amountOff: 500, currency: 'isk' };
    const id = await h.provider.ensurePromotionCode(spec, null);
    const promo = await h.stripe.promotionCodes.retrieve(id);
    const coupon = await h.stripe.coupons.retrieve(String(promo.promotion.coupon));
    expect(coupon).toMatchObject({ amount_off: 50_000, currency: 'isk' });
    expect(await h.provider.ensurePromotionCode(spec, null)).toBe(id);
    await expect(
      h.provider.ensurePromotionCode({ code: 'KWD1005', amountOff: 1005, currency: 'kwd' }, null),
    ).rejects.toMatchObject({ code: 'amount_not_supported' });
  });
});

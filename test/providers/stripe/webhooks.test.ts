import Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { VerifiedEvent } from '../../../src/core/provider.js';
import { TEST_CARDS } from '../../../src/emulators/stripe/index.js';
import { StripeProvider } from '../../../src/providers/stripe/index.js';
import {
  checkoutInput,
  startProviderHarness,
  waitFor,
  type Delivery,
  type ProviderHarness,
} from './harness.js';

let h: ProviderHarness;

beforeAll(async () => {
  h = await startProviderHarness();
});
afterAll(async () => {
  await h?.close();
});

function providerWith(secrets: { platform: string[]; connect: string[] }, livemode = false): StripeProvider {
  return new StripeProvider({ stripe: h.stripe, livemode, secrets });
}

function eventOf(d: Delivery): Stripe.Event {
  return JSON.parse(d.raw.toString('utf8')) as Stripe.Event;
}

/** Waits for the delivery of `type` for `objectId` at `path` and returns it. */
async function delivery(path: string, type: string, objectId: string): Promise<Delivery> {
  const match = (d: Delivery): boolean => {
    if (d.path !== path) return false;
    const e = eventOf(d);
    return e.type === type && (e.data.object as { id?: string }).id === objectId;
  };
  await waitFor(() => h.receiver.deliveries.some(match));
  const found = h.receiver.deliveries.find(match);
  if (found === undefined) throw new Error('unreachable');
  return found;
}

const sign = (payload: string, secret: string, timestamp?: number): string =>
  h.stripe.webhooks.generateTestHeaderString({
    payload,
    secret,
    ...(timestamp !== undefined ? { timestamp } : {}),
  });

describe('verifyWebhook on real emulator deliveries', () => {
  it('direct charge: checkout.session.completed arrives at the Connect endpoint and verifies', async () => {
    const input = checkoutInput(h.direct);
    const hosted = await h.provider.createCheckout(input);
    await h.emu.paySession(hosted.sessionId, { card_number: TEST_CARDS.success });
    const d = await delivery('/webhooks/stripe/connect', 'checkout.session.completed', hosted.sessionId);
    const v = await h.provider.verifyWebhook('connect', d.raw, d.headers);
    expect(v).toMatchObject({
      provider: 'stripe',
      endpoint: 'connect',
      type: 'checkout.session.completed',
      accountId: h.direct.accountId,
      livemode: false,
    });
    expect(v.eventId).toMatch(/^evt_/);
    expect(v.event).toMatchObject({
      kind: 'checkout.completed',
      checkout: {
        sessionId: hosted.sessionId,
        orderId: input.orderId,
        accountId: h.direct.accountId,
        outcome: 'succeeded',
        amountTotal: 5000,
      },
    });
    // Verification reads nothing else from Stripe; the fee comes from re-reading the session on the order's
    // account, which Settle does before confirming (src/core/payment-events.ts).
    const read = await h.provider.retrieveCheckout(hosted.sessionId, {
      accountId: h.direct.accountId,
      chargeType: 'direct',
    });
    expect(read).toMatchObject({ outcome: 'succeeded', applicationFee: 500, accountId: h.direct.accountId });
    // The same event on the platform endpoint's secret does not verify.
    await expect(h.provider.verifyWebhook('platform', d.raw, d.headers)).rejects.toMatchObject({
      code: 'webhook_signature_invalid',
    });
  });

  it('destination charge: the event arrives at the platform endpoint without account; fee read from the API', async () => {
    const input = checkoutInput(h.destination);
    const hosted = await h.provider.createCheckout(input);
    await h.emu.paySession(hosted.sessionId, { card_number: TEST_CARDS.success });
    const d = await delivery('/webhooks/stripe', 'checkout.session.completed', hosted.sessionId);
    const v = await h.provider.verifyWebhook('platform', d.raw, d.headers);
    expect(v.accountId).toBeNull();
    expect(v.event).toMatchObject({
      kind: 'checkout.completed',
      checkout: { outcome: 'succeeded', amountTotal: 5000 },
    });
    const read = await h.provider.retrieveCheckout(hosted.sessionId, {
      accountId: h.destination.accountId,
      chargeType: 'destination',
    });
    expect(read).toMatchObject({
      outcome: 'succeeded',
      applicationFee: 500,
      accountId: h.destination.accountId,
    });
  });

  describe('rejections', () => {
    let d: Delivery;
    beforeAll(async () => {
      const hosted = await h.provider.createCheckout(checkoutInput(h.destination));
      await h.emu.expireSession(hosted.sessionId);
      d = await delivery('/webhooks/stripe', 'checkout.session.expired', hosted.sessionId);
    });

    it('a forged body fails', async () => {
      const forged = Buffer.from(d.raw.toString('utf8').replace('"expired"', '"complete"'));
      await expect(h.provider.verifyWebhook('platform', forged, d.headers)).rejects.toMatchObject({
        code: 'webhook_signature_invalid',
      });
    });

    it('a forged signature fails', async () => {
      const header = `t=${Math.floor(Date.now() / 1000)},v1=${'0'.repeat(64)}`;
      await expect(
        h.provider.verifyWebhook('platform', d.raw, { 'stripe-signature': header }),
      ).rejects.toMatchObject({ code: 'webhook_signature_invalid' });
    });

    it('the wrong secret fails', async () => {
      const p = providerWith({ platform: ['whsec_wrong'], connect: ['whsec_wrong'] });
      await expect(p.verifyWebhook('platform', d.raw, d.headers)).rejects.toMatchObject({
        code: 'webhook_signature_invalid',
      });
    });

    it('a timestamp older than 300 s fails; 299 s passes', async () => {
      const payload = d.raw.toString('utf8');
      const now = Math.floor(Date.now() / 1000);
      const stale = sign(payload, h.secrets.platformSecret, now - 301);
      await expect(
        h.provider.verifyWebhook('platform', d.raw, { 'stripe-signature': stale }),
      ).rejects.toMatchObject({
        code: 'webhook_signature_invalid',
        message: expect.stringMatching(/tolerance/),
      });
      const fresh = sign(payload, h.secrets.platformSecret, now - 299);
      const ok = await h.provider.verifyWebhook('platform', d.raw, { 'stripe-signature': fresh });
      expect(ok.event.kind).toBe('checkout.expired');
    });

    it('a missing, empty or repeated header fails', async () => {
      for (const headers of [{}, { 'stripe-signature': '' }, { 'stripe-signature': ['a', 'b'] }]) {
        await expect(h.provider.verifyWebhook('platform', d.raw, headers)).rejects.toMatchObject({
          code: 'webhook_signature_invalid',
        });
      }
    });

    it('rotation: any configured secret verifies', async () => {
      const p = providerWith({ platform: ['whsec_old_rotated_out', h.secrets.platformSecret], connect: [] });
      const v = await p.verifyWebhook('platform', d.raw, d.headers);
      expect(v.event).toMatchObject({ kind: 'checkout.expired', checkout: { outcome: 'expired' } });
      const none = providerWith({ platform: [h.secrets.platformSecret], connect: [] });
      await expect(none.verifyWebhook('connect', d.raw, d.headers)).rejects.toMatchObject({
        code: 'webhook_signature_invalid',
      });
    });

    it('a test-mode event on a live-mode provider is a livemode mismatch', async () => {
      const p = providerWith({ platform: [h.secrets.platformSecret], connect: [] }, true);
      await expect(p.verifyWebhook('platform', d.raw, d.headers)).rejects.toMatchObject({
        code: 'webhook_livemode_mismatch',
      });
    });

    it('a correctly signed body that is not an event is webhook_payload_invalid', async () => {
      for (const body of ['not json', '{"hello":"world"}']) {
        const header = sign(body, h.secrets.platformSecret);
        await expect(
          h.provider.verifyWebhook('platform', Buffer.from(body), { 'Stripe-Signature': header }),
        ).rejects.toMatchObject({ code: 'webhook_payload_invalid' });
      }
    });
  });
});

describe('normalizeEvent', () => {
  const kinds = (events: VerifiedEvent[]): string[] => events.map((e) => `${e.type}→${e.event.kind}`);

  it('maps refunds, disputes, delayed payments and account updates; ignores the rest', async () => {
    // Direct charge, disputed card, then a refund; delayed payment that fails.
    const input = checkoutInput(h.direct);
    const hosted = await h.provider.createCheckout(input);
    await h.emu.paySession(hosted.sessionId, { card_number: TEST_CARDS.disputed });
    const state = await h.provider.retrieveCheckout(hosted.sessionId, h.direct);
    await h.emu.idle(); // the dispute is opened after a (scaled) delay
    const created = h.receiver.deliveries
      .map(eventOf)
      .find((e) => e.type === 'charge.dispute.created' && e.account === h.direct.accountId);
    if (created === undefined) throw new Error('no dispute delivered');
    const disputeId = (created.data.object as Stripe.Dispute).id;
    // Stripe refuses refunds of a charge under dispute (charge_disputed): the refund is of another payment.
    const refundable = await h.provider.createCheckout(checkoutInput(h.direct));
    await h.emu.paySession(refundable.sessionId, { card_number: '4242424242424242' });
    const refundState = await h.provider.retrieveCheckout(refundable.sessionId, h.direct);
    await h.provider.refund({
      account: h.direct,
      paymentId: refundState.paymentId ?? '',
      currency: 'eur',
      amount: 1000,
      idempotencyKey: `refund:${input.orderId}`,
      orderId: input.orderId,
      refundId: 'rf_norm',
    });
    await h.emu.closeDispute(disputeId, 'lost');

    const delayed = await h.provider.createCheckout(checkoutInput(h.direct));
    await h.emu.paySession(delayed.sessionId, { payment_method: 'delayed' });
    await h.emu.completeDelayedPayment(delayed.sessionId, 'failed');
    await h.emu.idle();

    const connectEvents = h.receiver.deliveries
      .filter((d) => d.path === '/webhooks/stripe/connect')
      .map(eventOf)
      .filter((e) => {
        const o = e.data.object as { id?: string; payment_intent?: unknown };
        return (
          o.id === delayed.sessionId ||
          o.payment_intent === state.paymentId ||
          (o.payment_intent === refundState.paymentId &&
            (e.type.startsWith('refund.') || e.type === 'charge.refunded')) ||
          (e.type === 'account.updated' && o.id === h.direct.accountId)
        );
      });
    const normalized = await Promise.all(connectEvents.map((e) => h.provider.normalizeEvent('connect', e)));
    const byType = new Map(normalized.map((n) => [n.type, n]));

    expect(byType.get('refund.created')?.event).toEqual({
      kind: 'refund.updated',
      refund: {
        providerRefundId: expect.stringMatching(/^re_/),
        paymentId: refundState.paymentId,
        amount: 1000,
        status: 'pending',
        refundId: 'rf_norm',
      },
    });
    expect(byType.get('refund.updated')?.event).toMatchObject({
      kind: 'refund.updated',
      refund: { status: 'succeeded', refundId: 'rf_norm', amount: 1000 },
    });
    expect(byType.get('charge.dispute.created')?.event).toEqual({
      kind: 'dispute.created',
      dispute: {
        providerDisputeId: disputeId,
        paymentId: state.paymentId,
        amount: 5000,
        currency: 'eur',
        reason: 'fraudulent',
        status: 'needs_response',
        outcome: null,
      },
    });
    expect(byType.get('charge.dispute.closed')?.event).toMatchObject({
      kind: 'dispute.closed',
      dispute: { status: 'lost', outcome: 'lost' },
    });
    expect(byType.get('checkout.session.async_payment_failed')?.event).toMatchObject({
      kind: 'checkout.async_failed',
      checkout: { sessionId: delayed.sessionId, outcome: 'failed', accountId: h.direct.accountId },
    });
    expect(byType.get('checkout.session.completed')?.event).toMatchObject({
      kind: 'checkout.completed',
      checkout: { sessionId: delayed.sessionId, outcome: 'processing' },
    });
    expect(byType.get('account.updated')?.event).toEqual({
      kind: 'account.updated',
      account: {
        accountId: h.direct.accountId,
        detailsSubmitted: true,
        chargesEnabled: true,
        payoutsEnabled: true,
      },
    });
    expect(byType.get('charge.refunded')?.event).toEqual({ kind: 'ignored' });
    // Not subscribed on the endpoints: read one from the Events API.
    const piEvents = await h.stripe.events.list(
      { type: 'payment_intent.succeeded', limit: 1 },
      { stripeAccount: h.direct.accountId },
    );
    const piEvent = piEvents.data[0];
    expect(piEvent).toBeDefined();
    expect((await h.provider.normalizeEvent('connect', piEvent)).event).toEqual({ kind: 'ignored' });
    for (const n of normalized) expect(n.accountId).toBe(h.direct.accountId);
    expect(kinds(normalized)).toContain('checkout.session.async_payment_failed→checkout.async_failed');

    await expect(h.provider.normalizeEvent('platform', { hello: 'world' })).rejects.toMatchObject({
      code: 'webhook_payload_invalid',
    });
  });

  it('async_payment_succeeded normalizes to a succeeded checkout', async () => {
    const hosted = await h.provider.createCheckout(checkoutInput(h.destination));
    await h.emu.paySession(hosted.sessionId, { payment_method: 'delayed' });
    await h.emu.completeDelayedPayment(hosted.sessionId, 'succeeded');
    const d = await delivery(
      '/webhooks/stripe',
      'checkout.session.async_payment_succeeded',
      hosted.sessionId,
    );
    const v = await h.provider.verifyWebhook('platform', d.raw, d.headers);
    expect(v.event).toMatchObject({
      kind: 'checkout.async_succeeded',
      checkout: { outcome: 'succeeded', amountTotal: 5000 },
    });
  });
});

describe('listEvents', () => {
  it('lists platform events on the platform and connected-account events per account', async () => {
    const since = new Date(Date.now() - 2000);
    const direct = await h.provider.createCheckout(checkoutInput(h.direct));
    await h.emu.paySession(direct.sessionId, { card_number: TEST_CARDS.success });
    const dest = await h.provider.createCheckout(checkoutInput(h.destination));
    await h.emu.paySession(dest.sessionId, { card_number: TEST_CARDS.success });

    const collect = async (accountId: string | null): Promise<VerifiedEvent[]> => {
      const out: VerifiedEvent[] = [];
      for await (const e of h.provider.listEvents({ accountId, since })) out.push(e);
      return out;
    };
    const platform = await collect(null);
    const connected = await collect(h.direct.accountId);

    const completedFor = (events: VerifiedEvent[], sessionId: string): VerifiedEvent | undefined =>
      events.find((e) => e.event.kind === 'checkout.completed' && e.event.checkout.sessionId === sessionId);

    expect(completedFor(platform, dest.sessionId)).toMatchObject({ endpoint: 'platform', accountId: null });
    expect(completedFor(platform, direct.sessionId)).toBeUndefined();
    expect(completedFor(connected, direct.sessionId)).toMatchObject({
      endpoint: 'connect',
      accountId: h.direct.accountId,
      event: { checkout: { outcome: 'succeeded', amountTotal: 5000 } },
    });
    expect(completedFor(connected, dest.sessionId)).toBeUndefined();
    expect(platform.every((e) => e.accountId === null)).toBe(true);
    expect(connected.every((e) => e.accountId === h.direct.accountId)).toBe(true);
    expect(platform.every((e) => e.createdAt.getTime() >= Math.floor(since.getTime() / 1000) * 1000)).toBe(
      true,
    );
  });

  it('pages through more than 100 events', async () => {
    const since = new Date(Date.now() - 1000);
    // Each promotion code creation emits promotion_code.created on the platform.
    for (let i = 0; i < 105; i++) {
      await h.stripe.coupons
        .create({ percent_off: 5, id: `bulk_${i}` })
        .then((c) =>
          h.stripe.promotionCodes.create({ promotion: { type: 'coupon', coupon: c.id }, code: `BULK${i}` }),
        );
    }
    let n = 0;
    for await (const e of h.provider.listEvents({ accountId: null, since })) {
      if (e.type === 'promotion_code.created') {
        n += 1;
        expect(e.event.kind).toBe('ignored');
      }
    }
    expect(n).toBe(105);
  });
});

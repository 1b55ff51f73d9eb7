import { describe, expect, it } from 'vitest';
import { BACKENDS } from '../helpers/db.js';
import { checkout, lapseHold, order } from '../helpers/settle.js';
import { captureIdOf, captures, paypalCheckout, setupBoth } from '../providers/paypal/harness.js';
import {
  connectSquareSeller,
  sellerSquare,
  squareAccountView,
  squareCheckout,
  useSquareHarness,
  withPayPal,
  type SquareHarness,
} from '../helpers/square.js';

/**
 * The last places of one slot, sold through all three providers at once (issue 12): one seller ready on Stripe,
 * PayPal and Square; buyers of every provider pay for more places than there are, their return pages verify while
 * each provider's webhooks arrive. Exactly `capacity` orders are paid; every other buyer's payment is confirmed as
 * oversold and refunded in full through the provider that charged it.
 */
describe.each(BACKENDS)('the last places across Stripe, PayPal and Square (%s PostgreSQL)', (backend) => {
  const harness = useSquareHarness(backend, { paypal: true });

  type Provider = 'stripe' | 'paypal' | 'square';
  interface Buyer {
    provider: Provider;
    orderId: string;
    pay(): Promise<unknown>;
    /** PayPal's order id (captures are counted on it). */
    paypalOrderId?: string;
  }

  const transitionsTo = async (h: SquareHarness, orderIds: string[], to: string) =>
    (
      await h.settle.ctx.db
        .selectFrom('order_events')
        .select('id')
        .where('order_id', 'in', orderIds)
        .where('to_status', '=', to)
        .execute()
    ).length;

  /** A seller ready on all three providers, with one slot. */
  const market = async (h: SquareHarness, capacity: number) => {
    const m = await setupBoth(withPayPal(h), { capacity, unitAmount: 3000 });
    const sq = await connectSquareSeller(h, m.sellerId);
    expect(await squareAccountView(h, m.sellerId)).toMatchObject({ ready: true, accountId: sq.merchantId });
    return { ...m, squareMerchantId: sq.merchantId };
  };

  /** Checks that a losing order was refunded in full by the provider that charged it. */
  const refundedAtItsProvider = async (h: SquareHarness, b: Buyer, merchantId: string) => {
    const o = await order(h, b.orderId);
    const paymentId = String(o['providerPaymentId']);
    if (b.provider === 'stripe') {
      const refunds = await h.stripe.refunds.list({ payment_intent: paymentId });
      expect(refunds.data.reduce((s, r) => s + r.amount, 0)).toBe(3000);
    } else if (b.provider === 'paypal') {
      const capture = (await withPayPal(h).pp.payments.getCapturedPayment({ captureId: paymentId })).result;
      expect(capture.status).toBe('REFUNDED');
    } else {
      const sq = await sellerSquare(h, merchantId);
      const payment = (await sq.payments.get({ paymentId })).payment;
      expect(payment?.refundedMoney).toEqual({ amount: 3000n, currency: 'USD' });
    }
  };

  it.skipIf(backend === 'embedded')(
    'capacity 2, six buyers (two per provider) pay and verify at once: exactly two paid, four oversold and refunded by their own provider (server-only: PGlite serializes every transaction, so nothing would race)',
    async () => {
      const h = harness();
      const hp = withPayPal(h);
      const stripeEmu = h.settle.emulator;
      if (stripeEmu === null) throw new Error('demo mode expected');
      const m = await market(h, 2);
      const buyers: Buyer[] = [];
      // Six checkouts for two places: each hold is let lapse so the next buyer can start (the places are open to
      // whoever pays first).
      for (let i = 0; i < 2; i++) {
        const s = await checkout(h, m.slotId);
        await lapseHold(h, s.orderId);
        buyers.push({
          provider: 'stripe',
          orderId: s.orderId,
          pay: () => stripeEmu.paySession(s.sessionId, { card_number: '4242424242424242' }),
        });
        const p = await paypalCheckout(hp, m.slotId);
        await lapseHold(h, p.orderId);
        buyers.push({
          provider: 'paypal',
          orderId: p.orderId,
          paypalOrderId: p.paypalOrderId,
          pay: () => hp.paypal.approveOrder(p.paypalOrderId),
        });
        const q = await squareCheckout(h, m.slotId);
        await lapseHold(h, q.orderId);
        const sqEmu = h.square;
        buyers.push({ provider: 'square', orderId: q.orderId, pay: () => sqEmu.payLink(q.linkId, 'ok') });
      }
      const ids = buyers.map((b) => b.orderId);
      const requestMark = h.square.requests.length;
      // Everyone pays at once; each provider's webhooks leave at once; every buyer's return page verifies three
      // times as soon as their payment went through.
      const verifies = await Promise.all(
        buyers.map(async (b) => {
          await b.pay();
          return Promise.all(
            Array.from({ length: 3 }, () =>
              h.api<{ status: string }>('POST', '/api/checkout/verify', { orderId: b.orderId }),
            ),
          );
        }),
      );
      for (const r of verifies.flat()) expect(r.status).toBe(200);
      await h.settleDown();

      expect(await transitionsTo(h, ids, 'paid')).toBe(2);
      expect(await transitionsTo(h, ids, 'paid_oversold')).toBe(4);
      const final = await Promise.all(buyers.map(async (b) => ({ b, o: await order(h, b.orderId) })));
      expect(final.map((f) => f.o.status).sort()).toEqual([
        'paid',
        'paid',
        'refunded',
        'refunded',
        'refunded',
        'refunded',
      ]);
      expect((await h.api('GET', `/api/slots/${m.slotId}`)).body).toMatchObject({ sold: 2 });
      for (const { b, o } of final) {
        const refunds = await h.settle.ctx.db
          .selectFrom('refunds')
          .select(['amount', 'status', 'reason'])
          .where('order_id', '=', b.orderId)
          .execute();
        if (o.status === 'paid') {
          expect(refunds).toEqual([]);
        } else {
          expect(o).toMatchObject({ refundedAmount: 3000 });
          expect(refunds).toEqual([{ amount: 3000, status: 'succeeded', reason: 'oversold' }]);
          await refundedAtItsProvider(h, b, m.squareMerchantId);
        }
        // PayPal: captured once, whoever (verify or webhook) got there first.
        if (b.paypalOrderId !== undefined) {
          expect(captures(hp, b.paypalOrderId)).toBe(1);
          expect(String(o['providerPaymentId'])).toBe(await captureIdOf(hp, b.paypalOrderId));
        }
      }
      // Each Square loser refunded once at Square (one refunding answer per loser).
      const squareLosers = final.filter((f) => f.b.provider === 'square' && f.o.status === 'refunded').length;
      const squareRefunds = h.square.requests
        .slice(requestMark)
        .filter((r) => r.method === 'POST' && r.path === '/v2/refunds' && r.status < 300 && !r.replayed);
      expect(squareRefunds).toHaveLength(squareLosers);
      // Every Square winner or loser was paid once.
      const squareOrders = final.filter((f) => f.b.provider === 'square');
      expect(new Set(squareOrders.map((f) => String(f.o['providerPaymentId']))).size).toBe(2);
    },
  );

  it('capacity 1: a Stripe buyer and a Square buyer both pay; one gets it, the other is refunded by Square or Stripe', async () => {
    const h = harness();
    const stripeEmu = h.settle.emulator;
    if (stripeEmu === null) throw new Error('demo mode expected');
    const m = await market(h, 1);
    const a = await checkout(h, m.slotId);
    await lapseHold(h, a.orderId);
    const b = await squareCheckout(h, m.slotId);
    await Promise.all([
      stripeEmu.paySession(a.sessionId, { card_number: '4242424242424242' }),
      h.square.payLink(b.linkId, 'ok'),
    ]);
    await h.settleDown();
    const oa = await order(h, a.orderId);
    const ob = await order(h, b.orderId);
    expect([oa.status, ob.status].sort()).toEqual(['paid', 'refunded']);
    expect((await h.api('GET', `/api/slots/${m.slotId}`)).body).toMatchObject({ sold: 1 });
    const loser: Buyer =
      oa.status === 'refunded'
        ? { provider: 'stripe', orderId: a.orderId, pay: async () => undefined }
        : { provider: 'square', orderId: b.orderId, pay: async () => undefined };
    await refundedAtItsProvider(h, loser, m.squareMerchantId);
  });
});

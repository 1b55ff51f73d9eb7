import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { squareSignature } from '../../src/emulators/square/index.js';
import { reconcile } from '../../src/core/reconcile.js';
import { BACKENDS } from '../helpers/db.js';
import { fulfilments, order } from '../helpers/settle.js';
import {
  postSquareWebhook,
  sellerSquare,
  setupSquare,
  squareCheckout,
  squareEvent,
  squareInbox,
  squareWebhookUrl,
  useSquareHarness,
  type SquareHarness,
} from '../helpers/square.js';

/**
 * Square webhooks at Settle's `/webhooks/square`: verified on the raw bytes (HMAC-SHA256 with the subscription's
 * key over the notification URL as subscribed + the body) before anything is written; recorded once per event id;
 * applied by re-reading Square, so duplicates and out-of-order deliveries change nothing twice; a delivery whose
 * processing failed is replayed by the operator from the inbox.
 */
describe.each(BACKENDS)('Square webhooks (%s PostgreSQL)', (backend) => {
  // One attempt per Square call: an injected outage is seen at once, not retried by the SDK with its own backoff.
  const harness = useSquareHarness(backend, { env: { SQUARE_MAX_NETWORK_RETRIES: '0' } });

  const paymentIs =
    (paymentId: string, status?: string) =>
    (object: Record<string, unknown>): boolean => {
      const p = object['payment'] as { id?: string; status?: string } | undefined;
      return p?.id === paymentId && (status === undefined || p.status === status);
    };
  const paidTransitions = async (h: SquareHarness, orderId: string) =>
    (
      await h.settle.ctx.db
        .selectFrom('order_events')
        .select('id')
        .where('order_id', '=', orderId)
        .where('to_status', '=', 'paid')
        .execute()
    ).length;

  /** An order paid at Square while Settle's endpoint was down (every attempt failed): Settle saw nothing. */
  const paidUnseen = async (h: SquareHarness, slotId: string) => {
    h.square.faults.set({ endpointFailures: [{ endpoint: squareWebhookUrl(h), mode: 'skip' }] });
    const c = await squareCheckout(h, slotId);
    const paid = await h.square.payLink(c.linkId, 'ok');
    await h.square.idle();
    h.square.faults.reset();
    expect((await order(h, c.orderId)).status).toBe('pending');
    return { ...c, paymentId: paid.paymentId };
  };

  it('a delivery posted again (and five times at once) is acknowledged as a duplicate with no second effect', async () => {
    const h = harness();
    const m = await setupSquare(h, { capacity: 3 });
    const c = await squareCheckout(h, m.slotId);
    const paid = await h.square.payLink(c.linkId, 'ok');
    await h.settleDown();
    expect((await order(h, c.orderId)).status).toBe('paid');
    const completed = squareEvent(h, 'payment.updated', paymentIs(paid.paymentId, 'COMPLETED'));
    const inboxBefore = await squareInbox(h);
    expect(inboxBefore.filter((e) => e.event_id === completed.id)).toHaveLength(1);
    const again = await postSquareWebhook(h, completed.body);
    expect(again).toEqual({ status: 200, body: { received: true, outcome: 'duplicate' } });
    const burst = await Promise.all(Array.from({ length: 5 }, () => postSquareWebhook(h, completed.body)));
    for (const r of burst) expect(r).toEqual({ status: 200, body: { received: true, outcome: 'duplicate' } });
    await h.settleDown();
    expect(await squareInbox(h)).toEqual(inboxBefore);
    expect(await paidTransitions(h, c.orderId)).toBe(1);
    expect(await fulfilments(h, c.orderId)).toBe(1);

    // The emulator duplicating every delivery three times: one inbox row per event, paid once.
    h.square.faults.set({ webhookDuplicates: 3 });
    const d = await squareCheckout(h, m.slotId);
    const paidD = await h.square.payLink(d.linkId, 'ok');
    await h.settleDown();
    const copies = h.square.deliveries.filter(
      (x) =>
        x.url === squareWebhookUrl(h) &&
        x.eventId === squareEvent(h, 'payment.created', paymentIs(paidD.paymentId)).id,
    );
    expect(copies.map((x) => x.status)).toEqual([200, 200, 200]);
    expect(await order(h, d.orderId)).toMatchObject({ status: 'paid', providerPaymentId: paidD.paymentId });
    expect(await paidTransitions(h, d.orderId)).toBe(1);
    const inbox = (await squareInbox(h)).slice(inboxBefore.length);
    expect(inbox.length).toBeGreaterThan(0);
    expect(new Set(inbox.map((e) => e.event_id)).size).toBe(inbox.length);
    expect(inbox.every((e) => e.status === 'processed' || e.status === 'ignored')).toBe(true);
    expect((await h.api('GET', `/api/slots/${m.slotId}`)).body).toMatchObject({ sold: 2 });
  });

  it('reordered: payment.updated COMPLETED before payment.created; paid once either way', async () => {
    const h = harness();
    const m = await setupSquare(h, { capacity: 3 });
    const a = await paidUnseen(h, m.slotId);
    const created = squareEvent(h, 'payment.created', paymentIs(a.paymentId));
    const completed = squareEvent(h, 'payment.updated', paymentIs(a.paymentId, 'COMPLETED'));
    const first = await postSquareWebhook(h, completed.body);
    expect(first).toEqual({ status: 200, body: { received: true, outcome: 'processed' } });
    expect(await order(h, a.orderId)).toMatchObject({ status: 'paid', confirmedVia: 'webhook' });
    // The older event (its payload says APPROVED) arrives last: it does not move the order back or pay it again.
    const late = await postSquareWebhook(h, created.body);
    expect(late.status).toBe(200);
    expect(['processed', 'ignored']).toContain(late.body.outcome);
    await h.settleDown();
    expect(await order(h, a.orderId)).toMatchObject({ status: 'paid', providerPaymentId: a.paymentId });
    expect(await paidTransitions(h, a.orderId)).toBe(1);
    expect(await fulfilments(h, a.orderId)).toBe(1);

    // The emulator reversing whatever it sends within 300 ms.
    h.square.faults.set({ webhookReorder: { windowMs: 300, mode: 'reverse' } });
    const b = await squareCheckout(h, m.slotId);
    const paidB = await h.square.payLink(b.linkId, 'ok');
    await h.settleDown();
    const order1 = squareEvent(h, 'payment.created', paymentIs(paidB.paymentId)).id;
    const order2 = squareEvent(h, 'payment.updated', paymentIs(paidB.paymentId, 'COMPLETED')).id;
    const sent = h.square.deliveries.filter((x) => x.url === squareWebhookUrl(h)).map((x) => x.eventId);
    expect(sent.indexOf(order2)).toBeGreaterThanOrEqual(0);
    expect(sent.indexOf(order2)).toBeLessThan(sent.indexOf(order1));
    expect(await order(h, b.orderId)).toMatchObject({ status: 'paid', providerPaymentId: paidB.paymentId });
    expect(await paidTransitions(h, b.orderId)).toBe(1);
  });

  it('forged, tampered, other-URL and unsigned deliveries are refused 400 with nothing written', async () => {
    const h = harness();
    const m = await setupSquare(h);
    const a = await paidUnseen(h, m.slotId);
    const body = squareEvent(h, 'payment.updated', paymentIs(a.paymentId, 'COMPLETED')).body;
    const inboxBefore = await squareInbox(h);
    const url = squareWebhookUrl(h);
    const cases: { name: string; body: string; sign: Parameters<typeof postSquareWebhook>[2] }[] = [
      { name: 'forged signature', body, sign: { signature: randomBytes(32).toString('base64') } },
      {
        name: 'signed with another key',
        body,
        sign: { key: randomBytes(16).toString('base64url') },
      },
      {
        name: 'signed over another notification URL',
        body,
        sign: { url: 'https://attacker.example/webhooks/square' },
      },
      { name: 'signed over the URL with a trailing slash', body, sign: { url: `${url}/` } },
      { name: 'signed over the URL with a query', body, sign: { url: `${url}?x=1` } },
      {
        name: 'tampered body (genuine signature of the original)',
        body: body.replace(a.paymentId, `${a.paymentId.slice(0, -2)}zz`),
        sign: {
          signature: squareSignature(h.settle.ctx.config.square.webhookSignatureKey ?? '', url, body),
        },
      },
      { name: 'no signature header', body, sign: { signature: null } },
      { name: 'empty signature', body, sign: { signature: '' } },
    ];
    for (const c of cases) {
      const r = await postSquareWebhook(h, c.body, c.sign);
      expect(r.status, c.name).toBe(400);
      expect(r.body.error?.code, c.name).toBe('webhook_signature_invalid');
    }
    expect(await squareInbox(h)).toEqual(inboxBefore);
    expect((await order(h, a.orderId)).status).toBe('pending');
    // The genuine delivery still goes through.
    const genuine = await postSquareWebhook(h, body);
    expect(genuine).toEqual({ status: 200, body: { received: true, outcome: 'processed' } });
    await h.settleDown();
    expect((await order(h, a.orderId)).status).toBe('paid');
  });

  it('a delivery whose processing failed (Square unreachable) is recorded failed and replayed by the operator', async () => {
    const h = harness();
    const m = await setupSquare(h);
    const c = await squareCheckout(h, m.slotId);
    const inboxMark = (await squareInbox(h)).length;
    const deliveryMark = h.square.deliveries.length;
    h.square.faults.set({
      api5xx: { probability: 1, path: '/v2/online-checkout/payment-links', method: 'GET', status: 503 },
    });
    await h.square.payLink(c.linkId, 'ok');
    await h.square.idle();
    // Every attempt of every delivery was answered 5xx (so Square retried, then gave up).
    const toSettle = h.square.deliveries.slice(deliveryMark).filter((d) => d.url === squareWebhookUrl(h));
    expect(toSettle.length).toBeGreaterThan(0);
    expect(toSettle.every((d) => typeof d.status === 'number' && d.status >= 500)).toBe(true);
    h.square.faults.reset();
    expect((await order(h, c.orderId)).status).toBe('pending');
    const failed = await h.admin<{
      events: { id: number; provider: string; type: string; lastError: string }[];
    }>('GET', '/api/admin/webhook-events?status=failed');
    const mine = new Set((await squareInbox(h)).slice(inboxMark).map((e) => e.id));
    const square = failed.body.events.filter((e) => e.provider === 'square' && mine.has(e.id));
    expect(square.map((e) => e.type)).toContain('payment.updated');
    for (const e of square) expect(e.lastError.length).toBeGreaterThan(0);
    const outcomes: string[] = [];
    for (const e of square) {
      const r = await h.admin<{ id: number; status: string }>(
        'POST',
        `/api/admin/webhook-events/${e.id}/replay`,
      );
      expect(r.status).toBe(200);
      expect(r.body.id).toBe(e.id);
      outcomes.push(r.body.status);
    }
    expect(outcomes).toContain('processed');
    await h.settleDown();
    expect(await order(h, c.orderId)).toMatchObject({ status: 'paid', confirmedVia: 'webhook' });
    const inbox = (await squareInbox(h)).slice(inboxMark);
    expect(inbox.every((e) => e.status === 'processed' || e.status === 'ignored')).toBe(true);
    // Replaying a processed event again changes nothing.
    const again = await h.admin('POST', `/api/admin/webhook-events/${square[0]?.id ?? 0}/replay`);
    expect(again.status).toBe(200);
    await h.settleDown();
    expect(await fulfilments(h, c.orderId)).toBe(1);
  });

  it('webhooks lost: reconciliation finds the payment through Square’s events search and confirms it once', async () => {
    const h = harness();
    const m = await setupSquare(h);
    h.square.faults.set({
      webhookDrop: { types: ['payment.created', 'payment.updated', 'order.updated'] },
    });
    const c = await squareCheckout(h, m.slotId);
    const paid = await h.square.payLink(c.linkId, 'ok');
    await h.settleDown();
    expect((await order(h, c.orderId)).status).toBe('pending');
    const searchesBefore = h.square.requests.filter(
      (r) => r.method === 'POST' && r.path === '/v2/events',
    ).length;
    const s = await reconcile(h.settle.ctx);
    expect(s.errors).toEqual([]);
    expect(
      h.square.requests.filter((r) => r.method === 'POST' && r.path === '/v2/events').length,
    ).toBeGreaterThan(searchesBefore);
    await h.settleDown();
    expect(await order(h, c.orderId)).toMatchObject({
      status: 'paid',
      confirmedVia: 'reconcile',
      providerPaymentId: paid.paymentId,
    });
    const again = await reconcile(h.settle.ctx);
    expect(again.errors).toEqual([]);
    await h.settleDown();
    expect(await paidTransitions(h, c.orderId)).toBe(1);
    expect(await fulfilments(h, c.orderId)).toBe(1);
  });

  it('events of a payment Settle did not create (the seller’s own link) are acknowledged and ignored', async () => {
    const h = harness();
    const m = await setupSquare(h);
    const sq = await sellerSquare(h, m.merchantId);
    const own = await sq.checkout.paymentLinks.create({
      idempotencyKey: 'seller-own-link',
      order: {
        locationId: m.locationId,
        referenceId: 'walk-in-42',
        lineItems: [{ name: 'Walk-in', quantity: '1', basePriceMoney: { amount: 1200n, currency: 'USD' } }],
      },
    });
    const ordersBefore = await h.settle.ctx.db.selectFrom('orders').select(['id', 'status']).execute();
    const inboxMark = (await squareInbox(h)).length;
    const deliveryMark = h.square.deliveries.length;
    await h.square.payLink(own.paymentLink?.id ?? '', 'ok');
    await h.settleDown();
    const inbox = (await squareInbox(h)).slice(inboxMark);
    expect(inbox.filter((e) => e.type.startsWith('payment.')).length).toBeGreaterThan(0);
    expect(inbox.every((e) => e.status === 'ignored' || e.status === 'processed')).toBe(true);
    expect(await h.settle.ctx.db.selectFrom('orders').select(['id', 'status']).execute()).toEqual(
      ordersBefore,
    );
    const toSettle = h.square.deliveries.slice(deliveryMark).filter((d) => d.url === squareWebhookUrl(h));
    expect(toSettle.length).toBeGreaterThan(0);
    expect(toSettle.every((d) => d.status === 200)).toBe(true);
  });
});

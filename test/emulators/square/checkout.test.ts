import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { squareClientFor } from '../../../src/emulators/square/index.js';
import {
  createLink,
  rawApi,
  refused,
  startHarness,
  startReceiver,
  submitForm,
  type Harness,
  type Receiver,
  type Seller,
} from './helpers.js';

describe('Square emulator: payment links, the hosted page, payments and orders', () => {
  let h: Harness;
  let seller: Seller;
  let hook: Receiver;
  beforeEach(async () => {
    h = await startHarness();
    seller = await h.connect({ sellerName: 'Studio' });
    hook = await startReceiver();
    await h.app.webhooks.subscriptions.create({
      subscription: {
        notificationUrl: hook.url,
        eventTypes: ['payment.created', 'payment.updated', 'order.created', 'order.updated'],
      },
    });
  });
  afterEach(async () => {
    await h.close();
    await hook.close();
  });

  it('creates a payment link with an app fee: the link, its DRAFT order, order.created', async () => {
    const res = await seller.client.checkout.paymentLinks.create({
      idempotencyKey: 'settle-order-42',
      description: 'Saturday yoga',
      order: {
        locationId: seller.locationId,
        referenceId: 'order-42',
        lineItems: [
          { name: 'Yoga class', quantity: '2', basePriceMoney: { amount: 1250n, currency: 'USD' } },
        ],
      },
      checkoutOptions: {
        redirectUrl: 'https://settle.example/return',
        appFeeMoney: { amount: 300n, currency: 'USD' },
      },
      prePopulatedData: { buyerEmail: 'buyer@example.com' },
      paymentNote: 'booking 42',
    });
    const link = res.paymentLink;
    expect(link).toMatchObject({
      version: 1,
      description: 'Saturday yoga',
      checkoutOptions: {
        redirectUrl: 'https://settle.example/return',
        appFeeMoney: { amount: 300n, currency: 'USD' },
      },
      paymentNote: 'booking 42',
    });
    expect(link?.id).toMatch(/^[A-Z0-9]{16}$/);
    expect(link?.url?.startsWith(`${h.emu.url}/u/`)).toBe(true);
    expect(link?.longUrl?.startsWith(h.emu.url)).toBe(true);
    expect(link?.createdAt).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
    const order = res.relatedResources?.orders?.[0];
    expect(order).toMatchObject({
      id: link?.orderId,
      locationId: seller.locationId,
      referenceId: 'order-42',
      state: 'DRAFT',
      totalMoney: { amount: 2500n, currency: 'USD' },
      netAmountDueMoney: { amount: 2500n, currency: 'USD' },
    });
    expect(order?.lineItems?.[0]).toMatchObject({
      name: 'Yoga class',
      quantity: '2',
      totalMoney: { amount: 2500n, currency: 'USD' },
    });
    const got = await seller.client.checkout.paymentLinks.get({ id: link?.id ?? '' });
    expect(got.paymentLink?.orderId).toBe(link?.orderId);
    const list = await seller.client.checkout.paymentLinks.list();
    expect(list.data.map((l) => l.id)).toEqual([link?.id]);
    await h.emu.idle();
    expect(hook.types()).toEqual(['order.created']);
    expect(hook.ok[0]?.event.data).toMatchObject({
      type: 'order_created',
      id: link?.orderId,
      object: {
        order_created: {
          order_id: link?.orderId,
          state: 'DRAFT',
          version: 1,
          location_id: seller.locationId,
        },
      },
    });
  });

  it('an app fee above 90 % of the total, in another currency, or with the application’s own token is refused', async () => {
    expect(await refused(createLink(seller, { amount: 1000, fee: 901 }))).toMatchObject({
      status: 400,
      category: 'INVALID_REQUEST_ERROR',
      code: 'INVALID_FEES',
      field: 'checkout_options.app_fee_money.amount',
    });
    await createLink(seller, { amount: 1000, fee: 900 });
    const eur = await refused(
      seller.client.checkout.paymentLinks.create({
        idempotencyKey: 'eur',
        quickPay: {
          name: 'Class',
          priceMoney: { amount: 1000n, currency: 'USD' },
          locationId: seller.locationId,
        },
        checkoutOptions: { appFeeMoney: { amount: 10n, currency: 'EUR' } },
      }),
    );
    expect(eur).toMatchObject({
      status: 400,
      code: 'CURRENCY_MISMATCH',
      field: 'checkout_options.app_fee_money.currency',
    });
    const devLocation = (await h.app.locations.list()).locations?.[0]?.id ?? '';
    const own = await refused(
      h.app.checkout.paymentLinks.create({
        idempotencyKey: 'own',
        quickPay: { name: 'Class', priceMoney: { amount: 1000n, currency: 'USD' }, locationId: devLocation },
        checkoutOptions: { appFeeMoney: { amount: 10n, currency: 'USD' } },
      }),
    );
    expect(own).toMatchObject({ status: 400, field: 'checkout_options.app_fee_money' });
  });

  it('an app fee needs PAYMENTS_WRITE_ADDITIONAL_RECIPIENTS; without an app fee the link is created', async () => {
    h.emu.withholdScopes(['PAYMENTS_WRITE_ADDITIONAL_RECIPIENTS']);
    const limited = await h.connect();
    expect(await refused(createLink(limited, { fee: 100 }))).toMatchObject({
      status: 403,
      category: 'AUTHENTICATION_ERROR',
      code: 'INSUFFICIENT_SCOPES',
    });
    await createLink(limited);
    const noWrite = await h.connect({ scopes: ['PAYMENTS_READ', 'ORDERS_READ'] });
    expect(await refused(createLink(noWrite))).toMatchObject({ status: 403, code: 'INSUFFICIENT_SCOPES' });
  });

  it('a card that succeeds: payment COMPLETED with the app fee, order DRAFT → OPEN (never COMPLETED), redirect with Square’s parameters', async () => {
    const link = await createLink(seller, { fee: 250, referenceId: 'order-7' });
    const page = await fetch(link.url);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('data-testid="pay"');
    const res = await submitForm(link.url, { card: 'ok', buyer_email: 'b@example.com' });
    expect(res.status).toBe(303);
    const loc = new URL(res.headers.get('location') ?? '');
    expect(`${loc.origin}${loc.pathname}`).toBe('https://settle.example/return');
    expect(loc.searchParams.get('checkoutId')).toBe(link.linkId);
    expect(loc.searchParams.get('orderId')).toBe(link.orderId);
    expect(loc.searchParams.get('transactionId')).toBe(link.orderId);
    expect(loc.searchParams.get('referenceId')).toBe('order-7');

    const order = (await seller.client.orders.get({ orderId: link.orderId })).order;
    expect(order?.state).toBe('OPEN');
    expect(order?.netAmountDueMoney?.amount).toBe(0n);
    const paymentId = order?.tenders?.[0]?.paymentId ?? '';
    const payment = (await seller.client.payments.get({ paymentId })).payment;
    expect(payment).toMatchObject({
      status: 'COMPLETED',
      orderId: link.orderId,
      locationId: seller.locationId,
      amountMoney: { amount: 2500n, currency: 'USD' },
      totalMoney: { amount: 2500n, currency: 'USD' },
      appFeeMoney: { amount: 250n, currency: 'USD' },
      sourceType: 'CARD',
      cardDetails: { status: 'CAPTURED' },
      buyerEmailAddress: 'b@example.com',
    });
    expect(payment?.versionToken).toBeTruthy();
    expect(payment?.createdAt).toBeTruthy();
    expect(payment?.updatedAt).toBeTruthy();
    await h.emu.idle();
    expect(hook.types()).toEqual(['order.created', 'payment.created', 'payment.updated', 'order.updated']);
    expect(hook.ok[1]?.event.data.object).toMatchObject({
      payment: { status: 'APPROVED', order_id: link.orderId },
    });
    expect(hook.ok[2]?.event.data.object).toMatchObject({
      payment: { status: 'COMPLETED', app_fee_money: { amount: 250 } },
    });
    expect(hook.ok[3]?.event.data.object).toMatchObject({ order_updated: { state: 'OPEN', version: 2 } });
    // Paid: the page says so and refuses a second payment.
    expect(await (await fetch(link.url)).text()).toContain('already been paid');
    expect((await submitForm(link.url, { card: 'ok' })).status).toBe(409);
  });

  it('a declined card: FAILED payment with GENERIC_DECLINE, the page shows the error, the order stays DRAFT and can be paid again', async () => {
    const link = await createLink(seller);
    const res = await submitForm(link.url, { card: 'declined' });
    expect(res.status).toBe(402);
    expect(await res.text()).toContain('declined');
    const payments = (await seller.client.payments.list({})).data;
    expect(payments).toHaveLength(1);
    expect(payments[0]).toMatchObject({
      status: 'FAILED',
      cardDetails: { status: 'FAILED', errors: [{ code: 'GENERIC_DECLINE' }] },
    });
    expect((await seller.client.orders.get({ orderId: link.orderId })).order?.state).toBe('DRAFT');
    const again = await h.emu.payLink(link.linkId, 'ok');
    expect(again.status).toBe('COMPLETED');
    expect((await seller.client.orders.get({ orderId: link.orderId })).order?.state).toBe('OPEN');
  });

  it('a payment that stays PENDING, then completes through the control route: the order opens only then', async () => {
    const link = await createLink(seller);
    const { paymentId, status, redirectUrl } = await h.emu.payLink(link.orderId, 'pending');
    expect(status).toBe('PENDING');
    expect(redirectUrl).toContain(`orderId=${link.orderId}`);
    const p = (await seller.client.payments.get({ paymentId })).payment;
    expect(p).toMatchObject({ status: 'PENDING', sourceType: 'BANK_ACCOUNT' });
    expect((await seller.client.orders.get({ orderId: link.orderId })).order?.state).toBe('DRAFT');
    expect((await submitForm(link.url, { card: 'ok' })).status).toBe(409);
    const res = await fetch(`${h.emu.url}/_emulator/payments/${paymentId}/complete`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ outcome: 'COMPLETED' }),
    });
    expect(res.status).toBe(200);
    expect((await seller.client.payments.get({ paymentId })).payment?.status).toBe('COMPLETED');
    expect((await seller.client.orders.get({ orderId: link.orderId })).order?.state).toBe('OPEN');
  });

  it('a pending payment that fails leaves the order DRAFT', async () => {
    const link = await createLink(seller);
    const { paymentId } = await h.emu.payLink(link.linkId, 'pending');
    await h.emu.completePendingPayment(paymentId, 'FAILED');
    expect((await seller.client.payments.get({ paymentId })).payment?.status).toBe('FAILED');
    expect((await seller.client.orders.get({ orderId: link.orderId })).order?.state).toBe('DRAFT');
  });

  it('idempotency_key: the same request is answered the same; another body with the key is IDEMPOTENCY_KEY_REUSED', async () => {
    const a = await createLink(seller, { key: 'k-1', amount: 2000 });
    const b = await createLink(seller, { key: 'k-1', amount: 2000 });
    expect(b).toEqual(a);
    expect((await seller.client.checkout.paymentLinks.list()).data).toHaveLength(1);
    expect(await refused(createLink(seller, { key: 'k-1', amount: 2100 }))).toMatchObject({
      status: 400,
      category: 'INVALID_REQUEST_ERROR',
      code: 'IDEMPOTENCY_KEY_REUSED',
    });
    // Keys are per seller.
    const other = await h.connect();
    await createLink(other, { key: 'k-1', amount: 2100 });
    // A refused request is not kept: corrected, it goes through with the same key.
    expect(await refused(createLink(seller, { key: 'k-2', fee: 5000 }))).toMatchObject({
      code: 'INVALID_FEES',
    });
    await createLink(seller, { key: 'k-2', fee: 100 });
  });

  it('quick pay, deleting a link (its DRAFT order is canceled), batch retrieve, orders of other sellers unseen', async () => {
    const quick = await seller.client.checkout.paymentLinks.create({
      idempotencyKey: 'q',
      quickPay: {
        name: 'Drop-in',
        priceMoney: { amount: 1500n, currency: 'USD' },
        locationId: seller.locationId,
      },
    });
    const orderId = quick.paymentLink?.orderId ?? '';
    expect(quick.relatedResources?.orders?.[0]?.lineItems?.[0]).toMatchObject({
      name: 'Drop-in',
      quantity: '1',
    });
    const del = await seller.client.checkout.paymentLinks.delete({ id: quick.paymentLink?.id ?? '' });
    expect(del).toMatchObject({ id: quick.paymentLink?.id, cancelledOrderId: orderId });
    expect((await seller.client.orders.get({ orderId })).order?.state).toBe('CANCELED');
    expect(
      await refused(seller.client.checkout.paymentLinks.get({ id: quick.paymentLink?.id ?? '' })),
    ).toMatchObject({ status: 404 });
    expect((await fetch(quick.paymentLink?.url ?? '')).status).toBe(404);
    const link = await createLink(seller);
    const batch = await seller.client.orders.batchGet({ orderIds: [orderId, link.orderId, 'nope'] });
    expect(batch.orders?.map((o) => o.id)).toEqual([orderId, link.orderId]);
    const other = await h.connect();
    expect(await refused(other.client.orders.get({ orderId }))).toMatchObject({
      status: 404,
      code: 'NOT_FOUND',
    });
    expect(await refused(other.client.checkout.paymentLinks.get({ id: link.linkId }))).toMatchObject({
      status: 404,
    });
  });

  it('payments list: newest first, begin_time/end_time, sort_order, location, total, limit and cursor', async () => {
    const ids: string[] = [];
    for (const amount of [1000, 2000, 3000]) {
      const l = await createLink(seller, { amount });
      ids.push((await h.emu.payLink(l.linkId)).paymentId);
      h.emu.clock.advance(60_000);
    }
    const all = await seller.client.payments.list({});
    expect(all.data.map((p) => p.id)).toEqual([...ids].reverse());
    const asc = await seller.client.payments.list({ sortOrder: 'ASC' });
    expect(asc.data.map((p) => p.id)).toEqual(ids);
    const p1 = await seller.client.payments.get({ paymentId: ids[1] ?? '' });
    const since = await seller.client.payments.list({ beginTime: p1.payment?.createdAt ?? '' });
    expect(since.data.map((p) => p.id)).toEqual([ids[2], ids[1]]);
    const byTotal = await seller.client.payments.list({ total: 2000n });
    expect(byTotal.data.map((p) => p.id)).toEqual([ids[1]]);
    const paged = await seller.client.payments.list({ limit: 2 });
    expect(paged.response.cursor).toBeTruthy();
    const seen: string[] = [];
    for await (const p of paged) seen.push(p.id ?? '');
    expect(seen).toEqual([...ids].reverse());
    const old = await seller.client.payments.list({
      endTime: '2000-01-01T00:00:00Z',
      beginTime: '1999-01-01T00:00:00Z',
    });
    expect(old.data).toEqual([]);
    expect(await refused(seller.client.payments.list({ beginTime: 'yesterday' }))).toMatchObject({
      status: 400,
      code: 'INVALID_TIME',
      field: 'begin_time',
    });
    const raw = await rawApi(h.emu, seller.accessToken, 'GET', '/v2/payments?location_id=LNOPE');
    expect(raw).toEqual({ status: 200, json: {} });
  });

  it('the link URL works through the long URL too, and a seller token of another merchant cannot read the payment', async () => {
    const link = await createLink(seller);
    const got = await seller.client.checkout.paymentLinks.get({ id: link.linkId });
    const res = await submitForm(got.paymentLink?.longUrl ?? '', { card: 'ok' });
    expect(res.status).toBe(303);
    const paymentId = (await seller.client.payments.list({})).data[0]?.id ?? '';
    const other = await h.connect();
    expect(await refused(other.client.payments.get({ paymentId }))).toMatchObject({
      status: 404,
      code: 'NOT_FOUND',
    });
    expect(await refused(squareClientFor(h.emu, 'EAAAnope').payments.get({ paymentId }))).toMatchObject({
      status: 401,
      category: 'AUTHENTICATION_ERROR',
      code: 'UNAUTHORIZED',
    });
  });

  it('the buyer pays through the control route too', async () => {
    const link = await createLink(seller, { referenceId: 'r-9' });
    const res = await fetch(`${h.emu.url}/_emulator/payment-links/${link.linkId}/pay`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ card: 'ok', buyer_email: 'c@example.com' }),
    });
    const body = (await res.json()) as { payment_id: string; status: string; redirect_url: string };
    expect(body.status).toBe('COMPLETED');
    expect(body.redirect_url).toContain('referenceId=r-9');
    const bad = await fetch(`${h.emu.url}/_emulator/payment-links/${link.linkId}/pay`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ card: 'amex' }),
    });
    expect(bad.status).toBe(400);
  });
});

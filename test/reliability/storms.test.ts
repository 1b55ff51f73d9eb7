import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Stripe from 'stripe';
import { startCluster, idempotencyKey, sessionIdOf, type Cluster, type Market } from './cluster.js';
import { record, scaled } from './figures.js';

/**
 * Storms against a cluster: three Settle processes on one PostgreSQL server behind a round-robin proxy, the
 * emulator delivering webhooks to the proxy. Everything is driven through the public and operator API, the
 * webhook endpoints and the emulator; the checkers count effects where they happen (paid transitions in the
 * order history, refunds at the provider), never through a row a unique index caps.
 */
const INSTANCES = 3;
const CARD = '4242424242424242';

interface Checkout {
  orderId: string;
  checkoutUrl: string;
}

interface ApiError {
  error?: { code?: string };
}

describe.skipIf(!process.env['DATABASE_URL'])('storms across a cluster of Settle instances', () => {
  let c: Cluster;

  beforeAll(async () => {
    c = await startCluster({ instances: INSTANCES });
  }, 180_000);

  afterAll(async () => {
    await c?.stop();
  }, 60_000);

  /** Answers the proxy forwarded with a 5xx, except the documented `503 webhook_in_progress` (retried). */
  const fiveXX = () =>
    c.answers.filter((a) => a.status >= 500 && !(a.status === 503 && isInProgress(a.body)));
  const isInProgress = (body: string | null) => body !== null && body.includes('webhook_in_progress');
  /** What the proxy saw go wrong: any 5xx but the documented in-progress answer, and any webhook refused (4xx). */
  const unexpectedAnswers = () =>
    [
      ...fiveXX(),
      ...c.answers.filter((a) => a.path.startsWith('/webhooks/') && a.status >= 400 && a.status < 500),
    ]
      .slice(0, 5)
      .map((a) => `${a.status} ${a.method} ${a.path} @${a.instance}: ${a.body ?? ''}`)
      .join('\n');

  const transitions = async (to: string, orderIds?: readonly string[]) => {
    let q = c.db.selectFrom('order_events').select(['order_id']).where('to_status', '=', to);
    if (orderIds !== undefined) q = q.where('order_id', 'in', orderIds.length > 0 ? [...orderIds] : ['-']);
    return (await q.execute()).map((r) => r.order_id);
  };

  const slotState = async (slotId: string) =>
    c.db.selectFrom('slots').select(['capacity', 'sold']).where('id', '=', slotId).executeTakeFirstOrThrow();

  const startCheckout = (slotId: string) =>
    c.request<Checkout & ApiError>(
      'POST',
      '/api/checkout',
      { slotId, quantity: 1, email: 'buyer@example.test' },
      { 'idempotency-key': idempotencyKey() },
    );

  const mustCheckout = async (slotId: string): Promise<Checkout & { sessionId: string }> => {
    const r = await startCheckout(slotId);
    if (r.status !== 201) throw new Error(`checkout: ${r.status} ${JSON.stringify(r.body)}`);
    return { ...r.body, sessionId: sessionIdOf(r.body.checkoutUrl) };
  };

  const requestOptions = (m: Market): Stripe.RequestOptions =>
    m.chargeType === 'direct' ? { stripeAccount: m.accountId } : {};

  /** Refunds at the provider for an order's payment (succeeded or pending: money on its way back). */
  const providerRefunds = async (m: Market, orderId: string) => {
    const o = await c.db
      .selectFrom('orders')
      .select('provider_payment_id')
      .where('id', '=', orderId)
      .executeTakeFirstOrThrow();
    if (o.provider_payment_id === null) return [];
    const list = await c.stripe.refunds.list(
      { payment_intent: o.provider_payment_id, limit: 100 },
      requestOptions(m),
    );
    return list.data.filter((r) => r.status === 'succeeded' || r.status === 'pending');
  };

  const perInstance = () => {
    const counts = Array.from({ length: INSTANCES }, () => 0);
    for (const a of c.answers) counts[a.instance] = (counts[a.instance] ?? 0) + 1;
    return counts;
  };

  it('one event delivered many times at once across the instances, with concurrent verifies: one paid transition, one of each effect', async () => {
    const deliveries = scaled(100, 1000);
    const verifies = scaled(20, 100);
    const m = await c.market({ chargeType: 'direct', capacity: 5, name: 'Duplicate storm studio' });
    // The emulator keeps checkout.session.completed to itself: the storm below is its only delivery.
    c.emulator.faults.set({ webhookDrop: { types: ['checkout.session.completed'] } });
    const buyer = await mustCheckout(m.slotId);
    await c.emulator.paySession(buyer.sessionId, { card_number: CARD });
    await c.quiesce();
    c.emulator.faults.reset();
    const listed = await c.stripe.events.list(
      { type: 'checkout.session.completed', limit: 10 },
      { stripeAccount: m.accountId },
    );
    const event = listed.data.find((e) => (e.data.object as Stripe.Checkout.Session).id === buyer.sessionId);
    if (event === undefined) throw new Error('checkout.session.completed not found at the emulator');
    // The event's own bytes, as the emulator's Events API serves them; signed with the Connect endpoint's secret.
    const raw = await (
      await fetch(`${c.emulator.url}/v1/events/${event.id}`, {
        headers: { authorization: `Bearer ${c.secretKey}`, 'stripe-account': m.accountId },
      })
    ).text();
    const signature = c.stripe.webhooks.generateTestHeaderString({
      payload: raw,
      secret: c.webhookSecrets.connect,
    });
    const body = Buffer.from(raw);

    // Every read of the session at the emulator takes 300 ms, so the whole storm arrives while the first
    // delivery (and every verify) is still confirming: the duplicates really wait on the inbox lease.
    c.emulator.faults.set({ apiLatencyMs: 300, apiLatencyPath: '/v1/checkout/sessions' });
    c.resetAnswers();
    const started = Date.now();
    let retried = 0;
    /** One delivery as Stripe makes it: a 503 webhook_in_progress is not acknowledged, so it is delivered again. */
    const deliver = async (): Promise<number> => {
      for (let attempt = 0; ; attempt++) {
        const r = await c.request('POST', '/webhooks/stripe/connect', body, {
          'content-type': 'application/json',
          'stripe-signature': signature,
        });
        if (r.status !== 503 || attempt >= 20) return r.status;
        retried += 1;
        await new Promise((res) => setTimeout(res, 200));
      }
    };
    const verify = async () =>
      c.request<{ status?: string }>('POST', '/api/checkout/verify', { orderId: buyer.orderId });
    // The verifies are spread evenly among the deliveries, all started at once.
    const every = Math.max(1, Math.floor(deliveries / verifies));
    const work: Promise<number | { status: number; body: { status?: string } }>[] = [];
    let verifiesStarted = 0;
    for (let i = 0; i < deliveries; i++) {
      work.push(deliver());
      if (i % every === 0 && verifiesStarted < verifies) {
        work.push(verify());
        verifiesStarted += 1;
      }
    }
    for (; verifiesStarted < verifies; verifiesStarted++) work.push(verify());
    const results = await Promise.all(work);
    const stormMs = Date.now() - started;
    c.emulator.faults.reset();
    await c.quiesce();

    const deliveryStatuses = results.filter((r): r is number => typeof r === 'number');
    const verifyAnswers = results.filter(
      (r): r is { status: number; body: { status?: string } } => typeof r !== 'number',
    );
    const paid = await transitions('paid', [buyer.orderId]);
    const jobs = await c.db
      .selectFrom('jobs')
      .select(['kind'])
      .where('dedupe_key', 'like', `%${buyer.orderId}`)
      .execute();
    const notifications = await c.db
      .selectFrom('notifications')
      .select(['kind'])
      .where('order_id', '=', buyer.orderId)
      .execute();
    const inbox = await c.db
      .selectFrom('webhook_events')
      .select(['status'])
      .where('event_id', '=', event.id)
      .execute();
    const slot = await slotState(m.slotId);
    const refunds = await providerRefunds(m, buyer.orderId);
    const inProgress = c.answers.filter((a) => a.status === 503 && isInProgress(a.body)).length;
    const fx = fiveXX().length;
    const kinds = new Map<string, number>();
    for (const j of jobs) kinds.set(j.kind, (kinds.get(j.kind) ?? 0) + 1);
    const notices = new Map<string, number>();
    for (const n of notifications) notices.set(n.kind, (notices.get(n.kind) ?? 0) + 1);

    const held =
      paid.length === 1 &&
      fx === 0 &&
      deliveryStatuses.every((s) => s === 200) &&
      verifyAnswers.every((v) => v.status === 200 && v.body.status === 'paid') &&
      [...kinds.values()].every((n) => n === 1) &&
      [...notices.values()].every((n) => n === 1) &&
      slot.sold === 1 &&
      refunds.length === 0;
    record({
      property: 'One fulfilment per order under a duplicate storm',
      method: `One signed checkout.session.completed delivered ${deliveries} times at once to the Connect endpoint through a round-robin over ${INSTANCES} instances, with ${verifies} concurrent POST /api/checkout/verify; paid transitions counted in the order history.`,
      figures: {
        instances: INSTANCES,
        deliveries,
        verifies,
        paidTransitions: paid.length,
        sideEffectJobs: jobs.length,
        notifications: notifications.length,
        answered503InProgress: inProgress,
        redeliveredAfter503InProgress: retried,
        fiveXX: fx,
        providerRefunds: refunds.length,
        stormMs,
      },
      held,
    });
    expect(unexpectedAnswers()).toBe('');
    expect(paid).toHaveLength(1);
    expect(deliveryStatuses.filter((s) => s !== 200)).toEqual([]);
    expect(
      verifyAnswers.map((v) => `${v.status} ${v.body.status ?? ''}`).filter((s) => s !== '200 paid'),
    ).toEqual([]);
    expect(Object.fromEntries(kinds)).toEqual({
      'notify.buyer_receipt': 1,
      'notify.seller_notice': 1,
      'fulfil.booking': 1,
    });
    expect([...notices.values()].every((n) => n === 1)).toBe(true);
    expect(inbox.map((r) => r.status)).toEqual(['processed']);
    expect(slot.sold).toBe(1);
    expect(refunds).toEqual([]);
    expect(perInstance().every((n) => n > 0)).toBe(true);
    expect(held).toBe(true);
  }, 300_000);

  it('many buyers for few places, through the round-robin: sold ≤ capacity, every answer 201 or 409 slot_unavailable', async () => {
    const buyers = scaled(60, 500);
    const places = scaled(5, 10);
    const m = await c.market({ chargeType: 'destination', capacity: places, name: 'Few places studio' });
    c.resetAnswers();
    const started = Date.now();
    const answers = await Promise.all(Array.from({ length: buyers }, () => startCheckout(m.slotId)));
    const stormMs = Date.now() - started;
    const created = answers.filter((a) => a.status === 201);
    const refused = answers.filter((a) => a.status === 409 && a.body.error?.code === 'slot_unavailable');
    const other = answers.filter((a) => !created.includes(a) && !refused.includes(a));
    // Every holder pays at once; the emulator's webhooks land on whichever instance is next.
    await Promise.all(
      created.map((a) => c.emulator.paySession(sessionIdOf(a.body.checkoutUrl), { card_number: CARD })),
    );
    await c.quiesce();
    const orderIds = created.map((a) => a.body.orderId);
    const paid = await transitions('paid', orderIds);
    const oversold = await transitions('paid_oversold', orderIds);
    const slot = await slotState(m.slotId);
    const fx = fiveXX().length;
    const held =
      slot.sold <= slot.capacity &&
      created.length <= places &&
      other.length === 0 &&
      fx === 0 &&
      new Set(paid).size === paid.length &&
      paid.length === slot.sold;
    record({
      property: 'Never more places sold than the slot has',
      method: `${buyers} buyers POST /api/checkout at once (random UUID Idempotency-Keys) for ${places} places through a round-robin over ${INSTANCES} instances, then every holder pays at the emulator.`,
      figures: {
        instances: INSTANCES,
        buyers,
        places,
        created201: created.length,
        refused409: refused.length,
        otherAnswers: other.length,
        paidTransitions: paid.length,
        oversold: oversold.length,
        sold: slot.sold,
        fiveXX: fx,
        stormMs,
      },
      held,
    });
    expect(unexpectedAnswers()).toBe('');
    expect(other.map((a) => `${a.status} ${JSON.stringify(a.body)}`)).toEqual([]);
    expect(created).toHaveLength(places);
    expect(refused).toHaveLength(buyers - places);
    expect(slot.sold).toBeLessThanOrEqual(slot.capacity);
    expect(slot.sold).toBe(places);
    expect(paid.sort()).toEqual([...orderIds].sort());
    expect(oversold).toEqual([]);
    expect(held).toBe(true);
  }, 300_000);

  it('twenty concurrent refunds on one order through the operator API: never more refunded at the provider than was paid', async () => {
    const requests = 20;
    const total = 10_000;
    const m = await c.market({
      chargeType: 'destination',
      capacity: 2,
      unitAmount: total,
      name: 'Refund storm',
    });
    const buyer = await mustCheckout(m.slotId);
    await c.emulator.paySession(buyer.sessionId, { card_number: CARD });
    await c.quiesce();
    expect((await c.request<{ status: string }>('GET', `/api/orders/${buyer.orderId}`)).body.status).toBe(
      'paid',
    );
    c.resetAnswers();
    // Two ask for everything left; the others for 1 500 each: 20 requests ask for far more than 10 000.
    const asked = Array.from({ length: requests }, (_, i) => (i % 10 === 9 ? undefined : 1500));
    const answers = await Promise.all(
      asked.map((amount) =>
        c.admin<{ amount?: number } & ApiError>(
          'POST',
          `/api/admin/orders/${buyer.orderId}/refunds`,
          amount === undefined ? {} : { amount },
          { 'idempotency-key': idempotencyKey() },
        ),
      ),
    );
    await c.quiesce();
    const accepted = answers.filter((a) => a.status === 201);
    const refused = answers.filter(
      (a) =>
        a.status === 409 &&
        (a.body.error?.code === 'refund_exceeds_payment' || a.body.error?.code === 'order_not_refundable'),
    );
    const other = answers.filter((a) => !accepted.includes(a) && !refused.includes(a));
    const atProvider = await providerRefunds(m, buyer.orderId);
    const refundedAtProvider = atProvider.reduce((s, r) => s + r.amount, 0);
    const acceptedAmount = accepted.reduce((s, a) => s + (a.body.amount ?? 0), 0);
    const o = await c.db
      .selectFrom('orders')
      .select(['refunded_amount', 'status'])
      .where('id', '=', buyer.orderId)
      .executeTakeFirstOrThrow();
    const fx = fiveXX().length;
    const held =
      refundedAtProvider <= total &&
      refundedAtProvider === acceptedAmount &&
      o.refunded_amount === refundedAtProvider &&
      other.length === 0 &&
      fx === 0;
    record({
      property: 'Refunds never above what was paid',
      method: `${requests} concurrent POST /api/admin/orders/:id/refunds (each its own Idempotency-Key; 18 for 1 500 and 2 for the rest, of 10 000) on one paid order through a round-robin over ${INSTANCES} instances; refunds summed at the emulator.`,
      figures: {
        instances: INSTANCES,
        refundRequests: requests,
        accepted201: accepted.length,
        refused409: refused.length,
        otherAnswers: other.length,
        paid: total,
        refundedAtProvider,
        providerRefunds: atProvider.length,
        fiveXX: fx,
      },
      held,
    });
    expect(unexpectedAnswers()).toBe('');
    expect(other.map((a) => `${a.status} ${JSON.stringify(a.body)}`)).toEqual([]);
    expect(refundedAtProvider).toBeLessThanOrEqual(total);
    expect(refundedAtProvider).toBe(acceptedAmount);
    expect(o.refunded_amount).toBe(refundedAtProvider);
    expect(accepted.length).toBeGreaterThan(0);
    expect(held).toBe(true);
  }, 300_000);

  it('one Idempotency-Key sent many times at once across the instances: one order, one session, one refund at the provider', async () => {
    const copies = scaled(20, 100);
    const m = await c.market({
      chargeType: 'destination',
      capacity: 10,
      unitAmount: 4000,
      name: 'Double clicks',
    });
    const key = idempotencyKey();
    const sessionsBefore = c.emulator.requests.filter(
      (r) => r.method === 'POST' && r.path === '/v1/checkout/sessions' && r.status === 200,
    ).length;
    c.resetAnswers();
    const body = { slotId: m.slotId, quantity: 1, email: 'buyer@example.test' };
    const answers = await Promise.all(
      Array.from({ length: copies }, () =>
        c.request<Checkout & ApiError>('POST', '/api/checkout', body, { 'idempotency-key': key }),
      ),
    );
    const created = answers.filter((a) => a.status === 201);
    const inFlight = answers.filter(
      (a) => a.status === 409 && a.body.error?.code === 'idempotency_key_in_flight',
    );
    const other = answers.filter((a) => !created.includes(a) && !inFlight.includes(a));
    const orderIds = new Set(created.map((a) => a.body.orderId));
    const sessions =
      c.emulator.requests.filter(
        (r) => r.method === 'POST' && r.path === '/v1/checkout/sessions' && r.status === 200,
      ).length - sessionsBefore;
    const orderId = created[0]?.body.orderId ?? '';
    const slotOrders = await c.db.selectFrom('orders').select('id').where('slot_id', '=', m.slotId).execute();
    // The buyer pays; then the operator's refund is sent many times at once with one key.
    const checkoutUrl = created[0]?.body.checkoutUrl ?? '';
    await c.emulator.paySession(sessionIdOf(checkoutUrl), { card_number: CARD });
    await c.quiesce();
    const refundKey = idempotencyKey();
    const refunds = await Promise.all(
      Array.from({ length: copies }, () =>
        c.admin<{ refundId?: string } & ApiError>(
          'POST',
          `/api/admin/orders/${orderId}/refunds`,
          { amount: 1000 },
          { 'idempotency-key': refundKey },
        ),
      ),
    );
    await c.quiesce();
    const refundIds = new Set(refunds.filter((r) => r.status === 201).map((r) => r.body.refundId));
    const refundOther = refunds.filter(
      (r) => r.status !== 201 && !(r.status === 409 && r.body.error?.code === 'idempotency_key_in_flight'),
    );
    const atProvider = await providerRefunds(m, orderId);
    const fx = fiveXX().length;
    const held =
      orderIds.size === 1 &&
      slotOrders.length === 1 &&
      sessions === 1 &&
      other.length === 0 &&
      refundIds.size === 1 &&
      refundOther.length === 0 &&
      atProvider.map((r) => r.amount).join() === '1000' &&
      fx === 0;
    record({
      property: 'One Idempotency-Key, one effect',
      method: `One POST /api/checkout and then one operator refund, each sent ${copies} times at once with the same Idempotency-Key through a round-robin over ${INSTANCES} instances; orders counted in the database, sessions and refunds at the emulator.`,
      figures: {
        instances: INSTANCES,
        copies,
        checkout201: created.length,
        checkout409InFlight: inFlight.length,
        orders: slotOrders.length,
        providerSessions: sessions,
        refund201: refunds.filter((r) => r.status === 201).length,
        providerRefunds: atProvider.length,
        fiveXX: fx,
      },
      held,
    });
    expect(unexpectedAnswers()).toBe('');
    expect(other.map((a) => `${a.status} ${JSON.stringify(a.body)}`)).toEqual([]);
    expect(orderIds.size).toBe(1);
    expect(slotOrders).toHaveLength(1);
    expect(sessions).toBe(1);
    expect(refundOther.map((r) => `${r.status} ${JSON.stringify(r.body)}`)).toEqual([]);
    expect(refundIds.size).toBe(1);
    expect(atProvider.map((r) => r.amount)).toEqual([1000]);
    expect(held).toBe(true);
  }, 300_000);

  it('many distinct orders paid at once (webhooks and verifies racing on every order): each paid exactly once', async () => {
    const orders = scaled(30, 200);
    const half = Math.ceil(orders / 2);
    // Both charge flows: direct (Connect endpoint) and destination (platform endpoint).
    const direct = await c.market({ chargeType: 'direct', capacity: half, name: 'Many orders direct' });
    const destination = await c.market({
      chargeType: 'destination',
      capacity: orders - half,
      name: 'Many orders destination',
    });
    const markets = new Map<string, Market>();
    const buyers: (Checkout & { sessionId: string })[] = [];
    for (let i = 0; i < orders; i += 10) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(10, orders - i) }, (_, k) =>
          mustCheckout(i + k < half ? direct.slotId : destination.slotId),
        ),
      );
      batch.forEach((b, k) => markets.set(b.orderId, i + k < half ? direct : destination));
      buyers.push(...batch);
    }
    c.resetAnswers();
    const started = Date.now();
    const verifies = await Promise.all([
      ...buyers.map((b) => c.emulator.paySession(b.sessionId, { card_number: CARD }).then(() => null)),
      ...buyers.map((b) =>
        c.request<{ status?: string }>('POST', '/api/checkout/verify', { orderId: b.orderId }),
      ),
    ]);
    await c.quiesce(120_000);
    const stormMs = Date.now() - started;
    const ids = buyers.map((b) => b.orderId);
    const paid = await transitions('paid', ids);
    const oversold = await transitions('paid_oversold', ids);
    const perOrder = new Map<string, number>();
    for (const id of [...paid, ...oversold]) perOrder.set(id, (perOrder.get(id) ?? 0) + 1);
    const notExactlyOnce = ids.filter((id) => perOrder.get(id) !== 1);
    const unrefunded: string[] = [];
    for (const id of oversold) {
      const market = markets.get(id);
      if (market === undefined) continue;
      const r = await providerRefunds(market, id);
      if (r.length !== 1) unrefunded.push(`${id}: ${r.length} refunds`);
    }
    const soldDirect = await slotState(direct.slotId);
    const soldDestination = await slotState(destination.slotId);
    const verifyErrors = verifies.filter((v) => v !== null && v.status !== 200);
    const fx = fiveXX().length;
    const held =
      notExactlyOnce.length === 0 &&
      unrefunded.length === 0 &&
      soldDirect.sold <= soldDirect.capacity &&
      soldDestination.sold <= soldDestination.capacity &&
      verifyErrors.length === 0 &&
      fx === 0;
    record({
      property: 'One fulfilment per order when many orders are paid at once',
      method: `${orders} orders (half Direct, half Destination Charges) paid at the emulator at the same moment while each buyer's page verifies, through a round-robin over ${INSTANCES} instances; paid and oversold transitions counted per order, oversold refunds counted at the emulator.`,
      figures: {
        instances: INSTANCES,
        orders,
        verifies: orders,
        paidTransitions: paid.length,
        oversold: oversold.length,
        notPaidExactlyOnce: notExactlyOnce.length,
        oversoldNotRefunded: unrefunded.length,
        sold: soldDirect.sold + soldDestination.sold,
        fiveXX: fx,
        stormMs,
      },
      held,
    });
    expect(unexpectedAnswers()).toBe('');
    expect(notExactlyOnce).toEqual([]);
    expect(unrefunded).toEqual([]);
    expect(verifyErrors).toEqual([]);
    expect(soldDirect.sold).toBeLessThanOrEqual(soldDirect.capacity);
    expect(soldDestination.sold).toBeLessThanOrEqual(soldDestination.capacity);
    expect(held).toBe(true);
  }, 600_000);

  it('the last places raced across instances (buyers whose hold lapsed among them): sold ≤ capacity, every oversold buyer refunded exactly once', async () => {
    const rounds = scaled(2, 10);
    const capacity = 3;
    const lapsed = 2;
    const unitAmount = 3000;
    const totals = { buyers: 0, sold: 0, paid: 0, oversold: 0, providerRefunds: 0, lapsedWon: 0, fiveXX: 0 };
    const problems: string[] = [];
    for (let round = 0; round < rounds; round++) {
      const m = await c.market({
        chargeType: 'destination',
        capacity,
        unitAmount,
        name: `Last places ${round}`,
      });
      // Two buyers start first and their holds lapse (as if they had left the page open for the hold's lifetime)…
      const early = [await mustCheckout(m.slotId), await mustCheckout(m.slotId)];
      await c.db
        .updateTable('holds')
        .set({ expires_at: new Date(Date.now() - 1000) })
        .where(
          'order_id',
          'in',
          early.map((b) => b.orderId),
        )
        .execute();
      // …so three more buyers hold every place.
      const late = await Promise.all(Array.from({ length: capacity }, () => mustCheckout(m.slotId)));
      const everyone = [...early, ...late];
      expect((await startCheckout(m.slotId)).status).toBe(409);
      // All five pay at the same moment; every delivery is sent three times (landing on different instances) and
      // every buyer's page verifies twice.
      c.emulator.faults.set({ webhookDuplicates: 3 });
      c.resetAnswers();
      await Promise.all([
        ...everyone.map((b) => c.emulator.paySession(b.sessionId, { card_number: CARD }).then(() => null)),
        ...everyone.flatMap((b) => [
          c.request('POST', '/api/checkout/verify', { orderId: b.orderId }),
          c.request('POST', '/api/checkout/verify', { orderId: b.orderId }),
        ]),
      ]);
      await c.quiesce();
      c.emulator.faults.reset();
      const ids = everyone.map((b) => b.orderId);
      const paid = await transitions('paid', ids);
      const oversold = await transitions('paid_oversold', ids);
      const slot = await slotState(m.slotId);
      const refundsPerOversold = await Promise.all(oversold.map((id) => providerRefunds(m, id)));
      const refundsOfPaid = await Promise.all(paid.map((id) => providerRefunds(m, id)));
      const statuses = await c.db
        .selectFrom('orders')
        .select(['id', 'status'])
        .where('id', 'in', ids)
        .execute();
      const fx = fiveXX();
      const say = (what: string) => problems.push(`round ${round}: ${what}`);
      if (slot.sold > capacity) say(`sold ${slot.sold} > ${capacity}`);
      if (slot.sold !== paid.length) say(`sold ${slot.sold} but ${paid.length} paid transitions`);
      if (
        paid.length + oversold.length !== everyone.length ||
        new Set([...paid, ...oversold]).size !== everyone.length
      )
        say(`paid ${paid.length} + oversold ${oversold.length} for ${everyone.length} payers`);
      refundsPerOversold.forEach((r, k) => {
        if (r.length !== 1 || r[0]?.amount !== unitAmount)
          say(`oversold ${oversold[k] ?? ''} refunded ${JSON.stringify(r.map((x) => x.amount))}`);
      });
      if (refundsOfPaid.some((r) => r.length > 0)) say('a paid buyer was refunded');
      for (const st of statuses.filter((x) => oversold.includes(x.id)))
        if (st.status !== 'refunded') say(`oversold ${st.id} ended ${st.status}`);
      if (unexpectedAnswers() !== '') say(unexpectedAnswers());
      totals.buyers += everyone.length;
      totals.sold += slot.sold;
      totals.paid += paid.length;
      totals.oversold += oversold.length;
      totals.providerRefunds += refundsPerOversold.reduce((sum, r) => sum + r.length, 0);
      totals.lapsedWon += early.filter((b) => paid.includes(b.orderId)).length;
      totals.fiveXX += fx.length;
    }
    record({
      property: 'Every oversold buyer refunded exactly once',
      method: `${rounds} rounds: ${lapsed + capacity} buyers (${lapsed} of them with a lapsed hold) pay for the last ${capacity} places at once, every webhook delivered 3 times and every page verifying twice, through a round-robin over ${INSTANCES} instances; refunds counted at the emulator.`,
      figures: {
        instances: INSTANCES,
        rounds,
        buyers: totals.buyers,
        places: rounds * capacity,
        lapsedHolds: rounds * lapsed,
        lapsedHoldersPaid: totals.lapsedWon,
        sold: totals.sold,
        paidTransitions: totals.paid,
        oversold: totals.oversold,
        providerRefunds: totals.providerRefunds,
        fiveXX: totals.fiveXX,
      },
      held: problems.length === 0,
    });
    expect(problems).toEqual([]);
    expect(totals.sold).toBe(rounds * capacity);
    expect(totals.providerRefunds).toBe(totals.oversold);
  }, 600_000);
});

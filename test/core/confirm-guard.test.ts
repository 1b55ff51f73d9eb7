import { afterEach, describe, expect, it } from 'vitest';
import { applyCheckoutState } from '../../src/core/checkout.js';
import { confirmPayment } from '../../src/core/confirm-payment.js';
import type { AppContext } from '../../src/core/context.js';
import { attachSession, createPendingOrder, getOrder } from '../../src/core/orders.js';
import type { CheckoutState } from '../../src/core/provider.js';
import type { Order } from '../../src/db/schema.js';
import { silentLogger } from '../../src/log/logger.js';
import { BACKENDS, freshDb, type TestDb } from '../helpers/db.js';
import { evidenceFor, marketplace } from '../helpers/fixtures.js';

/**
 * The webhook path reads the order before it re-reads the checkout from the provider and hands that row to
 * applyCheckoutState(), which then does not read the order again: the session and account checks are made again by
 * confirmPayment() on the row it reads and locks. These tests pin that a stale row can never let a payment through
 * that a fresh read would refuse.
 */
describe.each(BACKENDS)('confirmation guard on %s PostgreSQL', (backend) => {
  let t: TestDb;
  afterEach(async () => {
    await t?.destroy();
  });

  const ctxFor = (db: TestDb['db']): AppContext =>
    ({
      db,
      logger: silentLogger,
      now: () => new Date(),
      queue: { nudge: () => undefined },
    }) as unknown as AppContext;

  const paid = (order: Order, over: Partial<CheckoutState> = {}): CheckoutState => ({
    provider: 'stripe',
    sessionId: `cs_test_${order.id}`,
    orderId: order.id,
    accountId: order.provider_account_id,
    outcome: 'succeeded',
    amountTotal: order.total,
    currency: order.currency,
    paymentId: `pi_${order.id}`,
    applicationFee: order.platform_fee,
    promotionCode: null,
    ...over,
  });

  const setup = async () => {
    t = await freshDb(backend);
    const { slot } = await marketplace(t.db, { capacity: 3 });
    const order = await createPendingOrder(t.db, {
      slotId: slot.id,
      quantity: 1,
      provider: 'stripe',
      holdMinutes: 30,
    });
    return { order: await getOrder(t.db, order.id), slot };
  };

  const sideEffects = async (orderId: string) => ({
    payments: (await t.db.selectFrom('payments').select('id').where('order_id', '=', orderId).execute())
      .length,
    jobs: (await t.db.selectFrom('jobs').select('id').where('dedupe_key', 'like', `%:${orderId}`).execute())
      .length,
  });

  it('confirmPayment: an `applies` guard that refuses the locked row changes nothing', async () => {
    const { order } = await setup();
    let seen: Order | undefined;
    const r = await confirmPayment(t.db, order.id, evidenceFor(order), {
      applies: (row) => {
        seen = row;
        return false;
      },
    });
    expect(r).toEqual({ orderId: order.id, outcome: 'not_applicable', status: 'pending' });
    expect(seen?.id).toBe(order.id);
    expect((await getOrder(t.db, order.id)).status).toBe('pending');
    expect(await sideEffects(order.id)).toEqual({ payments: 0, jobs: 0 });
    // The guard accepting: confirmed as without it.
    const ok = await confirmPayment(t.db, order.id, evidenceFor(order), { applies: () => true });
    expect(ok.outcome).toBe('confirmed');
    expect(await sideEffects(order.id)).toEqual({ payments: 1, jobs: 3 });
  });

  it('a stale row (read before another session was attached) does not let that other session pay the order', async () => {
    const { order } = await setup();
    const stale = await getOrder(t.db, order.id);
    expect(stale.provider_session_id).toBeNull();
    await attachSession(t.db, order.id, 'cs_test_the_real_one');
    const ctx = ctxFor(t.db);
    const r = await applyCheckoutState(
      ctx,
      order.id,
      paid(order, { sessionId: 'cs_test_other' }),
      'webhook',
      stale,
    );
    expect(r.status).toBe('pending');
    expect((await getOrder(t.db, order.id)).status).toBe('pending');
    expect(await sideEffects(order.id)).toEqual({ payments: 0, jobs: 0 });
    // Its own session pays it, with the same stale row handed in.
    const own = await applyCheckoutState(
      ctx,
      order.id,
      paid(order, { sessionId: 'cs_test_the_real_one' }),
      'webhook',
      stale,
    );
    expect(own.status).toBe('paid');
    expect(await sideEffects(order.id)).toEqual({ payments: 1, jobs: 3 });
  });

  it('a payment to another account is refused, with or without a known row', async () => {
    const { order } = await setup();
    const ctx = ctxFor(t.db);
    const foreign = paid(order, { accountId: 'acct_someone_else' });
    expect((await applyCheckoutState(ctx, order.id, foreign, 'webhook', order)).status).toBe('pending');
    expect((await applyCheckoutState(ctx, order.id, foreign, 'webhook')).status).toBe('pending');
    // A known row claiming the foreign account (stale or wrong) does not help: the locked row decides.
    const forged = { ...order, provider_account_id: 'acct_someone_else' };
    expect((await applyCheckoutState(ctx, order.id, foreign, 'webhook', forged)).status).toBe('pending');
    expect(await sideEffects(order.id)).toEqual({ payments: 0, jobs: 0 });
  });

  it('a known row already paid elsewhere: the duplicate finds it handled, one set of side effects', async () => {
    const { order } = await setup();
    const ctx = ctxFor(t.db);
    const first = await applyCheckoutState(ctx, order.id, paid(order), 'webhook', order);
    const again = await applyCheckoutState(ctx, order.id, paid(order), 'webhook', order);
    expect(first).toMatchObject({ outcome: 'confirmed', status: 'paid' });
    expect(again).toMatchObject({ outcome: 'already_handled', status: 'paid' });
    expect(await sideEffects(order.id)).toEqual({ payments: 1, jobs: 3 });
  });
});

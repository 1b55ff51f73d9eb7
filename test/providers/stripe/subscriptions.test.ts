import type Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SettleError } from '../../../src/core/errors.js';
import type {
  AccountContext,
  CreateSubscriptionCheckoutInput,
  NormalizedEvent,
  SubscriptionCheckoutState,
} from '../../../src/core/provider.js';
import { StripeSubscriptions } from '../../../src/providers/stripe/index.js';
import { payViaPage } from '../../emulators/stripe/helpers.js';
import { startProviderHarness, waitFor, type Delivery, type ProviderHarness } from './harness.js';

/**
 * StripeSubscriptions through StripeProvider against the emulator over real HTTP: prices, subscription checkouts on
 * both charge types paid on the hosted page, invoices with the platform's fee, test-clock renewals, cancellation,
 * the portal, and the normalization of every subscription event.
 */
let h: ProviderHarness;

beforeAll(async () => {
  h = await startProviderHarness();
});
afterAll(async () => {
  await h?.close();
});

const DAY_MS = 86_400_000;
const CARD = '4242424242424242';
const opts = (a: AccountContext): Stripe.RequestOptions =>
  a.chargeType === 'direct' ? { stripeAccount: a.accountId } : {};

let counter = 0;
const uid = (prefix: string): string => `${prefix}_${Date.now().toString(36)}_${(counter += 1)}`;

async function monthlyPrice(account: AccountContext, unitAmount = 2500): Promise<string> {
  return h.provider.subscriptions.ensurePrice({
    planPriceId: uid('pp'),
    account,
    productName: 'Pottery membership',
    unitAmount,
    currency: 'EUR',
    interval: 'month',
  });
}

async function checkoutInput(
  account: AccountContext,
  extra: Partial<CreateSubscriptionCheckoutInput> = {},
): Promise<CreateSubscriptionCheckoutInput> {
  const subscriptionId = uid('sub_settle');
  return {
    subscriptionId,
    account,
    providerPriceId: extra.providerPriceId ?? (await monthlyPrice(account)),
    feePercent: 10,
    trialDays: 0,
    customerEmail: 'member@example.com',
    successUrl: 'http://shop.test/subscriptions/ok?session_id={CHECKOUT_SESSION_ID}',
    cancelUrl: 'http://shop.test/subscriptions/cancel',
    expiresAt: new Date(Date.now() + 40 * 60 * 1000),
    testClock: false,
    idempotencyKey: `subscription-checkout:${subscriptionId}`,
    ...extra,
  };
}

/** Creates the checkout, pays it on the hosted page (a browser's form POST) and reads back the completed state. */
async function subscribe(
  account: AccountContext,
  extra: Partial<CreateSubscriptionCheckoutInput> = {},
): Promise<{ input: CreateSubscriptionCheckoutInput; checkout: SubscriptionCheckoutState; subId: string }> {
  const input = await checkoutInput(account, extra);
  const hosted = await h.provider.subscriptions.createCheckout(input);
  const paid = await payViaPage(hosted.url, { card_number: CARD });
  expect(paid.status).toBe(303);
  const checkout = await h.provider.subscriptions.retrieveCheckout(hosted.sessionId, account);
  expect(checkout.outcome).toBe('complete');
  const subId = checkout.providerSubscriptionId ?? '';
  expect(subId).toMatch(/^sub_/);
  return { input, checkout, subId };
}

function eventOf(d: Delivery): Stripe.Event {
  return JSON.parse(d.raw.toString('utf8')) as Stripe.Event;
}

/** Waits for the delivery of `type` about `objectId` at `path`. */
async function delivery(path: string, type: string, objectId: string): Promise<Delivery> {
  const match = (d: Delivery): boolean => {
    if (d.path !== path) return false;
    const e = eventOf(d);
    return e.type === type && (e.data.object as { id?: string }).id === objectId;
  };
  await waitFor(() => h.receiver.deliveries.some(match), 10_000);
  const found = h.receiver.deliveries.find(match);
  if (found === undefined) throw new Error('unreachable');
  return found;
}

async function verified(d: Delivery): Promise<NormalizedEvent> {
  const endpoint = d.path === '/webhooks/stripe/connect' ? 'connect' : 'platform';
  return (await h.provider.verifyWebhook(endpoint, d.raw, d.headers)).event;
}

/** A minimal event around a real API object, as a stored inbox payload would be. */
function eventAround(type: string, object: object, account: string | null): Record<string, unknown> {
  return {
    id: uid('evt'),
    object: 'event',
    type,
    api_version: '2026-10-28.endive',
    created: Math.floor(Date.now() / 1000),
    livemode: false,
    pending_webhooks: 0,
    request: { id: null, idempotency_key: null },
    data: { object },
    ...(account !== null ? { account } : {}),
  };
}

async function expectSettleError(p: Promise<unknown>, code: string, message?: RegExp): Promise<void> {
  const err: unknown = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(SettleError);
  expect((err as SettleError).code).toBe(code);
  if (message !== undefined) expect((err as SettleError).message).toMatch(message);
}

describe('ensurePrice', () => {
  it.each(['direct', 'destination'] as const)(
    '%s: one recurring price per plan price and account, on the account the checkout runs on',
    async (chargeType) => {
      const account = chargeType === 'direct' ? h.direct : h.destination;
      const input = {
        planPriceId: uid('pp'),
        account,
        productName: 'Gold plan',
        unitAmount: 4900,
        currency: 'EUR',
        interval: 'year' as const,
      };
      const first = await h.provider.subscriptions.ensurePrice(input);
      const again = await h.provider.subscriptions.ensurePrice(input);
      expect(first).toMatch(/^price_/);
      expect(again).toBe(first);
      const other = await h.provider.subscriptions.ensurePrice({ ...input, planPriceId: uid('pp') });
      expect(other).not.toBe(first);

      const price = await h.stripe.prices.retrieve(first, { expand: ['product'] }, opts(account));
      expect(price).toMatchObject({
        currency: 'eur',
        unit_amount: 4900,
        recurring: { interval: 'year' },
        metadata: { planPriceId: input.planPriceId },
      });
      expect((price.product as Stripe.Product).name).toBe('Gold plan');
      const where = chargeType === 'direct' ? account.accountId : 'platform';
      const calls = h.emu.requests.filter((r) => r.idempotencyKey === `price:${input.planPriceId}:${where}`);
      expect(calls.map((r) => [r.path, r.account, r.replayed])).toEqual([
        ['/v1/prices', chargeType === 'direct' ? account.accountId : null, false],
        ['/v1/prices', chargeType === 'direct' ? account.accountId : null, true],
      ]);
      // The price exists only where the checkout will use it.
      await expect(
        h.stripe.prices.retrieve(
          first,
          {},
          chargeType === 'direct' ? {} : { stripeAccount: h.direct.accountId },
        ),
      ).rejects.toThrow(/No such price/);
    },
  );
});

describe.each(['direct', 'destination'] as const)('%s subscription checkout', (chargeType) => {
  const account = (): AccountContext => (chargeType === 'direct' ? h.direct : h.destination);

  it('creates the session on the right account, pays on the hosted page, and reads back subscription and invoice', async () => {
    const input = await checkoutInput(account());
    const hosted = await h.provider.subscriptions.createCheckout(input);
    expect(hosted.sessionId).toMatch(/^cs_test_/);
    expect(hosted.expiresAt.getTime()).toBe(Math.floor(input.expiresAt.getTime() / 1000) * 1000);
    const create = h.emu.requests.find((r) => r.idempotencyKey === input.idempotencyKey);
    expect(create).toMatchObject({
      path: '/v1/checkout/sessions',
      account: chargeType === 'direct' ? account().accountId : null,
    });
    const raw = await h.stripe.checkout.sessions.retrieve(hosted.sessionId, {}, opts(account()));
    expect(raw).toMatchObject({
      mode: 'subscription',
      client_reference_id: null,
      customer_email: 'member@example.com',
      metadata: { settleSubscriptionId: input.subscriptionId },
      amount_total: 2500,
    });
    expect(await h.provider.subscriptions.retrieveCheckout(hosted.sessionId, account())).toEqual({
      provider: 'stripe',
      sessionId: hosted.sessionId,
      subscriptionId: input.subscriptionId,
      accountId: chargeType === 'direct' ? account().accountId : null,
      outcome: 'open',
      providerSubscriptionId: null,
      providerCustomerId: null,
    });

    expect((await payViaPage(hosted.url, { card_number: CARD })).status).toBe(303);
    const checkout = await h.provider.subscriptions.retrieveCheckout(hosted.sessionId, account());
    expect(checkout).toMatchObject({
      outcome: 'complete',
      subscriptionId: input.subscriptionId,
      accountId: account().accountId,
    });
    expect(checkout.providerCustomerId).toMatch(/^cus_/);
    const subId = checkout.providerSubscriptionId ?? '';

    const state = await h.provider.subscriptions.retrieve(subId, account());
    expect(state).toMatchObject({
      provider: 'stripe',
      providerSubscriptionId: subId,
      subscriptionId: input.subscriptionId,
      accountId: account().accountId,
      customerId: checkout.providerCustomerId,
      status: 'active',
      cancelAtPeriodEnd: false,
      trialEnd: null,
      endedAt: null,
      feePercent: 10,
      testClockId: null,
    });
    const start = state.currentPeriodStart?.getTime() ?? 0;
    const end = state.currentPeriodEnd?.getTime() ?? 0;
    expect(Math.abs(start - Date.now())).toBeLessThan(DAY_MS);
    expect(end - start).toBeGreaterThanOrEqual(28 * DAY_MS);
    expect(end - start).toBeLessThanOrEqual(31 * DAY_MS);
    const rawSub = await h.stripe.subscriptions.retrieve(subId, {}, opts(account()));
    if (chargeType === 'destination') {
      expect(rawSub.transfer_data?.destination).toBe(account().accountId);
      expect(rawSub.on_behalf_of).toBe(account().accountId);
    } else {
      expect(rawSub.transfer_data).toBeNull();
    }

    const invoices = await h.provider.subscriptions.listInvoices(subId, account());
    expect(invoices).toHaveLength(1);
    const [invoice] = invoices;
    expect(invoice).toMatchObject({
      provider: 'stripe',
      providerInvoiceId: state.latestInvoiceId,
      providerSubscriptionId: subId,
      status: 'paid',
      billingReason: 'subscription_create',
      amountPaid: 2500,
      amountDue: 2500,
      currency: 'eur',
      applicationFee: 250,
      attemptCount: 1,
      nextPaymentAttempt: null,
      periodStart: state.currentPeriodStart,
      periodEnd: state.currentPeriodEnd,
    });
    expect(invoice?.paymentId).toMatch(/^pi_/);
    expect(
      await h.provider.subscriptions.retrieveInvoice(invoice?.providerInvoiceId ?? '', account()),
    ).toEqual(invoice);
    // The fee is real: the PaymentIntent carries it and the platform holds an application fee for the charge.
    const pi = await h.stripe.paymentIntents.retrieve(invoice?.paymentId ?? '', {}, opts(account()));
    expect(pi.application_fee_amount).toBe(250);
    const fees = await h.stripe.applicationFees.list({ charge: String(pi.latest_charge) });
    expect(fees.data.map((f) => f.amount)).toEqual([250]);
  });

  it('a trial completes with no payment required and a zero invoice without payment', async () => {
    const input = await checkoutInput(account(), { trialDays: 14 });
    const hosted = await h.provider.subscriptions.createCheckout(input);
    expect((await payViaPage(hosted.url, { card_number: CARD })).status).toBe(303);
    const raw = await h.stripe.checkout.sessions.retrieve(hosted.sessionId, {}, opts(account()));
    expect(raw).toMatchObject({ status: 'complete', payment_status: 'no_payment_required', amount_total: 0 });
    const checkout = await h.provider.subscriptions.retrieveCheckout(hosted.sessionId, account());
    expect(checkout.outcome).toBe('complete');
    const state = await h.provider.subscriptions.retrieve(checkout.providerSubscriptionId ?? '', account());
    expect(state.status).toBe('trialing');
    expect(state.feePercent).toBe(10);
    expect(Math.abs((state.trialEnd?.getTime() ?? 0) - (Date.now() + 14 * DAY_MS))).toBeLessThan(DAY_MS);
    const invoices = await h.provider.subscriptions.listInvoices(state.providerSubscriptionId, account());
    expect(invoices).toHaveLength(1);
    expect(invoices[0]).toMatchObject({
      status: 'paid',
      amountPaid: 0,
      applicationFee: 0,
      paymentId: null,
      billingReason: 'subscription_create',
    });
  });

  it('expireCheckout ends an open session and leaves an expired one alone', async () => {
    const input = await checkoutInput(account());
    const hosted = await h.provider.subscriptions.createCheckout(input);
    await h.provider.subscriptions.expireCheckout(hosted.sessionId, account());
    expect(await h.provider.subscriptions.retrieveCheckout(hosted.sessionId, account())).toMatchObject({
      outcome: 'expired',
      providerSubscriptionId: null,
    });
    await h.provider.subscriptions.expireCheckout(hosted.sessionId, account());
    const expires = h.emu.requests.filter(
      (r) => r.path === `/v1/checkout/sessions/${hosted.sessionId}/expire`,
    );
    expect(expires).toHaveLength(1);
  });
});

describe('test clocks', () => {
  it('a test-clock checkout advanced past one period renews with a second paid invoice and its own fee', async () => {
    const { input, checkout, subId } = await subscribe(h.direct, { testClock: true });
    // The buyer's customer was created on a new clock on the seller's account, so the session named it.
    const clockCreate = h.emu.requests.find((r) => r.idempotencyKey === `${input.idempotencyKey}:test_clock`);
    expect(clockCreate).toMatchObject({ path: '/v1/test_helpers/test_clocks', account: h.direct.accountId });
    const customer = (await h.stripe.customers.retrieve(
      checkout.providerCustomerId ?? '',
      {},
      opts(h.direct),
    )) as Stripe.Customer;
    expect(customer.email).toBe('member@example.com');
    const state = await h.provider.subscriptions.retrieve(subId, h.direct);
    expect(state.testClockId).toMatch(/^clock_/);
    expect(idOfClock(customer.test_clock)).toBe(state.testClockId);
    const session = await h.stripe.checkout.sessions.retrieve(checkout.sessionId, {}, opts(h.direct));
    expect(session.customer_email).toBeNull();

    const periodEnd = state.currentPeriodEnd ?? new Date(0);
    const to = new Date(periodEnd.getTime() + 2 * 3_600_000);
    const advanced = await h.provider.subscriptions.advanceTestClock(subId, h.direct, to);
    expect(advanced.frozenTime.getTime()).toBe(Math.floor(to.getTime() / 1000) * 1000);
    const clock = await h.stripe.testHelpers.testClocks.retrieve(state.testClockId ?? '', {}, opts(h.direct));
    expect(clock.status).toBe('ready');

    const invoices = await h.provider.subscriptions.listInvoices(subId, h.direct);
    expect(invoices.map((i) => [i.billingReason, i.status, i.amountPaid, i.applicationFee])).toEqual([
      ['subscription_cycle', 'paid', 2500, 250],
      ['subscription_create', 'paid', 2500, 250],
    ]);
    const [renewal, first] = invoices;
    expect(renewal?.paymentId).toMatch(/^pi_/);
    expect(renewal?.paymentId).not.toBe(first?.paymentId);
    // The renewal pays for the new period (its line's), not the one that just ended.
    expect(renewal?.periodStart).toEqual(periodEnd);
    const renewed = await h.provider.subscriptions.retrieve(subId, h.direct);
    expect(renewed.currentPeriodStart).toEqual(periodEnd);
    expect(renewed.latestInvoiceId).toBe(renewal?.providerInvoiceId);
    const pi = await h.stripe.paymentIntents.retrieve(renewal?.paymentId ?? '', {}, opts(h.direct));
    const fees = await h.stripe.applicationFees.list({ charge: String(pi.latest_charge) });
    expect(fees.data.map((f) => f.amount)).toEqual([250]);
  });

  it('a retried test-clock checkout (a new `now`) reuses the first clock, customer and session', async () => {
    const input = await checkoutInput(h.direct, { testClock: true });
    const first = await h.provider.subscriptions.createCheckout(input);
    // frozen_time is in seconds: the retry's clock request differs from the recorded one.
    await new Promise((r) => setTimeout(r, 1100));
    const retry = await h.provider.subscriptions.createCheckout(input);
    expect(retry).toEqual(first);
    const clockCalls = h.emu.requests.filter(
      (r) => r.idempotencyKey === `${input.idempotencyKey}:test_clock`,
    );
    expect(clockCalls.map((r) => r.status)).toEqual([200, 400]);
    const customerCalls = h.emu.requests.filter(
      (r) => r.idempotencyKey === `${input.idempotencyKey}:customer`,
    );
    expect(customerCalls.map((r) => [r.status, r.replayed])).toEqual([
      [200, false],
      [200, true],
    ]);
    const clocks = await h.stripe.testHelpers.testClocks.list({ limit: 100 }, opts(h.direct));
    expect(clocks.data.filter((c) => c.name === `settle ${input.subscriptionId}`)).toHaveLength(1);
  });

  it('is refused in live mode before anything is created, and advancing needs a clock', async () => {
    const live = new StripeSubscriptions({ stripe: h.stripe, livemode: true });
    const input = await checkoutInput(h.direct, { testClock: true });
    await expectSettleError(live.createCheckout(input), 'validation_failed', /test mode/);
    expect(h.emu.requests.filter((r) => (r.idempotencyKey ?? '').startsWith(input.idempotencyKey))).toEqual(
      [],
    );

    const { subId } = await subscribe(h.destination);
    await expectSettleError(
      h.provider.subscriptions.advanceTestClock(subId, h.destination, new Date(Date.now() + 40 * DAY_MS)),
      'validation_failed',
      /subscription has no test clock/,
    );
  });
});

describe('cancellation and portal', () => {
  it('setCancelAtPeriodEnd true then false', async () => {
    const { subId } = await subscribe(h.destination);
    const on = await h.provider.subscriptions.setCancelAtPeriodEnd(
      subId,
      h.destination,
      true,
      `cape:${subId}:1`,
    );
    expect(on).toMatchObject({
      status: 'active',
      cancelAtPeriodEnd: true,
      accountId: h.destination.accountId,
    });
    expect((await h.stripe.subscriptions.retrieve(subId)).cancel_at_period_end).toBe(true);
    const off = await h.provider.subscriptions.setCancelAtPeriodEnd(
      subId,
      h.destination,
      false,
      `cape:${subId}:2`,
    );
    expect(off).toMatchObject({ status: 'active', cancelAtPeriodEnd: false });
    const raw = await h.stripe.subscriptions.retrieve(subId);
    expect(raw).toMatchObject({ cancel_at_period_end: false, cancel_at: null });
    expect(h.emu.requests.filter((r) => r.idempotencyKey?.startsWith(`cape:${subId}:`))).toHaveLength(2);
  });

  it('cancelNow cancels at once; a second call (same or new key) returns the canceled subscription', async () => {
    const { subId } = await subscribe(h.direct);
    const canceled = await h.provider.subscriptions.cancelNow(subId, h.direct, `cancel:${subId}`);
    expect(canceled).toMatchObject({ status: 'canceled', accountId: h.direct.accountId });
    expect(canceled.endedAt).toBeInstanceOf(Date);
    expect((await h.stripe.subscriptions.retrieve(subId, {}, opts(h.direct))).status).toBe('canceled');
    const replay = await h.provider.subscriptions.cancelNow(subId, h.direct, `cancel:${subId}`);
    expect(replay).toEqual(canceled);
    const again = await h.provider.subscriptions.cancelNow(subId, h.direct, `cancel:${subId}:again`);
    expect(again).toMatchObject({ status: 'canceled', endedAt: canceled.endedAt });
    // Stripe ignores idempotency keys on DELETE: both later calls reached it and were refused as already
    // canceled; their state came from re-reading the subscription.
    const deletes = h.emu.requests.filter(
      (r) => r.method === 'DELETE' && r.path === `/v1/subscriptions/${subId}`,
    );
    expect(deletes.map((r) => r.status)).toEqual([200, 400, 400]);
  });

  it('portalUrl opens the customer portal on the subscription account, which manages the subscription', async () => {
    const { checkout, subId } = await subscribe(h.direct);
    const url = await h.provider.subscriptions.portalUrl(
      checkout.providerCustomerId ?? '',
      h.direct,
      'http://shop.test/account',
    );
    const portalId = /\/p\/session\/(bps_[A-Za-z0-9]+)/.exec(url)?.[1] ?? '';
    expect(portalId).not.toBe('');
    const page = await fetch(url);
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain(subId);
    expect(html).toContain('http://shop.test/account');
    const portal = h.emu.requests.find((r) => r.path === '/v1/billing_portal/sessions' && r.status === 200);
    expect(portal?.account).toBe(h.direct.accountId);
    await h.emu.portalAction(portalId, { action: 'cancel', subscription: subId });
    expect((await h.provider.subscriptions.retrieve(subId, h.direct)).cancelAtPeriodEnd).toBe(true);
  });
});

describe('event normalization', () => {
  it('direct: Connect deliveries of the checkout, the subscription and its invoice', async () => {
    const { input, checkout, subId } = await subscribe(h.direct);
    const completed = await delivery(
      '/webhooks/stripe/connect',
      'checkout.session.completed',
      checkout.sessionId,
    );
    expect(await verified(completed)).toEqual({
      kind: 'subscription.checkout_completed',
      checkout: {
        provider: 'stripe',
        sessionId: checkout.sessionId,
        subscriptionId: input.subscriptionId,
        accountId: h.direct.accountId,
        outcome: 'complete',
        providerSubscriptionId: subId,
        providerCustomerId: checkout.providerCustomerId,
      },
    });
    for (const [type, change] of [
      ['customer.subscription.created', 'created'],
      ['customer.subscription.updated', 'updated'],
    ] as const) {
      const d = await delivery('/webhooks/stripe/connect', type, subId);
      expect(await verified(d)).toEqual({
        kind: 'subscription.changed',
        change,
        providerSubscriptionId: subId,
        subscriptionId: input.subscriptionId,
      });
    }
    const state = await h.provider.subscriptions.retrieve(subId, h.direct);
    const paid = await delivery('/webhooks/stripe/connect', 'invoice.paid', state.latestInvoiceId ?? '');
    expect(await verified(paid)).toEqual({
      kind: 'subscription.invoice_paid',
      providerInvoiceId: state.latestInvoiceId,
      providerSubscriptionId: subId,
    });
  });

  it('destination: platform deliveries (no account), an expired checkout and a deleted subscription', async () => {
    const { input, checkout, subId } = await subscribe(h.destination);
    const completed = await delivery('/webhooks/stripe', 'checkout.session.completed', checkout.sessionId);
    expect(await verified(completed)).toMatchObject({
      kind: 'subscription.checkout_completed',
      checkout: { subscriptionId: input.subscriptionId, accountId: null, providerSubscriptionId: subId },
    });
    await h.provider.subscriptions.cancelNow(subId, h.destination, `cancel:${subId}`);
    const deleted = await delivery('/webhooks/stripe', 'customer.subscription.deleted', subId);
    expect(await verified(deleted)).toEqual({
      kind: 'subscription.changed',
      change: 'deleted',
      providerSubscriptionId: subId,
      subscriptionId: input.subscriptionId,
    });

    const open = await checkoutInput(h.destination);
    const hosted = await h.provider.subscriptions.createCheckout(open);
    await h.provider.subscriptions.expireCheckout(hosted.sessionId, h.destination);
    const expired = await delivery('/webhooks/stripe', 'checkout.session.expired', hosted.sessionId);
    expect(await verified(expired)).toEqual({
      kind: 'subscription.checkout_expired',
      checkout: {
        provider: 'stripe',
        sessionId: hosted.sessionId,
        subscriptionId: open.subscriptionId,
        accountId: null,
        outcome: 'expired',
        providerSubscriptionId: null,
        providerCustomerId: null,
      },
    });
  });

  it('a failed renewal is delivered as invoice_failed', async () => {
    const { checkout, subId } = await subscribe(h.direct, { testClock: true });
    const url = await h.provider.subscriptions.portalUrl(
      checkout.providerCustomerId ?? '',
      h.direct,
      'http://x.test',
    );
    const portalId = /\/p\/session\/(bps_[A-Za-z0-9]+)/.exec(url)?.[1] ?? '';
    // The card that attaches but is declined when charged.
    await h.emu.portalAction(portalId, { action: 'update_card', card_number: '4000000000000341' });
    const state = await h.provider.subscriptions.retrieve(subId, h.direct);
    const to = new Date((state.currentPeriodEnd?.getTime() ?? 0) + 2 * 3_600_000);
    await h.provider.subscriptions.advanceTestClock(subId, h.direct, to);
    const after = await h.provider.subscriptions.retrieve(subId, h.direct);
    expect(after.status).toBe('past_due');
    const [renewal] = await h.provider.subscriptions.listInvoices(subId, h.direct);
    expect(renewal).toMatchObject({ status: 'open', amountPaid: 0, applicationFee: 0, attemptCount: 1 });
    expect(renewal?.nextPaymentAttempt).toBeInstanceOf(Date);
    const failed = await delivery(
      '/webhooks/stripe/connect',
      'invoice.payment_failed',
      renewal?.providerInvoiceId ?? '',
    );
    expect(await verified(failed)).toEqual({
      kind: 'subscription.invoice_failed',
      providerInvoiceId: renewal?.providerInvoiceId,
      providerSubscriptionId: subId,
    });
  });

  it('paused, resumed, trial_will_end, action_required from stored payloads; non-subscription invoices ignored', async () => {
    const { input, subId } = await subscribe(h.direct);
    const sub = await h.stripe.subscriptions.retrieve(subId, {}, opts(h.direct));
    for (const change of ['paused', 'resumed', 'trial_will_end'] as const) {
      const v = await h.provider.normalizeEvent(
        'connect',
        eventAround(`customer.subscription.${change}`, sub, h.direct.accountId),
      );
      expect(v).toMatchObject({ accountId: h.direct.accountId, type: `customer.subscription.${change}` });
      expect(v.event).toEqual({
        kind: 'subscription.changed',
        change,
        providerSubscriptionId: subId,
        subscriptionId: input.subscriptionId,
      });
    }
    const invoice = await h.stripe.invoices.retrieve(String(sub.latest_invoice), {}, opts(h.direct));
    const action = await h.provider.normalizeEvent(
      'connect',
      eventAround('invoice.payment_action_required', invoice, h.direct.accountId),
    );
    expect(action.event).toEqual({
      kind: 'subscription.invoice_action_required',
      providerInvoiceId: invoice.id,
      providerSubscriptionId: subId,
    });
    const oneOff = { ...invoice, parent: null };
    for (const type of ['invoice.paid', 'invoice.payment_failed', 'invoice.payment_action_required']) {
      const v = await h.provider.normalizeEvent('connect', eventAround(type, oneOff, h.direct.accountId));
      expect(v.event).toEqual({ kind: 'ignored' });
    }
    const upcoming = await h.provider.normalizeEvent(
      'connect',
      eventAround('invoice.upcoming', invoice, h.direct.accountId),
    );
    expect(upcoming.event).toEqual({ kind: 'ignored' });
  });

  it('a payment-mode session still normalizes as an order checkout', async () => {
    const { checkout } = await subscribe(h.direct);
    const session = await h.stripe.checkout.sessions.retrieve(checkout.sessionId, {}, opts(h.direct));
    const asPayment = { ...session, mode: 'payment', metadata: { orderId: 'ord_1' }, subscription: null };
    const v = await h.provider.normalizeEvent(
      'connect',
      eventAround('checkout.session.completed', asPayment, h.direct.accountId),
    );
    expect(v.event).toMatchObject({
      kind: 'checkout.completed',
      checkout: { orderId: 'ord_1', accountId: h.direct.accountId, sessionId: checkout.sessionId },
    });
  });
});

function idOfClock(v: string | Stripe.TestHelpers.TestClock | null | undefined): string | null {
  return v === null || v === undefined ? null : typeof v === 'string' ? v : v.id;
}

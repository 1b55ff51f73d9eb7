import Stripe from 'stripe';
import { SettleError } from '../../core/errors.js';
import type {
  AccountContext,
  CreateSubscriptionCheckoutInput,
  EnsurePriceInput,
  HostedCheckout,
  InvoiceState,
  SubscriptionBilling,
  SubscriptionCheckoutState,
  SubscriptionState,
} from '../../core/provider.js';
import { silentLogger, type Logger } from '../../log/logger.js';
import { toStripeAmount } from './amounts.js';
import { stripeCall, toSettleError } from './errors.js';
import { expireOpenSession, onAccount } from './sessions.js';
import {
  idOf,
  invoicePaymentOf,
  toInvoiceState,
  toSubscriptionCheckoutState,
  toSubscriptionState,
} from './normalize.js';

/** How often advanceTestClock polls the clock, and how long it waits for `ready`. */
export const TEST_CLOCK_POLL_MS = 200;
export const TEST_CLOCK_TIMEOUT_MS = 60_000;

export interface StripeSubscriptionsOptions {
  stripe: Stripe;
  livemode: boolean;
  logger?: Logger;
}

/** The connected account a direct-charge object was read on; null for destination charges (the platform). */
function directAccountId(account: AccountContext): string | null {
  return account.chargeType === 'direct' ? account.accountId : null;
}

const seconds = (d: Date): number => Math.floor(d.getTime() / 1000);

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Stripe Billing for Settle's plans. Objects live where the subscription's money goes through, as for orders:
 * - Direct: price, customer, test clock, session, subscription and invoices on the seller's connected account
 *   (`Stripe-Account`), the platform's share as `application_fee_percent`.
 * - Destination: all on the platform, the subscription with `transfer_data.destination` (and `on_behalf_of`) the
 *   seller, the platform's share as `application_fee_percent` too.
 */
export class StripeSubscriptions implements SubscriptionBilling {
  private readonly stripe: Stripe;
  private readonly livemode: boolean;
  private readonly log: Logger;

  constructor(opts: StripeSubscriptionsOptions) {
    this.stripe = opts.stripe;
    this.livemode = opts.livemode;
    this.log = (opts.logger ?? silentLogger).child({ component: 'stripe-subscriptions' });
  }

  async ensurePrice(input: EnsurePriceInput): Promise<string> {
    const { account } = input;
    const params: Stripe.PriceCreateParams = {
      currency: input.currency.toLowerCase(),
      unit_amount: toStripeAmount(input.unitAmount, input.currency, 'The plan price'),
      recurring: { interval: input.interval },
      product_data: { name: input.productName },
      metadata: { planPriceId: input.planPriceId },
    };
    const where = account.chargeType === 'direct' ? account.accountId : 'platform';
    const price = await stripeCall('prices.create', () =>
      this.stripe.prices.create(params, {
        ...onAccount(account),
        idempotencyKey: `price:${input.planPriceId}:${where}`,
      }),
    );
    return price.id;
  }

  async createCheckout(input: CreateSubscriptionCheckoutInput): Promise<HostedCheckout> {
    const { account } = input;
    const opts = onAccount(account);
    const metadata = { settleSubscriptionId: input.subscriptionId };
    const subscriptionData: Stripe.Checkout.SessionCreateParams.SubscriptionData = {
      metadata,
      ...(input.feePercent > 0 ? { application_fee_percent: input.feePercent } : {}),
      ...(input.trialDays > 0 ? { trial_period_days: input.trialDays } : {}),
      ...(account.chargeType === 'destination'
        ? { transfer_data: { destination: account.accountId }, on_behalf_of: account.accountId }
        : {}),
    };
    const buyer: Pick<Stripe.Checkout.SessionCreateParams, 'customer' | 'customer_email'> = input.testClock
      ? { customer: await this.testClockCustomer(input) }
      : { customer_email: input.customerEmail };
    // No client_reference_id: the payment-mode normalizer reads it as an order id.
    const params: Stripe.Checkout.SessionCreateParams = {
      mode: 'subscription',
      line_items: [{ price: input.providerPriceId, quantity: 1 }],
      metadata,
      subscription_data: subscriptionData,
      success_url: input.successUrl,
      cancel_url: input.cancelUrl,
      expires_at: seconds(input.expiresAt),
      ...buyer,
    };
    const session = await stripeCall('checkout.sessions.create', () =>
      this.stripe.checkout.sessions.create(params, { ...opts, idempotencyKey: input.idempotencyKey }),
    );
    if (session.url === null)
      throw new SettleError('provider_error', `Stripe returned checkout session ${session.id} without a URL`);
    this.log.info(
      {
        subscriptionId: input.subscriptionId,
        sessionId: session.id,
        chargeType: account.chargeType,
        testClock: input.testClock,
      },
      'stripe subscription checkout session created',
    );
    return {
      sessionId: session.id,
      url: session.url,
      expiresAt: new Date((session.expires_at ?? seconds(input.expiresAt)) * 1000),
    };
  }

  /**
   * Test mode: a new test clock frozen at now, and the buyer's customer on it (the session then puts the
   * subscription on that clock). A retry of the same checkout computes another `now`, so its clock request differs
   * from the recorded one (an idempotency error): the clock the first attempt made is found by its name instead.
   */
  private async testClockCustomer(input: CreateSubscriptionCheckoutInput): Promise<string> {
    if (this.livemode)
      throw new SettleError(
        'validation_failed',
        'Test clocks exist in test mode only; Settle runs with a live key.',
      );
    const opts = onAccount(input.account);
    const name = `settle ${input.subscriptionId}`;
    let clockId: string;
    try {
      const clock = await this.stripe.testHelpers.testClocks.create(
        { frozen_time: seconds(new Date()), name },
        { ...opts, idempotencyKey: `${input.idempotencyKey}:test_clock` },
      );
      clockId = clock.id;
    } catch (err) {
      if (!(err instanceof Stripe.errors.StripeIdempotencyError))
        throw toSettleError(err, 'testHelpers.testClocks.create');
      const clocks = await stripeCall('testHelpers.testClocks.list', () =>
        this.stripe.testHelpers.testClocks.list({ limit: 100 }, opts),
      );
      const found = clocks.data.find((c) => c.name === name);
      if (found === undefined) throw toSettleError(err, 'testHelpers.testClocks.create');
      clockId = found.id;
    }
    const customer = await stripeCall('customers.create', () =>
      this.stripe.customers.create(
        { email: input.customerEmail, test_clock: clockId },
        { ...opts, idempotencyKey: `${input.idempotencyKey}:customer` },
      ),
    );
    return customer.id;
  }

  async retrieveCheckout(sessionId: string, account: AccountContext): Promise<SubscriptionCheckoutState> {
    const opts = onAccount(account);
    if (account.chargeType === 'direct') {
      const session = await stripeCall('checkout.sessions.retrieve', () =>
        this.stripe.checkout.sessions.retrieve(sessionId, {}, opts),
      );
      return toSubscriptionCheckoutState(session, account.accountId);
    }
    // Destination: the seller is the subscription's transfer destination (none before the session completes).
    const session = await stripeCall('checkout.sessions.retrieve', () =>
      this.stripe.checkout.sessions.retrieve(sessionId, { expand: ['subscription'] }, opts),
    );
    const sub = session.subscription;
    const destination =
      sub !== null && typeof sub !== 'string' && sub.transfer_data
        ? idOf(sub.transfer_data.destination)
        : null;
    return toSubscriptionCheckoutState(session, destination);
  }

  async expireCheckout(sessionId: string, account: AccountContext): Promise<void> {
    await expireOpenSession(this.stripe, sessionId, account);
  }

  async retrieve(providerSubscriptionId: string, account: AccountContext): Promise<SubscriptionState> {
    const sub = await stripeCall('subscriptions.retrieve', () =>
      this.stripe.subscriptions.retrieve(providerSubscriptionId, {}, onAccount(account)),
    );
    return toSubscriptionState(sub, directAccountId(account));
  }

  async retrieveInvoice(providerInvoiceId: string, account: AccountContext): Promise<InvoiceState> {
    const invoice = await stripeCall('invoices.retrieve', () =>
      this.stripe.invoices.retrieve(
        providerInvoiceId,
        { expand: ['payments.data.payment.payment_intent'] },
        onAccount(account),
      ),
    );
    return this.invoiceState(invoice, onAccount(account));
  }

  async listInvoices(providerSubscriptionId: string, account: AccountContext): Promise<InvoiceState[]> {
    const opts = onAccount(account);
    // `data.payments.data.payment.payment_intent` would be five levels (Stripe expands four): PaymentIntents are
    // read one by one, for paid invoices only (the fee).
    const list = await stripeCall('invoices.list', () =>
      this.stripe.invoices.list(
        { subscription: providerSubscriptionId, limit: 100, expand: ['data.payments'] },
        opts,
      ),
    );
    const states: InvoiceState[] = [];
    for (const invoice of list.data) states.push(await this.invoiceState(invoice, opts));
    return states;
  }

  /** The invoice's state with its payment: the PaymentIntent (id, and its application fee once paid). */
  private async invoiceState(invoice: Stripe.Invoice, opts: Stripe.RequestOptions): Promise<InvoiceState> {
    let payments = invoice.payments?.data;
    if (payments === undefined) {
      const invoiceId = invoice.id;
      const list = await stripeCall('invoicePayments.list', () =>
        this.stripe.invoicePayments.list({ invoice: invoiceId, limit: 100 }, opts),
      );
      payments = list.data;
    }
    const ref = invoicePaymentOf(payments)?.payment.payment_intent ?? null;
    let pi: Stripe.PaymentIntent | null = ref !== null && typeof ref !== 'string' ? ref : null;
    if (typeof ref === 'string' && invoice.status === 'paid') {
      pi = await stripeCall('paymentIntents.retrieve', () =>
        this.stripe.paymentIntents.retrieve(ref, {}, opts),
      );
    }
    return toInvoiceState(invoice, {
      paymentIntentId: idOf(ref),
      applicationFeeAmount: pi?.application_fee_amount ?? null,
    });
  }

  async setCancelAtPeriodEnd(
    providerSubscriptionId: string,
    account: AccountContext,
    cancel: boolean,
    idempotencyKey: string,
  ): Promise<SubscriptionState> {
    const sub = await stripeCall('subscriptions.update', () =>
      this.stripe.subscriptions.update(
        providerSubscriptionId,
        { cancel_at_period_end: cancel },
        { ...onAccount(account), idempotencyKey },
      ),
    );
    this.log.info({ providerSubscriptionId, cancelAtPeriodEnd: cancel }, 'stripe subscription updated');
    return toSubscriptionState(sub, directAccountId(account));
  }

  async cancelNow(
    providerSubscriptionId: string,
    account: AccountContext,
    idempotencyKey: string,
  ): Promise<SubscriptionState> {
    const opts = onAccount(account);
    try {
      const sub = await this.stripe.subscriptions.cancel(
        providerSubscriptionId,
        {},
        { ...opts, idempotencyKey },
      );
      this.log.info({ providerSubscriptionId }, 'stripe subscription canceled');
      return toSubscriptionState(sub, directAccountId(account));
    } catch (err) {
      // Already canceled (by an earlier call, the portal or the dunning schedule): that is the state asked for.
      if (err instanceof Stripe.errors.StripeInvalidRequestError) {
        const state = await this.retrieve(providerSubscriptionId, account);
        if (state.status === 'canceled' || state.status === 'incomplete_expired') return state;
      }
      throw toSettleError(err, 'subscriptions.cancel');
    }
  }

  async portalUrl(customerId: string, account: AccountContext, returnUrl: string): Promise<string> {
    const session = await stripeCall('billingPortal.sessions.create', () =>
      this.stripe.billingPortal.sessions.create(
        { customer: customerId, return_url: returnUrl },
        onAccount(account),
      ),
    );
    return session.url;
  }

  async advanceTestClock(
    providerSubscriptionId: string,
    account: AccountContext,
    to: Date,
  ): Promise<{ frozenTime: Date }> {
    const opts = onAccount(account);
    const sub = await stripeCall('subscriptions.retrieve', () =>
      this.stripe.subscriptions.retrieve(providerSubscriptionId, {}, opts),
    );
    const clockId = idOf(sub.test_clock);
    if (clockId === null) throw new SettleError('validation_failed', 'subscription has no test clock');
    // A time the clock has already passed is the caller's mistake (400), not a provider failure.
    const before = await stripeCall('testHelpers.testClocks.retrieve', () =>
      this.stripe.testHelpers.testClocks.retrieve(clockId, {}, opts),
    );
    if (seconds(to) <= before.frozen_time)
      throw new SettleError(
        'validation_failed',
        `The test clock is already at ${new Date(before.frozen_time * 1000).toISOString()}; choose a later time.`,
      );
    await stripeCall('testHelpers.testClocks.advance', () =>
      this.stripe.testHelpers.testClocks.advance(clockId, { frozen_time: seconds(to) }, opts),
    );
    const deadline = Date.now() + TEST_CLOCK_TIMEOUT_MS;
    for (;;) {
      await sleep(TEST_CLOCK_POLL_MS);
      const clock = await stripeCall('testHelpers.testClocks.retrieve', () =>
        this.stripe.testHelpers.testClocks.retrieve(clockId, {}, opts),
      );
      if (clock.status === 'ready') {
        this.log.info(
          { providerSubscriptionId, clockId, frozenTime: clock.frozen_time },
          'stripe test clock advanced',
        );
        return { frozenTime: new Date(clock.frozen_time * 1000) };
      }
      if (clock.status === 'internal_failure')
        throw new SettleError('provider_error', `Stripe test clock ${clockId} failed while advancing`);
      if (Date.now() > deadline)
        throw new SettleError(
          'provider_unavailable',
          `Stripe test clock ${clockId} is still ${clock.status} after ${TEST_CLOCK_TIMEOUT_MS / 1000} s`,
        );
    }
  }
}

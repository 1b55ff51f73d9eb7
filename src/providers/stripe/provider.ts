import Stripe from 'stripe';
import { SettleError } from '../../core/errors.js';
import type {
  AccountContext,
  CheckoutOutcome,
  CheckoutState,
  CreateCheckoutInput,
  HostedCheckout,
  ListEventsInput,
  NormalizedEvent,
  PaymentProvider,
  PromotionSpec,
  RefundInput,
  RefundResult,
  VerifiedEvent,
} from '../../core/provider.js';
import { silentLogger, type Logger } from '../../log/logger.js';
import { toStripeAmount } from './amounts.js';
import { stripeCall, toSettleError } from './errors.js';
import { expireOpenSession, onAccount } from './sessions.js';
import {
  idOf,
  isStripeEvent,
  refundStatus,
  toCheckoutState,
  toDisputeEvent,
  toRefundEvent,
  checkoutOutcome,
  toSellerAccountState,
  toSubscriptionChangedEvent,
  toSubscriptionCheckoutState,
  toSubscriptionInvoiceEvent,
  type StripeAccountState,
} from './normalize.js';
import { ensurePromotionCode } from './setup.js';
import { StripeSubscriptions } from './subscriptions.js';

/** Webhook signature tolerance in seconds. Never 0: since stripe@23, 0 means "skip the timestamp check". */
export const WEBHOOK_TOLERANCE_SECONDS = 300;

export interface StripeProviderOptions {
  stripe: Stripe;
  livemode: boolean;
  /** Signing secrets per endpoint; several allowed during rotation (an event is accepted if any verifies). */
  secrets: { platform: string[]; connect: string[] };
  logger?: Logger;
}

type Endpoint = 'platform' | 'connect';

function withAccount(stripeAccount: string | null): Stripe.RequestOptions {
  return stripeAccount === null ? {} : { stripeAccount };
}

function headerValue(
  headers: Record<string, string | string[] | undefined>,
  name: string,
): string | string[] | undefined {
  const direct = headers[name];
  if (direct !== undefined) return direct;
  for (const [k, v] of Object.entries(headers)) if (k.toLowerCase() === name) return v;
  return undefined;
}

export class StripeProvider implements PaymentProvider {
  readonly id = 'stripe' as const;
  readonly livemode: boolean;
  readonly stripe: Stripe;
  /** Stripe Billing for Settle's plans (issue 13). */
  readonly subscriptions: StripeSubscriptions;
  private readonly secrets: { platform: string[]; connect: string[] };
  private readonly log: Logger;

  constructor(opts: StripeProviderOptions) {
    this.stripe = opts.stripe;
    this.livemode = opts.livemode;
    this.secrets = { platform: [...opts.secrets.platform], connect: [...opts.secrets.connect] };
    this.log = (opts.logger ?? silentLogger).child({ provider: 'stripe' });
    this.subscriptions = new StripeSubscriptions({
      stripe: this.stripe,
      livemode: this.livemode,
      logger: this.log,
    });
  }

  // ---------------------------------------------------------------- sellers

  async createSellerAccount(input: {
    sellerId: string;
    email: string;
    idempotencyKey: string;
  }): Promise<StripeAccountState> {
    const params: Stripe.AccountCreateParams = {
      type: 'express',
      email: input.email,
      metadata: { sellerId: input.sellerId },
      capabilities: { card_payments: { requested: true }, transfers: { requested: true } },
    };
    const account = await stripeCall('accounts.create', () =>
      this.stripe.accounts.create(params, { idempotencyKey: input.idempotencyKey }),
    );
    this.log.info({ sellerId: input.sellerId, accountId: account.id }, 'stripe connected account created');
    return toSellerAccountState(account);
  }

  async createOnboardingLink(input: {
    accountId: string | null;
    returnUrl: string;
    refreshUrl: string;
    sellerId?: string;
    email?: string;
  }): Promise<{ url: string }> {
    // Stripe accounts exist from createSellerAccount on: an onboarding link always names one.
    const account = input.accountId;
    if (account === null)
      throw new SettleError('seller_not_ready', 'The seller has no Stripe account to onboard yet.');
    // Account links are single-use and short-lived; a duplicate from a retry is harmless, so no Settle key
    // here (the SDK still sends its own key so its network retries cannot create two).
    const link = await stripeCall('accountLinks.create', () =>
      this.stripe.accountLinks.create({
        account,
        refresh_url: input.refreshUrl,
        return_url: input.returnUrl,
        type: 'account_onboarding',
      }),
    );
    return { url: link.url };
  }

  async retrieveSellerAccount(accountId: string): Promise<StripeAccountState> {
    const account = await stripeCall('accounts.retrieve', () => this.stripe.accounts.retrieve(accountId));
    return toSellerAccountState(account);
  }

  // ---------------------------------------------------------------- checkout

  /**
   * Creates the hosted Checkout Session. A promotion code is applied only when Settle priced the order with it
   * (`discounts`); the session never sets `allow_promotion_codes`, so the hosted page has no code field. Settle
   * computes the platform fee on the price the buyer pays, and `application_fee_amount` is fixed when the session is
   * created: a code typed on Stripe's page would leave the fee computed on the undiscounted price.
   */
  async createCheckout(input: CreateCheckoutInput): Promise<HostedCheckout> {
    const { account } = input;
    const unitAmount = toStripeAmount(input.lineItem.unitAmount, input.currency, 'The unit price');
    const fee =
      input.applicationFee > 0
        ? { application_fee_amount: toStripeAmount(input.applicationFee, input.currency, 'The platform fee') }
        : {};
    const paymentIntentData: Stripe.Checkout.SessionCreateParams.PaymentIntentData =
      account.chargeType === 'direct'
        ? { ...fee, metadata: { orderId: input.orderId } }
        : {
            ...fee,
            on_behalf_of: account.accountId,
            transfer_data: { destination: account.accountId },
            metadata: { orderId: input.orderId },
          };
    const params: Stripe.Checkout.SessionCreateParams = {
      mode: 'payment',
      line_items: [
        {
          price_data: {
            currency: input.currency.toLowerCase(),
            unit_amount: unitAmount,
            product_data: { name: input.lineItem.name },
          },
          quantity: input.lineItem.quantity,
        },
      ],
      metadata: { orderId: input.orderId },
      client_reference_id: input.orderId,
      expires_at: Math.floor(input.expiresAt.getTime() / 1000),
      success_url: input.successUrl,
      cancel_url: input.cancelUrl,
      payment_intent_data: paymentIntentData,
      ...(input.promotionCodeProviderId !== null
        ? { discounts: [{ promotion_code: input.promotionCodeProviderId }] }
        : {}),
      ...(input.customerEmail !== null ? { customer_email: input.customerEmail } : {}),
    };
    const session = await stripeCall('checkout.sessions.create', () =>
      this.stripe.checkout.sessions.create(params, {
        ...onAccount(account),
        idempotencyKey: input.idempotencyKey,
      }),
    );
    if (session.url === null)
      throw new SettleError('provider_error', `Stripe returned checkout session ${session.id} without a URL`);
    this.log.info(
      { orderId: input.orderId, sessionId: session.id, chargeType: account.chargeType },
      'stripe checkout session created',
    );
    return {
      sessionId: session.id,
      url: session.url,
      expiresAt: new Date((session.expires_at ?? Math.floor(input.expiresAt.getTime() / 1000)) * 1000),
    };
  }

  async retrieveCheckout(sessionId: string, account: AccountContext): Promise<CheckoutState> {
    return this.fetchCheckout(
      sessionId,
      account.chargeType === 'direct' ? account.accountId : null,
      account.accountId,
    );
  }

  /**
   * Reads a session on the platform (`stripeAccount` null) or a connected account and builds its state with
   * authoritative amounts: the PaymentIntent's application fee and the customer-facing promotion code.
   */
  private async fetchCheckout(
    sessionId: string,
    stripeAccount: string | null,
    accountIdHint: string | null,
    outcomeOverride?: CheckoutOutcome,
  ): Promise<CheckoutState> {
    const opts = withAccount(stripeAccount);
    const session = await stripeCall('checkout.sessions.retrieve', () =>
      this.stripe.checkout.sessions.retrieve(sessionId, { expand: ['payment_intent'] }, opts),
    );
    let pi: Stripe.PaymentIntent | null = null;
    if (typeof session.payment_intent === 'string') {
      const piId = session.payment_intent;
      pi = await stripeCall('paymentIntents.retrieve', () =>
        this.stripe.paymentIntents.retrieve(piId, {}, opts),
      );
    } else if (session.payment_intent !== null) {
      pi = session.payment_intent;
    }
    const promotionCode = await this.promotionCodeOf(session, opts);
    const destination = pi?.transfer_data ? idOf(pi.transfer_data.destination) : null;
    return toCheckoutState(session, {
      accountId: stripeAccount ?? destination ?? idOf(pi?.on_behalf_of) ?? accountIdHint,
      applicationFee: pi?.application_fee_amount ?? 0,
      promotionCode,
      outcome: outcomeOverride ?? checkoutOutcome(session, pi),
    });
  }

  private async promotionCodeOf(
    session: Stripe.Checkout.Session,
    opts: Stripe.RequestOptions,
  ): Promise<string | null> {
    const applied = session.discounts?.[0]?.promotion_code ?? null;
    if (applied === null) return null;
    if (typeof applied !== 'string') return applied.code;
    const promo = await stripeCall('promotionCodes.retrieve', () =>
      this.stripe.promotionCodes.retrieve(applied, {}, opts),
    );
    return promo.code;
  }

  async expireCheckout(sessionId: string, account: AccountContext): Promise<void> {
    await expireOpenSession(this.stripe, sessionId, account);
  }

  // ---------------------------------------------------------------- refunds

  /**
   * Refund flags, chosen so the platform returns its fee proportionally and the seller bears the rest on both flows:
   * - Direct: the charge lives on the connected account → refund there (`stripeAccount`) with
   *   `refund_application_fee: true` (the platform's application fee is refunded proportionally to the seller).
   * - Destination: the charge lives on the platform → refund on the platform with `reverse_transfer: true` (pull
   *   the seller's share back proportionally) and `refund_application_fee: true` (return the fee share).
   */
  async refund(input: RefundInput): Promise<RefundResult> {
    const opts = onAccount(input.account);
    const params: Stripe.RefundCreateParams = {
      payment_intent: input.paymentId,
      amount: toStripeAmount(input.amount, input.currency, 'The refund amount'),
      metadata: { orderId: input.orderId, refundId: input.refundId },
      refund_application_fee: true,
      ...(input.account.chargeType === 'destination' ? { reverse_transfer: true } : {}),
    };
    const refund = await stripeCall('refunds.create', () =>
      this.stripe.refunds.create(params, { ...opts, idempotencyKey: input.idempotencyKey }),
    );
    this.log.info(
      {
        orderId: input.orderId,
        refundId: input.refundId,
        providerRefundId: refund.id,
        status: refund.status,
      },
      'stripe refund created',
    );
    return { providerRefundId: refund.id, status: refundStatus(refund.status) };
  }

  // ---------------------------------------------------------------- webhooks and events

  async verifyWebhook(
    endpoint: Endpoint,
    rawBody: Buffer,
    headers: Record<string, string | string[] | undefined>,
  ): Promise<VerifiedEvent> {
    const header = headerValue(headers, 'stripe-signature');
    if (header === undefined || Array.isArray(header) || header.trim() === '')
      throw new SettleError(
        'webhook_signature_invalid',
        'Missing or malformed Stripe-Signature header (exactly one header is required)',
      );
    const secrets = endpoint === 'platform' ? this.secrets.platform : this.secrets.connect;
    if (secrets.length === 0)
      throw new SettleError(
        'webhook_signature_invalid',
        `No signing secret configured for the ${endpoint} endpoint (${endpoint === 'platform' ? 'STRIPE_WEBHOOK_SECRET' : 'STRIPE_CONNECT_WEBHOOK_SECRET'})`,
      );
    let event: Stripe.Event | undefined;
    let lastReason = 'signature did not match any configured secret';
    for (const secret of secrets) {
      try {
        event = this.stripe.webhooks.constructEvent(rawBody, header, secret, WEBHOOK_TOLERANCE_SECONDS);
        break;
      } catch (err) {
        if (err instanceof Stripe.errors.StripeSignatureVerificationError) {
          lastReason = /timestamp/i.test(err.message)
            ? 'timestamp outside the 300 s tolerance'
            : 'signature did not match any configured secret';
          continue;
        }
        // The signature verified but the body is not a parsable v1 event (JSON error, v2 thin event, …).
        throw new SettleError('webhook_payload_invalid', 'Webhook body is not a valid Stripe event', {
          cause: err,
        });
      }
    }
    if (event === undefined) {
      this.log.warn({ endpoint, reason: lastReason }, 'stripe webhook rejected');
      throw new SettleError('webhook_signature_invalid', `Invalid Stripe webhook signature: ${lastReason}`);
    }
    if (!isStripeEvent(event))
      throw new SettleError('webhook_payload_invalid', 'Webhook body is not a valid Stripe event');
    if (event.livemode !== this.livemode)
      throw new SettleError(
        'webhook_livemode_mismatch',
        `Event ${event.id} is ${event.livemode ? 'live' : 'test'} mode but Settle runs with a ${this.livemode ? 'live' : 'test'} key`,
      );
    return this.normalizeEvent(endpoint, event);
  }

  async normalizeEvent(endpoint: Endpoint, raw: unknown): Promise<VerifiedEvent> {
    if (!isStripeEvent(raw))
      throw new SettleError('webhook_payload_invalid', 'Stored payload is not a Stripe event');
    const event = raw;
    const accountId = event.account ?? null;
    let normalized: NormalizedEvent;
    try {
      normalized = await this.normalize(event, accountId);
    } catch (err) {
      // Signed (so authentic) but not shaped as its type says: refuse it as malformed, never a 500 that Stripe
      // would retry for days.
      if (err instanceof SettleError) throw err;
      throw new SettleError(
        'webhook_payload_invalid',
        `Event ${event.id} (${event.type}) does not have the shape of its type.`,
        { cause: err },
      );
    }
    return {
      provider: 'stripe',
      endpoint,
      eventId: event.id,
      type: event.type,
      accountId,
      livemode: event.livemode,
      createdAt: new Date(event.created * 1000),
      raw,
      event: normalized,
    };
  }

  private async normalize(event: Stripe.Event, accountId: string | null): Promise<NormalizedEvent> {
    switch (event.type) {
      case 'checkout.session.completed':
        // Built from the payload only: verification must not depend on another API call. Settle re-reads the
        // session on the order's own account before confirming (src/core/payment-events.ts), so amounts, fee
        // and promotion code still come from the API.
        // A subscription's checkout (mode subscription) is its own event, never an order's.
        if (event.data.object.mode === 'subscription')
          return {
            kind: 'subscription.checkout_completed',
            checkout: toSubscriptionCheckoutState(event.data.object, accountId),
          };
        return {
          kind: 'checkout.completed',
          checkout: this.payloadCheckout(event.data.object, accountId, checkoutOutcome(event.data.object)),
        };
      case 'checkout.session.async_payment_succeeded':
        return {
          kind: 'checkout.async_succeeded',
          checkout: this.payloadCheckout(event.data.object, accountId, checkoutOutcome(event.data.object)),
        };
      case 'checkout.session.async_payment_failed':
        return {
          kind: 'checkout.async_failed',
          checkout: this.payloadCheckout(event.data.object, accountId, 'failed'),
        };
      case 'checkout.session.expired':
        if (event.data.object.mode === 'subscription')
          return {
            kind: 'subscription.checkout_expired',
            checkout: toSubscriptionCheckoutState(event.data.object, accountId),
          };
        return {
          kind: 'checkout.expired',
          checkout: this.payloadCheckout(event.data.object, accountId, 'expired'),
        };
      case 'refund.created':
      case 'refund.updated':
      case 'refund.failed':
        return toRefundEvent(event.data.object);
      // charge.refunded is acknowledged but not mapped: every refund also emits refund.created/updated with the
      // refund id and our metadata.refundId, while the charge payload no longer embeds its refunds list.
      case 'charge.dispute.created':
        return toDisputeEvent('dispute.created', event.data.object);
      case 'charge.dispute.closed':
        return toDisputeEvent('dispute.closed', event.data.object);
      case 'account.updated':
        return { kind: 'account.updated', account: toSellerAccountState(event.data.object) };
      // Subscriptions: core re-reads the subscription or invoice on its account, the payload may be stale.
      case 'customer.subscription.created':
      case 'customer.subscription.updated':
      case 'customer.subscription.deleted':
      case 'customer.subscription.paused':
      case 'customer.subscription.resumed':
      case 'customer.subscription.trial_will_end':
        return toSubscriptionChangedEvent(event.type, event.data.object);
      case 'invoice.paid':
      case 'invoice.payment_failed':
      case 'invoice.payment_action_required':
        return toSubscriptionInvoiceEvent(event.type, event.data.object);
      default:
        return { kind: 'ignored' };
    }
  }

  /** State from the event payload alone (expired / failed sessions: nothing authoritative left to read). */
  private payloadCheckout(
    session: Stripe.Checkout.Session,
    accountId: string | null,
    outcome: CheckoutOutcome,
  ): CheckoutState {
    const code = session.discounts?.[0]?.promotion_code;
    return toCheckoutState(session, {
      accountId,
      applicationFee: 0,
      promotionCode: code !== undefined && code !== null && typeof code !== 'string' ? code.code : null,
      outcome,
    });
  }

  async *listEvents(input: ListEventsInput): AsyncIterable<VerifiedEvent> {
    const endpoint: Endpoint = input.accountId === null ? 'platform' : 'connect';
    const list = this.stripe.events.list(
      { created: { gte: Math.floor(input.since.getTime() / 1000) }, limit: 100 },
      withAccount(input.accountId),
    );
    try {
      for await (const event of list) {
        // Platform-level lists carry no `account`; events read with Stripe-Account belong to that account.
        const scoped: Stripe.Event =
          input.accountId !== null && event.account === undefined
            ? { ...event, account: input.accountId }
            : event;
        yield await this.normalizeEvent(endpoint, scoped);
      }
    } catch (err) {
      throw toSettleError(err, 'events.list');
    }
  }

  async findPromotionCodeId(code: string, account: AccountContext): Promise<string | null> {
    const list = await stripeCall('promotionCodes.list', () =>
      this.stripe.promotionCodes.list({ code, active: true, limit: 1 }, onAccount(account)),
    );
    return list.data[0]?.id ?? null;
  }

  async ensurePromotionCode(spec: PromotionSpec, accountId: string | null): Promise<string> {
    // A fixed amount off is a Stripe amount: converted (and checked) like every other.
    const amountOff =
      spec.amountOff !== undefined
        ? toStripeAmount(spec.amountOff, spec.currency ?? '', 'The amount off')
        : undefined;
    const promo = await ensurePromotionCode(
      this.stripe,
      {
        code: spec.code,
        ...(spec.percentOff !== undefined ? { percentOff: spec.percentOff } : {}),
        ...(amountOff !== undefined ? { amountOff } : {}),
        ...(spec.currency !== undefined ? { currency: spec.currency } : {}),
      },
      accountId ?? undefined,
    );
    // An active code of the same name may already exist with another discount: Settle's copy and Stripe's would
    // then disagree and every order using it would land in review. Refuse instead.
    const ref = promo.promotion.coupon;
    const opts = withAccount(accountId);
    const coupon =
      typeof ref === 'string'
        ? await stripeCall('coupons.retrieve', () => this.stripe.coupons.retrieve(ref, {}, opts))
        : ref;
    if (coupon !== null) {
      const same =
        spec.percentOff !== undefined
          ? coupon.percent_off === spec.percentOff
          : coupon.amount_off === amountOff && coupon.currency === spec.currency?.toLowerCase();
      if (!same) {
        throw new SettleError(
          'promotion_code_invalid',
          `Promotion code ${spec.code} already exists at Stripe${accountId ? ` on ${accountId}` : ''} with a different discount; deactivate it there or choose another code.`,
        );
      }
    }
    return promo.id;
  }
}

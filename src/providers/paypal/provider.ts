import {
  CheckoutPaymentIntent,
  DisbursementMode,
  PaypalExperienceUserAction,
  PaypalWalletContextShippingPreference,
  type Order,
  type OrderRequest,
} from '@paypal/paypal-server-sdk';
import { roundDownToStep } from '../../core/currency-rules.js';
import { SettleError } from '../../core/errors.js';
import { neutralReturnUrl, settlePromotionId } from '../../core/hosted-checkout.js';
import { money } from '../../core/money.js';
import type {
  AccountContext,
  CheckoutState,
  CreateCheckoutInput,
  HostedCheckout,
  ListEventsInput,
  PaymentProvider,
  PromotionSpec,
  RefundInput,
  RefundResult,
  SellerAccountState,
  VerifiedEvent,
} from '../../core/provider.js';
import { silentLogger, type Logger } from '../../log/logger.js';
import { fromPayPalMoney, toPayPalMoney } from './amounts.js';
import { withRetries, type PayPalApi } from './client.js';
import { failureOf } from './errors.js';
import {
  isPayPalEvent,
  normalizePayPalEvent,
  refundStatus,
  toCheckoutState,
  toSellerAccountState,
  type PayPalEvent,
} from './normalize.js';
import { PartnerReferrals } from './partner-referrals.js';
import { isRecord, linkHref, records, type PayPalRest } from './rest.js';
import type { PayPalWebhookVerifier } from './webhook-verify.js';

export interface PayPalProviderOptions {
  api: PayPalApi;
  rest: PayPalRest;
  verifier: PayPalWebhookVerifier;
  livemode: boolean;
  clientId: string;
  /** BN code sent as PayPal-Partner-Attribution-Id on every order; null in sandbox without one. */
  partnerAttributionId: string | null;
  partnerMerchantId: string | null;
  /**
   * Settle's hold lifetime (SETTLE_HOLD_MINUTES). PayPal cannot void an unapproved CAPTURE order, so an order still
   * waiting for the buyer this long after it was created is reported `expired` (the checkout's hold is over).
   */
  checkoutLifetimeMs: number;
  logger?: Logger;
  now?: () => Date;
}

/** How long to wait for a concurrent capture with the same PayPal-Request-Id before reading the order again. */
const CAPTURE_RACE_WAIT_MS = [150, 400, 1000] as const;

/**
 * PayPal as a PaymentProvider: Orders v2 (`intent: CAPTURE`) with the seller as payee and Settle's platform fee,
 * captured by Settle when the buyer approved; refunds on the capture; webhooks verified offline.
 *
 * Capture lives in `retrieveCheckout`: PayPal only takes the money when the platform captures an approved order,
 * and every confirmation source (the return page's verify, the CHECKOUT.ORDER.APPROVED webhook, reconciliation)
 * reads the checkout through it. The capture's PayPal-Request-Id is derived from Settle's order id, so a return
 * page and a webhook racing each other send one capture, and ORDER_ALREADY_CAPTURED counts as done.
 */
export class PayPalProvider implements PaymentProvider {
  readonly id = 'paypal' as const;
  readonly livemode: boolean;
  private readonly api: PayPalApi;
  private readonly rest: PayPalRest;
  private readonly referrals: PartnerReferrals;
  private readonly verifier: PayPalWebhookVerifier;
  private readonly clientId: string;
  private readonly attribution: string | null;
  private readonly lifetimeMs: number;
  private readonly log: Logger;
  private readonly now: () => Date;

  constructor(opts: PayPalProviderOptions) {
    this.api = opts.api;
    this.rest = opts.rest;
    this.referrals = new PartnerReferrals(opts.rest, opts.partnerMerchantId);
    this.verifier = opts.verifier;
    this.livemode = opts.livemode;
    this.clientId = opts.clientId;
    this.attribution = opts.partnerAttributionId;
    this.lifetimeMs = opts.checkoutLifetimeMs;
    this.log = (opts.logger ?? silentLogger).child({ provider: 'paypal' });
    this.now = opts.now ?? (() => new Date());
  }

  private get retries(): number {
    return this.api.maxNetworkRetries;
  }

  // ---------------------------------------------------------------- sellers

  /**
   * PayPal assigns the seller's merchant id only when the seller finishes signing up through the partner
   * referral: nothing to create yet (no API call). The account is found later by the seller id
   * (`findSellerAccount`, the referral's `tracking_id`).
   */
  async createSellerAccount(_input: {
    sellerId: string;
    email: string;
    idempotencyKey: string;
  }): Promise<SellerAccountState> {
    return { accountId: null, detailsSubmitted: false, chargesEnabled: false, payoutsEnabled: false };
  }

  async createOnboardingLink(input: {
    accountId: string | null;
    sellerId: string;
    email: string;
    returnUrl: string;
    refreshUrl: string;
  }): Promise<{ url: string }> {
    const link = await this.referrals.createReferral({
      trackingId: input.sellerId,
      email: input.email,
      returnUrl: input.returnUrl,
    });
    this.log.info({ sellerId: input.sellerId }, 'paypal partner referral created');
    return link;
  }

  async retrieveSellerAccount(accountId: string): Promise<SellerAccountState> {
    return toSellerAccountState(await this.referrals.merchantStatus(accountId));
  }

  async findSellerAccount(sellerId: string): Promise<SellerAccountState | null> {
    const merchantId = await this.referrals.findMerchantId(sellerId);
    if (merchantId === null) return null;
    const state = toSellerAccountState(await this.referrals.merchantStatus(merchantId));
    return { ...state, sellerId };
  }

  // ---------------------------------------------------------------- checkout

  /**
   * Creates the PayPal order: one purchase unit paid to the seller (`payee.merchant_id`), Settle's platform fee in
   * `payment_instruction.platform_fees`, `custom_id` = Settle's order id, the amount already discounted by Settle
   * (PayPal has no promotion codes). The buyer approves at the `payer-action` (or `approve`) link and comes back to
   * Settle's return page. `PayPal-Request-Id` is the checkout's idempotency key (`checkout:<order id>`).
   */
  async createCheckout(input: CreateCheckoutInput): Promise<HostedCheckout> {
    const subtotal = input.lineItem.unitAmount * input.lineItem.quantity;
    const total = subtotal - (input.discount ?? 0);
    if (!Number.isSafeInteger(total) || total < 0)
      throw new SettleError('money_invalid', 'Invalid order total.');
    if (total === 0)
      throw new SettleError(
        'amount_not_supported',
        'PayPal cannot take a payment of 0: an order that is free after its promotion code needs no PayPal checkout (choose another provider for it).',
        { details: { provider: 'paypal', amount: 0 } },
      );
    const amount = toPayPalMoney(total, input.currency, 'The order total');
    const fee =
      input.applicationFee > 0
        ? toPayPalMoney(input.applicationFee, input.currency, 'The platform fee')
        : null;
    const returnUrl = neutralReturnUrl(input.successUrl);
    const body: OrderRequest = {
      intent: CheckoutPaymentIntent.Capture,
      purchaseUnits: [
        {
          referenceId: input.orderId,
          customId: input.orderId,
          description: describe(input.lineItem.name, input.lineItem.quantity),
          amount,
          payee: { merchantId: input.account.accountId },
          paymentInstruction: {
            disbursementMode: DisbursementMode.Instant,
            ...(fee !== null ? { platformFees: [{ amount: fee }] } : {}),
          },
        },
      ],
      paymentSource: {
        paypal: {
          experienceContext: {
            returnUrl,
            cancelUrl: input.cancelUrl,
            userAction: PaypalExperienceUserAction.PayNow,
            shippingPreference: PaypalWalletContextShippingPreference.NoShipping,
          },
        },
      },
    };
    const order = await withRetries(
      'orders.create',
      async () =>
        (
          await this.api.orders.createOrder({
            body,
            paypalRequestId: input.idempotencyKey,
            ...(this.attribution !== null ? { paypalPartnerAttributionId: this.attribution } : {}),
            prefer: 'return=representation',
          })
        ).result,
      { safe: true, retries: this.retries, tokens: this.api.tokens },
    );
    const url = linkOf(order, 'payer-action') ?? linkOf(order, 'approve');
    if (order.id === undefined || url === undefined)
      throw new SettleError('provider_error', 'PayPal returned an order without an id or an approval link');
    this.log.info({ orderId: input.orderId, paypalOrderId: order.id }, 'paypal order created');
    return { sessionId: order.id, url, expiresAt: input.expiresAt };
  }

  /**
   * Reads the order; an APPROVED order is captured first (PayPal's confirmation step), with PayPal-Request-Id
   * `capture:<Settle order id>` so concurrent readers send one capture. Amount, currency, fee and payee come from
   * PayPal. An unknown order (404) is reported expired, as is an order still waiting for the buyer after Settle's
   * hold ended (PayPal cannot void it; a later approval is still captured and confirmed).
   */
  async retrieveCheckout(sessionId: string, _account: AccountContext): Promise<CheckoutState> {
    const order = await this.getOrder(sessionId);
    if (order === null) return goneState(sessionId);
    if (order.status === 'APPROVED') return this.capture(order);
    const state = toCheckoutState(order);
    if (state.outcome === 'open' && this.waitedTooLong(order)) return { ...state, outcome: 'expired' };
    return state;
  }

  private waitedTooLong(order: Order): boolean {
    const created = order.createTime === undefined ? Number.NaN : Date.parse(order.createTime);
    return !Number.isNaN(created) && this.now().getTime() - created > this.lifetimeMs;
  }

  private async getOrder(id: string): Promise<Order | null> {
    try {
      return await withRetries('orders.get', async () => (await this.api.orders.getOrder({ id })).result, {
        safe: true,
        retries: this.retries,
        tokens: this.api.tokens,
      });
    } catch (err) {
      if (failureOf(err).status === 404) return null;
      throw err;
    }
  }

  private async capture(order: Order): Promise<CheckoutState> {
    const id = order.id ?? '';
    const ours = order.purchaseUnits?.[0]?.customId ?? id;
    const requestId = `capture:${ours}`;
    for (let attempt = 0; ; attempt++) {
      try {
        const captured = await withRetries(
          'orders.capture',
          async () =>
            (
              await this.api.orders.captureOrder({
                id,
                paypalRequestId: requestId,
                prefer: 'return=representation',
              })
            ).result,
          { safe: true, retries: this.retries, tokens: this.api.tokens },
        );
        this.log.info({ orderId: ours, paypalOrderId: id, status: captured.status }, 'paypal order captured');
        return toCheckoutState(captured);
      } catch (err) {
        const { status, issues } = failureOf(err);
        if (issues.includes('ORDER_ALREADY_CAPTURED') || issues.includes('ORDER_NOT_APPROVED')) {
          // Captured by the concurrent reader (or not approved after all): the order says what happened.
          return this.readBack(id);
        }
        const wait = CAPTURE_RACE_WAIT_MS[attempt];
        if ((status === 409 || issues.includes('DUPLICATE_REQUEST_ID')) && wait !== undefined) {
          // The same capture is in progress in another request: wait for it, then read the order.
          await new Promise((r) => setTimeout(r, wait));
          const again = await this.getOrder(id);
          if (again === null) return goneState(id);
          if (again.status !== 'APPROVED') return toCheckoutState(again);
          continue;
        }
        if (status === 422) {
          // Declined by PayPal (INSTRUMENT_DECLINED, PAYER_CANNOT_PAY, …): no money moved.
          this.log.warn(
            { orderId: ours, paypalOrderId: id, issue: issues[0] ?? null },
            'paypal capture declined',
          );
          return toCheckoutState(order, 'failed');
        }
        throw err;
      }
    }
  }

  private async readBack(id: string): Promise<CheckoutState> {
    const again = await this.getOrder(id);
    return again === null ? goneState(id) : toCheckoutState(again);
  }

  /**
   * PayPal cannot void an unapproved CAPTURE order, and nothing is charged until Settle captures it: there is
   * nothing to end. Core re-reads the state afterwards; an order still open after Settle's hold reads as expired.
   */
  async expireCheckout(_sessionId: string, _account: AccountContext): Promise<void> {
    return;
  }

  // ---------------------------------------------------------------- refunds

  /**
   * Refunds (part of) the capture with PayPal-Request-Id = Settle's refund key and `custom_id` = Settle's refund
   * id. The platform gives back its fee in proportion (`payment_instruction.platform_fees`): floor(fee × refund /
   * captured), read from the capture itself, so the fee refunded never exceeds the fee taken, whatever the number
   * and order of partial refunds. PayPal-Auth-Assertion names the seller the refund is made for.
   */
  async refund(input: RefundInput): Promise<RefundResult> {
    const capture = await withRetries(
      'captures.get',
      async () => (await this.api.payments.getCapturedPayment({ captureId: input.paymentId })).result,
      { safe: true, retries: this.retries, tokens: this.api.tokens },
    );
    const gross = capture.amount !== undefined ? fromPayPalMoney(capture.amount) : null;
    if (gross === null || gross.currency !== input.currency.toLowerCase() || gross.amount <= 0)
      throw new SettleError(
        'provider_error',
        `PayPal capture ${input.paymentId} has no amount in ${input.currency}`,
      );
    let fee = 0;
    for (const f of capture.sellerReceivableBreakdown?.platformFees ?? []) {
      const m = fromPayPalMoney(f.amount);
      if (m.currency === gross.currency) fee += m.amount;
    }
    const share = Number((BigInt(fee) * BigInt(input.amount)) / BigInt(gross.amount));
    const feeBack = roundDownToStep('paypal', money(share, input.currency)).amount;
    const body = {
      amount: toPayPalMoney(input.amount, input.currency, 'The refund amount'),
      customId: input.refundId,
      ...(feeBack > 0
        ? {
            paymentInstruction: {
              platformFees: [{ amount: toPayPalMoney(feeBack, input.currency, 'The platform fee refund') }],
            },
          }
        : {}),
    };
    const refund = await withRetries(
      'captures.refund',
      async () =>
        (
          await this.api.payments.refundCapturedPayment({
            captureId: input.paymentId,
            paypalRequestId: input.idempotencyKey,
            paypalAuthAssertion: authAssertion(this.clientId, input.account.accountId),
            prefer: 'return=representation',
            body,
          })
        ).result,
      { safe: true, retries: this.retries, tokens: this.api.tokens },
    );
    if (refund.id === undefined)
      throw new SettleError('provider_error', 'PayPal returned a refund without an id');
    this.log.info(
      {
        orderId: input.orderId,
        refundId: input.refundId,
        providerRefundId: refund.id,
        status: refund.status,
      },
      'paypal refund created',
    );
    return { providerRefundId: refund.id, status: refundStatus(refund.status) };
  }

  // ---------------------------------------------------------------- webhooks and events

  async verifyWebhook(
    endpoint: 'platform' | 'connect',
    rawBody: Buffer,
    headers: Record<string, string | string[] | undefined>,
  ): Promise<VerifiedEvent> {
    if (endpoint !== 'platform')
      throw new SettleError('webhook_signature_invalid', 'PayPal has one webhook endpoint (platform)');
    await this.verifier.verify(rawBody, headers);
    let parsed: unknown;
    try {
      parsed = JSON.parse(rawBody.toString('utf8')) as unknown;
    } catch {
      throw new SettleError('webhook_payload_invalid', 'Webhook body is not JSON');
    }
    if (!isPayPalEvent(parsed))
      throw new SettleError('webhook_payload_invalid', 'Webhook body is not a PayPal event');
    return this.normalizeEvent(endpoint, parsed);
  }

  async normalizeEvent(endpoint: 'platform' | 'connect', raw: unknown): Promise<VerifiedEvent> {
    if (!isPayPalEvent(raw))
      throw new SettleError('webhook_payload_invalid', 'Stored payload is not a PayPal event');
    let event;
    try {
      event = normalizePayPalEvent(raw);
    } catch (err) {
      if (err instanceof SettleError && err.code !== 'provider_error') throw err;
      // Signed (so PayPal's) but not shaped as its type says: refused as malformed, never a 500 retried for days.
      throw new SettleError(
        'webhook_payload_invalid',
        `Event ${raw.id} (${raw.event_type}) does not have the shape of its type.`,
        { cause: err },
      );
    }
    return {
      provider: 'paypal',
      endpoint,
      eventId: raw.id,
      type: raw.event_type,
      // PayPal delivers every event, its merchants' included, to the platform's webhook.
      accountId: null,
      livemode: this.livemode,
      createdAt: new Date(Date.parse(raw.create_time)),
      raw,
      event,
    };
  }

  /**
   * GET /v1/notifications/webhooks-events since `since`, page by page (the `next` link): the events PayPal sent
   * (or tried to send) to the platform's webhooks. PayPal has no per-merchant event lists: only the platform
   * (accountId null) has events.
   */
  async *listEvents(input: ListEventsInput): AsyncIterable<VerifiedEvent> {
    if (input.accountId !== null) return;
    let query: Record<string, string> | null = {
      start_time: input.since.toISOString(),
      end_time: this.now().toISOString(),
      page_size: '100',
    };
    for (let pages = 0; query !== null && pages < 1000; pages++) {
      const page: { events: PayPalEvent[]; next: Record<string, string> | null } = await this.rest.request(
        'webhooks-events.list',
        {
          method: 'GET',
          path: '/v1/notifications/webhooks-events',
          query,
          parse: (body) => {
            if (!isRecord(body))
              throw new SettleError('provider_error', 'PayPal returned an event list without events');
            const events = records(body['events']).filter(isPayPalEvent);
            const next = linkHref(body['links'], 'next');
            return { events, next: next === undefined ? null : queryOf(next) };
          },
        },
      );
      for (const ev of page.events) yield await this.normalizeEvent('platform', ev);
      query = page.next;
    }
  }

  // ---------------------------------------------------------------- promotion codes

  /**
   * PayPal has no promotion codes: Settle prices the discount itself (createPendingOrder, from its own copy in
   * `promotion_codes` for provider `paypal`) and the PayPal order is created for the discounted amount. There is
   * nothing to create at PayPal; the id is Settle's marker for the code. An amount off is still checked to be an
   * amount PayPal can take.
   */
  async ensurePromotionCode(spec: PromotionSpec, _accountId: string | null): Promise<string> {
    if ((spec.percentOff === undefined) === (spec.amountOff === undefined))
      throw new SettleError('validation_failed', 'Give exactly one of percentOff or amountOff.');
    if (spec.amountOff !== undefined) toPayPalMoney(spec.amountOff, spec.currency ?? '', 'The amount off');
    return settlePromotionId(spec.code);
  }

  /** Core only asks once Settle's own copy of the code is valid for this provider: the marker id. */
  async findPromotionCodeId(code: string, _account: AccountContext): Promise<string | null> {
    return settlePromotionId(code);
  }
}

function linkOf(order: Order, rel: string): string | undefined {
  return order.links?.find((l) => l.rel === rel)?.href;
}

function goneState(sessionId: string): CheckoutState {
  return {
    provider: 'paypal',
    sessionId,
    orderId: null,
    accountId: null,
    outcome: 'expired',
    amountTotal: 0,
    currency: '',
    paymentId: null,
    applicationFee: 0,
    promotionCode: null,
  };
}

/** PayPal's description limit is 127 characters. */
function describe(name: string, quantity: number): string {
  const text = quantity > 1 ? `${name} × ${quantity}` : name;
  return text.length > 127 ? `${text.slice(0, 126)}…` : text;
}

/** The query of a PayPal `next` link (its origin is PayPal's; requests go to the configured origin). */
function queryOf(href: string): Record<string, string> {
  const u = new URL(href, 'https://api-m.paypal.com');
  return Object.fromEntries(u.searchParams.entries());
}

/**
 * PayPal-Auth-Assertion: an unsigned JWT (`alg: none`) naming the platform's client id (`iss`) and the merchant
 * acted for (`payer_id`), as PayPal documents for partners refunding on a seller's behalf.
 */
export function authAssertion(clientId: string, merchantId: string): string {
  const enc = (v: object) => Buffer.from(JSON.stringify(v)).toString('base64url');
  return `${enc({ alg: 'none' })}.${enc({ iss: clientId, payer_id: merchantId })}.`;
}

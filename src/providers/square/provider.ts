import { serialization, SquareError, type Square, type SquareClient } from 'square';
import { squareConfigured, type SquareConfig } from '../../config/config.js';
import { SettleError } from '../../core/errors.js';
import { settlePromotionId } from '../../core/hosted-checkout.js';
import type {
  AccountContext,
  CheckoutState,
  CreateCheckoutInput,
  GrantStore,
  HostedCheckout,
  ListEventsInput,
  NormalizedEvent,
  PaymentProvider,
  PromotionSpec,
  RefundInput,
  RefundResult,
  SellerAccountState,
  VerifiedEvent,
} from '../../core/provider.js';
import { silentLogger, type Logger } from '../../log/logger.js';
import { fromSquareMoney, optionalSquareAmount, toSquareMoney } from './amounts.js';
import {
  SQUARE_REASON_MAX,
  assertSquareCharge,
  checkoutState,
  checkoutTotal,
  paymentLinkRequest,
  squareIdempotencyKey,
} from './checkout.js';
import { SquareClients } from './client.js';
import { squareCall } from './errors.js';
import {
  isSquareEvent,
  parseSquareEvent,
  paymentOutcome,
  refundStatus,
  type SquareWireEvent,
  type WirePayment,
} from './normalize.js';
import { SquareOAuth, locationCanCharge, pickLocation } from './oauth.js';
import { SQUARE_EVENT_TYPES } from './setup.js';
import { DEFAULT_REFRESH_WINDOW_MS, SellerTokens } from './tokens.js';
import { verifySquareSignature } from './webhook-verify.js';

export interface SquareProviderOptions {
  config: SquareConfig;
  grants: GrantStore;
  /**
   * Settle's hold lifetime (SETTLE_HOLD_MINUTES). A payment link never expires at Square, so a link whose order is
   * still DRAFT this long after it was created is reported `expired` (the checkout's hold is over).
   */
  checkoutLifetimeMs: number;
  logger?: Logger;
  now?: () => Date;
  /** The subscription's signature key (SQUARE_WEBHOOK_SIGNATURE_KEY, or the demo's). */
  webhookSignatureKey: string;
  /** The notification URL exactly as subscribed (SQUARE_WEBHOOK_URL): part of every signature. */
  webhookUrl: string;
  /** Refresh a seller's token when it expires within this; default 7 days. */
  refreshWindowMs?: number;
}

/** Square keeps events searchable for 28 days; a search starting earlier is moved up to this (with a margin). */
const EVENTS_RETENTION_MS = 28 * 86_400_000 - 5 * 60_000;
/** Payments of a location scanned, oldest first from the order's creation, to find an order's payments. */
const MAX_PAYMENTS_SCANNED = 1000;
const MAX_EVENT_PAGES = 1000;

/** 404 → null; every other failure is rethrown as is (a 401 must reach SellerTokens.run to refresh). */
async function orNull<T>(fn: () => Promise<T>): Promise<T | null> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof SquareError && err.statusCode === 404) return null;
    throw err;
  }
}

function eventsDisabled(err: unknown): boolean {
  return (
    err instanceof SettleError && err.code === 'provider_error' && /disabled|not enabled/i.test(err.message)
  );
}

/**
 * Square as a PaymentProvider: sellers connect through OAuth (`oauth`); Settle acts on each seller's account with
 * the seller's own token (SellerTokens). A checkout is a payment link at the seller's location whose order carries
 * Settle's order id (`reference_id`) and Settle's app fee; the checkout's session id is the payment link id. Refunds
 * return the app fee in proportion. Webhooks (one platform endpoint for every seller) are verified with HMAC-SHA256
 * over SQUARE_WEBHOOK_URL + the raw body; reconciliation reads the Events API with the application's token.
 */
export class SquareProvider implements PaymentProvider {
  readonly id = 'square' as const;
  readonly livemode: boolean;
  readonly oauth: SquareOAuth;
  private readonly config: SquareConfig;
  private readonly clients: SquareClients;
  private readonly tokens: SellerTokens;
  private readonly lifetimeMs: number;
  private readonly log: Logger;
  private readonly now: () => Date;
  private readonly signatureKey: string;
  private readonly webhookUrl: string;
  private noAppTokenLogged = false;
  private eventsDisabledWarned = false;

  constructor(opts: SquareProviderOptions) {
    const config = opts.config;
    if (!squareConfigured(config))
      throw new Error('SquareProvider: SQUARE_APPLICATION_ID and SQUARE_APPLICATION_SECRET are not set');
    if (opts.webhookSignatureKey === '' || opts.webhookUrl === '')
      throw new Error('SquareProvider: a webhook signature key and notification URL are required');
    this.config = config;
    this.livemode = config.environment === 'production';
    this.lifetimeMs = opts.checkoutLifetimeMs;
    this.log = (opts.logger ?? silentLogger).child({ provider: 'square' });
    this.now = opts.now ?? (() => new Date());
    this.signatureKey = opts.webhookSignatureKey;
    this.webhookUrl = opts.webhookUrl;
    this.clients = new SquareClients(config);
    this.tokens = new SellerTokens({
      config,
      grants: opts.grants,
      clients: this.clients,
      refreshWindowMs: opts.refreshWindowMs ?? DEFAULT_REFRESH_WINDOW_MS,
      now: this.now,
      log: this.log,
    });
    this.oauth = new SquareOAuth({ config, clients: this.clients, tokens: this.tokens, log: this.log });
  }

  // ---------------------------------------------------------------- sellers

  /** Nothing to create: a Square seller's account (merchant) appears when they connect through OAuth. */
  async createSellerAccount(_input: {
    sellerId: string;
    email: string;
    idempotencyKey: string;
  }): Promise<SellerAccountState> {
    return { accountId: null, detailsSubmitted: false, chargesEnabled: false, payoutsEnabled: false };
  }

  async createOnboardingLink(_input: {
    accountId: string | null;
    sellerId: string;
    email: string;
    returnUrl: string;
    refreshUrl: string;
  }): Promise<{ url: string }> {
    throw new SettleError('validation_failed', 'Square sellers connect through OAuth (oauth.authorizeUrl)');
  }

  /** The merchant and its checkout location, read with the seller's token; a revoked grant reads as all false. */
  async retrieveSellerAccount(accountId: string): Promise<SellerAccountState> {
    try {
      return await this.tokens.run(accountId, 'seller.retrieve', async (client, grant) => {
        const merchant = (await client.merchants.get({ merchantId: accountId })).merchant;
        const locations = (await client.locations.list()).locations ?? [];
        const location = locations.find((l) => l.id === grant.locationId) ?? pickLocation(locations);
        const active = merchant?.status === undefined || merchant.status === 'ACTIVE';
        return {
          accountId,
          detailsSubmitted: true,
          chargesEnabled: active && location !== null && locationCanCharge(location),
          payoutsEnabled: active,
        };
      });
    } catch (err) {
      if (err instanceof SettleError && err.code === 'provider_account_revoked')
        return { accountId, detailsSubmitted: false, chargesEnabled: false, payoutsEnabled: false };
      throw err;
    }
  }

  // ---------------------------------------------------------------- checkout

  /**
   * A payment link at the seller's location: one line item (the discounted total when Settle applied a code),
   * `reference_id` = Settle's order id, Settle's fee as `app_fee_money`, the buyer sent back to Settle's return
   * page. The idempotency key is the checkout's (`checkout:<order id>`): a retry replays the same link.
   */
  async createCheckout(input: CreateCheckoutInput): Promise<HostedCheckout> {
    // Square's limits first: nothing is sent for a checkout Square would refuse.
    assertSquareCharge(checkoutTotal(input), input.applicationFee, input.currency);
    const link = await this.tokens.run(input.account.accountId, 'checkout.create', async (client, grant) => {
      if (grant.locationId === null)
        throw new SettleError(
          'seller_not_ready',
          'The seller has no Square location to take payments at; they must connect again.',
        );
      return (await client.checkout.paymentLinks.create(paymentLinkRequest(input, grant.locationId)))
        .paymentLink;
    });
    if (link?.id === undefined || link.url === undefined)
      throw new SettleError('provider_error', 'Square returned a payment link without an id or url');
    this.log.info({ orderId: input.orderId, paymentLinkId: link.id }, 'square payment link created');
    return { sessionId: link.id, url: link.url, expiresAt: input.expiresAt };
  }

  /**
   * Reads the checkout. A link still payable after Settle's hold ended (or whose bank transfer failed) is reported
   * expired (failed), and deleted: a payment link never expires at Square, and a checkout Settle calls over must not
   * take money afterwards (a payment that lands in between is read back as paid and confirmed).
   */
  async retrieveCheckout(sessionId: string, account: AccountContext): Promise<CheckoutState> {
    return this.tokens.run(account.accountId, 'checkout.retrieve', async (client) => {
      const state = await this.readCheckout(client, sessionId, account.accountId);
      if ((state.outcome !== 'expired' && state.outcome !== 'failed') || state.orderId === null) return state;
      const deleted = await orNull(() => client.checkout.paymentLinks.delete({ id: sessionId }));
      if (deleted === null) return state; // already gone (or canceled)
      this.log.info({ paymentLinkId: sessionId, outcome: state.outcome }, 'square payment link deleted');
      const after = await this.readCheckout(client, sessionId, account.accountId);
      // A deleted link reads as gone; a failure stays a failure (the order's history says why).
      return state.outcome === 'failed' && after.outcome === 'expired' ? state : after;
    });
  }

  private async readCheckout(
    client: SquareClient,
    sessionId: string,
    accountId: string,
  ): Promise<CheckoutState> {
    const link =
      (await orNull(() => client.checkout.paymentLinks.get({ id: sessionId })))?.paymentLink ?? null;
    const orderId = link?.orderId;
    const order =
      orderId === undefined ? null : ((await orNull(() => client.orders.get({ orderId })))?.order ?? null);
    const payments = order === null ? [] : await this.paymentsOf(client, order);
    return checkoutState({
      sessionId,
      accountId,
      link,
      order,
      payments,
      nowMs: this.now().getTime(),
      lifetimeMs: this.lifetimeMs,
    });
  }

  /**
   * The payments of a payment link's order. A paid order names its payment in a tender; a pending (bank transfer)
   * or declined payment is not a tender, so the location's payments since the order's creation are scanned for it.
   */
  private async paymentsOf(client: SquareClient, order: Square.Order): Promise<Square.Payment[]> {
    const ids = (order.tenders ?? []).flatMap((t) => (t.paymentId ? [t.paymentId] : []));
    if (ids.length > 0) {
      const got = await Promise.all(ids.map((paymentId) => client.payments.get({ paymentId })));
      return got.flatMap((r) => (r.payment ? [r.payment] : []));
    }
    const out: Square.Payment[] = [];
    const total = order.totalMoney?.amount;
    const page = await client.payments.list({
      locationId: order.locationId,
      ...(order.createdAt !== undefined ? { beginTime: order.createdAt } : {}),
      // Only payments of the order's total (tipping is off, so a payment's total is the order's): few to scan.
      ...(total !== undefined && total !== null ? { total } : {}),
      sortOrder: 'ASC',
      limit: 100,
    });
    let scanned = 0;
    for await (const p of page) {
      if (p.orderId === order.id) out.push(p);
      if (++scanned >= MAX_PAYMENTS_SCANNED) break;
    }
    return out;
  }

  /**
   * Deletes the payment link (Square cancels its DRAFT order). A link already paid, or with a payment in progress,
   * is left alone, and one already gone counts as done. (A buyer paying in the instant between the read and the
   * delete is the one window left; Square offers no conditional delete.)
   */
  async expireCheckout(sessionId: string, account: AccountContext): Promise<void> {
    await this.tokens.run(account.accountId, 'checkout.expire', async (client) => {
      const state = await this.readCheckout(client, sessionId, account.accountId);
      if (state.outcome === 'succeeded' || state.outcome === 'processing') return;
      const deleted = await orNull(() => client.checkout.paymentLinks.delete({ id: sessionId }));
      if (deleted !== null) this.log.info({ paymentLinkId: sessionId }, 'square payment link deleted');
    });
  }

  /**
   * RefundPayment with the seller's token: `amount` of the payment, and the platform's app fee in proportion
   * (floor(fee × refund / payment), read from the payment, so partial refunds never return more than the fee).
   */
  async refund(input: RefundInput): Promise<RefundResult> {
    const refund = await this.tokens.run(input.account.accountId, 'refund', async (client) => {
      const payment = (await client.payments.get({ paymentId: input.paymentId })).payment;
      if (payment === undefined)
        throw new SettleError('provider_error', `Square returned no payment ${input.paymentId}`);
      const gross = fromSquareMoney(payment.amountMoney, 'payment amount').amount;
      const fee = optionalSquareAmount(payment.appFeeMoney, 'app fee');
      const share =
        gross === 0 ? 0 : Math.min(fee, Number((BigInt(fee) * BigInt(input.amount)) / BigInt(gross)));
      const reason = `Refund ${input.refundId}`.slice(0, SQUARE_REASON_MAX);
      return (
        await client.refunds.refundPayment({
          idempotencyKey: squareIdempotencyKey(input.idempotencyKey),
          paymentId: input.paymentId,
          amountMoney: toSquareMoney(input.amount, input.currency, 'The refund amount'),
          ...(share > 0 ? { appFeeMoney: toSquareMoney(share, input.currency, 'The app fee refund') } : {}),
          reason,
        })
      ).refund;
    });
    if (refund?.id === undefined)
      throw new SettleError('provider_error', 'Square returned a refund without an id');
    this.log.info(
      { orderId: input.orderId, refundId: input.refundId, squareRefundId: refund.id, status: refund.status },
      'square refund created',
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
      throw new SettleError('webhook_signature_invalid', 'Square has one webhook endpoint (platform)');
    verifySquareSignature({
      rawBody,
      headers,
      signatureKey: this.signatureKey,
      notificationUrl: this.webhookUrl,
    });
    let parsed: unknown;
    try {
      parsed = JSON.parse(rawBody.toString('utf8')) as unknown;
    } catch {
      throw new SettleError('webhook_payload_invalid', 'Webhook body is not JSON');
    }
    if (!isSquareEvent(parsed))
      throw new SettleError('webhook_payload_invalid', 'Webhook body is not a Square event');
    return this.normalizeEvent(endpoint, parsed);
  }

  async normalizeEvent(endpoint: 'platform' | 'connect', raw: unknown): Promise<VerifiedEvent> {
    if (!isSquareEvent(raw))
      throw new SettleError('webhook_payload_invalid', 'Stored payload is not a Square event');
    const createdMs = Date.parse(raw.created_at);
    if (Number.isNaN(createdMs))
      throw new SettleError(
        'webhook_payload_invalid',
        `Square event ${raw.event_id} has no valid created_at`,
      );
    const parsed = parseSquareEvent(raw);
    const event =
      parsed.kind === 'event' ? parsed.event : await this.paymentEvent(parsed.merchantId, parsed.payment);
    return {
      provider: 'square',
      endpoint,
      eventId: raw.event_id,
      type: raw.type,
      // Square delivers every seller's events to the application's one subscription.
      accountId: null,
      livemode: this.livemode,
      createdAt: new Date(createdMs),
      raw,
      event,
    };
  }

  /**
   * A payment event as a checkout event: the payment's order (read with the merchant's token) carries Settle's
   * order id in `reference_id`. The payment link id is not in the payment: sessionId is '' and core reads the
   * order's own checkout. A payment without an order, of an order Settle did not make, or of a merchant whose
   * grant is gone, is ignored.
   */
  private async paymentEvent(merchantId: string, p: WirePayment): Promise<NormalizedEvent> {
    const orderId = p.orderId;
    if (orderId === null) return { kind: 'ignored' };
    let reference: string | null;
    try {
      const order = await this.tokens.run(merchantId, 'orders.get', (client) =>
        orNull(() => client.orders.get({ orderId })),
      );
      reference = order?.order?.referenceId ?? null;
    } catch (err) {
      if (err instanceof SettleError && err.code === 'provider_account_revoked') return { kind: 'ignored' };
      throw err;
    }
    if (reference === null) return { kind: 'ignored' };
    return {
      kind: 'checkout.completed',
      checkout: {
        provider: 'square',
        sessionId: '',
        orderId: reference,
        accountId: merchantId,
        outcome: paymentOutcome(p.status),
        amountTotal: p.amount,
        currency: p.currency,
        paymentId: p.id,
        applicationFee: p.applicationFee,
        promotionCode: null,
      },
    };
  }

  /**
   * SearchEvents with the application's personal access token (Square's Events API refuses sellers' OAuth tokens;
   * the application sees the events of every seller that authorized it), oldest first, from `since` (at most 28
   * days back). The SDK parses events into camelCase envelopes but leaves `data.object` as wire JSON, so each is
   * turned back into the wire envelope with the SDK's own serializer and normalized like a webhook delivery.
   */
  async *listEvents(input: ListEventsInput): AsyncIterable<VerifiedEvent> {
    if (input.accountId !== null) return;
    const token = this.config.accessToken;
    if (token === null) {
      if (!this.noAppTokenLogged) {
        this.noAppTokenLogged = true;
        this.log.debug('square events not searched: SQUARE_ACCESS_TOKEN is not set');
      }
      return;
    }
    const client = this.clients.forToken(token);
    const earliest = this.now().getTime() - EVENTS_RETENTION_MS;
    const startAt = new Date(Math.max(input.since.getTime(), earliest)).toISOString();
    let cursor: string | undefined;
    for (let pages = 0; pages < MAX_EVENT_PAGES; pages++) {
      let res: Square.SearchEventsResponse;
      try {
        res = await squareCall(
          'events.search',
          () =>
            client.events.searchEvents({
              ...(cursor !== undefined ? { cursor } : {}),
              limit: 100,
              query: {
                filter: { eventTypes: [...SQUARE_EVENT_TYPES], createdAt: { startAt } },
                sort: { field: 'DEFAULT', order: 'ASC' },
              },
            }),
          'application',
        );
      } catch (err) {
        if (!eventsDisabled(err)) throw err;
        if (!this.eventsDisabledWarned) {
          this.eventsDisabledWarned = true;
          this.log.warn(
            'square events search is disabled for the application: enable it (PUT /v2/events/enable)',
          );
        }
        return;
      }
      for (const ev of res.events ?? []) {
        const wire: unknown = serialization.Event.jsonOrThrow(ev, {
          unrecognizedObjectKeys: 'passthrough',
          omitUndefined: true,
        });
        try {
          yield await this.normalizeEvent('platform', wire as SquareWireEvent);
        } catch (err) {
          if (!(err instanceof SettleError && err.code === 'webhook_payload_invalid')) throw err;
          this.log.warn({ eventId: ev.eventId, type: ev.type, error: err.message }, 'square event skipped');
        }
      }
      cursor = res.cursor;
      if (cursor === undefined || cursor === '') return;
    }
  }

  // ---------------------------------------------------------------- promotion codes

  /**
   * Square checkouts carry no promotion codes of Square's: Settle prices the discount (its own copy of the code)
   * and the payment link is created for the discounted total. The id is Settle's marker for the code; an amount off
   * is still checked to be an amount Square can take.
   */
  async ensurePromotionCode(spec: PromotionSpec, _accountId: string | null): Promise<string> {
    if ((spec.percentOff === undefined) === (spec.amountOff === undefined))
      throw new SettleError('validation_failed', 'Give exactly one of percentOff or amountOff.');
    if (spec.amountOff !== undefined) toSquareMoney(spec.amountOff, spec.currency ?? '', 'The amount off');
    return settlePromotionId(spec.code);
  }

  async findPromotionCodeId(code: string, _account: AccountContext): Promise<string | null> {
    return settlePromotionId(code);
  }
}

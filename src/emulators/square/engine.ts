import type { Clock } from '../kit/clock.js';
import { Table } from '../kit/store.js';
import type { Tasks } from '../kit/tasks.js';
import {
  MALFORMED_AUTHORIZATION,
  SquareApiError,
  badRequest,
  forbidden,
  insufficientScopes,
  notEmulated,
  notFound,
  unauthorized,
} from './errors.js';
import {
  newAccessToken,
  newAuthorizationCode,
  newDisputeId,
  newLineItemUid,
  newLocationId,
  newMerchantId,
  newOrderId,
  newPaymentId,
  newPaymentLinkId,
  newRefreshToken,
  newRefundId,
  newShortCode,
  newVersionToken,
} from './ids.js';
import {
  OPEN_DISPUTE_STATES,
  type AccessToken,
  type AuthorizationCode,
  type CardChoice,
  type Dispute,
  type Grant,
  type LineItem,
  type Location,
  type Merchant,
  type Order,
  type Payment,
  type PaymentLink,
  type RefreshToken,
  type Refund,
} from './model.js';
import {
  disputeJson,
  isZeroDecimal,
  longUrl,
  orderJson,
  paymentJson,
  refundJson,
  rfc3339,
  rfc3339Seconds,
  shortUrl,
  type Json,
} from './present.js';
import { SCOPES } from './spec/operations.generated.js';
import { isHttpUrl, isObject, type JsonObject } from './validate.js';

/**
 * The Square emulator's state and business rules: OAuth (authorization codes, access and refresh tokens, scopes,
 * revocation), sellers and their locations, orders created by payment links, the hosted payment page's payments,
 * refunds, disputes; every change emits Square's webhook event through `emit`.
 *
 * Rules and their sources (api.json descriptions unless noted):
 * - `checkout_options.app_fee_money`: at most 90 % of the payment, in the seller's currency, needs the seller's
 *   OAuth token with `PAYMENTS_WRITE_ADDITIONAL_RECIPIENTS` (CheckoutOptions.app_fee_money).
 * - A quick-pay or order checkout creates a `DRAFT` order that becomes `OPEN` once paid, never `COMPLETED`
 *   (https://developer.squareup.com/docs/checkout-api/quick-pay-checkout).
 * - A refund's `amount_money` cannot exceed the payment's `total_money` minus completed refunds (pending ones count
 *   here too); `app_fee_money` cannot exceed `amount_money` and needs an app fee on the payment
 *   (RefundPaymentRequest).
 * - Access tokens expire after 30 days (24 h when `short_lived`), authorization codes after 5 minutes; code-flow
 *   refresh tokens are multi-use and do not expire (https://developer.squareup.com/docs/oauth-api/overview).
 */
export const DEFAULT_SCOPES = [
  'MERCHANT_PROFILE_READ',
  'PAYMENTS_READ',
  'SETTLEMENTS_READ',
  'BANK_ACCOUNTS_READ',
];

/** What `authorizeSeller()` grants when no scopes are given: what a marketplace taking app fees asks for. */
export const MARKETPLACE_SCOPES = [
  'MERCHANT_PROFILE_READ',
  'PAYMENTS_READ',
  'PAYMENTS_WRITE',
  'PAYMENTS_WRITE_ADDITIONAL_RECIPIENTS',
  'ORDERS_READ',
  'ORDERS_WRITE',
  'DISPUTES_READ',
];

export const ACCESS_TOKEN_TTL_MS = 30 * 24 * 3600_000;
export const SHORT_LIVED_TTL_MS = 24 * 3600_000;
export const CODE_TTL_MS = 5 * 60_000;
const DAY = 24 * 3600_000;

/** Country → currency, timezone and the smallest payment (Square: 1 in US/CA, 100 in AU/JP/GB). */
export const COUNTRIES: Readonly<Record<string, { currency: string; timezone: string; minimum: number }>> = {
  US: { currency: 'USD', timezone: 'America/Los_Angeles', minimum: 1 },
  CA: { currency: 'CAD', timezone: 'America/Toronto', minimum: 1 },
  GB: { currency: 'GBP', timezone: 'Europe/London', minimum: 100 },
  AU: { currency: 'AUD', timezone: 'Australia/Sydney', minimum: 100 },
  JP: { currency: 'JPY', timezone: 'Asia/Tokyo', minimum: 100 },
  IE: { currency: 'EUR', timezone: 'Europe/Dublin', minimum: 1 },
  FR: { currency: 'EUR', timezone: 'Europe/Paris', minimum: 1 },
  ES: { currency: 'EUR', timezone: 'Europe/Madrid', minimum: 1 },
};

/** Who the request acts for. */
export type Auth =
  { kind: 'token'; token: AccessToken; merchant: Merchant } | { kind: 'client' } | { kind: 'none' };

export interface EngineOptions {
  applicationId: string;
  applicationSecret: string;
  applicationName: string;
  personalAccessToken: string;
  publicUrl: () => string;
  /** The redirect URL set on the application's OAuth page; null until set. */
  redirectUrl: string | null;
  /** Clock ms (scaled) before a PENDING refund completes; null: only `completePendingRefund`. */
  refundDelayMs: number | null;
  developerCountry: string;
}

export interface EmittedEvent {
  type: string;
  merchantId: string;
  locationId: string | null;
  data: Json;
}

function text(v: unknown): string | null {
  return typeof v === 'string' ? v : null;
}

function moneyOf(v: unknown): { amount: number; currency: string | null } | null {
  if (!isObject(v)) return null;
  const amount = typeof v['amount'] === 'number' ? v['amount'] : null;
  if (amount === null) return null;
  return { amount, currency: text(v['currency']) };
}

function stripNulls(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(stripNulls);
  if (isObject(v)) {
    const out: JsonObject = {};
    for (const [k, x] of Object.entries(v)) if (x !== null && x !== undefined) out[k] = stripNulls(x);
    return out;
  }
  return v;
}

export class SquareEngine {
  readonly merchants = new Table<Merchant>();
  readonly locations = new Table<Location>();
  readonly grants = new Map<string, Grant>();
  readonly accessTokens = new Map<string, AccessToken>();
  readonly refreshTokens = new Map<string, RefreshToken>();
  readonly codes = new Map<string, AuthorizationCode>();
  readonly orders = new Table<Order>();
  readonly links = new Table<PaymentLink>();
  readonly payments = new Table<Payment>();
  readonly refunds = new Table<Refund>();
  readonly disputes = new Table<Dispute>();
  readonly developer: Merchant;
  /** Scopes the authorize page and `authorizeSeller` never grant (a seller who unticks them). */
  withheldScopes = new Set<string>();
  redirectUrl: string | null;

  constructor(
    private readonly clock: Clock,
    private readonly tasks: Tasks,
    readonly opts: EngineOptions,
    private readonly emit: (e: EmittedEvent) => void,
  ) {
    this.redirectUrl = opts.redirectUrl;
    this.developer = this.createMerchant(`${opts.applicationName} (developer)`, opts.developerCountry, true);
    this.accessTokens.set(opts.personalAccessToken, {
      token: opts.personalAccessToken,
      merchantId: this.developer.id,
      scopes: [...SCOPES],
      expiresAt: null,
      revoked: false,
      shortLived: false,
      kind: 'personal',
    });
  }

  // ---- sellers ----

  createMerchant(businessName: string, country: string, developer = false): Merchant {
    const c = COUNTRIES[country];
    if (!c) throw new Error(`Unsupported country ${country} (one of ${Object.keys(COUNTRIES).join(', ')})`);
    const now = this.clock.now();
    const id = newMerchantId();
    const loc: Location = {
      id: newLocationId(),
      merchantId: id,
      name: businessName,
      createdAt: now,
      country,
      currency: c.currency,
      timezone: c.timezone,
    };
    const m: Merchant = {
      id,
      businessName,
      country,
      currency: c.currency,
      languageCode: country === 'JP' ? 'ja-JP' : country === 'FR' ? 'fr-FR' : 'en-US',
      createdAt: now,
      mainLocationId: loc.id,
      locationIds: [loc.id],
      developer,
    };
    this.merchants.set(id, m);
    this.locations.set(loc.id, loc);
    return m;
  }

  merchantFor(id: string): Merchant {
    return this.merchants.require(id, () => notFound(`Merchant \`${id}\` not found.`));
  }

  // ---- authentication ----

  /** The bearer token's record; throws Square's 401s (unknown, revoked, expired). */
  authenticate(header: string | null): { token: AccessToken; merchant: Merchant } {
    const m = header ? /^Bearer (\S+)$/.exec(header.trim()) : null;
    if (!m?.[1]) throw unauthorized(MALFORMED_AUTHORIZATION);
    const token = this.accessTokens.get(m[1]);
    if (!token) throw unauthorized();
    if (token.revoked) throw unauthorized('The access token has been revoked.', 'ACCESS_TOKEN_REVOKED');
    if (token.expiresAt !== null && this.clock.now() >= token.expiresAt)
      throw unauthorized('The access token has expired.', 'ACCESS_TOKEN_EXPIRED');
    return { token, merchant: this.merchantFor(token.merchantId) };
  }

  requireScopes(token: AccessToken, scopes: readonly string[]): void {
    const missing = scopes.filter((s) => !token.scopes.includes(s));
    if (missing.length > 0) throw insufficientScopes(missing);
  }

  // ---- OAuth ----

  /** Validates an authorize request (the page's query); answers what the page shows, or throws a message. */
  authorizeRequest(q: Record<string, string>): {
    scopes: string[];
    redirectUri: string;
    state: string | null;
  } {
    if (q['client_id'] !== this.opts.applicationId)
      throw new Error('Invalid client_id: no application has this id.');
    const requested = (q['scope'] ?? '').split(/[\s+]+/).filter((s) => s !== '');
    const scopes = requested.length > 0 ? requested : DEFAULT_SCOPES;
    const unknown = scopes.filter((s) => !SCOPES.includes(s));
    if (unknown.length > 0)
      throw new Error(`Unknown permission${unknown.length > 1 ? 's' : ''}: ${unknown.join(', ')}.`);
    const given = q['redirect_uri'];
    const configured = this.redirectUrl;
    if (given !== undefined && configured !== null && given !== configured)
      throw new Error("redirect_uri does not match the application's redirect URL.");
    const redirectUri = given ?? configured;
    if (!redirectUri) throw new Error('The application has no redirect URL (set it on the emulator).');
    for (const k of Object.keys(q))
      if (!['client_id', 'scope', 'session', 'state', 'locale', 'redirect_uri', 'code_challenge'].includes(k))
        throw new Error(`Unknown parameter: ${k}.`);
    if (q['code_challenge'] !== undefined) throw new Error('PKCE (code_challenge) is not emulated.');
    return { scopes: [...new Set(scopes)], redirectUri, state: q['state'] ?? null };
  }

  /** The seller allows: a merchant (new, or an existing one reconnecting) and a 5-minute authorization code. */
  grant(o: {
    scopes: readonly string[];
    sellerName?: string;
    merchantId?: string;
    country?: string;
    redirectUri: string | null;
  }): { code: string; merchantId: string } {
    let merchant: Merchant;
    if (o.merchantId) {
      merchant = this.merchantFor(o.merchantId);
      if (merchant.developer)
        throw new Error("The developer's own account does not authorize its application.");
    } else {
      merchant = this.createMerchant(
        o.sellerName?.trim() || `Seller ${this.merchants.size}`,
        o.country ?? 'US',
      );
    }
    const scopes = [...new Set(o.scopes)].filter((s) => !this.withheldScopes.has(s));
    const unknown = scopes.filter((s) => !SCOPES.includes(s));
    if (unknown.length > 0) throw new Error(`Unknown permissions: ${unknown.join(', ')}`);
    const code = newAuthorizationCode();
    this.codes.set(code, {
      code,
      merchantId: merchant.id,
      scopes,
      expiresAt: this.clock.now() + CODE_TTL_MS,
      used: false,
      redirectUri: o.redirectUri,
    });
    return { code, merchantId: merchant.id };
  }

  private checkClient(body: JsonObject): void {
    if (body['client_id'] !== this.opts.applicationId) throw unauthorized('Invalid client_id.');
    const secret = text(body['client_secret']);
    if (secret === null)
      throw badRequest(
        'MISSING_REQUIRED_PARAMETER',
        'Field must be set (the PKCE flow is not emulated)',
        'client_secret',
      );
    if (secret !== this.opts.applicationSecret) throw unauthorized('Invalid client_secret.');
  }

  obtainToken(body: JsonObject): Json {
    this.checkClient(body);
    const grantType = text(body['grant_type']);
    const now = this.clock.now();
    const shortLived = body['short_lived'] === true;
    if (grantType === 'authorization_code') {
      const code = text(body['code']);
      if (code === null) throw badRequest('MISSING_REQUIRED_PARAMETER', 'Field must be set', 'code');
      if (body['refresh_token'] !== undefined && body['refresh_token'] !== null)
        throw badRequest(
          'CONFLICTING_PARAMETERS',
          '`refresh_token` cannot be given with grant_type authorization_code.',
          'refresh_token',
        );
      if (body['scopes'] !== undefined && body['scopes'] !== null)
        throw badRequest(
          'CONFLICTING_PARAMETERS',
          '`scopes` applies to grant_type refresh_token only.',
          'scopes',
        );
      const rec = this.codes.get(code);
      if (!rec || rec.used) throw unauthorized('Authorization code not found, or already used.');
      if (now >= rec.expiresAt) throw unauthorized('Authorization code expired.');
      const uri = text(body['redirect_uri']);
      if (uri !== null && uri !== (rec.redirectUri ?? this.redirectUrl))
        throw badRequest(
          'INVALID_VALUE',
          'redirect_uri does not match the one of the authorization request.',
          'redirect_uri',
        );
      rec.used = true;
      this.grants.set(rec.merchantId, {
        merchantId: rec.merchantId,
        scopes: rec.scopes,
        authorizedAt: now,
        revokedAt: null,
      });
      const refresh: RefreshToken = {
        token: newRefreshToken(),
        merchantId: rec.merchantId,
        scopes: rec.scopes,
        revoked: false,
      };
      this.refreshTokens.set(refresh.token, refresh);
      const access = this.issue(rec.merchantId, rec.scopes, shortLived);
      return this.tokenAnswer(access, refresh.token);
    }
    if (grantType === 'refresh_token') {
      const token = text(body['refresh_token']);
      if (token === null)
        throw badRequest('MISSING_REQUIRED_PARAMETER', 'Field must be set', 'refresh_token');
      if (body['code'] !== undefined && body['code'] !== null)
        throw badRequest(
          'CONFLICTING_PARAMETERS',
          '`code` cannot be given with grant_type refresh_token.',
          'code',
        );
      const rec = this.refreshTokens.get(token);
      if (!rec || rec.revoked) throw unauthorized('Refresh token not found, or revoked.');
      let scopes = rec.scopes;
      if (Array.isArray(body['scopes'])) {
        const asked = body['scopes'].filter((s): s is string => typeof s === 'string');
        const extra = asked.filter((s) => !rec.scopes.includes(s));
        if (extra.length > 0)
          throw badRequest(
            'INVALID_VALUE',
            `Scopes not granted by the seller: ${extra.join(', ')}.`,
            'scopes',
          );
        scopes = asked;
      }
      const access = this.issue(rec.merchantId, scopes, shortLived);
      return this.tokenAnswer(access, rec.token);
    }
    if (grantType === 'migration_token') throw notEmulated('grant_type `migration_token`', 'grant_type');
    throw badRequest(
      'INVALID_VALUE',
      'grant_type must be authorization_code or refresh_token.',
      'grant_type',
    );
  }

  private issue(merchantId: string, scopes: string[], shortLived: boolean): AccessToken {
    const t: AccessToken = {
      token: newAccessToken(),
      merchantId,
      scopes: [...scopes],
      expiresAt: this.clock.now() + (shortLived ? SHORT_LIVED_TTL_MS : ACCESS_TOKEN_TTL_MS),
      revoked: false,
      shortLived,
      kind: 'oauth',
    };
    this.accessTokens.set(t.token, t);
    return t;
  }

  private tokenAnswer(t: AccessToken, refreshToken: string): Json {
    return {
      access_token: t.token,
      token_type: 'bearer',
      expires_at: rfc3339Seconds(t.expiresAt ?? 0),
      merchant_id: t.merchantId,
      refresh_token: refreshToken,
      short_lived: t.shortLived,
    };
  }

  /** RevokeToken (`Authorization: Client <secret>` checked by the server). */
  revokeToken(body: JsonObject): Json {
    if (body['client_id'] !== this.opts.applicationId) throw unauthorized('Invalid client_id.');
    const accessToken = text(body['access_token']);
    const merchantId = text(body['merchant_id']);
    if (accessToken !== null && merchantId !== null)
      throw badRequest('CONFLICTING_PARAMETERS', 'Give either access_token or merchant_id, not both.');
    let merchant: string;
    if (accessToken !== null) {
      const t = this.accessTokens.get(accessToken);
      if (!t || t.kind !== 'oauth') throw notFound('Access token not found.', 'access_token');
      merchant = t.merchantId;
      if (body['revoke_only_access_token'] === true) {
        t.revoked = true;
        return { success: true };
      }
    } else if (merchantId !== null) {
      if (!this.grants.has(merchantId))
        throw notFound('No authorization of this application by that merchant.', 'merchant_id');
      merchant = merchantId;
      if (body['revoke_only_access_token'] === true)
        throw badRequest(
          'CONFLICTING_PARAMETERS',
          'revoke_only_access_token needs access_token.',
          'revoke_only_access_token',
        );
    } else {
      throw badRequest(
        'MISSING_REQUIRED_PARAMETER',
        'Either access_token or merchant_id must be set.',
        'access_token',
      );
    }
    this.revokeMerchant(merchant, 'APPLICATION');
    return { success: true };
  }

  /** Revokes every token of the merchant's authorization; emits `oauth.authorization.revoked`. */
  revokeMerchant(merchantId: string, revoker: 'APPLICATION' | 'MERCHANT' | 'SQUARE'): void {
    const grant = this.grants.get(merchantId);
    if (!grant) throw notFound(`Merchant \`${merchantId}\` has not authorized the application.`);
    const now = this.clock.now();
    grant.revokedAt = now;
    for (const t of this.accessTokens.values())
      if (t.merchantId === merchantId && t.kind === 'oauth') t.revoked = true;
    for (const r of this.refreshTokens.values()) if (r.merchantId === merchantId) r.revoked = true;
    this.emit({
      type: 'oauth.authorization.revoked',
      merchantId,
      locationId: null,
      data: {
        type: 'revocation',
        id: '',
        object: { revocation: { revoked_at: rfc3339(now), revoker_type: revoker } },
      },
    });
  }

  tokenStatus(t: AccessToken): Json {
    return {
      scopes: [...t.scopes],
      ...(t.expiresAt !== null ? { expires_at: rfc3339Seconds(t.expiresAt) } : {}),
      client_id: this.opts.applicationId,
      merchant_id: t.merchantId,
    };
  }

  /** Whether the merchant's events reach the application (its developer account, or an active authorization). */
  grantedScopes(merchantId: string): readonly string[] | null {
    if (merchantId === this.developer.id) return SCOPES;
    const g = this.grants.get(merchantId);
    return g ? g.scopes : null;
  }

  // ---- orders and payment links ----

  private requireLocation(merchant: Merchant, id: string, field: string): Location {
    const loc = this.locations.get(id);
    if (!loc || loc.merchantId !== merchant.id) throw notFound(`Location \`${id}\` not found.`, field);
    return loc;
  }

  createPaymentLink(
    auth: { token: AccessToken; merchant: Merchant },
    body: JsonObject,
  ): { link: PaymentLink; order: Order } {
    const { merchant, token } = auth;
    const quick = isObject(body['quick_pay']) ? body['quick_pay'] : null;
    const order = isObject(body['order']) ? body['order'] : null;
    if (quick && order)
      throw badRequest('CONFLICTING_PARAMETERS', 'Only one of quick_pay or order can be set.');
    if (!quick && !order)
      throw badRequest('MISSING_REQUIRED_PARAMETER', 'One of quick_pay or order must be set.', 'quick_pay');
    const field = quick ? 'quick_pay' : 'order';
    const locationId = text((quick ?? order ?? {})['location_id']) ?? '';
    const location = this.requireLocation(merchant, locationId, `${field}.location_id`);
    const currency = location.currency;
    const items: LineItem[] = [];
    if (quick) {
      const price = moneyOf(quick['price_money']);
      if (!price)
        throw badRequest('MISSING_REQUIRED_PARAMETER', 'Field must be set', 'quick_pay.price_money.amount');
      this.checkCurrency(price.currency, currency, 'quick_pay.price_money.currency');
      items.push({
        uid: newLineItemUid(),
        name: text(quick['name']) ?? '',
        quantity: '1',
        note: null,
        metadata: null,
        basePrice: price.amount,
        total: price.amount,
      });
    } else if (order) {
      const lines = Array.isArray(order['line_items']) ? order['line_items'] : [];
      if (lines.length === 0)
        throw badRequest(
          'MISSING_REQUIRED_PARAMETER',
          'An order checkout needs at least one line item.',
          'order.line_items',
        );
      lines.forEach((raw, i) => {
        const li = isObject(raw) ? raw : {};
        const f = `order.line_items[${i}]`;
        const name = text(li['name']);
        if (name === null || name === '')
          throw badRequest(
            'MISSING_REQUIRED_PARAMETER',
            'Field must be set (ad hoc line items need a name)',
            `${f}.name`,
          );
        const price = moneyOf(li['base_price_money']);
        if (!price)
          throw badRequest(
            'MISSING_REQUIRED_PARAMETER',
            'Field must be set (ad hoc line items need a price)',
            `${f}.base_price_money`,
          );
        if (price.amount < 0)
          throw badRequest('VALUE_TOO_LOW', 'Field must be at least 0', `${f}.base_price_money.amount`);
        this.checkCurrency(price.currency, currency, `${f}.base_price_money.currency`);
        const quantity = text(li['quantity']) ?? '';
        if (!/^\d+(\.\d{1,5})?$/.test(quantity) || Number(quantity) <= 0)
          throw badRequest(
            'INVALID_VALUE',
            'quantity must be a positive decimal number with at most 5 decimal places',
            `${f}.quantity`,
          );
        const metadata = isObject(li['metadata']) ? (li['metadata'] as Record<string, string>) : null;
        items.push({
          uid: text(li['uid']) ?? newLineItemUid(),
          name,
          quantity,
          note: text(li['note']),
          metadata,
          basePrice: price.amount,
          total: Math.round(price.amount * Number(quantity)),
        });
      });
    }
    const total = items.reduce((s, li) => s + li.total, 0);
    const minimum = COUNTRIES[location.country]?.minimum ?? 1;
    if (total < minimum)
      throw badRequest(
        'VALUE_TOO_LOW',
        `The order total must be at least ${minimum} (smallest unit of ${currency}).`,
        quick ? 'quick_pay.price_money.amount' : 'order.line_items',
      );
    const options = isObject(body['checkout_options']) ? body['checkout_options'] : null;
    let appFee: number | null = null;
    let redirectUrl: string | null = null;
    if (options) {
      const fee = moneyOf(options['app_fee_money']);
      if (fee) {
        if (token.kind === 'personal')
          throw badRequest(
            'BAD_REQUEST',
            "app_fee_money can only be set with a seller's OAuth access token, not the application's own.",
            'checkout_options.app_fee_money',
          );
        this.requireScopes(token, ['PAYMENTS_WRITE_ADDITIONAL_RECIPIENTS']);
        this.checkCurrency(fee.currency, currency, 'checkout_options.app_fee_money.currency');
        if (fee.amount < 0)
          throw badRequest(
            'VALUE_TOO_LOW',
            'Field must be at least 0',
            'checkout_options.app_fee_money.amount',
          );
        if (fee.amount > Math.floor(total * 0.9))
          throw badRequest(
            'INVALID_FEES',
            `app_fee_money cannot be more than 90% of the total amount of the payment (${total}).`,
            'checkout_options.app_fee_money.amount',
          );
        appFee = fee.amount;
      }
      redirectUrl = text(options['redirect_url']);
      if (redirectUrl !== null) {
        if (!isHttpUrl(redirectUrl))
          throw badRequest(
            'INVALID_VALUE',
            'redirect_url must be an absolute http(s) URL.',
            'checkout_options.redirect_url',
          );
      }
    }
    const pre = isObject(body['pre_populated_data']) ? body['pre_populated_data'] : null;
    const email = pre ? text(pre['buyer_email']) : null;
    if (email !== null && !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(email))
      throw badRequest('INVALID_EMAIL_ADDRESS', 'Invalid email address.', 'pre_populated_data.buyer_email');
    const phone = pre ? text(pre['buyer_phone_number']) : null;
    if (phone !== null && !/^\+?[0-9 ()-]{5,17}$/.test(phone))
      throw badRequest(
        'INVALID_PHONE_NUMBER',
        'Invalid phone number.',
        'pre_populated_data.buyer_phone_number',
      );
    const now = this.clock.now();
    const o: Order = {
      id: newOrderId(),
      merchantId: merchant.id,
      locationId: location.id,
      referenceId: order ? text(order['reference_id']) : null,
      metadata: order && isObject(order['metadata']) ? (order['metadata'] as Record<string, string>) : null,
      lineItems: items,
      currency,
      total,
      state: 'DRAFT',
      version: 1,
      createdAt: now,
      updatedAt: now,
      closedAt: null,
      tenderPaymentId: null,
      paymentLinkId: null,
    };
    const link: PaymentLink = {
      id: newPaymentLinkId(),
      merchantId: merchant.id,
      version: 1,
      description: text(body['description']),
      orderId: o.id,
      checkoutOptions: options ? (stripNulls(options) as Record<string, unknown>) : null,
      prePopulatedData: pre ? (stripNulls(pre) as Record<string, unknown>) : null,
      paymentNote: text(body['payment_note']),
      shortCode: newShortCode(),
      createdAt: now,
      updatedAt: null,
      appFee,
      redirectUrl,
      deleted: false,
    };
    o.paymentLinkId = link.id;
    this.orders.set(o.id, o);
    this.links.set(link.id, link);
    this.emitOrder('order.created', o);
    return { link, order: o };
  }

  private checkCurrency(given: string | null, expected: string, field: string): void {
    if (given === null) throw badRequest('MISSING_REQUIRED_PARAMETER', 'Field must be set', field);
    if (given !== expected)
      throw badRequest(
        'CURRENCY_MISMATCH',
        `The currency must be the seller's location currency, ${expected}.`,
        field,
      );
  }

  orderFor(merchant: Merchant, id: string): Order {
    const o = this.orders.get(id);
    if (!o || o.merchantId !== merchant.id) throw notFound(`Order \`${id}\` not found.`);
    return o;
  }

  linkFor(merchant: Merchant, id: string): PaymentLink {
    const l = this.links.get(id);
    if (!l || l.merchantId !== merchant.id || l.deleted) throw notFound(`Payment link \`${id}\` not found.`);
    return l;
  }

  deleteLink(merchant: Merchant, id: string): Json {
    const l = this.linkFor(merchant, id);
    l.deleted = true;
    const o = this.orders.get(l.orderId);
    if (o && o.state === 'DRAFT') {
      this.touchOrder(o, 'CANCELED');
      return { id: l.id, cancelled_order_id: o.id };
    }
    return { id: l.id };
  }

  private touchOrder(o: Order, state: Order['state']): void {
    const now = this.clock.now();
    o.state = state;
    o.version += 1;
    o.updatedAt = now;
    if (state === 'CANCELED' || state === 'COMPLETED') o.closedAt = now;
    this.emitOrder('order.updated', o);
  }

  orderJson(o: Order): Json {
    return orderJson(
      o,
      o.tenderPaymentId ? (this.payments.get(o.tenderPaymentId) ?? null) : null,
      this.opts.applicationName,
    );
  }

  // ---- the hosted payment page ----

  /** The link a page URL names: a short code (`/u/:code`), a link id, or (for tests) the order id. */
  findLink(ref: string): PaymentLink | undefined {
    const byId = this.links.get(ref);
    if (byId) return byId;
    for (const l of this.links.values()) if (l.shortCode === ref || l.orderId === ref) return l;
    return undefined;
  }

  /**
   * The buyer pays on the hosted page. `ok`: a card payment COMPLETED at once (payment.created APPROVED, then
   * payment.updated COMPLETED, order.updated OPEN). `pending`: an ACH bank transfer, PENDING until
   * `completePendingPayment`. `declined`: a FAILED payment (GENERIC_DECLINE); the link can be paid again.
   */
  pay(
    linkRef: string,
    card: CardChoice,
    buyerEmail: string | null,
  ): { payment: Payment; redirect: string | null } {
    const link = this.findLink(linkRef);
    if (!link || link.deleted)
      throw new PageError(404, 'This payment link does not exist or was deactivated.');
    const order = this.orders.get(link.orderId);
    if (!order) throw new PageError(404, 'The order of this link is gone.');
    if (order.state !== 'DRAFT') throw new PageError(409, 'This order has already been paid.');
    if (this.pendingPaymentOf(order))
      throw new PageError(409, 'A payment for this order is already being processed.');
    const now = this.clock.now();
    const p: Payment = {
      id: newPaymentId(),
      merchantId: order.merchantId,
      locationId: order.locationId,
      orderId: order.id,
      paymentLinkId: link.id,
      amount: order.total,
      currency: order.currency,
      appFee: link.appFee,
      status: card === 'declined' ? 'FAILED' : card === 'pending' ? 'PENDING' : 'APPROVED',
      sourceType: card === 'pending' ? 'BANK_ACCOUNT' : 'CARD',
      cardStatus: card === 'declined' ? 'FAILED' : card === 'pending' ? null : 'AUTHORIZED',
      declineCode: card === 'declined' ? 'GENERIC_DECLINE' : null,
      createdAt: now,
      updatedAt: now,
      completedAt: null,
      versionToken: newVersionToken(),
      refundIds: [],
      refunded: 0,
      buyerEmail: buyerEmail ?? text(link.prePopulatedData?.['buyer_email']),
      note: link.paymentNote,
      processingFee: null,
    };
    this.payments.set(p.id, p);
    this.emitPayment('payment.created', p);
    if (card === 'declined') return { payment: p, redirect: null };
    if (card === 'ok') this.completePayment(p);
    return { payment: p, redirect: this.redirectFor(link, order) };
  }

  private pendingPaymentOf(order: Order): Payment | undefined {
    for (const p of this.payments.values())
      if (p.orderId === order.id && (p.status === 'PENDING' || p.status === 'APPROVED')) return p;
    return undefined;
  }

  /** `redirect_url` with Square's query parameters (Checkout: checkoutId, orderId, referenceId, transactionId). */
  redirectFor(link: PaymentLink, order: Order): string | null {
    if (!link.redirectUrl) return null;
    const u = new URL(link.redirectUrl);
    u.searchParams.set('checkoutId', link.id);
    u.searchParams.set('orderId', order.id);
    if (order.referenceId !== null) u.searchParams.set('referenceId', order.referenceId);
    u.searchParams.set('transactionId', order.id);
    return u.toString();
  }

  private completePayment(p: Payment): void {
    const now = this.clock.now();
    p.status = 'COMPLETED';
    if (p.sourceType === 'CARD') p.cardStatus = 'CAPTURED';
    p.completedAt = now;
    p.updatedAt = now;
    p.versionToken = newVersionToken();
    p.processingFee = isZeroDecimal(p.currency)
      ? Math.round(p.amount * 0.036)
      : Math.round(p.amount * 0.029) + 30;
    this.emitPayment('payment.updated', p);
    const order = this.orders.get(p.orderId);
    if (order && order.state === 'DRAFT') {
      order.tenderPaymentId = p.id;
      this.touchOrder(order, 'OPEN');
    }
  }

  completePendingPayment(paymentId: string, outcome: 'COMPLETED' | 'FAILED'): Payment {
    const p = this.payments.get(paymentId);
    if (!p) throw new Error(`No such payment: ${paymentId}`);
    if (p.status !== 'PENDING' && p.status !== 'APPROVED')
      throw new Error(`Payment ${paymentId} is ${p.status}, not PENDING or APPROVED`);
    if (outcome === 'COMPLETED') {
      this.completePayment(p);
      return p;
    }
    const now = this.clock.now();
    p.status = 'FAILED';
    if (p.sourceType === 'CARD') p.cardStatus = 'FAILED';
    p.updatedAt = now;
    p.versionToken = newVersionToken();
    this.emitPayment('payment.updated', p);
    return p;
  }

  paymentFor(merchant: Merchant, id: string): Payment {
    const p = this.payments.get(id);
    if (!p || p.merchantId !== merchant.id) throw notFound(`Could not find payment with id: ${id}`);
    return p;
  }

  paymentJson(p: Payment): Json {
    return paymentJson(p, this.opts.applicationId, this.opts.publicUrl());
  }

  // ---- refunds ----

  refundPayment(auth: { token: AccessToken; merchant: Merchant }, body: JsonObject): Refund {
    const paymentId = text(body['payment_id']);
    if (paymentId === null)
      throw badRequest(
        'MISSING_REQUIRED_PARAMETER',
        'Field must be set (unlinked refunds are not emulated)',
        'payment_id',
      );
    const p = this.paymentFor(auth.merchant, paymentId);
    const amount = moneyOf(body['amount_money']);
    if (!amount) throw badRequest('MISSING_REQUIRED_PARAMETER', 'Field must be set', 'amount_money.amount');
    this.checkCurrency(amount.currency, p.currency, 'amount_money.currency');
    if (amount.amount <= 0)
      throw badRequest('VALUE_TOO_LOW', 'Field must be at least 1', 'amount_money.amount');
    const token = text(body['payment_version_token']);
    if (token !== null && token !== p.versionToken)
      throw badRequest(
        'VERSION_MISMATCH',
        "payment_version_token does not match the payment's current version_token.",
        'payment_version_token',
      );
    if (p.status === 'APPROVED')
      throw badRequest(
        'REFUND_ERROR_PAYMENT_NEEDS_COMPLETION',
        'The payment is approved and must be completed before it can be refunded.',
        'payment_id',
      );
    if (p.status !== 'COMPLETED')
      throw badRequest(
        'PAYMENT_NOT_REFUNDABLE',
        `The payment is ${p.status} and cannot be refunded.`,
        'payment_id',
      );
    for (const d of this.disputes.values())
      if (d.paymentId === p.id && OPEN_DISPUTE_STATES.includes(d.state))
        throw badRequest(
          'PAYMENT_NOT_REFUNDABLE_DUE_TO_DISPUTE',
          'The payment is disputed and cannot be refunded.',
          'payment_id',
        );
    const active = [...this.refunds.values()].filter(
      (r) => r.paymentId === p.id && (r.status === 'PENDING' || r.status === 'COMPLETED'),
    );
    const remaining = p.amount - active.reduce((s, r) => s + r.amount, 0);
    if (amount.amount > remaining)
      throw badRequest(
        'REFUND_AMOUNT_INVALID',
        `The requested refund amount exceeds the amount available to refund (${remaining}).`,
        'amount_money.amount',
      );
    const fee = moneyOf(body['app_fee_money']);
    if (fee) {
      this.requireScopes(auth.token, ['PAYMENTS_WRITE_ADDITIONAL_RECIPIENTS']);
      this.checkCurrency(fee.currency, p.currency, 'app_fee_money.currency');
      if (p.appFee === null)
        throw badRequest(
          'INVALID_FEES',
          'app_fee_money can be refunded only from a payment that took an app fee.',
          'app_fee_money',
        );
      if (fee.amount < 0)
        throw badRequest('VALUE_TOO_LOW', 'Field must be at least 0', 'app_fee_money.amount');
      if (fee.amount > amount.amount)
        throw badRequest(
          'VALUE_TOO_HIGH',
          'app_fee_money cannot be more than amount_money.',
          'app_fee_money.amount',
        );
      const feeRemaining = p.appFee - active.reduce((s, r) => s + (r.appFee ?? 0), 0);
      if (fee.amount > feeRemaining)
        throw badRequest(
          'VALUE_TOO_HIGH',
          `app_fee_money exceeds what remains of the payment's app fee (${feeRemaining}).`,
          'app_fee_money.amount',
        );
    }
    const now = this.clock.now();
    const r: Refund = {
      id: newRefundId(p.id),
      merchantId: p.merchantId,
      paymentId: p.id,
      orderId: p.orderId,
      locationId: p.locationId,
      amount: amount.amount,
      appFee: fee ? fee.amount : null,
      currency: p.currency,
      status: 'PENDING',
      reason: text(body['reason']),
      createdAt: now,
      updatedAt: now,
    };
    this.refunds.set(r.id, r);
    p.refundIds.push(r.id);
    p.updatedAt = now;
    p.versionToken = newVersionToken();
    this.emitRefund('refund.created', r);
    this.emitPayment('payment.updated', p);
    if (this.opts.refundDelayMs !== null)
      this.tasks.later(this.clock.scaled(this.opts.refundDelayMs), () => {
        if (r.status === 'PENDING') this.completeRefund(r.id, 'COMPLETED');
      });
    return r;
  }

  completeRefund(id: string, outcome: 'COMPLETED' | 'FAILED' | 'REJECTED'): Refund {
    const r = this.refunds.get(id);
    if (!r) throw new Error(`No such refund: ${id}`);
    if (r.status !== 'PENDING') throw new Error(`Refund ${id} is ${r.status}, not PENDING`);
    const now = this.clock.now();
    r.status = outcome;
    r.updatedAt = now;
    this.emitRefund('refund.updated', r);
    if (outcome === 'COMPLETED') {
      const p = this.payments.get(r.paymentId);
      if (p) {
        p.refunded += r.amount;
        p.updatedAt = now;
        p.versionToken = newVersionToken();
        this.emitPayment('payment.updated', p);
      }
    }
    return r;
  }

  refundFor(merchant: Merchant, id: string): Refund {
    const r = this.refunds.get(id);
    if (!r || r.merchantId !== merchant.id) throw notFound(`Could not find refund with id: ${id}`);
    return r;
  }

  // ---- disputes ----

  openDispute(paymentId: string, o: { reason?: string; amount?: number } = {}): Dispute {
    const p = this.payments.get(paymentId);
    if (!p) throw new Error(`No such payment: ${paymentId}`);
    if (p.status !== 'COMPLETED')
      throw new Error(`Payment ${paymentId} is ${p.status}; only COMPLETED payments are disputed`);
    const now = this.clock.now();
    const d: Dispute = {
      id: newDisputeId(),
      merchantId: p.merchantId,
      paymentId: p.id,
      locationId: p.locationId,
      amount: o.amount ?? p.amount - p.refunded,
      currency: p.currency,
      reason: o.reason ?? 'NO_KNOWLEDGE',
      state: 'EVIDENCE_REQUIRED',
      dueAt: now + 7 * DAY,
      createdAt: now,
      updatedAt: now,
      reportedAt: now,
      version: 1,
      brandDisputeId: newShortCode(),
    };
    this.disputes.set(d.id, d);
    this.emitDispute('dispute.created', d);
    return d;
  }

  resolveDispute(id: string, outcome: 'WON' | 'LOST' | 'ACCEPTED'): Dispute {
    const d = this.disputes.get(id);
    if (!d) throw new Error(`No such dispute: ${id}`);
    if (!OPEN_DISPUTE_STATES.includes(d.state)) throw new Error(`Dispute ${id} is already ${d.state}`);
    d.state = outcome;
    d.version += 1;
    d.updatedAt = this.clock.now();
    this.emitDispute('dispute.state.updated', d);
    return d;
  }

  disputeFor(merchant: Merchant, id: string): Dispute {
    const d = this.disputes.get(id);
    if (!d || d.merchantId !== merchant.id) throw notFound(`Could not find dispute with id: ${id}`);
    return d;
  }

  // ---- events ----

  private emitPayment(type: string, p: Payment): void {
    this.emit({
      type,
      merchantId: p.merchantId,
      locationId: null,
      data: { type: 'payment', id: p.id, object: { payment: this.paymentJson(p) } },
    });
  }

  private emitRefund(type: string, r: Refund): void {
    this.emit({
      type,
      merchantId: r.merchantId,
      locationId: null,
      data: { type: 'refund', id: r.id, object: { refund: refundJson(r) } },
    });
  }

  private emitOrder(type: 'order.created' | 'order.updated', o: Order): void {
    const key = type === 'order.created' ? 'order_created' : 'order_updated';
    this.emit({
      type,
      merchantId: o.merchantId,
      locationId: null,
      data: {
        type: key,
        id: o.id,
        object: {
          [key]: {
            order_id: o.id,
            version: o.version,
            location_id: o.locationId,
            state: o.state,
            created_at: rfc3339(o.createdAt),
            ...(type === 'order.updated' ? { updated_at: rfc3339(o.updatedAt) } : {}),
          },
        },
      },
    });
  }

  private emitDispute(type: string, d: Dispute): void {
    this.emit({
      type,
      merchantId: d.merchantId,
      locationId: d.locationId,
      data: { type: 'dispute', id: d.id, object: { object: disputeJson(d) } },
    });
  }

  pageUrls(l: PaymentLink): { url: string; longUrl: string } {
    return { url: shortUrl(l, this.opts.publicUrl()), longUrl: longUrl(l, this.opts.publicUrl()) };
  }
}

/** An error shown on a hosted page (not the API's JSON). */
export class PageError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export { SquareApiError, forbidden };

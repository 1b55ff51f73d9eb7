import type { Clock } from '../kit/clock.js';
import { Table } from '../kit/store.js';
import { PayPalApiError, unprocessable, v1Error, v2Error } from './errors.js';
import { newAccountId, newCaptureId, newDisputeId, newOrderId, newReferralId, newRefundId } from './ids.js';
import type {
  Buyer,
  CaptureRecord,
  DisputeRecord,
  ExperienceRecord,
  MerchantRecord,
  OrderRecord,
  PayerRecord,
  ReferralRecord,
  RefundRecord,
  UnitRecord,
} from './model.js';
import {
  displayAmount,
  formatAmount,
  parseAmount,
  paypalFee,
  proportion,
  type AmountProblem,
} from './money.js';
import { captureJson, disputeJson, orderJson, refundJson, type PresentContext } from './present.js';

/**
 * The PayPal emulator's state machines, free of HTTP: orders (CREATED / PAYER_ACTION_REQUIRED → APPROVED →
 * COMPLETED, or VOIDED), captures (COMPLETED, PENDING → COMPLETED | DECLINED, DECLINED, PARTIALLY_REFUNDED,
 * REFUNDED), refunds, partner referrals and sellers, disputes. Request bodies reach it already checked against
 * PayPal's schema (`validate.ts`); it enforces PayPal's business rules and answers PayPal's errors.
 */

export interface EngineSettings {
  /** An order nobody approves is voided after this long (clock ms, scaled by timeScale); default 3 h. */
  orderExpiryMs: number;
  /**
   * An approved order that is not captured within this long is voided and CHECKOUT.PAYMENT-APPROVAL.REVERSED fires
   * (PayPal: "the default is 3 hours"); clock ms, scaled by timeScale.
   */
  approvalWindowMs: number;
  /** Refunds are refused (REFUND_TIME_LIMIT_EXCEEDED) after this long; default 180 days (clock ms, not scaled). */
  refundWindowMs: number;
}

export const DEFAULT_ENGINE_SETTINGS: EngineSettings = {
  orderExpiryMs: 3 * 3600_000,
  approvalWindowMs: 3 * 3600_000,
  refundWindowMs: 180 * 86_400_000,
};

export interface EmittedEvent {
  type: string;
  resourceType: string;
  resourceVersion: string;
  summary: string;
  resource: Record<string, unknown>;
  merchantId: string | null;
  relatedIds: string[];
}

export type Emit = (event: EmittedEvent) => void;

type Json = Record<string, unknown>;

function obj(v: unknown): Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Json) : {};
}

function optStr(v: unknown): string | null {
  return typeof v === 'string' ? v : null;
}

function unitField(referenceId: string, rest: string): string {
  return `/purchase_units/@reference_id=='${referenceId}'/${rest}`;
}

/** Buyer names of the approval page's test buyers. */
const BUYER_NAMES: Readonly<Record<Buyer, readonly [string, string]>> = {
  normal: ['John', 'Doe'],
  declined: ['Dee', 'Klined'],
  pending: ['Eve', 'Check'],
  instrument_declined: ['Ivan', 'Strument'],
};

export class PayPalEngine {
  readonly orders = new Table<OrderRecord>();
  readonly captures = new Table<CaptureRecord>();
  readonly refunds = new Table<RefundRecord>();
  readonly merchants = new Table<MerchantRecord>();
  readonly referrals = new Table<ReferralRecord>();
  readonly disputes = new Table<DisputeRecord>();
  readonly partnerEmail: string;
  /** Status of the next API refund (one-shot, then back to COMPLETED): a test's way to get PENDING or FAILED refunds. */
  nextRefundStatus: 'COMPLETED' | 'PENDING' | 'FAILED' = 'COMPLETED';

  constructor(
    private readonly clock: Clock,
    readonly ctx: PresentContext,
    readonly settings: EngineSettings,
    private readonly emit: Emit,
  ) {
    this.partnerEmail = `partner-${ctx.partnerMerchantId.toLowerCase()}@business.example.com`;
  }

  // ---- Orders ----

  private requireOrder(op: string, id: string): OrderRecord {
    const o = this.orders.get(id);
    if (!o)
      throw v2Error(404, op, [
        { field: 'order_id', value: id, location: 'path', issue: 'INVALID_RESOURCE_ID' },
      ]);
    return o;
  }

  getOrder(id: string): OrderRecord {
    return this.requireOrder('orders.get', id);
  }

  private amountError(op: string, problem: AmountProblem, field: string, value: string): PayPalApiError {
    return unprocessable(op, problem, { field, value, location: 'body' });
  }

  /** `POST /v2/checkout/orders` (body already schema-checked). */
  createOrder(
    body: Json,
    meta: { clientId: string; partnerAttributionId: string | null; clientMetadataId: string | null },
  ): OrderRecord {
    const op = 'orders.create';
    if (body['intent'] !== 'CAPTURE')
      throw v2Error(400, op, [
        {
          field: '/intent',
          value: String(body['intent']),
          location: 'body',
          issue: 'NOT_SUPPORTED',
          description:
            'This field is not currently supported. (Emulator: only intent CAPTURE is implemented; AUTHORIZE is not.)',
        },
      ]);
    const experience = this.experienceOf(body);
    const rawUnits = Array.isArray(body['purchase_units']) ? body['purchase_units'].map(obj) : [];
    const multiple = rawUnits.length > 1;
    const seenRefs = new Set<string>();
    let orderCurrency: string | null = null;
    const units: UnitRecord[] = rawUnits.map((u, i) => {
      const given = optStr(u['reference_id']);
      if (multiple && given === null)
        throw unprocessable(op, 'REFERENCE_ID_REQUIRED', {
          field: `/purchase_units/${i}/reference_id`,
          location: 'body',
        });
      const referenceId = given ?? 'default';
      if (seenRefs.has(referenceId))
        throw unprocessable(op, 'DUPLICATE_REFERENCE_ID', {
          field: `/purchase_units/${i}/reference_id`,
          value: referenceId,
          location: 'body',
        });
      seenRefs.add(referenceId);
      const amount = obj(u['amount']);
      const currency = String(amount['currency_code']);
      const value = String(amount['value']);
      if (orderCurrency !== null && currency !== orderCurrency)
        throw unprocessable(op, 'MULTI_CURRENCY_ORDER', {
          field: unitField(referenceId, 'amount/currency_code'),
          value: currency,
          location: 'body',
        });
      orderCurrency = currency;
      const parsed = parseAmount(currency, value, {
        allowZero: false,
        zeroDecimalIssue: 'DECIMAL_PRECISION',
      });
      if (!parsed.ok)
        throw parsed.problem === 'INVALID_CURRENCY_CODE'
          ? this.amountError(op, parsed.problem, unitField(referenceId, 'amount/currency_code'), currency)
          : this.amountError(op, parsed.problem, unitField(referenceId, 'amount/value'), value);
      const payee = this.payeeOf(op, referenceId, obj(u['payee']));
      const instruction = obj(u['payment_instruction']);
      if (instruction['disbursement_mode'] === 'DELAYED')
        throw v2Error(400, op, [
          {
            field: `/purchase_units/${i}/payment_instruction/disbursement_mode`,
            value: 'DELAYED',
            location: 'body',
            issue: 'NOT_SUPPORTED',
            description:
              'This field is not currently supported. (Emulator: DELAYED disbursement (held funds, referenced payouts) is not implemented; use INSTANT.)',
          },
        ]);
      let feeMinor: bigint | null = null;
      const fees = Array.isArray(instruction['platform_fees']) ? instruction['platform_fees'].map(obj) : [];
      const fee = fees[0];
      if (fee) {
        const feeAmount = obj(fee['amount']);
        const feeCurrency = String(feeAmount['currency_code']);
        const feeValue = String(feeAmount['value']);
        const feeField = unitField(referenceId, 'payment_instruction/platform_fees/0/amount');
        if (feeCurrency !== currency)
          throw unprocessable(op, 'MULTI_CURRENCY_ORDER', {
            field: `${feeField}/currency_code`,
            value: feeCurrency,
            location: 'body',
          });
        const parsedFee = parseAmount(feeCurrency, feeValue, {
          allowZero: true,
          zeroDecimalIssue: 'DECIMAL_PRECISION',
        });
        if (!parsedFee.ok) throw this.amountError(op, parsedFee.problem, `${feeField}/value`, feeValue);
        if (parsedFee.minor > parsed.minor)
          throw unprocessable(op, 'INVALID_PLATFORM_FEES_AMOUNT', {
            field: `${feeField}/value`,
            value: feeValue,
            location: 'body',
          });
        if (payee.merchantId === this.ctx.partnerMerchantId)
          throw unprocessable(op, 'INVALID_PLATFORM_FEES_ACCOUNT', {
            field: unitField(referenceId, 'payment_instruction/platform_fees'),
            location: 'body',
            description:
              'The specified platform_fees payee account is either invalid or account setup is incomplete. (Emulator: a platform fee needs a payee.merchant_id other than the partner.)',
          });
        const merchant = this.merchants.get(payee.merchantId);
        if (merchant && !merchant.features.includes('PARTNER_FEE'))
          throw v2Error(403, op, [
            {
              field: unitField(referenceId, 'payment_instruction/platform_fees'),
              location: 'body',
              issue: 'PERMISSION_DENIED',
              description:
                'You do not have permission to access or perform operations on this resource. (Emulator: the seller did not grant PARTNER_FEE to the partner in its partner referral.)',
            },
          ]);
        if (merchant && merchant.consent === 'revoked')
          throw v2Error(403, op, [
            {
              field: unitField(referenceId, 'payee/merchant_id'),
              value: payee.merchantId,
              location: 'body',
              issue: 'PERMISSION_DENIED',
              description:
                'You do not have permission to access or perform operations on this resource. (Emulator: the seller revoked its consent to the partner.)',
            },
          ]);
        feeMinor = parsedFee.minor;
      }
      return {
        referenceId,
        currency,
        amountMinor: parsed.minor,
        payeeMerchantId: payee.merchantId,
        payeeEmail: payee.email,
        feeMinor,
        disbursementMode: 'INSTANT',
        description: optStr(u['description']),
        customId: optStr(u['custom_id']),
        invoiceId: optStr(u['invoice_id']),
        softDescriptor: optStr(u['soft_descriptor']),
        captureIds: [],
      };
    });
    const now = this.clock.now();
    const order: OrderRecord = {
      id: newOrderId(),
      status: experience.kind === 'payment_source' ? 'PAYER_ACTION_REQUIRED' : 'CREATED',
      intent: 'CAPTURE',
      experience,
      units,
      payer: null,
      buyer: null,
      partnerAttributionId: meta.partnerAttributionId,
      clientMetadataId: meta.clientMetadataId,
      clientId: meta.clientId,
      createdAt: now,
      updatedAt: now,
      approvedAt: null,
      voidReason: null,
      timer: null,
    };
    this.orders.set(order.id, order);
    order.timer = this.clock.setTimeout(
      () => this.expireOrder(order.id),
      this.clock.scaled(this.settings.orderExpiryMs),
    );
    return order;
  }

  private experienceOf(body: Json): ExperienceRecord {
    const source = obj(body['payment_source']);
    const paypal = 'paypal' in source ? obj(source['paypal']) : null;
    const ctxObj = 'application_context' in body ? obj(body['application_context']) : null;
    const exp = paypal ? obj(paypal['experience_context']) : null;
    if (paypal && ctxObj && (ctxObj['return_url'] !== undefined || ctxObj['cancel_url'] !== undefined))
      throw unprocessable('orders.create', 'INCOMPATIBLE_PARAMETER_VALUE', {
        field: '/application_context',
        location: 'body',
        description:
          'The value of the field is incompatible/redundant with other fields in the order. (Emulator: give return_url and cancel_url in payment_source.paypal.experience_context, not also in the deprecated application_context.)',
      });
    const from = exp ?? ctxObj ?? {};
    return {
      kind: paypal ? 'payment_source' : 'application_context',
      returnUrl: optStr(from['return_url']),
      cancelUrl: optStr(from['cancel_url']),
      brandName: optStr(from['brand_name']),
      locale: optStr(from['locale']),
      landingPage: optStr(from['landing_page']),
      userAction: optStr(from['user_action']),
      shippingPreference: optStr(from['shipping_preference']),
      paymentMethodPreference: optStr(from['payment_method_preference']),
    };
  }

  private payeeOf(op: string, referenceId: string, payee: Json): { merchantId: string; email: string } {
    const id = optStr(payee['merchant_id']);
    if (id === null || id === this.ctx.partnerMerchantId)
      return { merchantId: this.ctx.partnerMerchantId, email: this.partnerEmail };
    const m = this.merchants.get(id);
    if (!m)
      throw unprocessable(op, 'PAYEE_ACCOUNT_INVALID', {
        field: unitField(referenceId, 'payee/merchant_id'),
        value: id,
        location: 'body',
      });
    if (!m.paymentsReceivable)
      throw unprocessable(op, 'PAYEE_ACCOUNT_RESTRICTED', {
        field: unitField(referenceId, 'payee/merchant_id'),
        value: id,
        location: 'body',
      });
    return { merchantId: m.merchantId, email: m.email };
  }

  private touch(o: { updatedAt: number }): void {
    o.updatedAt = this.clock.now();
  }

  private expireOrder(id: string): void {
    const o = this.orders.get(id);
    if (!o || (o.status !== 'CREATED' && o.status !== 'PAYER_ACTION_REQUIRED')) return;
    o.status = 'VOIDED';
    o.voidReason = 'expired';
    o.timer = null;
    this.touch(o);
  }

  private reverseApproval(id: string): void {
    const o = this.orders.get(id);
    if (!o || o.status !== 'APPROVED') return;
    o.status = 'VOIDED';
    o.voidReason = 'approval_reversed';
    o.timer = null;
    this.touch(o);
    this.emit({
      type: 'CHECKOUT.PAYMENT-APPROVAL.REVERSED',
      resourceType: 'checkout-order',
      resourceVersion: '2.0',
      summary: 'A payment has been reversed after approval.',
      resource: {
        order_id: o.id,
        purchase_units: o.units.map((u) => ({
          reference_id: u.referenceId,
          amount: { currency_code: u.currency, value: formatAmount(u.currency, u.amountMinor) },
          payee: { merchant_id: u.payeeMerchantId },
        })),
        payer: o.payer ? { payer_id: o.payer.payerId, email_address: o.payer.email } : undefined,
      },
      merchantId: o.units[0]?.payeeMerchantId ?? null,
      relatedIds: [o.id],
    });
  }

  orderJson(o: OrderRecord, view: 'full' | 'minimal-create' | 'minimal-capture'): Json {
    return orderJson(this.ctx, o, (id) => this.captures.get(id), view);
  }

  /** The buyer approves on the approval page (or through the control route); answers the redirect target. */
  approveOrder(id: string, buyer: Buyer): { redirect: string | null; order: OrderRecord } {
    const o = this.orders.get(id);
    if (!o) throw new Error(`No such order: ${id}`);
    if (o.status === 'APPROVED' && o.buyer === buyer) return { redirect: this.returnRedirect(o), order: o };
    if (o.status !== 'CREATED' && o.status !== 'PAYER_ACTION_REQUIRED')
      throw new Error(
        `Order ${id} is ${o.status}; only a CREATED or PAYER_ACTION_REQUIRED order can be approved`,
      );
    const [givenName, surname] = BUYER_NAMES[buyer];
    const payer: PayerRecord = {
      payerId: newAccountId(),
      email: `${givenName.toLowerCase()}.${surname.toLowerCase()}@personal.example.com`,
      givenName,
      surname,
      countryCode: 'US',
    };
    o.payer = payer;
    o.buyer = buyer;
    o.status = 'APPROVED';
    o.approvedAt = this.clock.now();
    this.touch(o);
    o.timer?.cancel();
    o.timer = this.clock.setTimeout(
      () => this.reverseApproval(o.id),
      this.clock.scaled(this.settings.approvalWindowMs),
    );
    this.emit({
      type: 'CHECKOUT.ORDER.APPROVED',
      resourceType: 'checkout-order',
      resourceVersion: '2.0',
      summary: 'An order has been approved by buyer',
      resource: this.orderJson(o, 'full'),
      merchantId: o.units[0]?.payeeMerchantId ?? null,
      relatedIds: [o.id],
    });
    return { redirect: this.returnRedirect(o), order: o };
  }

  private returnRedirect(o: OrderRecord): string | null {
    if (!o.experience.returnUrl || !o.payer) return null;
    const u = new URL(o.experience.returnUrl);
    u.searchParams.set('token', o.id);
    u.searchParams.set('PayerID', o.payer.payerId);
    return u.toString();
  }

  /** The buyer cancels on the approval page: the order stays as it was; answers the cancel_url redirect. */
  cancelOrder(id: string): { redirect: string | null; order: OrderRecord } {
    const o = this.orders.get(id);
    if (!o) throw new Error(`No such order: ${id}`);
    if (!o.experience.cancelUrl) return { redirect: null, order: o };
    const u = new URL(o.experience.cancelUrl);
    u.searchParams.set('token', o.id);
    return { redirect: u.toString(), order: o };
  }

  /** `POST /v2/checkout/orders/{id}/capture`. */
  captureOrder(id: string, assertedMerchant: string | null): OrderRecord {
    const op = 'orders.capture';
    const o = this.requireOrder(op, id);
    if (assertedMerchant !== null && o.units.some((u) => u.payeeMerchantId !== assertedMerchant))
      throw v2Error(403, op, [
        {
          field: 'PayPal-Auth-Assertion',
          location: 'header',
          issue: 'PERMISSION_DENIED',
          description:
            'You do not have permission to access or perform operations on this resource. (Emulator: the order is not payable to the merchant the auth assertion names.)',
        },
      ]);
    if (o.status === 'CREATED' || o.status === 'PAYER_ACTION_REQUIRED')
      throw unprocessable(op, 'ORDER_NOT_APPROVED', { field: 'order_id', value: id, location: 'path' });
    if (o.status === 'COMPLETED')
      throw unprocessable(op, 'ORDER_ALREADY_CAPTURED', { field: 'order_id', value: id, location: 'path' });
    if (o.status === 'VOIDED')
      throw unprocessable(op, 'ORDER_EXPIRED', {
        field: 'order_id',
        value: id,
        location: 'path',
        description:
          o.voidReason === 'approval_reversed'
            ? 'Order is expired and hence cannot be captured. (Emulator: it was approved but not captured within the approval window; CHECKOUT.PAYMENT-APPROVAL.REVERSED was sent.)'
            : 'Order is expired and hence cannot be captured. (Emulator: nobody approved it before it expired.)',
      });
    for (const u of o.units) {
      const m = this.merchants.get(u.payeeMerchantId);
      if (m && m.consent === 'revoked' && u.feeMinor !== null)
        throw v2Error(403, op, [
          {
            issue: 'CONSENT_NEEDED',
            description: 'CONSENT_NEEDED (Emulator: the seller revoked its consent to the partner.)',
          },
        ]);
      if (u.invoiceId !== null) {
        const dup = [...this.captures.values()].find(
          (c) =>
            c.invoiceId === u.invoiceId &&
            c.payeeMerchantId === u.payeeMerchantId &&
            c.status !== 'DECLINED' &&
            c.status !== 'FAILED',
        );
        if (dup)
          throw unprocessable(op, 'DUPLICATE_INVOICE_ID', {
            field: unitField(u.referenceId, 'invoice_id'),
            value: u.invoiceId,
            location: 'body',
          });
      }
    }
    if (o.buyer === 'instrument_declined') {
      // The funding instrument is refused at capture: PayPal answers 422 INSTRUMENT_DECLINED and the buyer must
      // approve again (with another instrument); the emulator puts the order back to awaiting approval.
      o.status = o.experience.kind === 'payment_source' ? 'PAYER_ACTION_REQUIRED' : 'CREATED';
      o.payer = null;
      o.buyer = null;
      o.approvedAt = null;
      this.touch(o);
      o.timer?.cancel();
      o.timer = this.clock.setTimeout(
        () => this.expireOrder(o.id),
        this.clock.scaled(this.settings.orderExpiryMs),
      );
      const err = unprocessable(op, 'INSTRUMENT_DECLINED', {
        field: 'order_id',
        value: id,
        location: 'path',
      });
      throw err;
    }
    const now = this.clock.now();
    const created: CaptureRecord[] = [];
    o.units.forEach((u, unitIndex) => {
      const status = o.buyer === 'declined' ? 'DECLINED' : o.buyer === 'pending' ? 'PENDING' : 'COMPLETED';
      const c: CaptureRecord = {
        id: newCaptureId(),
        orderId: o.id,
        unitIndex,
        status,
        statusReason: status === 'PENDING' ? 'ECHECK' : null,
        currency: u.currency,
        amountMinor: u.amountMinor,
        paypalFeeMinor: paypalFee(u.amountMinor),
        platformFeeMinor: u.feeMinor,
        payeeMerchantId: u.payeeMerchantId,
        payeeEmail: u.payeeEmail,
        customId: u.customId,
        invoiceId: u.invoiceId,
        refundedMinor: 0n,
        pendingRefundMinor: 0n,
        refundedFeeMinor: 0n,
        refundIds: [],
        disputeIds: [],
        createdAt: now,
        updatedAt: now,
      };
      this.captures.set(c.id, c);
      u.captureIds.push(c.id);
      created.push(c);
    });
    o.status = 'COMPLETED';
    o.timer?.cancel();
    o.timer = null;
    this.touch(o);
    for (const c of created) {
      if (c.status === 'COMPLETED') this.emitCapture('PAYMENT.CAPTURE.COMPLETED', c, 'Payment completed');
      else if (c.status === 'PENDING') this.emitCapture('PAYMENT.CAPTURE.PENDING', c, 'Payment pending');
      else this.emitCapture('PAYMENT.CAPTURE.DECLINED', c, 'Payment declined');
    }
    if (created.some((c) => c.status === 'COMPLETED'))
      this.emit({
        type: 'CHECKOUT.ORDER.COMPLETED',
        resourceType: 'checkout-order',
        resourceVersion: '2.0',
        summary: 'Checkout Order Completed',
        resource: this.orderJson(o, 'full'),
        merchantId: o.units[0]?.payeeMerchantId ?? null,
        relatedIds: [o.id, ...created.map((c) => c.id)],
      });
    return o;
  }

  private emitCapture(type: string, c: CaptureRecord, what: string): void {
    this.emit({
      type,
      resourceType: 'capture',
      resourceVersion: '2.0',
      summary: `${what} for ${displayAmount(c.currency, c.amountMinor)}`,
      resource: captureJson(this.ctx, c),
      merchantId: c.payeeMerchantId,
      relatedIds: [c.id, c.orderId],
    });
  }

  // ---- Captures ----

  getCapture(id: string): CaptureRecord {
    const c = this.captures.get(id);
    if (!c)
      throw v2Error(404, 'captures.get', [
        { field: 'capture_id', value: id, location: 'path', issue: 'INVALID_RESOURCE_ID' },
      ]);
    return c;
  }

  captureJson(c: CaptureRecord): Json {
    return captureJson(this.ctx, c);
  }

  /** An e-check capture clears (COMPLETED) or bounces (DENIED: the capture becomes DECLINED). */
  completePendingCapture(id: string, outcome: 'COMPLETED' | 'DENIED'): CaptureRecord {
    const c = this.captures.get(id);
    if (!c) throw new Error(`No such capture: ${id}`);
    if (c.status !== 'PENDING') throw new Error(`Capture ${id} is ${c.status}, not PENDING`);
    c.status = outcome === 'COMPLETED' ? 'COMPLETED' : 'DECLINED';
    c.statusReason = null;
    this.touch(c);
    if (outcome === 'COMPLETED') this.emitCapture('PAYMENT.CAPTURE.COMPLETED', c, 'Payment completed');
    else this.emitCapture('PAYMENT.CAPTURE.DENIED', c, 'Payment denied');
    return c;
  }

  // ---- Refunds ----

  getRefund(id: string): RefundRecord {
    const r = this.refunds.get(id);
    if (!r || r.kind !== 'refund')
      throw v2Error(404, 'refunds.get', [
        { field: 'refund_id', value: id, location: 'path', issue: 'INVALID_RESOURCE_ID' },
      ]);
    return r;
  }

  refundJson(r: RefundRecord, full: boolean): Json {
    const c = this.captures.get(r.captureId);
    if (!c) throw new Error(`refund ${r.id} without capture`);
    return refundJson(this.ctx, r, c, full);
  }

  /** `POST /v2/payments/captures/{id}/refund` (body already schema-checked). */
  refundCapture(id: string, body: Json, assertedMerchant: string | null): RefundRecord {
    const op = 'captures.refund';
    const c = this.captures.get(id);
    if (!c)
      throw v2Error(404, op, [
        { field: 'capture_id', value: id, location: 'path', issue: 'INVALID_RESOURCE_ID' },
      ]);
    if (assertedMerchant !== null && assertedMerchant !== c.payeeMerchantId)
      throw v2Error(403, op, [
        {
          field: 'PayPal-Auth-Assertion',
          location: 'header',
          issue: 'PERMISSION_DENIED',
          description:
            'You do not have permission to access or perform operations on this resource. (Emulator: the capture was not paid to the merchant the auth assertion names.)',
        },
      ]);
    if (assertedMerchant !== null) {
      const m = this.merchants.get(assertedMerchant);
      if (m && (m.consent === 'revoked' || !m.features.includes('REFUND')))
        throw v2Error(403, op, [
          {
            field: 'PayPal-Auth-Assertion',
            location: 'header',
            issue: 'PERMISSION_DENIED',
            description:
              m.consent === 'revoked'
                ? 'You do not have permission to access or perform operations on this resource. (Emulator: the seller revoked its consent to the partner.)'
                : 'You do not have permission to access or perform operations on this resource. (Emulator: the seller did not grant REFUND to the partner in its partner referral.)',
          },
        ]);
    }
    if (c.status === 'PENDING')
      throw unprocessable(op, 'PENDING_CAPTURE', { field: 'capture_id', value: id, location: 'path' });
    if (c.status === 'REFUNDED')
      throw unprocessable(op, 'CAPTURE_FULLY_REFUNDED', { field: 'capture_id', value: id, location: 'path' });
    if (c.status !== 'COMPLETED' && c.status !== 'PARTIALLY_REFUNDED')
      throw unprocessable(op, 'REFUND_NOT_ALLOWED', { field: 'capture_id', value: id, location: 'path' });
    if (this.clock.now() - c.createdAt > this.settings.refundWindowMs)
      throw unprocessable(op, 'REFUND_TIME_LIMIT_EXCEEDED', {
        field: 'capture_id',
        value: id,
        location: 'path',
      });
    const remaining = c.amountMinor - c.refundedMinor - c.pendingRefundMinor;
    if (remaining <= 0n)
      throw unprocessable(op, 'REFUND_AMOUNT_EXCEEDED', {
        field: 'capture_id',
        value: id,
        location: 'path',
        description:
          'The refund amount must be less than or equal to the capture amount that has not yet been refunded. (Emulator: pending refunds hold the rest.)',
      });
    let amount = remaining;
    const amountObj = body['amount'] !== undefined ? obj(body['amount']) : null;
    if (amountObj) {
      const currency = String(amountObj['currency_code']);
      const value = String(amountObj['value']);
      const parsed = parseAmount(currency, value, {
        allowZero: false,
        zeroDecimalIssue: 'DECIMALS_NOT_SUPPORTED',
      });
      if (!parsed.ok && parsed.problem === 'INVALID_CURRENCY_CODE')
        throw unprocessable(op, 'INVALID_CURRENCY_CODE', {
          field: '/amount/currency_code',
          value: currency,
          location: 'body',
        });
      if (currency !== c.currency)
        throw unprocessable(op, 'REFUND_CAPTURE_CURRENCY_MISMATCH', {
          field: '/amount/currency_code',
          value: currency,
          location: 'body',
        });
      if (!parsed.ok)
        throw unprocessable(op, parsed.problem, { field: '/amount/value', value, location: 'body' });
      amount = parsed.minor;
      if (amount > remaining)
        throw unprocessable(op, 'REFUND_AMOUNT_EXCEEDED', {
          field: '/amount/value',
          value,
          location: 'body',
        });
    }
    const openDispute = c.disputeIds
      .map((d) => this.disputes.get(d))
      .some((d) => d !== undefined && d.status !== 'RESOLVED');
    if (openDispute && amount < remaining)
      throw unprocessable(op, 'TRANSACTION_DISPUTED', { field: 'capture_id', value: id, location: 'path' });
    let feeMinor: bigint | null = null;
    const instruction = body['payment_instruction'] !== undefined ? obj(body['payment_instruction']) : null;
    const feeObj =
      instruction && Array.isArray(instruction['platform_fees'])
        ? obj(instruction['platform_fees'][0])
        : null;
    if (feeObj && feeObj['amount'] !== undefined) {
      const feeAmount = obj(feeObj['amount']);
      const currency = String(feeAmount['currency_code']);
      const value = String(feeAmount['value']);
      const field = '/payment_instruction/platform_fees/0/amount';
      if (currency !== c.currency)
        throw unprocessable(op, 'CURRENCY_MISMATCH', {
          field: `${field}/currency_code`,
          value: currency,
          location: 'body',
        });
      const parsed = parseAmount(currency, value, {
        allowZero: true,
        zeroDecimalIssue: 'DECIMALS_NOT_SUPPORTED',
      });
      if (!parsed.ok)
        throw unprocessable(op, parsed.problem, { field: `${field}/value`, value, location: 'body' });
      const feeRemaining = (c.platformFeeMinor ?? 0n) - c.refundedFeeMinor;
      if (
        c.platformFeeMinor === null ||
        c.platformFeeMinor === 0n ||
        parsed.minor > feeRemaining ||
        parsed.minor > amount
      )
        throw unprocessable(op, 'PLATFORM_FEE_EXCEEDED', {
          field: `${field}/value`,
          value,
          location: 'body',
        });
      feeMinor = parsed.minor;
    }
    const invoiceId = optStr(body['invoice_id']);
    if (
      invoiceId !== null &&
      [...this.refunds.values()].some((r) => r.invoiceId === invoiceId && r.kind === 'refund')
    )
      throw unprocessable(op, 'DUPLICATE_INVOICE_ID', {
        field: '/invoice_id',
        value: invoiceId,
        location: 'body',
      });
    const status = this.nextRefundStatus;
    this.nextRefundStatus = 'COMPLETED';
    return this.recordRefund(
      c,
      'refund',
      amount,
      feeMinor,
      {
        invoiceId,
        customId: optStr(body['custom_id']),
        noteToPayer: optStr(body['note_to_payer']),
      },
      status,
    );
  }

  /** A pending refund completes (PAYMENT.CAPTURE.REFUNDED) or fails (PAYMENT.REFUND.FAILED, amount refundable again). */
  completePendingRefund(id: string, outcome: 'COMPLETED' | 'FAILED'): RefundRecord {
    const r = this.refunds.get(id);
    if (!r) throw new Error(`No such refund: ${id}`);
    if (r.status !== 'PENDING') throw new Error(`Refund ${id} is ${r.status}, not PENDING`);
    const c = this.captures.get(r.captureId);
    if (!c) throw new Error(`refund ${id} without capture`);
    c.pendingRefundMinor -= r.amountMinor;
    r.statusReason = null;
    this.touch(r);
    if (outcome === 'COMPLETED') {
      c.refundedMinor += r.amountMinor;
      c.status = c.refundedMinor >= c.amountMinor ? 'REFUNDED' : 'PARTIALLY_REFUNDED';
      r.status = 'COMPLETED';
      r.totalRefundedMinor = c.refundedMinor;
    } else {
      if (r.platformFeeMinor !== null) c.refundedFeeMinor -= r.platformFeeMinor;
      r.status = 'FAILED';
    }
    this.touch(c);
    this.emitRefund(r, c);
    return r;
  }

  private emitRefund(r: RefundRecord, c: CaptureRecord): void {
    const amount = displayAmount(c.currency, r.amountMinor);
    const [type, summary] =
      r.kind === 'reversal'
        ? ['PAYMENT.CAPTURE.REVERSED', `A ${amount} capture payment was reversed`]
        : r.status === 'PENDING'
          ? ['PAYMENT.REFUND.PENDING', `A ${amount} refund is pending`]
          : r.status === 'FAILED'
            ? ['PAYMENT.REFUND.FAILED', `A ${amount} refund failed`]
            : ['PAYMENT.CAPTURE.REFUNDED', `A ${amount} capture payment was refunded`];
    this.emit({
      type,
      resourceType: 'refund',
      resourceVersion: '2.0',
      summary,
      resource: refundJson(this.ctx, r, c, true),
      merchantId: c.payeeMerchantId,
      relatedIds: [r.id, c.id, c.orderId],
    });
  }

  private recordRefund(
    c: CaptureRecord,
    kind: RefundRecord['kind'],
    amount: bigint,
    feeMinor: bigint | null,
    text: { invoiceId: string | null; customId: string | null; noteToPayer: string | null },
    status: 'COMPLETED' | 'PENDING' | 'FAILED' = 'COMPLETED',
  ): RefundRecord {
    const now = this.clock.now();
    // The percentage part of PayPal's fee is returned in proportion; the fixed part is not (made-up but typical).
    const percentFee = c.paypalFeeMinor > 49n ? c.paypalFeeMinor - 49n : 0n;
    const paypalFeeBack = proportion(percentFee, amount, c.amountMinor);
    if (status === 'COMPLETED') {
      c.refundedMinor += amount;
      c.status = c.refundedMinor >= c.amountMinor ? 'REFUNDED' : 'PARTIALLY_REFUNDED';
    }
    if (status === 'PENDING') c.pendingRefundMinor += amount;
    if (feeMinor !== null && status !== 'FAILED') c.refundedFeeMinor += feeMinor;
    this.touch(c);
    const r: RefundRecord = {
      id: newRefundId(),
      captureId: c.id,
      kind,
      status,
      statusReason: status === 'PENDING' ? 'ECHECK' : null,
      currency: c.currency,
      amountMinor: amount,
      paypalFeeMinor: paypalFeeBack,
      platformFeeMinor: feeMinor,
      totalRefundedMinor: c.refundedMinor,
      invoiceId: text.invoiceId,
      customId: text.customId ?? c.customId,
      noteToPayer: text.noteToPayer,
      createdAt: now,
      updatedAt: now,
    };
    this.refunds.set(r.id, r);
    c.refundIds.push(r.id);
    this.emitRefund(r, c);
    return r;
  }

  // ---- Partner referrals and sellers ----

  /** `POST /v2/customer/partner-referrals` (body already schema-checked). */
  createReferral(body: Json, clientId: string): ReferralRecord {
    const op = 'partner-referrals.create';
    const operations = Array.isArray(body['operations']) ? body['operations'].map(obj) : [];
    operations.forEach((o, i) => {
      if (o['operation'] !== 'API_INTEGRATION')
        throw v2Error(400, op, [
          {
            field: `/operations/${i}/operation`,
            value: String(o['operation']),
            location: 'body',
            issue: 'NOT_SUPPORTED',
            description:
              'This field is not currently supported. (Emulator: only the API_INTEGRATION operation is implemented.)',
          },
        ]);
      const rest = obj(obj(o['api_integration_preference'])['rest_api_integration']);
      if (rest['integration_type'] !== undefined && rest['integration_type'] !== 'THIRD_PARTY')
        throw v2Error(400, op, [
          {
            field: `/operations/${i}/api_integration_preference/rest_api_integration/integration_type`,
            value: String(rest['integration_type']),
            location: 'body',
            issue: 'NOT_SUPPORTED',
            description:
              'This field is not currently supported. (Emulator: only THIRD_PARTY integrations (the partner acts for the seller) are implemented.)',
          },
        ]);
    });
    const consents = Array.isArray(body['legal_consents']) ? body['legal_consents'].map(obj) : [];
    if (!consents.some((c) => c['type'] === 'SHARE_DATA_CONSENT' && c['granted'] === true))
      throw v2Error(400, op, [
        {
          field: '/legal_consents',
          location: 'body',
          issue: 'INVALID_PARAMETER_VALUE',
          description:
            'the value of a field is invalid (Emulator: a SHARE_DATA_CONSENT consent with granted true is required to onboard a seller.)',
        },
      ]);
    const override = obj(body['partner_config_override']);
    const r: ReferralRecord = {
      id: newReferralId(),
      trackingId: optStr(body['tracking_id']),
      data: body,
      returnUrl: optStr(override['return_url']),
      partnerClientId: clientId,
      createdAt: this.clock.now(),
      merchantId: null,
    };
    this.referrals.set(r.id, r);
    return r;
  }

  getReferral(id: string): ReferralRecord {
    const r = this.referrals.get(id);
    if (!r)
      throw v2Error(404, 'partner-referrals.read', [
        { field: 'partner_referral_id', value: id, location: 'path', issue: 'INVALID_RESOURCE_ID' },
      ]);
    return r;
  }

  onboardingUrl(r: ReferralRecord): string {
    return `${this.ctx.publicUrl()}/bizsignup/partner/entry?referralToken=${encodeURIComponent(r.id)}`;
  }

  findReferral(idOrTrackingId: string): ReferralRecord | undefined {
    const direct = this.referrals.get(idOrTrackingId);
    if (direct) return direct;
    return this.referrals.newestFirst().find((r) => r.trackingId === idOrTrackingId);
  }

  /** The seller finishes PayPal's sign-up: creates (or re-consents) the seller and sends MERCHANT.ONBOARDING.COMPLETED. */
  completeOnboarding(
    idOrTrackingId: string,
    opts: { emailConfirmed?: boolean; paymentsReceivable?: boolean; email?: string } = {},
  ): { merchant: MerchantRecord; referral: ReferralRecord; redirect: string | null } {
    const r = this.findReferral(idOrTrackingId);
    if (!r) throw new Error(`No partner referral with id or tracking_id ${idOrTrackingId}`);
    const existing =
      (r.merchantId ? this.merchants.get(r.merchantId) : undefined) ??
      (r.trackingId !== null
        ? [...this.merchants.values()].find((m) => m.trackingId === r.trackingId)
        : undefined);
    const operations = Array.isArray(r.data['operations']) ? r.data['operations'].map(obj) : [];
    const features = new Set<string>();
    for (const o of operations) {
      const rest = obj(obj(o['api_integration_preference'])['rest_api_integration']);
      const details = obj(rest['third_party_details']);
      if (Array.isArray(details['features']))
        for (const f of details['features']) if (typeof f === 'string') features.add(f);
    }
    const products = Array.isArray(r.data['products'])
      ? r.data['products'].filter((p): p is string => typeof p === 'string')
      : [];
    const merchant: MerchantRecord = existing ?? {
      merchantId: newAccountId(),
      trackingId: r.trackingId,
      email:
        opts.email ??
        optStr(r.data['email']) ??
        `seller-${r.trackingId ?? 'x'}@business.example.com`.toLowerCase(),
      emailConfirmed: true,
      paymentsReceivable: true,
      consent: 'granted',
      partnerClientId: r.partnerClientId,
      features: [],
      products: [],
      legalName: `Seller ${r.trackingId ?? ''}`.trim(),
      createdAt: this.clock.now(),
    };
    merchant.consent = 'granted';
    merchant.features = [...features];
    merchant.products = products;
    merchant.partnerClientId = r.partnerClientId;
    if (opts.emailConfirmed !== undefined) merchant.emailConfirmed = opts.emailConfirmed;
    if (opts.paymentsReceivable !== undefined) merchant.paymentsReceivable = opts.paymentsReceivable;
    this.merchants.set(merchant.merchantId, merchant);
    r.merchantId = merchant.merchantId;
    this.emit({
      type: 'MERCHANT.ONBOARDING.COMPLETED',
      resourceType: 'merchant-onboarding',
      resourceVersion: '1.0',
      summary: 'The merchant account setup is completed',
      resource: this.merchantEventResource(merchant),
      merchantId: merchant.merchantId,
      relatedIds: [merchant.merchantId],
    });
    let redirect: string | null = null;
    if (r.returnUrl) {
      const u = new URL(r.returnUrl);
      u.searchParams.set('merchantId', r.trackingId ?? '');
      u.searchParams.set('merchantIdInPayPal', merchant.merchantId);
      u.searchParams.set('permissionsGranted', 'true');
      u.searchParams.set('consentStatus', 'true');
      u.searchParams.set('productIntentId', 'addipmt');
      u.searchParams.set('isEmailConfirmed', String(merchant.emailConfirmed));
      u.searchParams.set('accountStatus', 'BUSINESS_ACCOUNT');
      redirect = u.toString();
    }
    return { merchant, referral: r, redirect };
  }

  private merchantEventResource(m: MerchantRecord): Json {
    return {
      partner_client_id: m.partnerClientId,
      merchant_id: m.merchantId,
      ...(m.trackingId !== null ? { tracking_id: m.trackingId } : {}),
      links: [
        {
          href: `${this.ctx.publicUrl()}/v1/customer/partners/${this.ctx.partnerMerchantId}/merchant-integrations/${m.merchantId}`,
          rel: 'self',
          method: 'GET',
          description: 'Get the merchant status information of merchants onboarded by this partner',
        },
      ],
    };
  }

  /** The seller revokes the partner's permissions (MERCHANT.PARTNER-CONSENT.REVOKED). */
  revokeConsent(merchantId: string): MerchantRecord {
    const m = this.merchants.get(merchantId);
    if (!m) throw new Error(`No such merchant: ${merchantId}`);
    if (m.consent === 'revoked') return m;
    m.consent = 'revoked';
    this.emit({
      type: 'MERCHANT.PARTNER-CONSENT.REVOKED',
      resourceType: 'merchant-partner-consent',
      resourceVersion: '1.0',
      summary: 'The Account setup consents has been revoked or the merchant account is closed',
      resource: this.merchantEventResource(m),
      merchantId: m.merchantId,
      relatedIds: [m.merchantId],
    });
    return m;
  }

  requireMerchantForPartner(op: string, partnerId: string, merchantId: string): MerchantRecord {
    if (partnerId !== this.ctx.partnerMerchantId)
      throw v1Error(403, 'PERMISSION_DENIED', 'No permission for the requested operation', op, [
        { field: 'partner_id', issue: `Emulator: the partner id is ${this.ctx.partnerMerchantId}` },
      ]);
    const m = this.merchants.get(merchantId);
    if (!m)
      throw v1Error(404, 'RESOURCE_NOT_FOUND', 'The specified resource does not exist.', op, [
        { field: 'merchant_id', issue: 'Merchant not found' },
      ]);
    return m;
  }

  // ---- Disputes ----

  openDispute(
    captureId: string,
    opts: { reason?: string; amount?: string; stage?: DisputeRecord['stage'] } = {},
  ): DisputeRecord {
    const c = this.captures.get(captureId);
    if (!c) throw new Error(`No such capture: ${captureId}`);
    if (c.status !== 'COMPLETED' && c.status !== 'PARTIALLY_REFUNDED')
      throw new Error(`Capture ${captureId} is ${c.status}; only a completed capture can be disputed`);
    let amount = c.amountMinor - c.refundedMinor - c.pendingRefundMinor;
    if (opts.amount !== undefined) {
      const parsed = parseAmount(c.currency, opts.amount, {
        allowZero: false,
        zeroDecimalIssue: 'DECIMAL_PRECISION',
      });
      if (!parsed.ok || parsed.minor > amount) throw new Error(`Invalid dispute amount ${opts.amount}`);
      amount = parsed.minor;
    }
    const now = this.clock.now();
    const d: DisputeRecord = {
      id: newDisputeId(),
      captureId: c.id,
      reason: opts.reason ?? 'MERCHANDISE_OR_SERVICE_NOT_RECEIVED',
      status: 'WAITING_FOR_SELLER_RESPONSE',
      stage: opts.stage ?? 'INQUIRY',
      currency: c.currency,
      amountMinor: amount,
      outcome: null,
      createdAt: now,
      updatedAt: now,
    };
    this.disputes.set(d.id, d);
    c.disputeIds.push(d.id);
    this.emitDispute('CUSTOMER.DISPUTE.CREATED', d, 'A new dispute opened');
    return d;
  }

  /** The buyer escalates an inquiry to a claim: stage CHARGEBACK, status UNDER_REVIEW (CUSTOMER.DISPUTE.UPDATED). */
  escalateDispute(id: string): DisputeRecord {
    const d = this.disputes.get(id);
    if (!d) throw new Error(`No such dispute: ${id}`);
    if (d.status === 'RESOLVED') throw new Error(`Dispute ${id} is resolved`);
    d.stage = 'CHARGEBACK';
    d.status = 'UNDER_REVIEW';
    this.touch(d);
    this.emitDispute('CUSTOMER.DISPUTE.UPDATED', d, 'A dispute was updated');
    return d;
  }

  /** Closes a dispute; a lost one reverses the disputed amount (PAYMENT.CAPTURE.REVERSED) first. */
  resolveDispute(id: string, outcome: 'won' | 'lost'): DisputeRecord {
    const d = this.disputes.get(id);
    if (!d) throw new Error(`No such dispute: ${id}`);
    if (d.status === 'RESOLVED') throw new Error(`Dispute ${id} is already resolved`);
    const c = this.captures.get(d.captureId);
    if (!c) throw new Error(`dispute ${id} without capture`);
    d.status = 'RESOLVED';
    d.outcome = outcome === 'won' ? 'RESOLVED_SELLER_FAVOUR' : 'RESOLVED_BUYER_FAVOUR';
    this.touch(d);
    if (outcome === 'lost') {
      const left = c.amountMinor - c.refundedMinor - c.pendingRefundMinor;
      const amount = d.amountMinor > left ? left : d.amountMinor;
      if (amount > 0n)
        this.recordRefund(c, 'reversal', amount, null, {
          invoiceId: null,
          customId: null,
          noteToPayer: 'Payment reversed',
        });
    }
    this.emitDispute('CUSTOMER.DISPUTE.RESOLVED', d, 'A dispute was resolved');
    return d;
  }

  disputeJson(d: DisputeRecord): Json {
    const c = this.captures.get(d.captureId);
    if (!c) throw new Error(`dispute ${d.id} without capture`);
    return disputeJson(this.ctx, d, c);
  }

  private emitDispute(type: string, d: DisputeRecord, summary: string): void {
    const c = this.captures.get(d.captureId);
    this.emit({
      type,
      resourceType: 'dispute',
      resourceVersion: '1.1',
      summary,
      resource: this.disputeJson(d),
      merchantId: c?.payeeMerchantId ?? null,
      relatedIds: [d.id, d.captureId, ...(c ? [c.orderId] : [])],
    });
  }

  /** Cancels the order timers (on close). */
  close(): void {
    for (const o of this.orders.values()) o.timer?.cancel();
  }
}

import { isoTime } from './ids.js';
import { money, type Money } from './money.js';
import type {
  CaptureRecord,
  DisputeRecord,
  MerchantRecord,
  OrderRecord,
  PayerRecord,
  RefundRecord,
  UnitRecord,
} from './model.js';

/**
 * PayPal's JSON representations of the emulator's records (field names and shapes from the Orders v2, Payments v2,
 * Partner Referrals and Disputes specs). HATEOAS links point at the emulator (`publicUrl`) where PayPal's point at
 * api-m.sandbox.paypal.com / www.sandbox.paypal.com.
 */
export interface PresentContext {
  publicUrl(): string;
  partnerMerchantId: string;
}

type Json = Record<string, unknown>;

function link(href: string, rel: string, method: string): Json {
  return { href, rel, method };
}

export function approveUrl(ctx: PresentContext, orderId: string): string {
  return `${ctx.publicUrl()}/checkoutnow?token=${encodeURIComponent(orderId)}`;
}

function orderLinks(ctx: PresentContext, o: OrderRecord): Json[] {
  const self = `${ctx.publicUrl()}/v2/checkout/orders/${o.id}`;
  const links = [link(self, 'self', 'GET')];
  if (o.status === 'CREATED')
    links.push(
      link(approveUrl(ctx, o.id), 'approve', 'GET'),
      link(self, 'update', 'PATCH'),
      link(`${self}/capture`, 'capture', 'POST'),
    );
  if (o.status === 'PAYER_ACTION_REQUIRED') links.push(link(approveUrl(ctx, o.id), 'payer-action', 'GET'));
  if (o.status === 'APPROVED')
    links.push(link(self, 'update', 'PATCH'), link(`${self}/capture`, 'capture', 'POST'));
  return links;
}

function payerJson(p: PayerRecord): Json {
  return {
    name: { given_name: p.givenName, surname: p.surname },
    email_address: p.email,
    payer_id: p.payerId,
    address: { country_code: p.countryCode },
  };
}

function paymentSourceJson(o: OrderRecord): Json | undefined {
  if (o.payer)
    return {
      paypal: {
        email_address: o.payer.email,
        account_id: o.payer.payerId,
        account_status: 'VERIFIED',
        name: { given_name: o.payer.givenName, surname: o.payer.surname },
        address: { country_code: o.payer.countryCode },
      },
    };
  if (o.experience.kind === 'payment_source') return { paypal: {} };
  return undefined;
}

function feesJson(ctx: PresentContext, currency: string, fee: bigint | null): Json[] | undefined {
  if (fee === null) return undefined;
  return [{ amount: money(currency, fee), payee: { merchant_id: ctx.partnerMerchantId } }];
}

function unitJson(ctx: PresentContext, u: UnitRecord, captures: CaptureRecord[]): Json {
  const out: Json = {
    reference_id: u.referenceId,
    amount: money(u.currency, u.amountMinor),
    payee: { email_address: u.payeeEmail, merchant_id: u.payeeMerchantId },
  };
  const fees = feesJson(ctx, u.currency, u.feeMinor);
  if (fees) out['payment_instruction'] = { platform_fees: fees, disbursement_mode: u.disbursementMode };
  if (u.description !== null) out['description'] = u.description;
  if (u.customId !== null) out['custom_id'] = u.customId;
  if (u.invoiceId !== null) out['invoice_id'] = u.invoiceId;
  if (u.softDescriptor !== null) out['soft_descriptor'] = u.softDescriptor;
  if (captures.length > 0) out['payments'] = { captures: captures.map((c) => captureJson(ctx, c)) };
  return out;
}

/**
 * An order. `full` is `Prefer: return=representation` (and every GET); otherwise the minimal answer PayPal gives by
 * default: `{id, status, links}` on create (plus `payment_source` for the payer-action flow), and on capture also the
 * purchase units' captures and the payer.
 */
export function orderJson(
  ctx: PresentContext,
  o: OrderRecord,
  captures: (id: string) => CaptureRecord | undefined,
  view: 'full' | 'minimal-create' | 'minimal-capture',
): Json {
  const unitCaptures = (u: UnitRecord): CaptureRecord[] =>
    u.captureIds.map(captures).filter((c): c is CaptureRecord => c !== undefined);
  const out: Json = { id: o.id };
  const source = paymentSourceJson(o);
  if (view === 'full') {
    out['intent'] = o.intent;
    out['status'] = o.status;
    if (source) out['payment_source'] = source;
    out['purchase_units'] = o.units.map((u) => unitJson(ctx, u, unitCaptures(u)));
    if (o.payer) out['payer'] = payerJson(o.payer);
    out['create_time'] = isoTime(o.createdAt);
    out['update_time'] = isoTime(o.updatedAt);
  } else if (view === 'minimal-create') {
    out['status'] = o.status;
    if (source) out['payment_source'] = source;
  } else {
    out['status'] = o.status;
    if (source) out['payment_source'] = source;
    out['purchase_units'] = o.units.map((u) => ({
      reference_id: u.referenceId,
      payments: { captures: unitCaptures(u).map((c) => captureJson(ctx, c)) },
    }));
    if (o.payer) out['payer'] = payerJson(o.payer);
  }
  out['links'] = orderLinks(ctx, o);
  return out;
}

function breakdown(ctx: PresentContext, c: CaptureRecord): Json {
  const fee = c.platformFeeMinor ?? 0n;
  const out: Json = {
    gross_amount: money(c.currency, c.amountMinor),
    paypal_fee: money(c.currency, c.paypalFeeMinor),
    net_amount: money(c.currency, c.amountMinor - c.paypalFeeMinor - fee),
  };
  const fees = feesJson(ctx, c.currency, c.platformFeeMinor);
  if (fees) out['platform_fees'] = fees;
  return out;
}

export function captureJson(ctx: PresentContext, c: CaptureRecord): Json {
  const base = ctx.publicUrl();
  const out: Json = { id: c.id, status: c.status };
  if (c.statusReason !== null) out['status_details'] = { reason: c.statusReason };
  out['amount'] = money(c.currency, c.amountMinor);
  out['final_capture'] = true;
  out['disbursement_mode'] = 'INSTANT';
  out['seller_protection'] = {
    status: 'ELIGIBLE',
    dispute_categories: ['ITEM_NOT_RECEIVED', 'UNAUTHORIZED_TRANSACTION'],
  };
  if (c.status !== 'DECLINED' && c.status !== 'FAILED' && c.status !== 'PENDING')
    out['seller_receivable_breakdown'] = breakdown(ctx, c);
  if (c.customId !== null) out['custom_id'] = c.customId;
  if (c.invoiceId !== null) out['invoice_id'] = c.invoiceId;
  out['supplementary_data'] = { related_ids: { order_id: c.orderId } };
  out['payee'] = { email_address: c.payeeEmail, merchant_id: c.payeeMerchantId };
  const links = [link(`${base}/v2/payments/captures/${c.id}`, 'self', 'GET')];
  if (c.status === 'COMPLETED' || c.status === 'PARTIALLY_REFUNDED')
    links.push(link(`${base}/v2/payments/captures/${c.id}/refund`, 'refund', 'POST'));
  links.push(link(`${base}/v2/checkout/orders/${c.orderId}`, 'up', 'GET'));
  out['links'] = links;
  out['create_time'] = isoTime(c.createdAt);
  out['update_time'] = isoTime(c.updatedAt);
  return out;
}

export function refundJson(
  ctx: PresentContext,
  r: RefundRecord,
  capture: CaptureRecord,
  full: boolean,
): Json {
  const base = ctx.publicUrl();
  const links = [
    link(`${base}/v2/payments/refunds/${r.id}`, 'self', 'GET'),
    link(`${base}/v2/payments/captures/${r.captureId}`, 'up', 'GET'),
  ];
  if (!full) return { id: r.id, status: r.status, links };
  const fee = r.platformFeeMinor ?? 0n;
  const payable: Json = {
    gross_amount: money(r.currency, r.amountMinor),
    paypal_fee: money(r.currency, r.paypalFeeMinor),
    net_amount: money(r.currency, r.amountMinor - r.paypalFeeMinor - fee),
  };
  const fees = feesJson(ctx, r.currency, r.platformFeeMinor);
  if (fees) payable['platform_fees'] = fees;
  payable['total_refunded_amount'] = money(r.currency, r.totalRefundedMinor);
  const out: Json = { id: r.id, status: r.status };
  if (r.statusReason !== null) out['status_details'] = { reason: r.statusReason };
  out['amount'] = money(r.currency, r.amountMinor);
  if (r.invoiceId !== null) out['invoice_id'] = r.invoiceId;
  if (r.customId !== null) out['custom_id'] = r.customId;
  if (r.noteToPayer !== null) out['note_to_payer'] = r.noteToPayer;
  out['seller_payable_breakdown'] = payable;
  out['payer'] = { email_address: capture.payeeEmail, merchant_id: capture.payeeMerchantId };
  out['links'] = links;
  out['create_time'] = isoTime(r.createdAt);
  out['update_time'] = isoTime(r.updatedAt);
  return out;
}

const SCOPES_BY_FEATURE: Readonly<Record<string, string>> = {
  PAYMENT: 'https://uri.paypal.com/services/payments/realtimepayment',
  REFUND: 'https://uri.paypal.com/services/payments/refund',
  PARTNER_FEE: 'https://uri.paypal.com/services/payments/partnerfee',
  DELAY_FUNDS_DISBURSEMENT: 'https://uri.paypal.com/services/payments/delay-funds-disbursement',
  READ_SELLER_DISPUTE: 'https://uri.paypal.com/services/disputes/read-seller',
  UPDATE_SELLER_DISPUTE: 'https://uri.paypal.com/services/disputes/update-seller',
  ACCESS_MERCHANT_INFORMATION: 'https://uri.paypal.com/services/customer/merchant-integrations/read',
};

export function merchantIntegrationJson(ctx: PresentContext, m: MerchantRecord): Json {
  const capabilities = ['PAYPAL_CHECKOUT', 'PAYPAL_CHECKOUT_ALTERNATIVE_PAYMENT_METHODS'];
  return {
    merchant_id: m.merchantId,
    tracking_id: m.trackingId ?? undefined,
    products: [
      {
        name: 'PPCP_STANDARD',
        vetting_status: 'SUBSCRIBED',
        capabilities,
      },
      { name: 'EXPRESS_CHECKOUT', status: 'ACTIVE' },
    ],
    capabilities: capabilities.map((name) => ({ name, status: 'ACTIVE' })),
    payments_receivable: m.paymentsReceivable,
    legal_name: m.legalName,
    primary_email: m.email,
    primary_email_confirmed: m.emailConfirmed,
    oauth_integrations:
      m.consent === 'granted'
        ? [
            {
              integration_type: 'OAUTH_THIRD_PARTY',
              integration_method: 'PAYPAL',
              oauth_third_party: [
                {
                  partner_client_id: m.partnerClientId,
                  merchant_client_id: `emulator-merchant-client-${m.merchantId}`,
                  scopes: m.features.map((f) => SCOPES_BY_FEATURE[f] ?? f),
                },
              ],
            },
          ]
        : [],
    links: [
      {
        href: `${ctx.publicUrl()}/v1/customer/partners/${ctx.partnerMerchantId}/merchant-integrations/${m.merchantId}`,
        rel: 'self',
        method: 'GET',
      },
    ],
  };
}

export function disputeJson(ctx: PresentContext, d: DisputeRecord, capture: CaptureRecord): Json {
  const out: Json = {
    dispute_id: d.id,
    create_time: isoTime(d.createdAt),
    update_time: isoTime(d.updatedAt),
    disputed_transactions: [
      {
        seller_transaction_id: capture.id,
        create_time: isoTime(capture.createdAt),
        transaction_status: capture.status,
        gross_amount: money(capture.currency, capture.amountMinor),
        custom: capture.customId ?? undefined,
        invoice_number: capture.invoiceId ?? undefined,
        seller: { merchant_id: capture.payeeMerchantId, email: capture.payeeEmail },
      },
    ],
    reason: d.reason,
    status: d.status,
    dispute_amount: money(d.currency, d.amountMinor),
    dispute_life_cycle_stage: d.stage,
    dispute_channel: 'INTERNAL',
  };
  if (d.outcome)
    out['dispute_outcome'] = {
      outcome_code: d.outcome,
      ...(d.outcome === 'RESOLVED_BUYER_FAVOUR' ? { amount_refunded: money(d.currency, d.amountMinor) } : {}),
    };
  out['links'] = [link(`${ctx.publicUrl()}/v1/customer/disputes/${d.id}`, 'self', 'GET')];
  return out;
}

export function moneyOf(currency: string, minor: bigint): Money {
  return money(currency, minor);
}

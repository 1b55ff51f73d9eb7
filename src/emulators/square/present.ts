import type {
  Dispute,
  Location,
  Merchant,
  Order,
  Payment,
  PaymentLink,
  Refund,
  Subscription,
} from './model.js';

/**
 * Square's wire shapes (snake_case JSON, integer amounts) of the stored objects, with the field names of api.json
 * (`Payment`, `PaymentRefund`, `Order`, `PaymentLink`, `Dispute`, `Location`, `Merchant`, `WebhookSubscription`).
 * Fields Square omits when unset are omitted here too.
 */
export type Json = Record<string, unknown>;

export const money = (amount: number, currency: string): Json => ({ amount, currency });

/** RFC 3339 with milliseconds, UTC (`2026-11-28T08:36:22.123Z`), as Square writes most timestamps. */
export const rfc3339 = (ms: number): string => new Date(ms).toISOString();

/** RFC 3339 without fractions (`2026-12-28T08:36:22Z`), as in OAuth `expires_at` and payment links. */
export const rfc3339Seconds = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

/** Webhook subscriptions' timestamps (`2022-01-10 23:29:48 +0000 UTC`), as Square's examples show them. */
export function subscriptionTime(ms: number): string {
  const iso = new Date(ms).toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)} +0000 UTC`;
}

const ZERO_DECIMAL = new Set(['JPY', 'KRW', 'VND', 'CLP', 'ISK', 'HUF', 'TWD', 'UGX', 'XAF', 'XOF']);
export const isZeroDecimal = (currency: string): boolean => ZERO_DECIMAL.has(currency);

export function merchantJson(m: Merchant): Json {
  return {
    id: m.id,
    business_name: m.businessName,
    country: m.country,
    language_code: m.languageCode,
    currency: m.currency,
    status: 'ACTIVE',
    main_location_id: m.mainLocationId,
    created_at: rfc3339(m.createdAt),
  };
}

export function locationJson(l: Location, m: Merchant): Json {
  return {
    id: l.id,
    name: l.name,
    address: {
      address_line_1: '1 Emulator Way',
      locality: 'Sandbox',
      postal_code: '00000',
      country: l.country,
    },
    timezone: l.timezone,
    capabilities: ['CREDIT_CARD_PROCESSING', 'AUTOMATIC_TRANSFERS'],
    status: 'ACTIVE',
    created_at: rfc3339(l.createdAt),
    merchant_id: l.merchantId,
    country: l.country,
    language_code: m.languageCode,
    currency: l.currency,
    business_name: m.businessName,
    type: 'PHYSICAL',
    business_email: `owner@${m.id.toLowerCase()}.example`,
    mcc: '7299',
  };
}

export function orderJson(o: Order, p: Payment | null, appName: string): Json {
  const zero = money(0, o.currency);
  const paid = o.tenderPaymentId !== null && p !== null;
  return {
    id: o.id,
    location_id: o.locationId,
    ...(o.referenceId !== null ? { reference_id: o.referenceId } : {}),
    source: { name: appName },
    line_items: o.lineItems.map((li) => ({
      uid: li.uid,
      name: li.name,
      quantity: li.quantity,
      ...(li.note !== null ? { note: li.note } : {}),
      item_type: 'ITEM',
      ...(li.metadata !== null ? { metadata: li.metadata } : {}),
      base_price_money: money(li.basePrice, o.currency),
      variation_total_price_money: money(li.total, o.currency),
      gross_sales_money: money(li.total, o.currency),
      total_tax_money: zero,
      total_discount_money: zero,
      total_money: money(li.total, o.currency),
      total_service_charge_money: zero,
    })),
    ...(o.metadata !== null ? { metadata: o.metadata } : {}),
    net_amounts: {
      total_money: money(o.total, o.currency),
      tax_money: zero,
      discount_money: zero,
      tip_money: zero,
      service_charge_money: zero,
    },
    ...(paid && p
      ? {
          tenders: [
            {
              id: p.id,
              location_id: o.locationId,
              transaction_id: o.id,
              created_at: rfc3339(p.createdAt),
              amount_money: money(p.amount, p.currency),
              ...(p.processingFee !== null
                ? { processing_fee_money: money(p.processingFee, p.currency) }
                : {}),
              type: p.sourceType === 'CARD' ? 'CARD' : 'BANK_ACCOUNT',
              ...(p.sourceType === 'CARD'
                ? {
                    card_details: {
                      status: 'CAPTURED',
                      card: cardJson(p.declineCode !== null),
                      entry_method: 'KEYED',
                    },
                  }
                : {}),
              payment_id: p.id,
            },
          ],
        }
      : {}),
    created_at: rfc3339(o.createdAt),
    updated_at: rfc3339(o.updatedAt),
    ...(o.closedAt !== null ? { closed_at: rfc3339(o.closedAt) } : {}),
    state: o.state,
    version: o.version,
    total_money: money(o.total, o.currency),
    total_tax_money: zero,
    total_discount_money: zero,
    total_tip_money: zero,
    total_service_charge_money: zero,
    net_amount_due_money: paid || o.state === 'CANCELED' ? zero : money(o.total, o.currency),
  };
}

function cardJson(declined: boolean): Json {
  return declined
    ? {
        card_brand: 'VISA',
        last_4: '0002',
        exp_month: 12,
        exp_year: 2030,
        fingerprint: 'sq-1-emulator-declined-card',
        card_type: 'CREDIT',
        prepaid_type: 'NOT_PREPAID',
        bin: '400000',
      }
    : {
        card_brand: 'VISA',
        last_4: '1111',
        exp_month: 12,
        exp_year: 2030,
        fingerprint: 'sq-1-emulator-visa-4111',
        card_type: 'CREDIT',
        prepaid_type: 'NOT_PREPAID',
        bin: '411111',
      };
}

export function paymentLinkJson(l: PaymentLink, publicUrl: string): Json {
  return {
    id: l.id,
    version: l.version,
    ...(l.description !== null ? { description: l.description } : {}),
    order_id: l.orderId,
    ...(l.checkoutOptions !== null ? { checkout_options: l.checkoutOptions } : {}),
    ...(l.prePopulatedData !== null ? { pre_populated_data: l.prePopulatedData } : {}),
    url: shortUrl(l, publicUrl),
    long_url: longUrl(l, publicUrl),
    created_at: rfc3339Seconds(l.createdAt),
    ...(l.updatedAt !== null ? { updated_at: rfc3339Seconds(l.updatedAt) } : {}),
    ...(l.paymentNote !== null ? { payment_note: l.paymentNote } : {}),
  };
}

export const shortUrl = (l: PaymentLink, publicUrl: string): string => `${publicUrl}/u/${l.shortCode}`;
export const longUrl = (l: PaymentLink, publicUrl: string): string =>
  `${publicUrl}/merchant/${l.merchantId}/checkout/${l.id}`;

export function paymentJson(p: Payment, applicationId: string, publicUrl: string): Json {
  const m = (n: number): Json => money(n, p.currency);
  const card = p.sourceType === 'CARD';
  return {
    id: p.id,
    created_at: rfc3339(p.createdAt),
    updated_at: rfc3339(p.updatedAt),
    amount_money: m(p.amount),
    ...(p.appFee !== null ? { app_fee_money: m(p.appFee) } : {}),
    ...(p.status !== 'FAILED' ? { approved_money: m(p.amount) } : {}),
    ...(p.processingFee !== null && p.completedAt !== null
      ? {
          processing_fee: [
            { effective_at: rfc3339(p.completedAt), type: 'INITIAL', amount_money: m(p.processingFee) },
          ],
        }
      : {}),
    ...(p.refunded > 0 ? { refunded_money: m(p.refunded) } : {}),
    status: p.status,
    ...(card
      ? {
          delay_duration: 'PT168H',
          delay_action: 'CANCEL',
          delayed_until: rfc3339(p.createdAt + 168 * 3600_000),
        }
      : {}),
    source_type: p.sourceType,
    ...(card
      ? {
          card_details: {
            status: p.cardStatus,
            card: cardJson(p.declineCode !== null),
            entry_method: 'KEYED',
            cvv_status: p.declineCode !== null ? 'CVV_NOT_CHECKED' : 'CVV_ACCEPTED',
            avs_status: p.declineCode !== null ? 'AVS_NOT_CHECKED' : 'AVS_ACCEPTED',
            statement_description: 'SQ *SETTLE EMULATOR',
            card_payment_timeline: {
              authorized_at: rfc3339(p.createdAt),
              ...(p.cardStatus === 'CAPTURED' && p.completedAt !== null
                ? { captured_at: rfc3339(p.completedAt) }
                : {}),
            },
            ...(p.declineCode !== null
              ? {
                  errors: [
                    {
                      category: 'PAYMENT_METHOD_ERROR',
                      code: p.declineCode,
                      detail: 'Authorization error: GENERIC_DECLINE',
                    },
                  ],
                }
              : {}),
          },
        }
      : {
          bank_account_details: {
            bank_name: 'Emulator Bank',
            transfer_type: 'ACH',
            account_ownership_type: 'INDIVIDUAL',
            fingerprint: 'sq-1-emulator-bank-account',
            country: 'US',
            statement_description: 'SQ *SETTLE EMULATOR',
            ach_details: {
              routing_number: '011000015',
              account_number_suffix: '000',
              account_type: 'CHECKING',
            },
          },
        }),
    location_id: p.locationId,
    order_id: p.orderId,
    ...(p.refundIds.length > 0 ? { refund_ids: [...p.refundIds] } : {}),
    ...(p.buyerEmail !== null ? { buyer_email_address: p.buyerEmail } : {}),
    ...(p.note !== null ? { note: p.note } : {}),
    total_money: m(p.amount),
    ...(p.status !== 'FAILED'
      ? { receipt_number: p.id.slice(0, 4), receipt_url: `${publicUrl}/receipt/preview/${p.id}` }
      : {}),
    capabilities:
      p.status === 'COMPLETED'
        ? ['EDIT_AMOUNT_UP', 'EDIT_AMOUNT_DOWN', 'EDIT_TIP_AMOUNT_UP', 'EDIT_TIP_AMOUNT_DOWN']
        : [],
    application_details: { square_product: 'ECOMMERCE_API', application_id: applicationId },
    version_token: p.versionToken,
  };
}

export function refundJson(r: Refund): Json {
  return {
    id: r.id,
    status: r.status,
    location_id: r.locationId,
    unlinked: false,
    destination_type: 'CARD',
    amount_money: money(r.amount, r.currency),
    ...(r.appFee !== null ? { app_fee_money: money(r.appFee, r.currency) } : {}),
    payment_id: r.paymentId,
    order_id: r.orderId,
    ...(r.reason !== null ? { reason: r.reason } : {}),
    created_at: rfc3339(r.createdAt),
    updated_at: rfc3339(r.updatedAt),
  };
}

export function disputeJson(d: Dispute): Json {
  return {
    dispute_id: d.id,
    id: d.id,
    amount_money: money(d.amount, d.currency),
    reason: d.reason,
    state: d.state,
    due_at: rfc3339(d.dueAt),
    disputed_payment: { payment_id: d.paymentId },
    card_brand: 'VISA',
    created_at: rfc3339(d.createdAt),
    updated_at: rfc3339(d.updatedAt),
    brand_dispute_id: d.brandDisputeId,
    reported_at: rfc3339(d.reportedAt),
    version: d.version,
    location_id: d.locationId,
  };
}

export function subscriptionJson(s: Subscription, withKey: boolean): Json {
  return {
    id: s.id,
    ...(s.name !== null ? { name: s.name } : {}),
    enabled: s.enabled,
    event_types: [...s.eventTypes],
    notification_url: s.url,
    api_version: s.apiVersion,
    ...(withKey ? { signature_key: s.signatureKey } : {}),
    created_at: subscriptionTime(s.createdAt),
    updated_at: subscriptionTime(s.updatedAt),
  };
}

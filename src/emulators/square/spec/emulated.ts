/**
 * What the Square emulator implements of each operation it serves: the request-body fields (dotted paths, `[]` for
 * array items) and query parameters it checks and acts on. Listing a path emulates that field and everything under
 * it; listing only children of an object emulates the object as a container of those children. Every other field
 * Square documents for the operation becomes `unsupported` in the generated table (refused with a clear error).
 * A value of `'falseOnly'` emulates a boolean only as off (`false`/null accepted, `true` refused).
 *
 * Input of `generate.ts`; `test/emulators/square/spec.test.ts` checks the generated table against this file and
 * against the pinned SDK's request serializers.
 */
export interface EmulatedOperation {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  path: string;
  body?: Readonly<Record<string, true | 'falseOnly'>>;
  query?: readonly string[];
}

export const EMULATED: Readonly<Record<string, EmulatedOperation>> = {
  ObtainToken: {
    method: 'POST',
    path: '/oauth2/token',
    body: {
      client_id: true,
      client_secret: true,
      code: true,
      redirect_uri: true,
      grant_type: true,
      refresh_token: true,
      scopes: true,
      short_lived: true,
    },
  },
  RevokeToken: {
    method: 'POST',
    path: '/oauth2/revoke',
    body: { client_id: true, access_token: true, merchant_id: true, revoke_only_access_token: true },
  },
  RetrieveTokenStatus: { method: 'POST', path: '/oauth2/token/status' },
  ListLocations: { method: 'GET', path: '/v2/locations' },
  RetrieveLocation: { method: 'GET', path: '/v2/locations/{location_id}' },
  ListMerchants: { method: 'GET', path: '/v2/merchants', query: ['cursor'] },
  RetrieveMerchant: { method: 'GET', path: '/v2/merchants/{merchant_id}' },
  RetrieveOrder: { method: 'GET', path: '/v2/orders/{order_id}' },
  BatchRetrieveOrders: {
    method: 'POST',
    path: '/v2/orders/batch-retrieve',
    body: { location_id: true, order_ids: true },
  },
  CreatePaymentLink: {
    method: 'POST',
    path: '/v2/online-checkout/payment-links',
    body: {
      idempotency_key: true,
      description: true,
      quick_pay: true,
      'order.location_id': true,
      'order.reference_id': true,
      'order.metadata': true,
      'order.line_items[].uid': true,
      'order.line_items[].name': true,
      'order.line_items[].quantity': true,
      'order.line_items[].note': true,
      'order.line_items[].metadata': true,
      'order.line_items[].base_price_money': true,
      'checkout_options.redirect_url': true,
      'checkout_options.app_fee_money': true,
      'checkout_options.merchant_support_email': true,
      'checkout_options.allow_tipping': 'falseOnly',
      'checkout_options.ask_for_shipping_address': 'falseOnly',
      'checkout_options.enable_coupon': 'falseOnly',
      'checkout_options.enable_loyalty': 'falseOnly',
      'pre_populated_data.buyer_email': true,
      'pre_populated_data.buyer_phone_number': true,
      payment_note: true,
    },
  },
  ListPaymentLinks: {
    method: 'GET',
    path: '/v2/online-checkout/payment-links',
    query: ['cursor', 'limit'],
  },
  RetrievePaymentLink: { method: 'GET', path: '/v2/online-checkout/payment-links/{id}' },
  DeletePaymentLink: { method: 'DELETE', path: '/v2/online-checkout/payment-links/{id}' },
  GetPayment: { method: 'GET', path: '/v2/payments/{payment_id}' },
  ListPayments: {
    method: 'GET',
    path: '/v2/payments',
    query: [
      'begin_time',
      'end_time',
      'sort_order',
      'cursor',
      'location_id',
      'total',
      'last_4',
      'card_brand',
      'limit',
      'updated_at_begin_time',
      'updated_at_end_time',
      'sort_field',
    ],
  },
  RefundPayment: {
    method: 'POST',
    path: '/v2/refunds',
    body: {
      idempotency_key: true,
      amount_money: true,
      app_fee_money: true,
      payment_id: true,
      reason: true,
      payment_version_token: true,
    },
  },
  GetPaymentRefund: { method: 'GET', path: '/v2/refunds/{refund_id}' },
  ListPaymentRefunds: {
    method: 'GET',
    path: '/v2/refunds',
    query: ['begin_time', 'end_time', 'sort_order', 'cursor', 'location_id', 'status', 'limit'],
  },
  ListDisputes: { method: 'GET', path: '/v2/disputes', query: ['cursor', 'states', 'location_id'] },
  RetrieveDispute: { method: 'GET', path: '/v2/disputes/{dispute_id}' },
  SearchEvents: {
    method: 'POST',
    path: '/v2/events',
    body: {
      cursor: true,
      limit: true,
      'query.filter.event_types': true,
      'query.filter.merchant_ids': true,
      'query.filter.location_ids': true,
      'query.filter.created_at': true,
      'query.sort': true,
    },
  },
  EnableEvents: { method: 'PUT', path: '/v2/events/enable' },
  DisableEvents: { method: 'PUT', path: '/v2/events/disable' },
  ListEventTypes: { method: 'GET', path: '/v2/events/types', query: ['api_version'] },
  ListWebhookEventTypes: { method: 'GET', path: '/v2/webhooks/event-types', query: ['api_version'] },
  ListWebhookSubscriptions: {
    method: 'GET',
    path: '/v2/webhooks/subscriptions',
    query: ['cursor', 'include_disabled', 'sort_order', 'limit'],
  },
  CreateWebhookSubscription: {
    method: 'POST',
    path: '/v2/webhooks/subscriptions',
    body: {
      idempotency_key: true,
      'subscription.name': true,
      'subscription.enabled': true,
      'subscription.event_types': true,
      'subscription.notification_url': true,
      'subscription.api_version': true,
    },
  },
  RetrieveWebhookSubscription: { method: 'GET', path: '/v2/webhooks/subscriptions/{subscription_id}' },
  UpdateWebhookSubscription: {
    method: 'PUT',
    path: '/v2/webhooks/subscriptions/{subscription_id}',
    body: {
      'subscription.name': true,
      'subscription.enabled': true,
      'subscription.event_types': true,
      'subscription.notification_url': true,
      'subscription.api_version': true,
    },
  },
  DeleteWebhookSubscription: { method: 'DELETE', path: '/v2/webhooks/subscriptions/{subscription_id}' },
  UpdateWebhookSubscriptionSignatureKey: {
    method: 'POST',
    path: '/v2/webhooks/subscriptions/{subscription_id}/signature-key',
    body: { idempotency_key: true },
  },
};

/**
 * Fields the pinned SDK (square@46.0.0, Square-Version 2026-09-16) can send that the spec snapshot does not document
 * yet. They are Square's (the SDK is generated from Square's newer definition), so the table lists them as
 * `unsupported` (refused as not emulated) rather than unknown.
 */
export const SDK_ONLY_FIELDS: Readonly<Record<string, readonly string[]>> = {
  // "Indicates whether to use a JWT (JSON Web Token) as the OAuth access token."
  ObtainToken: ['use_jwt'],
  // "Details pertaining to contributors to the refund of the application fee."
  RefundPayment: ['app_fee_allocations'],
};

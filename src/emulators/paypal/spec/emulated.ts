/**
 * What the PayPal emulator implements, per operation: the request-body fields it validates and acts on. Every other
 * field PayPal documents for the operation is generated as `unsupported` (refused with 400 `NOT_SUPPORTED`, naming
 * the field); a field PayPal does not document is unknown (refused the same way, with a different description).
 *
 * Path syntax: `a.b` nests, `[]` is an array's items, a trailing `.**` keeps the whole documented subtree, `=any`
 * accepts any JSON value there. A path implies its parents.
 *
 * This file is an input of `generate.ts`; `test/emulators/paypal/spec.test.ts` checks that every path exists in
 * PayPal's spec and that the generated tables match it.
 */
export const EMULATED_FIELDS: Readonly<Record<string, readonly string[]>> = {
  'orders.create': [
    'intent',
    'purchase_units[].reference_id',
    'purchase_units[].amount.currency_code',
    'purchase_units[].amount.value',
    'purchase_units[].payee.merchant_id',
    'purchase_units[].payment_instruction.platform_fees[].amount.**',
    'purchase_units[].payment_instruction.disbursement_mode',
    'purchase_units[].description',
    'purchase_units[].custom_id',
    'purchase_units[].invoice_id',
    'purchase_units[].soft_descriptor',
    'payment_source.paypal.experience_context.**',
    'application_context.brand_name',
    'application_context.locale',
    'application_context.landing_page',
    'application_context.shipping_preference',
    'application_context.user_action',
    'application_context.return_url',
    'application_context.cancel_url',
  ],
  'orders.capture': [],
  'captures.refund': [
    'amount.**',
    'custom_id',
    'invoice_id',
    'note_to_payer',
    'payment_instruction.platform_fees[].amount.**',
  ],
  'partner-referrals.create': [
    'tracking_id',
    'email',
    'preferred_language_code',
    'operations[].operation',
    'operations[].api_integration_preference.rest_api_integration.**',
    'products[]',
    'legal_consents.**',
    'partner_config_override.**',
  ],
  'webhooks.post': ['url', 'event_types[].name'],
  'webhooks-events.resend': ['webhook_ids[]'],
  'verify-webhook-signature.post': [
    'auth_algo',
    'cert_url',
    'transmission_id',
    'transmission_sig',
    'transmission_time',
    'webhook_id',
    'webhook_event=any',
  ],
};

/**
 * Fields the pinned SDK (@paypal/paypal-server-sdk 2.5.0, generated from a newer spec than the published OpenAPI
 * files) can send that the published files do not list. PayPal documents them in its current API reference, so they
 * are generated as `unsupported` (refused as documented but not emulated) rather than as unknown.
 * `test/emulators/paypal/spec.test.ts` checks each against the SDK's models.
 */
export const SDK_ONLY_FIELDS: Readonly<Record<string, readonly string[]>> = {
  'orders.create': [
    'processing_instruction',
    'payment_source.paypal.stored_credential',
    'payment_source.paypal.experience_context.contact_preference',
    'payment_source.paypal.experience_context.app_switch_context',
    'payment_source.paypal.experience_context.order_update_callback_config',
  ],
};

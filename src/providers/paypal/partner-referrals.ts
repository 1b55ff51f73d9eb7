import { SettleError } from '../../core/errors.js';
import { bool, isRecord, linkHref, records, shapeError, str, type PayPalRest } from './rest.js';

/**
 * Seller onboarding through PayPal's Partner Referrals API (v2) and the merchant-integrations API (v1), which the
 * SDK has no controller for: plain REST through `PayPalRest` with the SDK's own OAuth token.
 *
 * - `createReferral`: `POST /v2/customer/partner-referrals` with `tracking_id` = the Settle seller id; the answer's
 *   `action_url` link is where the seller signs up and grants the platform third-party permissions.
 * - `findMerchantId`: `GET /v1/customer/partners/{partner}/merchant-integrations?tracking_id=…` → the seller's
 *   PayPal `merchant_id`, which exists only once onboarding ended (404 until then).
 * - `merchantStatus`: `GET /v1/customer/partners/{partner}/merchant-integrations/{merchant_id}` →
 *   `payments_receivable`, `primary_email_confirmed` and the OAuth integrations.
 */

/** What Settle reads of a seller's integration with the platform. */
export interface MerchantIntegration {
  merchantId: string;
  trackingId: string | null;
  paymentsReceivable: boolean;
  primaryEmailConfirmed: boolean;
  /** The seller granted the platform third-party permissions (an active THIRD_PARTY / OAUTH_THIRD_PARTY integration). */
  thirdPartyGranted: boolean | null;
}

/** The permissions the platform asks for: take payments with a platform fee, refund them, read the seller's status. */
export const REFERRAL_FEATURES = ['PAYMENT', 'REFUND', 'PARTNER_FEE', 'ACCESS_MERCHANT_INFORMATION'] as const;

/** PayPal's limit for `partner_config_override.return_url`. */
const RETURN_URL_MAX = 127;

export class PartnerReferrals {
  constructor(
    private readonly rest: PayPalRest,
    private readonly partnerMerchantId: string | null,
  ) {}

  private partner(): string {
    if (this.partnerMerchantId === null)
      throw new SettleError(
        'provider_not_configured',
        "PAYPAL_PARTNER_MERCHANT_ID is not set: sellers' PayPal onboarding status cannot be read.",
      );
    return encodeURIComponent(this.partnerMerchantId);
  }

  async createReferral(input: {
    trackingId: string;
    email: string;
    returnUrl: string;
  }): Promise<{ url: string }> {
    if (input.returnUrl.length > RETURN_URL_MAX)
      throw new SettleError(
        'validation_failed',
        `The onboarding return URL is ${input.returnUrl.length} characters; PayPal accepts at most ${RETURN_URL_MAX} (shorten PUBLIC_URL).`,
      );
    return this.rest.request('partner-referrals.create', {
      method: 'POST',
      path: '/v2/customer/partner-referrals',
      body: {
        tracking_id: input.trackingId,
        email: input.email,
        operations: [
          {
            operation: 'API_INTEGRATION',
            api_integration_preference: {
              rest_api_integration: {
                integration_method: 'PAYPAL',
                integration_type: 'THIRD_PARTY',
                third_party_details: { features: [...REFERRAL_FEATURES] },
              },
            },
          },
        ],
        products: ['EXPRESS_CHECKOUT'],
        legal_consents: [{ type: 'SHARE_DATA_CONSENT', granted: true }],
        partner_config_override: {
          return_url: input.returnUrl,
          return_url_description: 'Back to the marketplace',
        },
      },
      parse: (body) => {
        const url = isRecord(body) ? linkHref(body['links'], 'action_url') : undefined;
        if (url === undefined) throw shapeError('a partner referral');
        return { url };
      },
    });
  }

  /** The merchant id PayPal assigned to the seller who signed up with this tracking id, or null while none. */
  async findMerchantId(trackingId: string): Promise<string | null> {
    return this.rest.request('merchant-integrations.find', {
      method: 'GET',
      path: `/v1/customer/partners/${this.partner()}/merchant-integrations`,
      query: { tracking_id: trackingId },
      accept: [404],
      parse: (body) => {
        if (isRecord(body) && body['status'] === 404) return null;
        const merchantId = isRecord(body) ? str(body['merchant_id']) : undefined;
        if (merchantId === undefined || merchantId === '') return null;
        // The answer must be about this seller: a merchant found for another tracking id is not this seller's.
        const echoed = isRecord(body) ? str(body['tracking_id']) : undefined;
        if (echoed !== undefined && echoed !== trackingId)
          throw shapeError('a merchant for another tracking id');
        return merchantId;
      },
    });
  }

  async merchantStatus(merchantId: string): Promise<MerchantIntegration> {
    return this.rest.request('merchant-integrations.status', {
      method: 'GET',
      path: `/v1/customer/partners/${this.partner()}/merchant-integrations/${encodeURIComponent(merchantId)}`,
      parse: (body) => {
        if (!isRecord(body) || str(body['merchant_id']) !== merchantId)
          throw shapeError('a merchant integration');
        const integrations = body['oauth_integrations'];
        const thirdParty =
          integrations === undefined
            ? null
            : records(integrations).some(
                (i) =>
                  (i['integration_type'] === 'OAUTH_THIRD_PARTY' ||
                    i['integration_type'] === 'THIRD_PARTY') &&
                  i['status'] !== 'I',
              );
        return {
          merchantId,
          trackingId: str(body['tracking_id']) ?? null,
          paymentsReceivable: bool(body['payments_receivable']) ?? false,
          primaryEmailConfirmed: bool(body['primary_email_confirmed']) ?? false,
          thirdPartyGranted: thirdParty,
        };
      },
    });
  }
}

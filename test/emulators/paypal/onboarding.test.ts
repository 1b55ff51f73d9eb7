import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  issueOf,
  orderBody,
  referralBody,
  sdkError,
  startHarness,
  startReceiver,
  subscribe,
  type Harness,
  type Receiver,
} from './helpers.js';

let h: Harness;
let receiver: Receiver;
beforeAll(async () => {
  h = await startHarness();
  receiver = await startReceiver();
  await subscribe(h, receiver.url, ['MERCHANT.ONBOARDING.COMPLETED', 'MERCHANT.PARTNER-CONSENT.REVOKED']);
});
afterAll(async () => {
  await h.close();
  await receiver.close();
});

describe('partner referrals and onboarding', () => {
  it('creates a referral with self and action_url links; the onboarding page redirects with merchantIdInPayPal', async () => {
    const created = await h.http('POST', '/v2/customer/partner-referrals', referralBody('seller-42'));
    expect(created.status).toBe(201);
    const links = created.json['links'] as Array<{ rel: string; href: string; method: string }>;
    expect(links.map((l) => l.rel)).toEqual(['self', 'action_url']);
    const self = links[0]?.href ?? '';
    const action = links[1]?.href ?? '';
    expect(action).toMatch(/\/bizsignup\/partner\/entry\?referralToken=/);

    const read = await h.http('GET', new URL(self).pathname);
    expect(read.json['partner_referral_id']).toBeTruthy();
    expect((read.json['referral_data'] as Record<string, unknown>)['tracking_id']).toBe('seller-42');

    const page = await fetch(action);
    const html = await page.text();
    expect(page.status).toBe(200);
    expect(html).toContain('seller-42');
    const post = await fetch(action, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'form=1&email=owner%40seller42.example&email_confirmed=on&payments_receivable=on&action=complete',
      redirect: 'manual',
    });
    expect(post.status).toBe(303);
    const ret = new URL(post.headers.get('location') ?? '');
    expect(`${ret.origin}${ret.pathname}`).toBe('https://settle.example/sellers/paypal/return');
    expect(ret.searchParams.get('merchantId')).toBe('seller-42');
    const merchantId = ret.searchParams.get('merchantIdInPayPal') ?? '';
    expect(merchantId).toMatch(/^[2-9A-HJ-NP-Z]{13}$/);
    expect(ret.searchParams.get('permissionsGranted')).toBe('true');

    const status = await h.http(
      'GET',
      `/v1/customer/partners/${h.emu.partnerMerchantId}/merchant-integrations/${merchantId}`,
    );
    expect(status.status).toBe(200);
    expect(status.json).toMatchObject({
      merchant_id: merchantId,
      tracking_id: 'seller-42',
      payments_receivable: true,
      primary_email_confirmed: true,
      primary_email: 'owner@seller42.example',
    });
    const oauth = status.json['oauth_integrations'] as Array<{
      oauth_third_party: Array<{ scopes: string[] }>;
    }>;
    expect(oauth[0]?.oauth_third_party[0]?.scopes).toContain(
      'https://uri.paypal.com/services/payments/refund',
    );

    const lookup = await h.http(
      'GET',
      `/v1/customer/partners/${h.emu.partnerMerchantId}/merchant-integrations?tracking_id=seller-42`,
    );
    expect(lookup.json['merchant_id']).toBe(merchantId);

    await h.emu.idle();
    const ev = receiver.received.find((r) => r.event.event_type === 'MERCHANT.ONBOARDING.COMPLETED');
    expect(ev?.event.resource['merchant_id']).toBe(merchantId);
    expect(ev?.event.resource['partner_client_id']).toBe('emulator-client-id');
  });

  it('reports an unconfirmed e-mail and a restricted account as the seller chose them', async () => {
    await h.http('POST', '/v2/customer/partner-referrals', referralBody('seller-unconfirmed'));
    const { merchantId, redirectUrl } = await h.emu.completeOnboarding('seller-unconfirmed', {
      emailConfirmed: false,
      paymentsReceivable: false,
    });
    expect(new URL(redirectUrl ?? '').searchParams.get('isEmailConfirmed')).toBe('false');
    const status = await h.http(
      'GET',
      `/v1/customer/partners/${h.emu.partnerMerchantId}/merchant-integrations/${merchantId}`,
    );
    expect(status.json['payments_receivable']).toBe(false);
    expect(status.json['primary_email_confirmed']).toBe(false);
  });

  it('revokes consent: empty oauth_integrations, MERCHANT.PARTNER-CONSENT.REVOKED, no more fee orders', async () => {
    await h.http('POST', '/v2/customer/partner-referrals', referralBody('seller-revoke'));
    const done = await fetch(`${h.emu.url}/_emulator/partner-referrals/seller-revoke/complete`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    const merchantId = String(((await done.json()) as Record<string, unknown>)['merchant_id']);
    const ok = await h.orders.createOrder({ body: orderBody({ payee: merchantId, fee: '1.00' }) });
    expect(ok.statusCode).toBe(201);
    await h.emu.revokeConsent(merchantId);
    const status = await h.http(
      'GET',
      `/v1/customer/partners/${h.emu.partnerMerchantId}/merchant-integrations/${merchantId}`,
    );
    expect(status.json['oauth_integrations']).toEqual([]);
    const denied = await sdkError(
      h.orders.createOrder({ body: orderBody({ payee: merchantId, fee: '1.00' }) }),
    );
    expect(denied.status).toBe(403);
    expect(issueOf(denied.body)).toBe('PERMISSION_DENIED');
    // The order created before the revocation cannot be captured with a fee either.
    const id = ok.result.id ?? '';
    await h.emu.approveOrder(id);
    const capture = await sdkError(h.orders.captureOrder({ id }));
    expect(capture.status).toBe(403);
    expect(issueOf(capture.body)).toBe('CONSENT_NEEDED');
    await h.emu.idle();
    const ev = receiver.received.find((r) => r.event.event_type === 'MERCHANT.PARTNER-CONSENT.REVOKED');
    expect(ev?.event.resource['merchant_id']).toBe(merchantId);
    // Onboarding again with the same tracking id restores consent on the same merchant id.
    await h.http('POST', '/v2/customer/partner-referrals', referralBody('seller-revoke'));
    const again = await h.emu.completeOnboarding('seller-revoke');
    expect(again.merchantId).toBe(merchantId);
  });

  it('answers 404 for an unknown merchant or tracking id and 403 for another partner id', async () => {
    const unknown = await h.http(
      'GET',
      `/v1/customer/partners/${h.emu.partnerMerchantId}/merchant-integrations/ABCDEFGHJKLMN`,
    );
    expect(unknown.status).toBe(404);
    const noTracking = await h.http(
      'GET',
      `/v1/customer/partners/${h.emu.partnerMerchantId}/merchant-integrations?tracking_id=nobody`,
    );
    expect(noTracking.status).toBe(404);
    const other = await h.http(
      'GET',
      '/v1/customer/partners/ZZZZZZZZZZZZZ/merchant-integrations/ABCDEFGHJKLMN',
    );
    expect(other.status).toBe(403);
  });

  it('implements only THIRD_PARTY API integrations', async () => {
    const body = referralBody('seller-first-party');
    body['operations'] = [
      {
        operation: 'API_INTEGRATION',
        api_integration_preference: {
          rest_api_integration: { integration_method: 'PAYPAL', integration_type: 'FIRST_PARTY' },
        },
      },
    ];
    const res = await h.http('POST', '/v2/customer/partner-referrals', body);
    expect(res.status).toBe(400);
    expect(issueOf(res.json)).toBe('NOT_SUPPORTED');
  });
});

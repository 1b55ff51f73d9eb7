import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { squareClientFor } from '../../../src/emulators/square/index.js';
import {
  REDIRECT_URL,
  refused,
  startHarness,
  startReceiver,
  submitForm,
  type Harness,
  type Receiver,
} from './helpers.js';

describe('Square emulator: OAuth', () => {
  let h: Harness;
  let hook: Receiver;
  beforeEach(async () => {
    h = await startHarness();
    hook = await startReceiver();
    await h.app.webhooks.subscriptions.create({
      subscription: { notificationUrl: hook.url, eventTypes: ['oauth.authorization.revoked'] },
    });
  });
  afterEach(async () => {
    await h.close();
    await hook.close();
  });

  const authorizeUrl = (scope: string, state = 'st-123'): string =>
    `${h.emu.url}/oauth2/authorize?client_id=${h.emu.applicationId}&scope=${encodeURIComponent(scope)}&session=false&state=${state}`;

  it('the authorize page lists the requested permissions; Allow redirects to the redirect URL with code, response_type and state', async () => {
    const page = await fetch(
      authorizeUrl('MERCHANT_PROFILE_READ PAYMENTS_WRITE PAYMENTS_WRITE_ADDITIONAL_RECIPIENTS'),
    );
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('data-testid="scope-PAYMENTS_WRITE_ADDITIONAL_RECIPIENTS"');
    expect(html).toContain('data-testid="allow"');
    const res = await submitForm(`${h.emu.url}/oauth2/authorize`, {
      client_id: h.emu.applicationId,
      scope: 'MERCHANT_PROFILE_READ PAYMENTS_WRITE PAYMENTS_WRITE_ADDITIONAL_RECIPIENTS',
      state: 'st-123',
      seller_name: 'Studio Lotus',
      grant: ['MERCHANT_PROFILE_READ', 'PAYMENTS_WRITE', 'PAYMENTS_WRITE_ADDITIONAL_RECIPIENTS'],
      action: 'allow',
    });
    expect(res.status).toBe(302);
    const loc = new URL(res.headers.get('location') ?? '');
    expect(`${loc.origin}${loc.pathname}`).toBe(REDIRECT_URL);
    expect(loc.searchParams.get('state')).toBe('st-123');
    expect(loc.searchParams.get('response_type')).toBe('code');
    const code = loc.searchParams.get('code') ?? '';
    expect(code).toMatch(/^sandbox-sq0cgb-/);

    const t = await h.app.oAuth.obtainToken({
      clientId: h.emu.applicationId,
      clientSecret: h.emu.applicationSecret,
      code,
      grantType: 'authorization_code',
    });
    expect(t.tokenType).toBe('bearer');
    expect(t.accessToken).toMatch(/^EAAA/);
    expect(t.refreshToken).toMatch(/^EQAA/);
    const seller = squareClientFor(h.emu, t.accessToken ?? '');
    const status = await seller.oAuth.retrieveTokenStatus();
    expect(status.merchantId).toBe(t.merchantId);
    expect(status.clientId).toBe(h.emu.applicationId);
    expect(status.scopes).toEqual([
      'MERCHANT_PROFILE_READ',
      'PAYMENTS_WRITE',
      'PAYMENTS_WRITE_ADDITIONAL_RECIPIENTS',
    ]);
    expect(status.expiresAt).toBe(t.expiresAt);
    const me = await seller.merchants.get({ merchantId: 'me' });
    expect(me.merchant?.businessName).toBe('Studio Lotus');
  });

  it('a seller who unticks a permission grants without it', async () => {
    const res = await submitForm(`${h.emu.url}/oauth2/authorize`, {
      client_id: h.emu.applicationId,
      scope: 'PAYMENTS_WRITE PAYMENTS_WRITE_ADDITIONAL_RECIPIENTS',
      grant: ['PAYMENTS_WRITE'],
      action: 'allow',
    });
    const code = new URL(res.headers.get('location') ?? '').searchParams.get('code') ?? '';
    const t = await h.app.oAuth.obtainToken({
      clientId: h.emu.applicationId,
      clientSecret: h.emu.applicationSecret,
      code,
      grantType: 'authorization_code',
    });
    const status = await squareClientFor(h.emu, t.accessToken ?? '').oAuth.retrieveTokenStatus();
    expect(status.scopes).toEqual(['PAYMENTS_WRITE']);
  });

  it('withholdScopes: the emulator grants without PAYMENTS_WRITE_ADDITIONAL_RECIPIENTS', async () => {
    h.emu.withholdScopes(['PAYMENTS_WRITE_ADDITIONAL_RECIPIENTS']);
    const page = await (
      await fetch(authorizeUrl('PAYMENTS_WRITE PAYMENTS_WRITE_ADDITIONAL_RECIPIENTS'))
    ).text();
    expect(page).not.toMatch(/scope-PAYMENTS_WRITE_ADDITIONAL_RECIPIENTS" checked/);
    const seller = await h.connect();
    const status = await seller.client.oAuth.retrieveTokenStatus();
    expect(status.scopes).not.toContain('PAYMENTS_WRITE_ADDITIONAL_RECIPIENTS');
    expect(status.scopes).toContain('PAYMENTS_WRITE');
  });

  it('Deny redirects with error=access_denied, error_description=user_denied and the state', async () => {
    const res = await submitForm(`${h.emu.url}/oauth2/authorize`, {
      client_id: h.emu.applicationId,
      scope: 'PAYMENTS_WRITE',
      state: 'xyz',
      action: 'deny',
    });
    expect(res.status).toBe(302);
    const loc = new URL(res.headers.get('location') ?? '');
    expect(loc.searchParams.get('error')).toBe('access_denied');
    expect(loc.searchParams.get('error_description')).toBe('user_denied');
    expect(loc.searchParams.get('state')).toBe('xyz');
    expect(loc.searchParams.get('code')).toBeNull();
  });

  it('an unknown client_id, an unknown permission or a foreign redirect_uri get an error page', async () => {
    const bad = await fetch(`${h.emu.url}/oauth2/authorize?client_id=sq0idp-nope&scope=PAYMENTS_WRITE`);
    expect(bad.status).toBe(400);
    expect(await bad.text()).toContain('Invalid client_id');
    const scope = await fetch(authorizeUrl('PAYMENTS_WRITE MAKE_COFFEE'));
    expect(scope.status).toBe(400);
    expect(await scope.text()).toContain('MAKE_COFFEE');
    const uri = await fetch(
      `${authorizeUrl('PAYMENTS_WRITE')}&redirect_uri=${encodeURIComponent('https://evil.example/cb')}`,
    );
    expect(uri.status).toBe(400);
  });

  it('codes are single-use, expire after 5 minutes, and need the right client secret', async () => {
    const a = await h.emu.authorizeSeller();
    const wrong = await refused(
      h.app.oAuth.obtainToken({
        clientId: h.emu.applicationId,
        clientSecret: 'sandbox-sq0csb-wrong',
        code: a.code,
        grantType: 'authorization_code',
      }),
    );
    expect(wrong).toMatchObject({ status: 401, category: 'AUTHENTICATION_ERROR', code: 'UNAUTHORIZED' });
    const exchange = (code: string): Promise<unknown> =>
      h.app.oAuth.obtainToken({
        clientId: h.emu.applicationId,
        clientSecret: h.emu.applicationSecret,
        code,
        grantType: 'authorization_code',
      });
    await exchange(a.code);
    expect(await refused(exchange(a.code))).toMatchObject({ status: 401, code: 'UNAUTHORIZED' });
    const b = await h.emu.authorizeSeller();
    h.emu.clock.advance(5 * 60_000 + 1);
    expect(await refused(exchange(b.code))).toMatchObject({
      status: 401,
      code: 'UNAUTHORIZED',
      detail: 'Authorization code expired.',
    });
  });

  it('access tokens expire after 30 days on the clock; the refresh token is multi-use and gives new access tokens', async () => {
    const seller = await h.connect();
    const first = await seller.client.oAuth.retrieveTokenStatus();
    expect(Date.parse(first.expiresAt ?? '') - h.emu.clock.now()).toBeGreaterThan(30 * 24 * 3600_000 - 5_000);
    h.emu.clock.advance(30 * 24 * 3600_000 + 1000);
    expect(await refused(seller.client.locations.list())).toMatchObject({
      status: 401,
      code: 'ACCESS_TOKEN_EXPIRED',
    });
    const refresh = (): Promise<{ accessToken?: string; refreshToken?: string; merchantId?: string }> =>
      h.app.oAuth.obtainToken({
        clientId: h.emu.applicationId,
        clientSecret: h.emu.applicationSecret,
        refreshToken: seller.refreshToken,
        grantType: 'refresh_token',
      });
    const r1 = await refresh();
    const r2 = await refresh();
    expect(r1.refreshToken).toBe(seller.refreshToken);
    expect(r2.accessToken).not.toBe(r1.accessToken);
    expect(r1.merchantId).toBe(seller.merchantId);
    const locs = await squareClientFor(h.emu, r1.accessToken ?? '').locations.list();
    expect(locs.locations?.[0]?.id).toBe(seller.locationId);
    // A refresh may narrow the scopes, never widen them.
    const narrow = await h.app.oAuth.obtainToken({
      clientId: h.emu.applicationId,
      clientSecret: h.emu.applicationSecret,
      refreshToken: seller.refreshToken,
      grantType: 'refresh_token',
      scopes: ['PAYMENTS_READ'],
    });
    expect(
      (await squareClientFor(h.emu, narrow.accessToken ?? '').oAuth.retrieveTokenStatus()).scopes,
    ).toEqual(['PAYMENTS_READ']);
    const wide = await refused(
      h.app.oAuth.obtainToken({
        clientId: h.emu.applicationId,
        clientSecret: h.emu.applicationSecret,
        refreshToken: seller.refreshToken,
        grantType: 'refresh_token',
        scopes: ['CUSTOMERS_WRITE'],
      }),
    );
    expect(wide).toMatchObject({ status: 400, code: 'INVALID_VALUE', field: 'scopes' });
  });

  it('RevokeToken needs `Authorization: Client <secret>`, revokes every token of the seller and sends oauth.authorization.revoked', async () => {
    const seller = await h.connect();
    const bearer = await refused(
      h.app.oAuth.revokeToken({ clientId: h.emu.applicationId, merchantId: seller.merchantId }),
    );
    expect(bearer).toMatchObject({ status: 401, code: 'UNAUTHORIZED' });
    const res = await h.app.oAuth.revokeToken(
      { clientId: h.emu.applicationId, merchantId: seller.merchantId },
      { headers: { Authorization: `Client ${h.emu.applicationSecret}` } },
    );
    expect(res.success).toBe(true);
    expect(await refused(seller.client.locations.list())).toMatchObject({
      status: 401,
      code: 'ACCESS_TOKEN_REVOKED',
    });
    const refresh = await refused(
      h.app.oAuth.obtainToken({
        clientId: h.emu.applicationId,
        clientSecret: h.emu.applicationSecret,
        refreshToken: seller.refreshToken,
        grantType: 'refresh_token',
      }),
    );
    expect(refresh.status).toBe(401);
    await h.emu.idle();
    expect(hook.ok).toHaveLength(1);
    const ev = hook.ok[0]?.event;
    expect(ev?.type).toBe('oauth.authorization.revoked');
    expect(ev?.merchant_id).toBe(seller.merchantId);
    expect(ev?.data).toMatchObject({
      type: 'revocation',
      object: { revocation: { revoker_type: 'APPLICATION' } },
    });
  });

  it('revoke_only_access_token revokes that token only; the seller revoking in the dashboard sends revoker MERCHANT', async () => {
    const seller = await h.connect();
    await h.app.oAuth.revokeToken(
      { clientId: h.emu.applicationId, accessToken: seller.accessToken, revokeOnlyAccessToken: true },
      { headers: { Authorization: `Client ${h.emu.applicationSecret}` } },
    );
    expect(await refused(seller.client.locations.list())).toMatchObject({ code: 'ACCESS_TOKEN_REVOKED' });
    const fresh = await h.app.oAuth.obtainToken({
      clientId: h.emu.applicationId,
      clientSecret: h.emu.applicationSecret,
      refreshToken: seller.refreshToken,
      grantType: 'refresh_token',
    });
    await squareClientFor(h.emu, fresh.accessToken ?? '').locations.list();
    await h.emu.revoke(seller.merchantId);
    await h.emu.idle();
    expect(hook.ok.map((d) => d.event.data.object)).toEqual([
      { revocation: expect.objectContaining({ revoker_type: 'MERCHANT' }) },
    ]);
    expect(await refused(squareClientFor(h.emu, fresh.accessToken ?? '').locations.list())).toMatchObject({
      code: 'ACCESS_TOKEN_REVOKED',
    });
  });

  it('locations and merchants answer for the token’s seller only', async () => {
    const a = await h.connect({ sellerName: 'A' });
    const b = await h.connect({ sellerName: 'B', country: 'GB' });
    const la = await a.client.locations.list();
    expect(la.locations?.map((l) => l.id)).toEqual([a.locationId]);
    const lb = await b.client.locations.get({ locationId: 'main' });
    expect(lb.location).toMatchObject({
      id: b.locationId,
      currency: 'GBP',
      country: 'GB',
      merchantId: b.merchantId,
    });
    expect(await refused(a.client.locations.get({ locationId: b.locationId }))).toMatchObject({
      status: 404,
      code: 'NOT_FOUND',
    });
    expect(await refused(a.client.merchants.get({ merchantId: b.merchantId }))).toMatchObject({
      status: 404,
    });
    const list = await a.client.merchants.list();
    expect(list.data.map((m) => m.id)).toEqual([a.merchantId]);
  });

  it('control routes: authorize a seller over HTTP; the token request may repeat the redirect URL', async () => {
    const res = await fetch(`${h.emu.url}/_emulator/oauth/authorize`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ seller_name: 'Over HTTP', scopes: ['MERCHANT_PROFILE_READ'] }),
    });
    const a = (await res.json()) as { code: string; merchant_id: string; location_id: string };
    const t = await h.app.oAuth.obtainToken({
      clientId: h.emu.applicationId,
      clientSecret: h.emu.applicationSecret,
      code: a.code,
      grantType: 'authorization_code',
      redirectUri: REDIRECT_URL,
    });
    expect(t.merchantId).toBe(a.merchant_id);
    const b = await h.emu.authorizeSeller({ merchantId: a.merchant_id, scopes: ['PAYMENTS_READ'] });
    expect(b.merchantId).toBe(a.merchant_id);
    const other = await refused(
      h.app.oAuth.obtainToken({
        clientId: h.emu.applicationId,
        clientSecret: h.emu.applicationSecret,
        code: b.code,
        grantType: 'authorization_code',
        redirectUri: 'https://elsewhere.example/cb',
      }),
    );
    expect(other).toMatchObject({ status: 400, code: 'INVALID_VALUE', field: 'redirect_uri' });
    const app = (await (await fetch(`${h.emu.url}/_emulator/application`)).json()) as Record<string, unknown>;
    expect(app).toMatchObject({ application_id: h.emu.applicationId, redirect_url: REDIRECT_URL });
  });
});

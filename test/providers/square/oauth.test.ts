import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { squareClientFor } from '../../../src/emulators/square/index.js';
import { SQUARE_REQUIRED_SCOPES } from '../../../src/providers/square/index.js';
import { REDIRECT_URL, checkoutInput, codeOf, startTestbed, type Testbed } from './harness.js';

const DAY = 86_400_000;

describe('Square provider: OAuth connection and seller tokens (emulator, official SDK)', () => {
  let t: Testbed;
  beforeEach(async () => {
    t = await startTestbed({ subscribe: false });
  });
  afterEach(async () => {
    await t.close();
  });

  it('authorizeUrl: the emulator origin, every required scope joined with +, session=false, state and redirect', () => {
    const url = t.provider.oauth.authorizeUrl({ state: 'st_123', redirectUrl: REDIRECT_URL });
    expect(url.startsWith(`${t.emu.url}/oauth2/authorize?`)).toBe(true);
    expect(url).toContain(`scope=${SQUARE_REQUIRED_SCOPES.join('+')}`);
    const q = new URL(url).searchParams;
    expect(q.get('client_id')).toBe(t.emu.applicationId);
    expect(q.get('session')).toBe('false');
    expect(q.get('state')).toBe('st_123');
    expect(q.get('redirect_uri')).toBe(REDIRECT_URL);
    // Without an emulator base the page is Square's own, per environment.
    const sandbox = t.providerWith({ config: { ...t.config, apiBase: null } });
    expect(sandbox.oauth.authorizeUrl({ state: 's', redirectUrl: REDIRECT_URL })).toMatch(
      /^https:\/\/connect\.squareupsandbox\.com\/oauth2\/authorize\?/,
    );
  });

  it('the authorize page accepts the URL (every scope known, redirect_uri the application’s)', async () => {
    const res = await fetch(t.provider.oauth.authorizeUrl({ state: 'st', redirectUrl: REDIRECT_URL }));
    expect(res.status).toBe(200);
    const html = await res.text();
    for (const s of SQUARE_REQUIRED_SCOPES) expect(html).toContain(`scope-${s}`);
  });

  it('exchangeCode: grant with tokens, expiry, every scope and the card-taking location; account ready', async () => {
    const { code, merchantId, locationId } = await t.emu.authorizeSeller({ sellerName: 'Studio' });
    const { grant, account } = await t.provider.oauth.exchangeCode({ code, redirectUrl: REDIRECT_URL });
    expect(grant).toMatchObject({ accountId: merchantId, locationId });
    expect(grant.accessToken).toMatch(/^EAAA/);
    expect(grant.refreshToken).toMatch(/^EQAA/);
    expect(grant.expiresAt?.getTime()).toBeGreaterThan(Date.now() + 29 * DAY);
    expect([...grant.scopes].sort()).toEqual([...SQUARE_REQUIRED_SCOPES].sort());
    expect(account).toEqual({
      accountId: merchantId,
      detailsSubmitted: true,
      chargesEnabled: true,
      payoutsEnabled: true,
      // The location's currency: the only one this seller takes.
      currencies: ['usd'],
    });
    // A code is single-use: a second exchange is refused as invalid input, not an outage.
    expect(await codeOf(t.provider.oauth.exchangeCode({ code, redirectUrl: REDIRECT_URL }))).toBe(
      'validation_failed',
    );
  });

  it('a seller who withholds PAYMENTS_WRITE_ADDITIONAL_RECIPIENTS is refused by name, and the grant is revoked', async () => {
    t.emu.withholdScopes(['PAYMENTS_WRITE_ADDITIONAL_RECIPIENTS']);
    const { code, merchantId } = await t.emu.authorizeSeller();
    let error: unknown;
    try {
      await t.provider.oauth.exchangeCode({ code, redirectUrl: REDIRECT_URL });
    } catch (err) {
      error = err;
    }
    expect(error).toMatchObject({ code: 'provider_scopes_missing', httpStatus: 409 });
    const message = (error as Error).message;
    expect(message).toContain('PAYMENTS_WRITE_ADDITIONAL_RECIPIENTS');
    expect(message).toContain('fee');
    expect(message).not.toMatch(/EAAA|EQAA/);
    // Revoked at Square: the revocation event was emitted for that merchant.
    await t.emu.idle();
    expect(
      t.emu.events.filter((e) => e.type === 'oauth.authorization.revoked').map((e) => e.merchantId),
    ).toEqual([merchantId]);
    expect(t.emu.apiCalls.some((c) => c.path === '/oauth2/revoke')).toBe(true);
  });

  it('refreshes a token that expires within the refresh window before using it, and stores the new one', async () => {
    const { merchantId, grant } = await t.connect();
    // Stored as expiring in 2 days (inside the 7-day window).
    t.grants.save({ ...grant, expiresAt: new Date(Date.now() + 2 * DAY) });
    const before = t.tokenCalls();
    const account = await t.provider.retrieveSellerAccount(merchantId);
    expect(account.chargesEnabled).toBe(true);
    expect(t.tokenCalls()).toBe(before + 1);
    const stored = await t.grants.load(merchantId);
    expect(stored?.accessToken).not.toBe(grant.accessToken);
    expect(stored?.refreshToken).toBe(grant.refreshToken);
    expect(stored?.expiresAt?.getTime()).toBeGreaterThan(Date.now() + 29 * DAY);
    // Fresh now: the next call does not refresh again.
    await t.provider.retrieveSellerAccount(merchantId);
    expect(t.tokenCalls()).toBe(before + 1);
  });

  it('concurrent calls needing a refresh share one refresh', async () => {
    const { merchantId, grant } = await t.connect();
    t.grants.save({ ...grant, expiresAt: new Date(Date.now() + DAY) });
    const before = t.tokenCalls();
    await Promise.all([1, 2, 3].map(() => t.provider.retrieveSellerAccount(merchantId)));
    expect(t.tokenCalls()).toBe(before + 1);
  });

  it('a 401 on a seller call refreshes once and retries (the access token alone was revoked)', async () => {
    const { merchantId, grant } = await t.connect();
    await squareClientFor(t.emu, t.emu.personalAccessToken).oAuth.revokeToken(
      { clientId: t.emu.applicationId, accessToken: grant.accessToken, revokeOnlyAccessToken: true },
      { headers: { Authorization: `Client ${t.emu.applicationSecret}` } },
    );
    const before = t.tokenCalls();
    const checkout = await t.provider.createCheckout(checkoutInput(merchantId));
    expect(checkout.sessionId).toMatch(/\S/);
    expect(t.tokenCalls()).toBe(before + 1);
    expect((await t.grants.load(merchantId))?.accessToken).not.toBe(grant.accessToken);
  });

  it('a seller who revoked the application: provider_account_revoked on calls and on refresh; account reads all false', async () => {
    const { merchantId } = await t.connect();
    await t.emu.revoke(merchantId);
    expect(await codeOf(t.provider.createCheckout(checkoutInput(merchantId)))).toBe(
      'provider_account_revoked',
    );
    expect(await codeOf(t.provider.oauth.refresh(merchantId))).toBe('provider_account_revoked');
    expect(await t.provider.retrieveSellerAccount(merchantId)).toEqual({
      accountId: merchantId,
      detailsSubmitted: false,
      chargesEnabled: false,
      payoutsEnabled: false,
    });
  });

  it('no stored grant: provider_account_revoked with a message telling the seller to reconnect', async () => {
    let error: unknown;
    try {
      await t.provider.createCheckout(checkoutInput('MLUNKNOWN0000'));
    } catch (err) {
      error = err;
    }
    expect(error).toMatchObject({ code: 'provider_account_revoked', httpStatus: 409 });
    expect((error as Error).message).toMatch(/reconnect/);
  });

  it('oauth.refresh refreshes now; oauth.revoke withdraws access (again: 404 counts as done)', async () => {
    const { merchantId, grant } = await t.connect();
    await t.provider.oauth.refresh(merchantId);
    expect((await t.grants.load(merchantId))?.accessToken).not.toBe(grant.accessToken);
    await t.provider.oauth.revoke(merchantId);
    await t.provider.oauth.revoke(merchantId);
    expect(await codeOf(t.provider.oauth.refresh(merchantId))).toBe('provider_account_revoked');
  });

  it('Square unavailable during an ahead-of-expiry refresh: the still-valid token is used', async () => {
    const { merchantId, grant } = await t.connect();
    t.grants.save({ ...grant, expiresAt: new Date(Date.now() + 2 * DAY) });
    t.emu.faults.set({ api5xx: { path: '/oauth2/token', next: 1, status: 503 } });
    const account = await t.provider.retrieveSellerAccount(merchantId);
    expect(account.chargesEnabled).toBe(true);
    expect((await t.grants.load(merchantId))?.accessToken).toBe(grant.accessToken);
  });

  it('createSellerAccount makes nothing; createOnboardingLink points to OAuth', async () => {
    expect(
      await t.provider.createSellerAccount({ sellerId: 's', email: 'x@example.com', idempotencyKey: 'k' }),
    ).toEqual({ accountId: null, detailsSubmitted: false, chargesEnabled: false, payoutsEnabled: false });
    expect(
      await codeOf(
        t.provider.createOnboardingLink({
          accountId: null,
          sellerId: 's',
          email: 'x@example.com',
          returnUrl: 'https://a.example',
          refreshUrl: 'https://a.example',
        }),
      ),
    ).toBe('validation_failed');
  });

  it('the adapter’s own log lines (unredacted logger, debug) carry no token, secret or e-mail', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(chunk.toString('utf8'));
        done();
      },
    });
    const logged = t.providerWith({ logger: pino({ level: 'debug' }, sink) });
    const { code, merchantId } = await t.emu.authorizeSeller();
    const { grant } = await logged.oauth.exchangeCode({ code, redirectUrl: REDIRECT_URL });
    t.grants.save({ ...grant, expiresAt: new Date(Date.now() + DAY) });
    const c = await logged.createCheckout(checkoutInput(merchantId, { customerEmail: 'buyer@example.com' }));
    const { paymentId } = await t.emu.payLink(c.sessionId, 'ok');
    await logged.refund({
      account: { accountId: merchantId, chargeType: 'direct' },
      paymentId,
      amount: 100,
      currency: 'usd',
      idempotencyKey: 'refund:log',
      orderId: 'o',
      refundId: 'log',
    });
    for await (const _ of logged.listEvents({ accountId: null, since: new Date(0) })) break;
    await t.emu.revoke(merchantId);
    await codeOf(logged.oauth.refresh(merchantId));
    const refreshed = await t.grants.load(merchantId);
    const text = lines.join('');
    expect(lines.length).toBeGreaterThan(3);
    for (const secret of [
      grant.accessToken,
      grant.refreshToken ?? 'none',
      refreshed?.accessToken ?? 'none',
      t.emu.applicationSecret,
      t.emu.personalAccessToken,
      'buyer@example.com',
    ])
      expect(text).not.toContain(secret);
  });
});

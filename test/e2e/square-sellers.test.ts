import { describe, expect, it } from 'vitest';
import { reconcile } from '../../src/core/reconcile.js';
import { squareClientFor } from '../../src/emulators/square/index.js';
import { createLogger } from '../../src/log/logger.js';
import { BACKENDS } from '../helpers/db.js';
import { order } from '../helpers/settle.js';
import {
  addListing,
  beginSquareConnect,
  connectSquareSeller,
  setupSquare,
  squareAccountView,
  squareCallback,
  squareCalls,
  squareCheckout,
  squareInbox,
  startSquareCheckout,
  useSquareHarness,
  storedGrant,
  type SquareHarness,
} from '../helpers/square.js';

/**
 * Sellers connect Square through OAuth (issue 12): a single-use state bound to the seller, the code exchanged by
 * Settle, the scopes checked, the tokens sealed at rest and refreshed ahead of expiry; a seller who withdraws the
 * platform's access (at Square, or by the operator) can no longer be sold through Square, and refunds on their
 * earlier orders are refused without touching the order's refunded amount.
 */
describe.each(BACKENDS)('Square sellers (%s PostgreSQL)', (backend) => {
  // Every line Settle logs, at debug level, for the whole block (scanned for tokens below).
  const lines: string[] = [];
  const harness = useSquareHarness(backend, {
    logger: createLogger('debug', { write: (line: string) => void lines.push(line) }),
    env: { LOG_LEVEL: 'debug' },
  });
  const newSeller = async (h: SquareHarness, name = 'Clay studio', feeBps = 1000): Promise<string> => {
    const r = await h.admin<{ id: string }>('POST', '/api/sellers', {
      name,
      email: 'seller@example.test',
      chargeType: 'direct',
      feeBps,
    });
    expect(r.status).toBe(201);
    return r.body.id;
  };
  const tokenCalls = (h: SquareHarness) => squareCalls(h, 'POST', '/oauth2/token');
  const credentials = (h: SquareHarness, sellerId: string) =>
    h.settle.ctx.db.selectFrom('seller_credentials').selectAll().where('seller_id', '=', sellerId).execute();

  it('the state is single-use, bound to a live connection; another or no state is refused', async () => {
    const h = harness();
    const sellerId = await newSeller(h);
    const first = await connectSquareSeller(h, sellerId);
    expect(await squareAccountView(h, sellerId)).toMatchObject({ ready: true, accountId: first.merchantId });
    const exchanges = tokenCalls(h);
    // The same return replayed (a new code for the same state): refused before the code is exchanged.
    const { code } = await h.square.authorizeSeller({ sellerName: 'Someone else' });
    const reused = await squareCallback(h, { code, state: first.state });
    expect(reused.status).toBe(400);
    expect(reused.body.error?.code).toBe('oauth_state_invalid');
    const unknown = await squareCallback(h, { code, state: 'not-a-state-settle-issued' });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error?.code).toBe('oauth_state_invalid');
    const missing = await squareCallback(h, { code });
    expect(missing.status).toBe(400);
    expect(missing.body.error?.code).toBe('oauth_state_invalid');
    expect(tokenCalls(h)).toBe(exchanges);
    // A state issued for the seller names that seller; nothing else changed for them.
    expect(await squareAccountView(h, sellerId)).toMatchObject({ ready: true, accountId: first.merchantId });
    const stored = await h.settle.ctx.db
      .selectFrom('oauth_states')
      .selectAll()
      .where('seller_id', '=', sellerId)
      .execute();
    expect(stored).toHaveLength(1);
    expect(JSON.stringify(stored)).not.toContain(first.state);
    expect(stored[0]?.used_at).not.toBeNull();
  });

  it('an expired state is refused; starting again connects', async () => {
    const h = harness();
    const sellerId = await newSeller(h);
    const { state } = await beginSquareConnect(h, sellerId);
    await h.settle.ctx.db
      .updateTable('oauth_states')
      .set({ expires_at: new Date(Date.now() - 1000) })
      .where('seller_id', '=', sellerId)
      .execute();
    const { code } = await h.square.authorizeSeller({ sellerName: 'Late seller' });
    const late = await squareCallback(h, { code, state });
    expect(late.status).toBe(400);
    expect(late.body.error?.code).toBe('oauth_state_invalid');
    expect(await squareAccountView(h, sellerId)).toMatchObject({ ready: false });
    expect(await credentials(h, sellerId)).toEqual([]);
    const again = await connectSquareSeller(h, sellerId);
    expect(await squareAccountView(h, sellerId)).toMatchObject({ ready: true, accountId: again.merchantId });
  });

  it('the seller denies on the authorize page: back to their page with error=access_denied, nothing stored', async () => {
    const h = harness();
    const sellerId = await newSeller(h);
    const { state } = await beginSquareConnect(h, sellerId);
    const denied = await squareCallback(h, {
      error: 'access_denied',
      error_description: 'user_denied',
      state,
    });
    expect(denied.status).toBe(303);
    expect(`${denied.location?.origin}${denied.location?.pathname}`).toBe(
      `${h.settle.url}/sellers/${sellerId}/onboarding-return`,
    );
    expect(denied.location?.searchParams.get('provider')).toBe('square');
    expect(denied.location?.searchParams.get('error')).toBe('access_denied');
    expect(await squareAccountView(h, sellerId)).toMatchObject({ ready: false });
    expect(await credentials(h, sellerId)).toEqual([]);
    // The state was spent by the refusal.
    const { code } = await h.square.authorizeSeller({});
    expect((await squareCallback(h, { code, state })).body.error?.code).toBe('oauth_state_invalid');
  });

  it('scopes withheld: refused with provider_scopes_missing, the grant revoked at Square; granted in full later, connected', async () => {
    const h = harness();
    const sellerId = await newSeller(h);
    const { slotId } = await addListing(h, sellerId);
    h.square.withholdScopes(['PAYMENTS_WRITE_ADDITIONAL_RECIPIENTS']);
    const { state } = await beginSquareConnect(h, sellerId);
    const { code, merchantId } = await h.square.authorizeSeller({ sellerName: 'Partial' });
    const back = await squareCallback(h, { code, state });
    expect(back.status).toBe(303);
    expect(back.location?.pathname).toBe(`/sellers/${sellerId}/onboarding-return`);
    expect(back.location?.searchParams.get('error')).toBe('provider_scopes_missing');
    expect(back.location?.searchParams.get('message')).toMatch(/PAYMENTS_WRITE_ADDITIONAL_RECIPIENTS/);
    expect(await squareAccountView(h, sellerId)).toMatchObject({ ready: false });
    expect(await credentials(h, sellerId)).toEqual([]);
    const revocations = h.square.events.filter(
      (e) => e.type === 'oauth.authorization.revoked' && e.merchantId === merchantId,
    );
    expect(revocations).toHaveLength(1);
    const refused = await startSquareCheckout(h, slotId);
    expect(refused.status).toBe(409);
    expect(refused.body.error?.code).toBe('seller_not_ready');
    await h.settleDown();
    // The seller tries again, granting everything (the same Square account).
    h.square.withholdScopes([]);
    await connectSquareSeller(h, sellerId, { merchantId });
    await h.settleDown();
    expect(await squareAccountView(h, sellerId)).toMatchObject({ ready: true, accountId: merchantId });
    const c = await squareCheckout(h, slotId);
    await h.square.payLink(c.linkId, 'ok');
    await h.settleDown();
    expect((await order(h, c.orderId)).status).toBe('paid');
  });

  it('tokens are stored sealed, bound to their account, and never logged', async () => {
    const h = harness();
    const a = await setupSquare(h, { name: 'Studio A' });
    const b = await setupSquare(h, { name: 'Studio B' });
    const grant = await storedGrant(h, a.merchantId);
    expect(grant).not.toBeNull();
    if (grant === null) return;
    expect(grant).toMatchObject({ accountId: a.merchantId, locationId: a.locationId });
    expect(grant.scopes).toContain('PAYMENTS_WRITE_ADDITIONAL_RECIPIENTS');
    // The token Settle holds is one Square issued to this seller (the emulator accepts it for that merchant).
    const me = await squareClientFor(h.square, grant.accessToken).merchants.get({ merchantId: 'me' });
    expect(me.merchant?.id).toBe(a.merchantId);
    expect(grant.refreshToken).toMatch(/^EQAA/);
    const rows = await credentials(h, a.sellerId);
    expect(rows).toHaveLength(1);
    const raw = JSON.stringify(rows);
    expect(raw).not.toContain(grant.accessToken);
    expect(raw).not.toContain(grant.refreshToken ?? 'no refresh token');
    expect(rows[0]?.access_token_sealed).toMatch(/^v1\./);
    expect(rows[0]?.refresh_token_sealed).toMatch(/^v1\./);
    // A sealed token copied onto another seller's row does not open there.
    await h.settle.ctx.db
      .updateTable('seller_credentials')
      .set({ access_token_sealed: rows[0]?.access_token_sealed ?? '' })
      .where('provider_account_id', '=', b.merchantId)
      .execute();
    await expect(storedGrant(h, b.merchantId)).rejects.toThrow();
    // A checkout and a payment ran with the token: no line logged carries either token or the state.
    const c = await squareCheckout(h, a.slotId);
    await h.square.payLink(c.linkId, 'ok');
    await h.settleDown();
    expect((await order(h, c.orderId)).status).toBe('paid');
    expect(lines.length).toBeGreaterThan(0);
    for (const secret of [grant.accessToken, grant.refreshToken ?? '', a.state, h.square.applicationSecret])
      expect(lines.filter((l) => l.includes(secret))).toEqual([]);
  });

  it('a grant expiring within 7 days is refreshed by reconciliation: a new sealed token, checkout still works', async () => {
    const h = harness();
    const m = await setupSquare(h);
    const before = await storedGrant(h, m.merchantId);
    const [row] = await credentials(h, m.sellerId);
    expect(row?.expires_at?.getTime()).toBeGreaterThan(Date.now() + 25 * 86_400_000);
    // Nothing is due yet.
    const quiet = await reconcile(h.settle.ctx);
    expect(quiet.errors).toEqual([]);
    expect(quiet.grantsRefreshed).toBe(0);
    await h.settle.ctx.db
      .updateTable('seller_credentials')
      .set({ expires_at: new Date(Date.now() + 3 * 86_400_000) })
      .where('provider_account_id', '=', m.merchantId)
      .execute();
    const calls = tokenCalls(h);
    const s = await reconcile(h.settle.ctx);
    expect(s.errors).toEqual([]);
    expect(s).toMatchObject({ grantsRefreshed: 1, grantsRevoked: 0 });
    expect(tokenCalls(h)).toBe(calls + 1);
    const [after] = await credentials(h, m.sellerId);
    expect(after?.access_token_sealed).not.toBe(row?.access_token_sealed);
    expect(after?.expires_at?.getTime()).toBeGreaterThan(Date.now() + 25 * 86_400_000);
    const refreshed = await storedGrant(h, m.merchantId);
    expect(refreshed?.accessToken).not.toBe(before?.accessToken);
    const me = await squareClientFor(h.square, refreshed?.accessToken ?? '').merchants.get({
      merchantId: 'me',
    });
    expect(me.merchant?.id).toBe(m.merchantId);
    // Again: not due any more.
    expect((await reconcile(h.settle.ctx)).grantsRefreshed).toBe(0);
    expect(tokenCalls(h)).toBe(calls + 1);
    const c = await squareCheckout(h, m.slotId);
    await h.square.payLink(c.linkId, 'ok');
    const v = await h.api('POST', '/api/checkout/verify', { orderId: c.orderId });
    expect(v.body).toEqual({ orderId: c.orderId, status: 'paid' });
    await h.settleDown();
  });

  it('the seller revokes at Square: checkout refused (provider_account_revoked), a refund of an earlier order refused; reconnecting restores both', async () => {
    const h = harness();
    const m = await setupSquare(h, { unitAmount: 4000, capacity: 5 });
    const earlier = await squareCheckout(h, m.slotId);
    await h.square.payLink(earlier.linkId, 'ok');
    await h.settleDown();
    expect((await order(h, earlier.orderId)).status).toBe('paid');

    const inboxMark = (await squareInbox(h)).length;
    await h.square.revoke(m.merchantId);
    await h.settleDown();
    const inbox = (await squareInbox(h)).slice(inboxMark);
    expect(inbox.filter((e) => e.type === 'oauth.authorization.revoked')).toMatchObject([
      { status: 'processed' },
    ]);
    expect(await squareAccountView(h, m.sellerId)).toMatchObject({ ready: false, revoked: true });
    expect(await credentials(h, m.sellerId)).toEqual([]);
    // Reconciliation passes over the revoked seller without an error (nothing to refresh, nothing to read).
    const pass = await reconcile(h.settle.ctx);
    expect(pass.errors).toEqual([]);
    const pub = await h.api<{ providers: { provider: string; ready: boolean }[] }>(
      'GET',
      `/api/sellers/${m.sellerId}`,
    );
    expect(pub.body.providers.find((p) => p.provider === 'square')?.ready).toBe(false);

    const refused = await startSquareCheckout(h, m.slotId);
    expect(refused.status).toBe(409);
    expect(refused.body.error?.code).toBe('provider_account_revoked');
    const refundsAtSquare = squareCalls(h, 'POST', '/v2/refunds');
    const refund = await h.admin<{ error: { code: string } }>(
      'POST',
      `/api/admin/orders/${earlier.orderId}/refunds`,
      { amount: 1000 },
      { 'idempotency-key': 'after-revocation' },
    );
    expect(refund.status).toBe(409);
    expect(refund.body.error.code).toBe('provider_account_revoked');
    expect(squareCalls(h, 'POST', '/v2/refunds')).toBe(refundsAtSquare);
    const o = await order(h, earlier.orderId);
    expect(o).toMatchObject({ status: 'paid', refundedAmount: 0 });
    const recorded = await h.settle.ctx.db
      .selectFrom('refunds')
      .select(['status', 'amount'])
      .where('order_id', '=', earlier.orderId)
      .execute();
    expect(recorded).toEqual([{ status: 'failed', amount: 1000 }]);
    await h.settleDown();
    expect((await order(h, earlier.orderId)).refundedAmount).toBe(0);

    // The seller connects the same Square account again: selling and refunding work again.
    await connectSquareSeller(h, m.sellerId, { merchantId: m.merchantId });
    expect(await squareAccountView(h, m.sellerId)).toMatchObject({ ready: true, revoked: false });
    const later = await h.admin<{ status: string; amount: number }>(
      'POST',
      `/api/admin/orders/${earlier.orderId}/refunds`,
      { amount: 1000 },
      { 'idempotency-key': 'after-reconnection' },
    );
    expect(later.status).toBe(201);
    await h.settleDown();
    expect(await order(h, earlier.orderId)).toMatchObject({ refundedAmount: 1000 });
    const c = await squareCheckout(h, m.slotId);
    expect(c.linkId.length).toBeGreaterThan(0);
  });

  it('the operator revokes: Square forgets the grant, Settle stops selling through Square', async () => {
    const h = harness();
    const m = await setupSquare(h);
    const grant = await storedGrant(h, m.merchantId);
    const path = `/api/admin/sellers/${m.sellerId}/providers/square/revoke`;
    const anonymous = await h.api('POST', path);
    expect(anonymous.status).toBe(401);
    expect(await squareAccountView(h, m.sellerId)).toMatchObject({ ready: true });
    const r = await h.admin<{ providers: { provider: string; ready: boolean; revoked: boolean }[] }>(
      'POST',
      path,
    );
    expect(r.status).toBe(200);
    expect(r.body.providers.find((p) => p.provider === 'square')).toMatchObject({
      ready: false,
      revoked: true,
    });
    expect(await credentials(h, m.sellerId)).toEqual([]);
    // At Square: the token no longer works, and the revocation event names the application as the revoker.
    await expect(
      squareClientFor(h.square, grant?.accessToken ?? '').merchants.get({ merchantId: 'me' }),
    ).rejects.toThrow();
    const revoked = h.square.events.filter(
      (e) => e.type === 'oauth.authorization.revoked' && e.merchantId === m.merchantId,
    );
    expect(revoked).toHaveLength(1);
    expect(JSON.stringify(revoked[0]?.envelope)).toContain('APPLICATION');
    await h.settleDown();
    // Its webhook comes back to Settle and is taken in without an error.
    const row = (await squareInbox(h)).filter((e) => e.event_id === revoked[0]?.id);
    expect(row).toHaveLength(1);
    expect(['processed', 'ignored']).toContain(row[0]?.status);
    expect(await squareAccountView(h, m.sellerId)).toMatchObject({ ready: false, revoked: true });
    const refused = await startSquareCheckout(h, m.slotId);
    expect(refused.status).toBe(409);
    expect(refused.body.error?.code).toBe('provider_account_revoked');
    // Revoking again is harmless; Stripe accounts are not connected through OAuth.
    expect((await h.admin('POST', path)).status).toBe(200);
    const stripe = await h.admin<{ error: { code: string } }>(
      'POST',
      `/api/admin/sellers/${m.sellerId}/providers/stripe/revoke`,
    );
    expect(stripe.status).toBe(400);
  });
});

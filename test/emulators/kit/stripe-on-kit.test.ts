import Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  onboardedAccount,
  sessionParams,
  startHarness,
  startReceiver,
  stripeClientFor,
  waitFor,
  type Harness,
} from '../stripe/helpers.js';

/**
 * The Stripe emulator as a toolkit provider: what it plugs in (errors with request_log_url, Stripe-Account rules,
 * per-endpoint api_version, checkRequest before idempotency) and what it gets (the clock).
 */

let h: Harness;

beforeAll(async () => {
  h = await startHarness({
    disputeDelayMs: 3_600_000,
    webhookRetry: { attempts: 3, baseDelayMs: 3_600_000 },
  });
});
afterAll(async () => {
  await h.close();
});

interface ErrorBody {
  error: { type: string; code?: string; message: string; request_log_url?: string };
}

async function raw(
  path: string,
  init: { method?: string; body?: string; headers?: Record<string, string> } = {},
): Promise<{ status: number; body: ErrorBody; requestId: string | null }> {
  const res = await fetch(`${h.emu.url}${path}`, {
    method: init.method ?? 'GET',
    headers: {
      authorization: 'Bearer sk_test_kit',
      ...(init.body !== undefined ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
      ...init.headers,
    },
    ...(init.body !== undefined ? { body: init.body } : {}),
  });
  return {
    status: res.status,
    body: (await res.json()) as ErrorBody,
    requestId: res.headers.get('request-id'),
  };
}

describe('Stripe errors on the toolkit', () => {
  it('a Stripe-Account the platform does not own: 403 invalid_request_error account_invalid (StripePermissionError)', async () => {
    const err = (await h.stripe.customers
      .create({}, { stripeAccount: 'acct_notmine' })
      .catch((e: unknown) => e)) as Stripe.errors.StripeError;
    expect(err).toBeInstanceOf(Stripe.errors.StripePermissionError);
    expect(err.statusCode).toBe(403);
    expect(err.rawType).toBe('invalid_request_error');
    expect(err.code).toBe('account_invalid');
    expect(err.message).toMatch(
      /^The provided key 'sk_test_\*+\w{4}' does not have access to account 'acct_notmine' \(or that account does not exist\)\. Application access may have been revoked\.$/,
    );
    const r = await raw('/v1/customers', { headers: { 'stripe-account': 'acct_notmine' } });
    expect(r.status).toBe(403);
    expect(r.body.error).toMatchObject({ type: 'invalid_request_error', code: 'account_invalid' });
  });

  it('any sk_test_ key is accepted, live keys are refused', async () => {
    const c = await stripeClientFor(h.emu, 'sk_test_whatever_1').customers.create({});
    expect(c.id).toMatch(/^cus_/);
    await expect(stripeClientFor(h.emu, 'sk_live_abcdefabcdef').customers.list()).rejects.toBeInstanceOf(
      Stripe.errors.StripeAuthenticationError,
    );
    await expect(stripeClientFor(h.emu, 'rk_live_abcdefabcdef').customers.list()).rejects.toBeInstanceOf(
      Stripe.errors.StripeAuthenticationError,
    );
  });

  it('errors carry request_log_url (per account), except authentication failures', async () => {
    const before = Math.floor(h.emu.clock.now() / 1000);
    const missing = await raw('/v1/payment_intents/pi_nope');
    expect(missing.status).toBe(404);
    const url = new URL(missing.body.error.request_log_url ?? '');
    expect(`${url.origin}${url.pathname}`).toBe(
      `https://dashboard.stripe.com/test/logs/${missing.requestId}`,
    );
    expect(Number(url.searchParams.get('t'))).toBeGreaterThanOrEqual(before);

    const acct = await onboardedAccount(h.stripe);
    const onAcct = await raw('/v1/payment_intents/pi_nope', { headers: { 'stripe-account': acct.id } });
    expect(onAcct.body.error.request_log_url).toMatch(
      new RegExp(`^https://dashboard\\.stripe\\.com/${acct.id}/test/logs/${onAcct.requestId}\\?t=\\d+$`),
    );

    const unauth = await raw('/v1/customers', { headers: { authorization: 'Bearer sk_live_x' } });
    expect(unauth.status).toBe(401);
    expect(unauth.body.error.request_log_url).toBeUndefined();

    const sdkErr = (await h.stripe.refunds
      .create({ charge: 'ch_missing' })
      .catch((e: unknown) => e)) as Stripe.errors.StripeError;
    expect((sdkErr.raw as { request_log_url?: string }).request_log_url).toContain(String(sdkErr.requestId));
  });

  it('strict parameters are checked after auth and before idempotency: a refused request leaves the key unused', async () => {
    const bad = await raw('/v1/customers', {
      method: 'POST',
      body: 'email=a%40example.com&no_such_param=1',
      headers: { 'idempotency-key': 'strict-1' },
    });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatchObject({ type: 'invalid_request_error', code: 'parameter_unknown' });
    const good = await h.stripe.customers.create({ email: 'b@example.com' }, { idempotencyKey: 'strict-1' });
    expect(good.email).toBe('b@example.com');
    const again = await h.stripe.customers.create({ email: 'b@example.com' }, { idempotencyKey: 'strict-1' });
    expect(again.id).toBe(good.id);
    expect(again.lastResponse.headers['idempotent-replayed']).toBe('true');
    expect(again.lastResponse.headers['original-request']).toBe(good.lastResponse.requestId);
  });
});

describe("an event's api_version follows its endpoint", () => {
  it('endpoints created with api_version receive it; others and the Events API get the account default', async () => {
    const pinned = await startReceiver();
    const ep = await h.stripe.webhookEndpoints.create({
      url: pinned.url,
      enabled_events: ['checkout.session.expired'],
      api_version: '2024-06-20',
    });
    try {
      const s = await h.stripe.checkout.sessions.create(sessionParams());
      await h.stripe.checkout.sessions.expire(s.id);
      await h.emu.idle();
      const atPinned = pinned.received.find((r) => r.event.type === 'checkout.session.expired');
      const atDefault = h.platform.received.find(
        (r) => r.event.type === 'checkout.session.expired' && r.event.id === atPinned?.event.id,
      );
      expect(atPinned?.event.api_version).toBe('2024-06-20');
      expect(atDefault?.event.api_version).toBe('2026-10-28.endive');
      const listed = await h.stripe.events.retrieve(String(atPinned?.event.id));
      expect(listed.api_version).toBe('2026-10-28.endive');
    } finally {
      await h.stripe.webhookEndpoints.del(ep.id);
      await pinned.close();
    }
  });
});

describe('the Stripe emulator on the clock', () => {
  it('created, expires_at and session expiry follow clock.advance (expiry scaled by timeScale)', async () => {
    const s = await h.stripe.checkout.sessions.create(sessionParams());
    expect(s.expires_at - s.created).toBe(24 * 3600);
    // timeScale 0.01: the 24 h expiry fires 14.4 min of clock time after creation.
    h.emu.clock.advance(14 * 60_000);
    expect((await h.stripe.checkout.sessions.retrieve(s.id)).status).toBe('open');
    const state = h.emu.clock.advance(30_000);
    expect((await h.stripe.checkout.sessions.retrieve(s.id)).status).toBe('expired');
    const c = await h.stripe.customers.create({});
    expect(c.created).toBeGreaterThanOrEqual(state.nowSeconds);
    expect(c.created - Math.floor(Date.now() / 1000)).toBeGreaterThanOrEqual(14 * 60);
    await h.emu.idle();
    const expired = await h.stripe.events.list({ type: 'checkout.session.expired', limit: 1 });
    expect((expired.data[0]?.data.object as Stripe.Checkout.Session).id).toBe(s.id);
    expect(expired.data[0]?.created).toBeGreaterThanOrEqual(s.created + 14 * 60);
  });

  it('a dispute scheduled an hour (scaled) ahead opens when the clock is advanced past it', async () => {
    const s = await h.stripe.checkout.sessions.create(sessionParams());
    await h.emu.paySession(s.id, { card_number: '4000000000000259' });
    const pi = (await h.stripe.checkout.sessions.retrieve(s.id)).payment_intent as string;
    const disputes = async (): Promise<number> =>
      (await h.stripe.disputes.list({ payment_intent: pi })).data.length;
    expect(await disputes()).toBe(0);
    const res = await fetch(`${h.emu.url}/_emulator/clock`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ advanceMs: 36_000 }), // 1 h · 0.01
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { advancedMs: number }).advancedMs).toBeGreaterThanOrEqual(36_000);
    expect(await disputes()).toBe(1);
    await h.emu.idle();
    expect(h.platform.received.some((r) => r.event.type === 'charge.dispute.created')).toBe(true);
  });

  it('webhook retries wait for their (scaled) backoff on the clock', async () => {
    let calls = 0;
    h.platform.respond = () => (calls++ === 0 ? 500 : 200);
    try {
      const s = await h.stripe.checkout.sessions.create(sessionParams());
      await h.stripe.checkout.sessions.expire(s.id);
      await waitFor(() => calls === 1);
      const evt = (await h.stripe.events.list({ type: 'checkout.session.expired', limit: 1 })).data[0];
      expect((evt?.data.object as Stripe.Checkout.Session).id).toBe(s.id);
      await new Promise((r) => setTimeout(r, 100));
      expect(calls).toBe(1); // the retry is 1 h · 0.01 = 36 s away
      h.emu.clock.advance(36_000);
      await h.emu.idle();
      const log = h.emu.deliveries.filter(
        (d) => d.eventId === evt?.id && d.endpointId === h.platformEndpointId,
      );
      expect(log.map((d) => [d.attempt, d.status])).toEqual([
        [1, 500],
        [2, 200],
      ]);
      expect(log[1]!.at - log[0]!.at).toBeGreaterThanOrEqual(36_000);
    } finally {
      h.platform.respond = () => 200;
    }
  });
});

import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { reconcile } from '../../src/core/reconcile.js';
import { createLogger } from '../../src/log/logger.js';
import { DEMO_SECRET_KEY } from '../../src/providers/stripe/index.js';
import { checkout, setupMarket, type Harness } from '../helpers/settle.js';
import { record } from './figures.js';
import { rawRequest, startLoggedHarness } from './hostile-http.js';

/**
 * Every line Settle logs during a whole run at LOG_LEVEL=debug (checkout, payment, webhooks, verify, refund,
 * dispute, operator calls, a token in a query string, failing requests, provider faults) is scanned for secrets
 * and personal data: API keys, webhook secrets, the operator token, Stripe-Signature values, e-mail addresses and
 * card-number-shaped strings that pass the Luhn check. Zero hits expected.
 */

const TOKEN = randomBytes(32).toString('base64url');
const BUYER_EMAIL = 'jane.doe.buyer@example.test';

/** Luhn check of a digit string. */
export function luhn(digits: string): boolean {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = Number(digits[digits.length - 1 - i]);
    if (i % 2 === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return sum % 10 === 0;
}

/** Card-number-shaped runs: 13–19 digits (spaces or dashes allowed between groups) starting like a card (2–6). */
export function cardNumbers(line: string): string[] {
  const out: string[] = [];
  for (const m of line.matchAll(/(?<![0-9A-Za-z.])[2-6](?:[ -]?[0-9]){12,18}(?![0-9A-Za-z])/g)) {
    const digits = m[0].replace(/[ -]/g, '');
    if (digits.length >= 13 && digits.length <= 19 && luhn(digits)) out.push(digits);
  }
  return out;
}

const EMAIL = /[A-Za-z0-9.!#$%&'*+=?^_`{|}~-]+@(?=[A-Za-z0-9.-]*[A-Za-z])[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+/g;

describe('secrets in logs', () => {
  let h: Harness | undefined;
  const lines: string[] = [];
  afterAll(async () => {
    await h?.close();
  });

  it('a whole run at debug level logs no key, secret, token, signature, e-mail or card number', async () => {
    const logger = createLogger('debug', { write: (line: string) => void lines.push(line) });
    h = await startLoggedHarness('embedded', {
      logger,
      adminToken: TOKEN,
      env: { LOG_LEVEL: 'debug', SETTLE_RATE_LIMIT_PER_MINUTE: '0' },
    });
    const emu = h.settle.emulator!;
    const sentSignatures: string[] = [];

    // Operator calls with the token: sellers (Direct and Destination), listings, slots, promotion codes.
    const direct = await setupMarket(h, { chargeType: 'direct' });
    const dest = await setupMarket(h, { chargeType: 'destination' });

    // Pay (webhook), then verify from the "browser".
    const paid = await checkout(h, direct.slotId);
    await emu.paySession(paid.sessionId, { card_number: '4242424242424242' });
    await h.settleDown();
    await h.api('POST', '/api/checkout/verify', { orderId: paid.orderId });
    // A buyer e-mail on a checkout of the other charge type, paid with the dispute card.
    const disputed = await h.api<{ orderId: string; checkoutUrl: string }>('POST', '/api/checkout', {
      slotId: dest.slotId,
      quantity: 1,
      email: BUYER_EMAIL,
    });
    const disputedSession = new URL(disputed.body.checkoutUrl).pathname.split('/').pop() ?? '';
    await emu.paySession(disputedSession, { card_number: '4000000000000259' });
    await h.settleDown();
    const disputes = await h.stripe.disputes.list({ limit: 5 });
    for (const d of disputes.data) await emu.closeDispute(d.id, 'lost');
    await h.settleDown();
    // A declined card, a delayed payment that fails, an expired session.
    const declined = await checkout(h, direct.slotId);
    await emu.paySession(declined.sessionId, { card_number: '4000000000000002' });
    const delayed = await checkout(h, dest.slotId);
    await emu.paySession(delayed.sessionId, { payment_method: 'delayed' });
    await emu.completeDelayedPayment(delayed.sessionId, 'failed');
    const expired = await checkout(h, direct.slotId);
    await emu.expireSession(expired.sessionId);
    await h.settleDown();

    // Refund (partial, then the rest), with an Idempotency-Key.
    await h.admin(
      'POST',
      `/api/admin/orders/${paid.orderId}/refunds`,
      { amount: 1000 },
      {
        'idempotency-key': randomBytes(16).toString('hex'),
      },
    );
    await h.admin('POST', `/api/admin/orders/${paid.orderId}/refunds`, {});
    await h.settleDown();
    for (const path of [
      '/api/admin/orders',
      `/api/admin/orders/${paid.orderId}`,
      '/api/admin/sellers',
      '/api/admin/notifications',
      '/api/admin/webhook-events',
      '/api/admin/attention',
      '/api/admin/disputes',
    ]) {
      await h.admin('GET', path);
    }

    // Credentials and personal data in places they do not belong.
    await rawRequest(h.settle.url, { method: 'GET', path: `/api/admin/orders?token=${TOKEN}` });
    await rawRequest(h.settle.url, {
      method: 'GET',
      path: `/api/orders/${paid.orderId}?token=${TOKEN}&email=${encodeURIComponent(BUYER_EMAIL)}&card=4242424242424242`,
    });
    await rawRequest(h.settle.url, {
      method: 'GET',
      path: `/api/${encodeURIComponent(BUYER_EMAIL)}/4242424242424242`,
    });
    await rawRequest(h.settle.url, {
      method: 'GET',
      path: '/api/admin/sellers',
      headers: { authorization: `Bearer ${TOKEN}x`, cookie: `token=${TOKEN}` },
    });
    // Failing requests: malformed JSON, a validation failure carrying an e-mail and a card number, extra fields.
    await rawRequest(h.settle.url, {
      method: 'POST',
      path: '/api/checkout',
      headers: { 'content-type': 'application/json' },
      body: `{"slotId":"${direct.slotId}","email":"${BUYER_EMAIL}",`,
    });
    await h.api('POST', '/api/checkout', {
      slotId: direct.slotId,
      quantity: 1,
      email: BUYER_EMAIL,
      card_number: '4242424242424242',
    });
    await h.api('POST', '/api/checkout', {
      slotId: direct.slotId,
      quantity: 1,
      email: `${BUYER_EMAIL}\u0000`,
    });
    await h.admin('POST', '/api/sellers', {
      name: 'X',
      email: 'seller.private@example.test',
      chargeType: 'nope',
    });
    // Webhooks: forged, stale, wrong secret, signed garbage.
    const secret = h.settle.webhookSecrets!.platform[0]!;
    const body = JSON.stringify({
      id: 'evt_x',
      object: 'event',
      type: 'charge.succeeded',
      data: { object: { receipt_email: BUYER_EMAIL } },
    });
    for (const sig of [
      h.stripe.webhooks.generateTestHeaderString({ payload: body, secret: 'whsec_wrongwrongwrong' }),
      h.stripe.webhooks.generateTestHeaderString({ payload: body, secret, timestamp: 1 }),
      `t=${Math.floor(Date.now() / 1000)},v1=${'ab'.repeat(32)}`,
    ]) {
      sentSignatures.push(sig);
      await rawRequest(h.settle.url, {
        method: 'POST',
        path: '/webhooks/stripe',
        headers: { 'content-type': 'application/json', 'stripe-signature': sig },
        body,
      });
    }
    // Provider faults: checkout creation fails, and processing a webhook fails (error paths log the most).
    emu.faults.set({ api5xx: { next: 10, path: '/v1/checkout/sessions', status: 500 } });
    await h.api('POST', '/api/checkout', { slotId: direct.slotId, quantity: 1, email: BUYER_EMAIL });
    emu.faults.reset();
    const late = await checkout(h, dest.slotId);
    emu.faults.set({ webhookDrop: { types: ['checkout.session.completed'] } });
    await emu.paySession(late.sessionId, { card_number: '5555555555554444' });
    await h.settleDown();
    emu.faults.reset();
    const ev = (await h.stripe.events.list({ type: 'checkout.session.completed', limit: 20 })).data.find(
      (e) => JSON.stringify(e).includes(late.orderId),
    );
    const payload = JSON.stringify(ev);
    const goodSig = h.stripe.webhooks.generateTestHeaderString({ payload, secret });
    sentSignatures.push(goodSig);
    emu.faults.set({ api5xx: { next: 5, path: '/v1/checkout/sessions', status: 500 } });
    await rawRequest(h.settle.url, {
      method: 'POST',
      path: '/webhooks/stripe',
      headers: { 'content-type': 'application/json', 'stripe-signature': goodSig },
      body: payload,
    });
    emu.faults.reset();
    await reconcile(h.settle.ctx, { lookbackHours: 1 });
    await h.settleDown();

    // ---- the scan ----
    const secrets: { name: string; value: string }[] = [
      { name: 'operator token', value: TOKEN },
      { name: 'demo secret key', value: DEMO_SECRET_KEY },
      ...h.settle.webhookSecrets!.platform.map((value) => ({ name: 'platform webhook secret', value })),
      ...h.settle.webhookSecrets!.connect.map((value) => ({ name: 'connect webhook secret', value })),
      ...sentSignatures.map((value) => ({ name: 'Stripe-Signature value', value })),
      ...sentSignatures.flatMap((s) =>
        s
          .split(',')
          .filter((p) => p.startsWith('v1='))
          .map((p) => ({ name: 'signature digest', value: p.slice(3) })),
      ),
    ];
    const patterns: { name: string; re: RegExp }[] = [
      { name: 'API key', re: /\b(?:sk|rk)_(?:test|live)_[A-Za-z0-9]+/g },
      { name: 'webhook secret', re: /whsec_[A-Za-z0-9]+/g },
      { name: 'signature header', re: /\bv1=[0-9a-f]{16,}/g },
      { name: 'e-mail address', re: EMAIL },
      {
        name: 'percent-encoded e-mail address',
        re: /[A-Za-z0-9._+-]+%40[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+/gi,
      },
    ];
    const hits: string[] = [];
    for (const [i, line] of lines.entries()) {
      for (const s of secrets) if (line.includes(s.value)) hits.push(`line ${i}: ${s.name}`);
      for (const p of patterns)
        for (const m of line.matchAll(p.re)) hits.push(`line ${i}: ${p.name} ${m[0].slice(0, 8)}…`);
      for (const card of cardNumbers(line))
        hits.push(`line ${i}: card number ${card.slice(0, 4)}…${card.slice(-4)}`);
    }
    record({
      property: 'No secret, signature, e-mail or card number in any log line',
      method:
        'a whole run (operator setup, checkout, pay, webhooks, verify, refunds, dispute, declines, delayed and expired payments, tokens in query strings, failing requests, provider faults, reconcile) at LOG_LEVEL=debug into a capture stream; every line scanned',
      figures: { linesScanned: lines.length, hits: hits.length },
      held: hits.length === 0,
    });
    expect(lines.length).toBeGreaterThan(100);
    expect(hits, hits.map((x) => lines[Number(/line (\d+)/.exec(x)?.[1] ?? 0)]).join('\n')).toEqual([]);
  });

  it('the scanner itself finds what it looks for', () => {
    expect(cardNumbers('"card":"4242424242424242" 4242 4242 4242 4242 5555-5555-5555-4444')).toHaveLength(3);
    expect(cardNumbers('"time":1795840423123 id 4242424242424241 4000000000000259')).toEqual([
      '4000000000000259',
    ]);
    expect('x buyer@example.test y'.match(EMAIL)).toHaveLength(1);
    expect('[email] pkg@1.2.3'.match(EMAIL)).toBeNull();
  });
});

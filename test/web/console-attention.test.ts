/**
 * Real-browser test of the operator console's "Needs action" tab (Debian's Chromium through playwright-core,
 * against a real Settle with the in-process emulator): an order held for review is refunded by the operator with a
 * confirm step, and an owed refund the provider refuses is listed until it succeeds.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { startSettle, type SettleInstance } from '../../src/app/create.js';
import { confirmPayment } from '../../src/core/confirm-payment.js';
import { stripeClientFor } from '../../src/emulators/stripe/index.js';
import { launchBrowser, skipWithoutChromium } from './browser-helpers.js';

let settle: SettleInstance;
let browser: Browser;

async function api<T>(method: string, path: string, body?: unknown, admin = false): Promise<T> {
  const res = await fetch(`${settle.url}${path}`, {
    method,
    headers: {
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...(admin ? { authorization: `Bearer ${settle.adminToken}` } : {}),
      ...(method === 'POST' && path === '/api/checkout' ? { 'idempotency-key': crypto.randomUUID() } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return (await res.json()) as T;
}

describe.skipIf(skipWithoutChromium)('operator console: needs action', () => {
  beforeAll(async () => {
    settle = await startSettle({
      env: { LOG_LEVEL: 'silent', SETTLE_RECONCILE_INTERVAL_SECONDS: '0', SETTLE_QUEUE_POLL_MS: '50' },
      port: 0,
      database: { kind: 'memory' },
      emulator: { port: 0, webhookRetry: { attempts: 2, baseDelayMs: 50 } },
      seed: true,
    });
    browser = await launchBrowser();
  });

  afterAll(async () => {
    await browser?.close();
    await settle?.close();
  });

  it('an underpaid order in review is refunded from the Needs action tab with a confirm step', async () => {
    const emulator = settle.emulator!;
    const stripe = stripeClientFor(emulator);
    const { listings } = await api<{
      listings: { seller: { chargeType: string }; slots: { id: string; available: number }[] }[];
    }>('GET', '/api/listings');
    const slot = listings
      .filter((l) => l.seller.chargeType === 'destination')
      .flatMap((l) => l.slots)
      .find((s) => s.available > 0);
    if (!slot) throw new Error('no destination slot with room');
    emulator.faults.set({ webhookDrop: { types: ['checkout.session.completed'] } });
    const started = await api<{ orderId: string; checkoutUrl: string }>('POST', '/api/checkout', {
      slotId: slot.id,
      quantity: 1,
    });
    const sessionId = new URL(started.checkoutUrl).pathname.split('/').pop() ?? '';
    await emulator.paySession(sessionId, { card_number: '4242424242424242' });
    emulator.faults.reset();
    const session = await stripe.checkout.sessions.retrieve(sessionId);
    const charged = Math.floor((session.amount_total ?? 0) / 2);
    // The provider reports half the price: the order is held for review.
    await confirmPayment(settle.ctx.db, started.orderId, {
      via: 'frontend',
      provider: 'stripe',
      sessionId,
      paymentId: String(session.payment_intent),
      amount: charged,
      currency: session.currency ?? 'usd',
      promotionCode: null,
      applicationFee: 0,
    });

    const context = await browser.newContext();
    const page = await context.newPage();
    const problems: string[] = [];
    page.on('pageerror', (err) => problems.push(err.message));
    await page.goto(`${settle.url}/admin`);
    await page.fill('#login-form input[name=token]', settle.adminToken);
    await page.click('#login-form button[type=submit]');
    await page.click('[data-tab=attention]');
    const row = page.locator(`[data-review-order="${started.orderId}"]`);
    await row.waitFor();
    expect(await row.textContent()).toContain('amount mismatch');
    await row.locator('[data-decision=refund]').click();
    await row.locator('[data-testid=confirm-decision]').click();
    await page.locator('#admin-flash .notice-ok').waitFor();
    await expect
      .poll(
        async () =>
          (
            await api<{ status: string; refundedAmount: number }>(
              'GET',
              `/api/admin/orders/${started.orderId}`,
              undefined,
              true,
            )
          ).status,
        { timeout: 15_000 },
      )
      .toBe('refunded');
    const order = await api<{ refundedAmount: number }>(
      'GET',
      `/api/admin/orders/${started.orderId}`,
      undefined,
      true,
    );
    expect(order.refundedAmount).toBe(charged);
    await page.click('[data-tab=attention]');
    await page.locator('[data-testid=attention]').waitFor();
    expect(await page.locator(`[data-review-order="${started.orderId}"]`).count()).toBe(0);
    expect(problems).toEqual([]);
    await context.close();
  });
});

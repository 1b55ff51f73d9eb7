/**
 * PayPal in a real browser: Debian's Chromium driven by playwright-core against the demo (startSettle with both
 * in-process emulators, real webhooks). The buyer picks PayPal on the marketplace, approves (or cancels) on the
 * PayPal emulator's approval page and lands back on Settle's return page; the operator console refunds the order.
 */
import { mkdirSync } from 'node:fs';
import { Client, Environment, OrdersController } from '@paypal/paypal-server-sdk';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSettle, type SettleInstance } from '../../src/app/create.js';
import { emulatorHttpClientOptions } from '../../src/emulators/paypal/index.js';
import {
  SHOTS,
  finalState,
  launchBrowser,
  newPage,
  orderOf,
  skipWithoutChromium,
} from './browser-helpers.js';

let settle: SettleInstance;
let browser: Browser;

interface ApiListing {
  title: string;
  seller: { providers: string[] };
  slots: { id: string; sold: number; held: number; available: number }[];
}
interface AdminOrder {
  id: string;
  status: string;
  provider: string;
  refundedAmount: number;
  total: number;
  confirmedVia: string | null;
  providerSessionId: string | null;
}

async function listing(title: string): Promise<ApiListing> {
  const res = await fetch(`${settle.url}/api/listings`);
  const l = ((await res.json()) as { listings: ApiListing[] }).listings.find((x) => x.title === title);
  if (!l) throw new Error(`no listing ${title}`);
  return l;
}

async function adminOrder(id: string): Promise<AdminOrder> {
  const res = await fetch(`${settle.url}/api/admin/orders/${id}`, {
    headers: { authorization: `Bearer ${settle.adminToken}` },
  });
  expect(res.status).toBe(200);
  return (await res.json()) as AdminOrder;
}

/** On the marketplace: choose PayPal for a slot and press Buy; resolves on the PayPal approval page. */
async function buyWithPayPal(page: Page, slotId: string): Promise<void> {
  await page.goto(settle.url);
  const form = page.locator(`form.buy[data-slot-id="${slotId}"]`);
  await form.locator('select[name=provider]').selectOption('paypal');
  await form.getByRole('button', { name: 'Buy' }).click();
  await page.locator('[data-testid=approval-form]').waitFor();
}

describe.skipIf(skipWithoutChromium)('PayPal in a real browser', () => {
  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    settle = await startSettle({
      env: { LOG_LEVEL: 'silent', SETTLE_RECONCILE_INTERVAL_SECONDS: '0', SETTLE_QUEUE_POLL_MS: '50' },
      port: 0,
      database: { kind: 'memory' },
      emulator: { port: 0, webhookRetry: { attempts: 2, baseDelayMs: 50 } },
      paypalEmulator: { port: 0 },
      seed: true,
    });
    browser = await launchBrowser();
  });

  afterAll(async () => {
    await browser?.close();
    await settle?.close();
  });

  it('the buyer chooses PayPal, approves on the approval page and returns to a confirmed order', async () => {
    const l = await listing('Sunrise vinyasa');
    expect(l.seller.providers).toEqual(['stripe', 'paypal']);
    const slot = l.slots[0];
    if (!slot) throw new Error('no slot');
    const { page, problems } = await newPage(browser);
    await buyWithPayPal(page, slot.id);
    expect(new URL(page.url()).origin).toBe(new URL(settle.paypalEmulator?.url ?? '').origin);
    await page.screenshot({ path: `${SHOTS}/paypal-approval.png`, fullPage: true });
    await page.click('[data-testid=approve]');
    await page.waitForURL(/\/checkout\/return\?order=ord_/);
    await finalState(page, 'paid');
    const order = await adminOrder(orderOf(page));
    expect(order).toMatchObject({ status: 'paid', provider: 'paypal' });
    expect((await listing('Sunrise vinyasa')).slots[0]?.sold).toBe(slot.sold + 1);
    expect(problems).toEqual([]);
    await page.context().close();
  });

  it('approve and close the browser before returning: the webhook captures and confirms', async () => {
    const slot = (await listing('Restorative evening')).slots[0];
    if (!slot) throw new Error('no slot');
    const { page, problems } = await newPage(browser);
    // The browser never reaches Settle's return page: the tab is closed right after approving.
    await page.route(`${settle.url}/checkout/return**`, (route) => route.abort());
    await buyWithPayPal(page, slot.id);
    await page.click('[data-testid=approve]');
    await page.waitForTimeout(200);
    await page.context().close();
    const { id: orderId } = await settle.ctx.db
      .selectFrom('orders')
      .select('id')
      .where('slot_id', '=', slot.id)
      .where('provider', '=', 'paypal')
      .orderBy('created_at', 'desc')
      .executeTakeFirstOrThrow();
    await expect.poll(async () => (await adminOrder(orderId)).status, { timeout: 20_000 }).toBe('paid');
    expect((await adminOrder(orderId)).confirmedVia).toBe('webhook');
    expect(problems).toEqual([]);
  });

  it('cancel on the PayPal page comes back to Settle and releases the hold', async () => {
    const slot = (await listing('Tokyo raku workshop')).slots[0];
    if (!slot) throw new Error('no slot');
    const { page, problems } = await newPage(browser);
    await buyWithPayPal(page, slot.id);
    expect((await listing('Tokyo raku workshop')).slots[0]?.held).toBe(slot.held + 1);
    await page.click('[data-testid=cancel]');
    await page.waitForURL(/\/checkout\/cancel\?order=ord_/);
    await page.locator('#cancel[data-state="canceled"], #cancel[data-state="expired"]').waitFor();
    expect(await page.locator('#cancel').textContent()).toContain('place was released');
    const after = (await listing('Tokyo raku workshop')).slots[0];
    expect(after?.held).toBe(slot.held);
    expect(problems).toEqual([]);
    await page.context().close();
  });

  it('an e-check payment shows processing, then confirmed when the capture completes', async () => {
    const slot = (await listing('Wheel-throwing taster')).slots[0];
    if (!slot) throw new Error('no slot');
    const { page, problems } = await newPage(browser);
    await buyWithPayPal(page, slot.id);
    await page.check('[data-testid=buyer-pending]');
    await page.click('[data-testid=approve]');
    await page.waitForURL(/\/checkout\/return\?order=ord_/);
    await finalState(page, 'processing');
    const order = await adminOrder(orderOf(page));
    const emulator = settle.paypalEmulator;
    if (!emulator || !order.providerSessionId) throw new Error('demo PayPal expected');
    const pp = new Client({
      clientCredentialsAuthCredentials: { oAuthClientId: 'browser-test', oAuthClientSecret: 'browser-test' },
      environment: Environment.Sandbox,
      timeout: 10_000,
      unstable_httpClientOptions: emulatorHttpClientOptions(emulator.url),
    });
    const got = await new OrdersController(pp).getOrder({ id: order.providerSessionId });
    const captureId = got.result.purchaseUnits?.[0]?.payments?.captures?.[0]?.id;
    if (!captureId) throw new Error('no capture');
    await emulator.completePendingCapture(captureId, 'COMPLETED');
    await finalState(page, 'paid');
    expect(problems).toEqual([]);
    await page.context().close();
  });

  it('the operator console shows the PayPal order and refunds it in full', async () => {
    const slot = (await listing('Sunrise vinyasa')).slots[0];
    if (!slot) throw new Error('no slot');
    const { page, problems } = await newPage(browser);
    await buyWithPayPal(page, slot.id);
    await page.click('[data-testid=approve]');
    await page.waitForURL(/\/checkout\/return\?order=ord_/);
    await finalState(page, 'paid');
    const orderId = orderOf(page);

    await page.goto(`${settle.url}/admin`);
    await page.fill('#login-form input[name=token]', settle.adminToken);
    await page.click('#login-form button[type=submit]');
    const rowText = await page.locator(`#admin-panel tr[data-order-id="${orderId}"]`).textContent();
    expect(rowText).toContain('paypal');
    await page.locator(`#admin-panel button[data-order-id="${orderId}"]`).click();
    const detail = page.locator(`[data-testid=order-detail][data-order-id="${orderId}"]`);
    await detail.waitFor();
    expect(await detail.locator('.meta').first().textContent()).toContain('paypal');
    await detail.getByRole('button', { name: 'Refund…' }).click();
    await detail.locator('[data-testid=confirm-refund]').click();
    await page.locator('#admin-flash .notice-ok').waitFor();
    await expect.poll(async () => (await adminOrder(orderId)).status, { timeout: 20_000 }).toBe('refunded');
    const order = await adminOrder(orderId);
    expect(order.refundedAmount).toBe(order.total);
    await page.screenshot({ path: `${SHOTS}/paypal-admin-refund.png`, fullPage: true });
    expect(problems).toEqual([]);
    await page.context().close();
  });
});

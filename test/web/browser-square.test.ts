/**
 * Square in a real browser: Debian's Chromium driven by playwright-core against the demo (startSettle with the
 * Stripe and Square emulators in process, real webhooks both ways). The buyer picks Square on the marketplace and
 * pays on the Square emulator's hosted page; an operator connects a new seller through Square's permission (OAuth)
 * page and comes back to the seller's onboarding-return page.
 */
import { mkdirSync } from 'node:fs';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSettle, type SettleInstance } from '../../src/app/create.js';
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

interface ApiSlot {
  id: string;
  sold: number;
  held: number;
  available: number;
}
interface ApiListing {
  title: string;
  seller: { providers: string[] };
  slots: ApiSlot[];
}
interface AdminOrder {
  id: string;
  status: string;
  provider: string;
  total: number;
  confirmedVia: string | null;
  history: { from: string | null; to: string; via: string | null }[];
  payments: { status: string; amount: number }[];
}
interface AdminSeller {
  id: string;
  providers: { provider: string; ready: boolean; revoked: boolean; accountId: string | null }[];
}

async function listing(title: string): Promise<ApiListing> {
  const res = await fetch(`${settle.url}/api/listings`);
  const l = ((await res.json()) as { listings: ApiListing[] }).listings.find((x) => x.title === title);
  if (!l) throw new Error(`no listing ${title}`);
  return l;
}

async function firstSlot(title: string): Promise<ApiSlot> {
  const slot = (await listing(title)).slots[0];
  if (!slot) throw new Error(`no slot for ${title}`);
  return slot;
}

async function admin<T>(path: string, init: { method?: string; body?: unknown } = {}): Promise<T> {
  const res = await fetch(`${settle.url}${path}`, {
    method: init.method ?? 'GET',
    headers: {
      authorization: `Bearer ${settle.adminToken}`,
      ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
  });
  expect(res.status, `${init.method ?? 'GET'} ${path}`).toBeLessThan(300);
  return (await res.json()) as T;
}

const adminOrder = (id: string): Promise<AdminOrder> => admin<AdminOrder>(`/api/admin/orders/${id}`);

/** The newest Square order for this slot (for a browser that never reached Settle's return page). */
async function latestSquareOrder(slotId: string): Promise<string> {
  const { id } = await settle.ctx.db
    .selectFrom('orders')
    .select('id')
    .where('slot_id', '=', slotId)
    .where('provider', '=', 'square')
    .orderBy('created_at', 'desc')
    .executeTakeFirstOrThrow();
  return id;
}

function squareOrigin(): string {
  const url = settle.squareEmulator?.url;
  if (!url) throw new Error('the demo runs no Square emulator');
  return new URL(url).origin;
}

/** On the marketplace: choose Square for a slot and press Buy; resolves on the Square emulator's hosted page. */
async function buyWithSquare(page: Page, slotId: string): Promise<void> {
  await page.goto(settle.url);
  const form = page.locator(`form.buy[data-slot-id="${slotId}"]`);
  await form.locator('select[name=provider]').selectOption('square');
  await form.getByRole('button', { name: 'Buy' }).click();
  await page.locator('[data-testid=pay-form]').waitFor({ timeout: 15_000 });
  expect(new URL(page.url()).origin).toBe(squareOrigin());
}

/** Waits for the onboarding-return page to settle on one of these states; the error names the one shown. */
async function onboardingState(page: Page, ...states: string[]): Promise<void> {
  const selector = states.map((s) => `#onboarding[data-state="${s}"]`).join(', ');
  try {
    await page.locator(selector).waitFor({ timeout: 15_000 });
  } catch (err) {
    const shown = await page
      .locator('#onboarding')
      .getAttribute('data-state')
      .catch(() => null);
    const text = await page
      .locator('#onboarding')
      .textContent()
      .catch(() => null);
    throw new Error(
      `expected onboarding state ${states.join('|')}, page shows ${String(shown)} at ${page.url()}: ${String(text)}`,
      { cause: err },
    );
  }
}

/** A seller created through the operator API (Stripe account only, not onboarded): tests connect Square to it. */
async function newSeller(name: string): Promise<string> {
  const s = await admin<{ id: string }>('/api/sellers', {
    method: 'POST',
    body: { name, email: `ops@${name.toLowerCase().replace(/[^a-z]+/g, '-')}.example`, chargeType: 'direct' },
  });
  return s.id;
}

/** On the seller's onboarding-return page (no operator token in this tab): type it and press Connect Square. */
async function connectSquareFromSellerPage(page: Page, sellerId: string): Promise<void> {
  await page.goto(`${settle.url}/sellers/${sellerId}/onboarding-return`);
  const row = page.locator('[data-testid=provider-square]');
  await row.waitFor();
  expect(await row.getAttribute('data-state')).toBe('not-connected');
  await page.fill('[data-testid=connect-token]', settle.adminToken);
  await page.click('[data-testid=connect-square]');
  await page.locator('[data-testid=authorize-form]').waitFor({ timeout: 15_000 });
  expect(new URL(page.url()).origin).toBe(squareOrigin());
}

describe.skipIf(skipWithoutChromium)('Square in a real browser', () => {
  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    settle = await startSettle({
      env: { LOG_LEVEL: 'silent', SETTLE_RECONCILE_INTERVAL_SECONDS: '0', SETTLE_QUEUE_POLL_MS: '50' },
      port: 0,
      database: { kind: 'memory' },
      emulator: { port: 0, webhookRetry: { attempts: 2, baseDelayMs: 50 } },
      paypalEmulator: false,
      squareEmulator: { port: 0, timeScale: 0.001 },
      seed: true,
    });
    browser = await launchBrowser();
    // Three emulators, the seeded sellers connected to each, and Chromium: slow on a busy machine.
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await settle?.close();
  });

  it('the buyer chooses Square, pays with an approved card and returns to a confirmed order, paid once', async () => {
    const l = await listing('Sunrise vinyasa');
    expect(l.seller.providers).toContain('square');
    const slot = await firstSlot('Sunrise vinyasa');
    const { page, problems } = await newPage(browser);
    await buyWithSquare(page, slot.id);
    await page.screenshot({ path: `${SHOTS}/square-checkout.png`, fullPage: true });
    await page.check('[data-testid=card-ok]');
    await page.click('[data-testid=pay]');
    await page.waitForURL(/\/checkout\/return\?order=ord_/, { timeout: 15_000 });
    expect(await finalState(page, 'paid')).toBe('paid');
    expect(await page.locator('[data-testid=state-title]').textContent()).toContain('Confirmed');
    await page.screenshot({ path: `${SHOTS}/square-return.png`, fullPage: true });
    const orderId = orderOf(page);
    const order = await adminOrder(orderId);
    expect(order).toMatchObject({ status: 'paid', provider: 'square' });
    expect(order.history.filter((h) => h.to === 'paid')).toHaveLength(1);
    expect(order.payments).toHaveLength(1);
    expect(order.payments[0]?.amount).toBe(order.total);
    expect((await firstSlot('Sunrise vinyasa')).sold).toBe(slot.sold + 1);
    // The payment's webhook arrives too (the return page may have confirmed first): still paid once.
    await page.waitForTimeout(500);
    const again = await adminOrder(orderId);
    expect(again.history.filter((h) => h.to === 'paid')).toHaveLength(1);
    expect(again.payments).toHaveLength(1);
    expect((await firstSlot('Sunrise vinyasa')).sold).toBe(slot.sold + 1);
    expect(problems).toEqual([]);
    await page.context().close();
  });

  it('pay and close the browser before the return page: the webhook confirms the order', async () => {
    const slot = await firstSlot('Restorative evening');
    const { page, problems } = await newPage(browser);
    const settleRequests: string[] = [];
    page.on('request', (r) => {
      if (r.url().startsWith(settle.url)) settleRequests.push(new URL(r.url()).pathname);
    });
    await buyWithSquare(page, slot.id);
    // The Pay form reaches Square (the payment is made there), but the browser never follows Square's redirect
    // back to Settle: the answer is swapped for a blank page, as if the tab had been closed at that moment.
    // (A route on Settle's return URL would not do: Playwright does not intercept a redirect's hops.)
    const paid = new Promise<number>((resolve, reject) => {
      void page
        .route(
          (url) => url.origin === squareOrigin(),
          async (route) => {
            if (route.request().method() !== 'POST') return route.continue();
            try {
              const res = await route.fetch({ maxRedirects: 0 });
              resolve(res.status());
              await route.fulfill({ status: 200, contentType: 'text/html', body: '<p>closed</p>' });
            } catch (err) {
              reject(err instanceof Error ? err : new Error(String(err)));
            }
          },
        )
        .catch(reject);
    });
    await page.click('[data-testid=pay]');
    expect(await paid).toBe(303);
    await page.context().close();
    expect(settleRequests.filter((p) => p.startsWith('/checkout/return'))).toEqual([]);
    expect(settleRequests.filter((p) => p.startsWith('/api/checkout/verify'))).toEqual([]);
    const orderId = await latestSquareOrder(slot.id);
    await expect.poll(async () => (await adminOrder(orderId)).status, { timeout: 20_000 }).toBe('paid');
    const order = await adminOrder(orderId);
    expect(order.confirmedVia).toBe('webhook');
    expect(order.history.filter((h) => h.to === 'paid')).toHaveLength(1);
    expect((await firstSlot('Restorative evening')).sold).toBe(slot.sold + 1);
    expect(problems).toEqual([]);
  });

  it('a declined card: the hosted page shows the decline and the order stays pending', async () => {
    const slot = await firstSlot('Wheel-throwing taster');
    const { page, problems } = await newPage(browser);
    await buyWithSquare(page, slot.id);
    await page.check('[data-testid=card-declined]');
    await page.click('[data-testid=pay]');
    const error = page.locator('[data-testid=error]');
    await error.waitFor({ timeout: 15_000 });
    expect(await error.textContent()).toContain('declined');
    expect(new URL(page.url()).origin).toBe(squareOrigin());
    await page.screenshot({ path: `${SHOTS}/square-declined.png`, fullPage: true });
    const orderId = await latestSquareOrder(slot.id);
    // Give the payment's (FAILED) webhook time to arrive: it must not pay nor close the order.
    await page.waitForTimeout(1000);
    const order = await adminOrder(orderId);
    expect(order.status).toBe('pending');
    expect(order.history.filter((h) => h.to === 'paid')).toHaveLength(0);
    expect(order.payments).toHaveLength(0);
    expect((await firstSlot('Wheel-throwing taster')).sold).toBe(slot.sold);
    expect(problems).toEqual([]);
    await page.context().close();
  });

  it('an operator creates a seller choosing Square, the seller allows Settle and comes back ready', async () => {
    const { page, problems } = await newPage(browser);
    await page.goto(`${settle.url}/sellers/new`);
    await page.fill('#seller-form input[name=token]', settle.adminToken);
    await page.fill('#seller-form input[name=name]', 'Canal Climbing');
    await page.fill('#seller-form input[name=email]', 'ops@canal-climbing.example');
    await page.selectOption('#seller-form select[name=provider]', 'square');
    await page.click('#seller-form button[type=submit]');
    await page.locator('[data-testid=authorize-form]').waitFor({ timeout: 15_000 });
    expect(new URL(page.url()).origin).toBe(squareOrigin());
    expect(new URL(page.url()).pathname).toBe('/oauth2/authorize');
    await page.fill('[data-testid=seller-name]', 'Canal Climbing');
    await page.screenshot({ path: `${SHOTS}/square-authorize.png`, fullPage: true });
    await page.click('[data-testid=allow]');
    await page.waitForURL(/\/sellers\/sel_[^/]+\/onboarding-return\?provider=square$/, { timeout: 15_000 });
    await onboardingState(page, 'ready');
    const square = page.locator('[data-testid=provider-square]');
    expect(await square.getAttribute('data-ready')).toBe('true');
    expect(await square.getAttribute('data-state')).toBe('ready');
    expect(await page.locator('[data-testid=connect-square]').count()).toBe(0);
    expect(await page.locator('[data-testid=connect-error]').count()).toBe(0);
    // The seller's Stripe account (made when the seller was created) is listed, not onboarded, with its button.
    expect(await page.locator('[data-testid=provider-stripe]').getAttribute('data-ready')).toBe('false');
    expect(await page.locator('[data-testid=connect-stripe]').count()).toBe(1);
    await page.screenshot({ path: `${SHOTS}/square-seller-ready.png`, fullPage: true });
    const sellerId = /\/sellers\/(sel_[^/]+)\//.exec(page.url())?.[1] ?? '';
    const seller = await admin<AdminSeller>(`/api/admin/sellers/${sellerId}`);
    const account = seller.providers.find((p) => p.provider === 'square');
    expect(account).toMatchObject({ ready: true, revoked: false });
    expect(account?.accountId).toBeTruthy();
    expect(problems).toEqual([]);
    await page.context().close();
  });

  it('unticking PAYMENTS_WRITE_ADDITIONAL_RECIPIENTS: the seller page shows the missing-scopes refusal', async () => {
    const sellerId = await newSeller('Scope Skippers');
    const { page, problems } = await newPage(browser);
    await connectSquareFromSellerPage(page, sellerId);
    await page.fill('[data-testid=seller-name]', 'Scope Skippers');
    await page.uncheck('[data-testid=scope-PAYMENTS_WRITE_ADDITIONAL_RECIPIENTS]');
    await page.click('[data-testid=allow]');
    await page.waitForURL(/\/onboarding-return\?provider=square&error=provider_scopes_missing/, {
      timeout: 15_000,
    });
    await onboardingState(page, 'refused');
    const error = page.locator('[data-testid=connect-error]');
    expect(await error.getAttribute('data-code')).toBe('provider_scopes_missing');
    expect(await error.textContent()).toContain('Square connection refused');
    expect(await page.locator('[data-testid=provider-square]').getAttribute('data-ready')).toBe('false');
    // The operator token typed on the page was kept for this tab: Connect Square is one click away.
    expect(await page.locator('[data-testid=connect-square]').textContent()).toBe('Connect Square');
    await page.screenshot({ path: `${SHOTS}/square-scopes-missing.png`, fullPage: true });
    expect(problems).toEqual([]);
    await page.context().close();
  });

  it('Deny on Square’s page: the seller page says the connection was declined', async () => {
    const sellerId = await newSeller('Deny Dancers');
    const { page, problems } = await newPage(browser);
    await connectSquareFromSellerPage(page, sellerId);
    await page.click('[data-testid=deny]');
    await page.waitForURL(/\/onboarding-return\?provider=square&error=access_denied/, { timeout: 15_000 });
    await onboardingState(page, 'refused');
    const error = page.locator('[data-testid=connect-error]');
    expect(await error.getAttribute('data-code')).toBe('access_denied');
    expect(await error.textContent()).toContain("You declined the connection on Square's page.");
    expect(await page.locator('[data-testid=provider-square]').getAttribute('data-ready')).toBe('false');
    expect(problems).toEqual([]);
    await page.context().close();
  });
});

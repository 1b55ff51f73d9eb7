/**
 * Real-browser tests of memberships (issue 13): Debian's Chromium driven by playwright-core against a real Settle
 * (startSettle: in-memory PGlite, the in-process Stripe emulator with Billing and test clocks, real webhooks, the
 * seeded demo plans). A buyer subscribes from the marketplace, pays on the emulator's hosted page, lands on the
 * return page, then books and cancels from the manage page; the operator advances the test clock from the console.
 */
import { mkdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { startSettle, type SettleInstance } from '../../src/app/create.js';
import { DEMO_PLANS } from '../../src/app/seed.js';
import { seedDemoPlans } from '../../src/app/seed.js';
import { SHOTS, launchBrowser, newPage, skipWithoutChromium } from './browser-helpers.js';

let settle: SettleInstance;
let browser: Browser;

const MEMBERSHIP = DEMO_PLANS[0].name; // unlimited, 7-day trial
const CLASS_PASS = DEMO_PLANS[1].name; // 10 classes a month, no trial

interface ApiPlan {
  id: string;
  name: string;
  interval: string;
  trialDays: number;
  includedBookings: number;
  price: { unitAmount: number; currency: string };
  listing: { id: string; title: string } | null;
}

interface AdminSubscription {
  id: string;
  status: string;
  cancelAtPeriodEnd: boolean;
  entitlement: { access: boolean; reason: string; bookingsLeft: number | null; bookingsUsed: number };
  periods: { id: string; amountPaid: number; applicationFee: number; usedBookings: number }[];
  bookings: { id: string; slotId: string; status: string }[];
  events: { from: string | null; to: string; via: string | null }[];
}

interface AdminRefunds {
  refunds: { refundId: string; amount: number; status: string }[];
}

interface ApiSlot {
  id: string;
  sold: number;
  available: number;
}

async function plans(): Promise<ApiPlan[]> {
  const res = await fetch(`${settle.url}/api/plans`);
  expect(res.status).toBe(200);
  return ((await res.json()) as { plans: ApiPlan[] }).plans;
}

async function admin<T>(path: string): Promise<T> {
  const res = await fetch(`${settle.url}${path}`, {
    headers: { authorization: `Bearer ${settle.adminToken}` },
  });
  expect(res.status).toBe(200);
  return (await res.json()) as T;
}

async function slotsOf(listingId: string): Promise<ApiSlot[]> {
  const res = await fetch(`${settle.url}/api/listings`);
  const { listings } = (await res.json()) as { listings: { id: string; slots: ApiSlot[] }[] };
  return listings.find((l) => l.id === listingId)?.slots ?? [];
}

/** The manage token the subscribe button kept in this tab's sessionStorage. */
async function storedToken(page: Page, subscriptionId: string): Promise<string | null> {
  return page.evaluate((id) => sessionStorage.getItem(`settle.manageToken.${id}`), subscriptionId);
}

/** Marketplace → Subscribe → the emulator's hosted page → pay with 4242 → Settle's return page. */
async function subscribe(page: Page, planName: string, email: string): Promise<string> {
  await page.goto(settle.url);
  const card = page.locator('[data-testid=plan]', { hasText: planName });
  await card.locator('[data-testid=plan-email]').fill(email);
  await card.locator('[data-testid=subscribe]').dblclick(); // a double click starts one checkout
  await page.waitForURL(/\/c\/pay\/cs_/);
  expect(await page.locator('[data-testid=pay]').textContent()).toContain('Subscribe');
  await page.fill('#card_number', '4242424242424242');
  await page.click('[data-testid=pay]');
  await page.waitForURL(/\/subscriptions\/return\?subscription=mem_/);
  const id = new URL(page.url()).searchParams.get('subscription');
  if (!id) throw new Error(`no subscription in ${page.url()}`);
  return id;
}

async function returnState(page: Page, ...states: string[]): Promise<string> {
  const selector = states.map((s) => `#subscription-confirm[data-state="${s}"]`).join(', ');
  try {
    await page.locator(selector).waitFor({ timeout: 20_000 });
  } catch (err) {
    const shown = await page.locator('#subscription-confirm').getAttribute('data-state');
    throw new Error(`expected ${states.join('|')}, page shows ${String(shown)}`, { cause: err });
  }
  return (await page.locator('#subscription-confirm').getAttribute('data-state')) ?? '';
}

describe.skipIf(skipWithoutChromium)('memberships in a real browser', () => {
  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
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

  it('seeds the two demo plans once, on a percentage-only seller, and serves the new pages as CSP shells', async () => {
    const all = await plans();
    expect(all.map((p) => p.name).sort()).toEqual([CLASS_PASS, MEMBERSHIP].sort());
    expect(all.find((p) => p.name === MEMBERSHIP)).toMatchObject({ trialDays: 7, includedBookings: 0 });
    expect(all.find((p) => p.name === CLASS_PASS)).toMatchObject({ trialDays: 0, includedBookings: 10 });
    expect(all.every((p) => p.listing?.title === 'Sunrise vinyasa')).toBe(true);
    const seller = await settle.ctx.db
      .selectFrom('sellers')
      .innerJoin('plans', 'plans.seller_id', 'sellers.id')
      .select(['sellers.fee_fixed'])
      .executeTakeFirstOrThrow();
    expect(seller.fee_fixed).toBe(0);
    // Seeding again (a restart on the same database) adds nothing.
    expect(await seedDemoPlans(settle.ctx)).toBe(false);
    expect(await plans()).toHaveLength(2);
    for (const path of [
      '/subscriptions/return?subscription=mem_x',
      '/subscriptions/manage?subscription=mem_x',
    ]) {
      const res = await fetch(`${settle.url}${path}`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
      expect(await res.text()).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>|\sstyle=/);
    }
  });

  it('marketplace lists the memberships; subscribing with a trial lands on the return page as trialing', async () => {
    const { page, problems } = await newPage(browser);
    await page.goto(settle.url);
    const card = page.locator('[data-testid=plan]', { hasText: MEMBERSHIP });
    await card.waitFor();
    expect(await card.locator('[data-testid=plan-price]').textContent()).toBe('$89.00 / month');
    expect(await card.locator('[data-testid=plan-trial]').textContent()).toContain('7-day free trial');
    expect(await card.locator('[data-testid=plan-included]').textContent()).toBe('Unlimited classes');
    const pass = page.locator('[data-testid=plan]', { hasText: CLASS_PASS });
    expect(await pass.locator('[data-testid=plan-included]').textContent()).toBe('10 classes per month');
    // An email is required (the membership's links are mailed there).
    await card.locator('[data-testid=subscribe]').click();
    await expect
      .poll(() => card.locator('[data-testid=plan-message]').textContent())
      .toContain('Enter your email');
    await page.screenshot({ path: `${SHOTS}/memberships.png`, fullPage: true });

    const before = (await admin<{ subscriptions: unknown[] }>('/api/admin/subscriptions')).subscriptions
      .length;
    const id = await subscribe(page, MEMBERSHIP, 'trial@example.test');
    expect(await returnState(page, 'trialing')).toBe('trialing');
    expect(await page.locator('[data-testid=state-title]').textContent()).toContain('free trial');
    await page.locator('[data-testid=membership-summary]').waitFor();
    expect(await page.locator('[data-testid=membership-status]').getAttribute('data-status')).toBe(
      'trialing',
    );
    expect(await page.locator('[data-testid=bookings-left]').getAttribute('data-left')).toBe('unlimited');
    expect(await page.locator('[data-testid=renewal]').textContent()).toContain('Free trial until');
    // The token stays in this tab, never in the address bar.
    const token = await storedToken(page, id);
    expect(token).toMatch(/^[A-Za-z0-9_-]{40,}$/);
    expect(page.url()).not.toContain(token!);
    await page.screenshot({ path: `${SHOTS}/subscription-return-trialing.png`, fullPage: true });

    const after = (await admin<{ subscriptions: unknown[] }>('/api/admin/subscriptions')).subscriptions
      .length;
    expect(after - before).toBe(1); // the double click made one subscription
    const sub = await admin<AdminSubscription>(`/api/admin/subscriptions/${id}`);
    expect(sub.status).toBe('trialing');
    expect(sub.entitlement).toMatchObject({ access: true, reason: 'trialing', bookingsLeft: null });
    expect(sub.periods).toHaveLength(1);
    expect(sub.periods[0]).toMatchObject({ amountPaid: 0, applicationFee: 0 });
    expect(problems).toEqual([]);
    await page.context().close();
  });

  it('cancel on the hosted page: the checkout ends (nothing charged), and the buyer can subscribe again at once', async () => {
    const { page, problems } = await newPage(browser);
    await page.goto(settle.url);
    const card = page.locator('[data-testid=plan]', { hasText: CLASS_PASS });
    await card.locator('[data-testid=plan-email]').fill('changed-mind@example.test');
    await card.locator('[data-testid=subscribe]').click();
    await page.waitForURL(/\/c\/pay\/cs_/);
    await page.click('[data-testid=cancel]');
    await page.waitForURL(/\/subscriptions\/return\?subscription=mem_.*canceled=1/);
    expect(await returnState(page, 'canceled_checkout')).toBe('canceled_checkout');
    expect(await page.locator('[data-testid=state-title]').textContent()).toBe('Checkout canceled');
    await expect.poll(() => page.locator('#subscription-confirm').textContent()).toContain('subscribe again');
    const id = new URL(page.url()).searchParams.get('subscription')!;
    const ended = await admin<AdminSubscription>(`/api/admin/subscriptions/${id}`);
    expect(ended.status).toBe('checkout_expired');
    expect(ended.periods).toHaveLength(0);
    // The same email subscribes again straight away, and lands on the hosted checkout.
    await page.goto(settle.url);
    const again = page.locator('[data-testid=plan]', { hasText: CLASS_PASS });
    await again.locator('[data-testid=plan-email]').fill('changed-mind@example.test');
    await again.locator('[data-testid=subscribe]').click();
    await page.waitForURL(/\/c\/pay\/cs_/);
    expect(problems).toEqual([]);
    await page.context().close();
  });

  it('the class pass is paid at once: active, 10 classes, the fee on the invoice', async () => {
    const { page, problems } = await newPage(browser);
    const id = await subscribe(page, CLASS_PASS, 'pass@example.test');
    expect(await returnState(page, 'active')).toBe('active');
    expect(await page.locator('[data-testid=state-title]').textContent()).toContain('you are a member');
    await page.locator('[data-testid=membership-summary]').waitFor();
    expect(await page.locator('[data-testid=bookings-left]').getAttribute('data-left')).toBe('10');
    expect(await page.locator('[data-testid=renewal]').textContent()).toContain('Renews on');
    const sub = await admin<AdminSubscription>(`/api/admin/subscriptions/${id}`);
    expect(sub.status).toBe('active');
    expect(sub.periods).toHaveLength(1);
    // The seeded seller's fee: 10 % of each invoice, nothing fixed.
    expect(sub.periods[0]).toMatchObject({ amountPaid: 18000, applicationFee: 1800 });
    const row = await settle.ctx.db
      .selectFrom('subscriptions')
      .select(['status', 'buyer_email', 'unit_amount'])
      .where('id', '=', id)
      .executeTakeFirstOrThrow();
    expect(row).toEqual({ status: 'active', buyer_email: 'pass@example.test', unit_amount: 18000 });
    expect(problems).toEqual([]);
    await page.context().close();
  });

  it('books a class with the membership on the manage page (allowance goes down), then cancels the booking', async () => {
    const { page, problems } = await newPage(browser);
    const plan = (await plans()).find((p) => p.name === CLASS_PASS)!;
    const id = await subscribe(page, CLASS_PASS, 'booker@example.test');
    await returnState(page, 'active');
    await page.click('[data-testid=manage-link]');
    await page.waitForURL(/\/subscriptions\/manage\?subscription=mem_/);
    const left = page.locator('[data-testid=bookings-left]');
    await expect.poll(() => left.getAttribute('data-left')).toBe('10');
    const slot = (await slotsOf(plan.listing!.id))[0]!;
    const row = page.locator(`[data-testid=classes] tr[data-slot-id="${slot.id}"]`);
    await row.locator('[data-testid=book]').click();
    await expect.poll(() => left.getAttribute('data-left')).toBe('9');
    expect(await page.locator('[data-testid=manage-flash]').textContent()).toContain('Booked');
    const booking = page.locator(`[data-testid=bookings] tr[data-slot-id="${slot.id}"]`);
    expect(await booking.getAttribute('data-status')).toBe('booked');
    expect(await booking.textContent()).toContain('Sunrise vinyasa');
    expect(await row.textContent()).toContain('Booked');
    await page.screenshot({ path: `${SHOTS}/subscription-manage-booked.png`, fullPage: true });

    // The API and the database agree: one booking, one place sold, one class of the allowance used.
    const token = (await storedToken(page, id))!;
    const res = await fetch(`${settle.url}/api/subscriptions/${id}`, {
      headers: { 'settle-manage-token': token },
    });
    const mine = (await res.json()) as {
      entitlement: { bookingsLeft: number; bookingsUsed: number };
      bookings: { id: string; slotId: string; status: string }[];
    };
    expect(mine.entitlement).toMatchObject({ bookingsLeft: 9, bookingsUsed: 1 });
    expect(mine.bookings).toEqual([expect.objectContaining({ slotId: slot.id, status: 'booked' })]);
    expect((await slotsOf(plan.listing!.id))[0]!.sold).toBe(slot.sold + 1);
    const period = await settle.ctx.db
      .selectFrom('subscription_periods')
      .select('used_bookings')
      .where('subscription_id', '=', id)
      .executeTakeFirstOrThrow();
    expect(period.used_bookings).toBe(1);

    await booking.locator('[data-testid=cancel-booking]').click();
    await expect.poll(() => left.getAttribute('data-left')).toBe('10');
    expect(await booking.getAttribute('data-status')).toBe('canceled');
    expect((await slotsOf(plan.listing!.id))[0]!.sold).toBe(slot.sold);
    expect(problems).toEqual([]);
    await page.context().close();
  });

  it('cancels at period end from the manage page opened through the welcome mail link: access stays', async () => {
    const setup = await newPage(browser);
    const id = await subscribe(setup.page, MEMBERSHIP, 'leaver@example.test');
    await returnState(setup.page, 'trialing');
    await setup.page.context().close();

    // The welcome mail's link carries the token in the fragment; a fresh browser (no sessionStorage) uses it.
    let link = '';
    await expect
      .poll(
        async () => {
          const { notifications } = await admin<{
            notifications: { kind: string; recipient: string; body: string }[];
          }>('/api/admin/notifications');
          const mail = notifications.find(
            (n) => n.kind === 'subscription_welcome' && n.recipient === 'leaver@example.test',
          );
          link = /https?:\/\/\S+#token=[A-Za-z0-9_-]+/.exec(mail?.body ?? '')?.[0] ?? '';
          return link;
        },
        { timeout: 10_000 },
      )
      .toContain(`subscription=${id}#token=`);
    const { page, problems } = await newPage(browser);
    await page.goto(link);
    await page.locator('[data-testid=membership-summary]').waitFor();
    expect(new URL(page.url()).hash).toBe(''); // the token left the address bar…
    expect(await storedToken(page, id)).toBe(link.split('#token=')[1]); // …for this tab's storage
    expect(await page.locator('[data-testid=access]').getAttribute('data-access')).toBe('true');

    await page.click('[data-testid=cancel-subscription]');
    await page.click('[data-testid=confirm-cancel]');
    const renewal = page.locator('[data-testid=renewal]');
    await expect.poll(() => renewal.getAttribute('data-cancel-at-period-end')).toBe('true');
    expect(await renewal.textContent()).toContain('Cancels at period end');
    expect(await page.locator('[data-testid=access]').getAttribute('data-access')).toBe('true');
    expect(await page.locator('[data-testid=resume-subscription]').count()).toBe(1);
    await page.screenshot({ path: `${SHOTS}/subscription-manage-canceling.png`, fullPage: true });
    const sub = await admin<AdminSubscription>(`/api/admin/subscriptions/${id}`);
    expect(sub).toMatchObject({ status: 'trialing', cancelAtPeriodEnd: true });
    expect(sub.entitlement.access).toBe(true);
    const row = await settle.ctx.db
      .selectFrom('subscriptions')
      .select(['cancel_at_period_end', 'status'])
      .where('id', '=', id)
      .executeTakeFirstOrThrow();
    expect(row).toEqual({ cancel_at_period_end: true, status: 'trialing' });

    // A wrong token is refused with the API's message.
    const stranger = await newPage(browser);
    await stranger.page.goto(`${settle.url}/subscriptions/manage?subscription=${id}#token=not-the-token`);
    await expect
      .poll(() => stranger.page.locator('#subscription-manage').textContent())
      .toContain('manage token');
    await stranger.page.context().close();
    expect(problems).toEqual([]);
    await page.context().close();
  });

  it('operator console: lists subscriptions and plans, advances the test clock one month (a renewal is invoiced)', async () => {
    const setup = await newPage(browser);
    const id = await subscribe(setup.page, CLASS_PASS, 'renewal@example.test');
    await returnState(setup.page, 'active');
    await setup.page.context().close();

    const { page, problems } = await newPage(browser);
    await page.goto(`${settle.url}/admin`);
    await page.fill('#login-form input[name=token]', settle.adminToken);
    await page.click('#login-form button[type=submit]');
    await page.click('[data-tab=plans]');
    await page.locator('[data-testid=plans] tr[data-plan-id]').first().waitFor();
    expect(await page.locator('[data-testid=plans] tr[data-plan-id]').count()).toBe(2);
    // A new plan from the form: Harbor Yoga's Sunrise vinyasa (its currency), 4 classes a year.
    const form = page.locator('[data-testid=plan-form]');
    await form.locator('select[name=sellerId]').selectOption({ label: 'Harbor Yoga' });
    await form.locator('select[name=listingId]').selectOption({ label: 'Sunrise vinyasa (USD)' });
    await form.locator('input[name=name]').fill('Yearly four');
    await form.locator('select[name=interval]').selectOption('year');
    await form.locator('input[name=price]').fill('99.50');
    await form.locator('input[name=includedBookings]').fill('4');
    await form.getByRole('button', { name: 'Create plan' }).click();
    await page.locator('[data-testid=plans] tr[data-plan-id]', { hasText: 'Yearly four' }).waitFor();
    const created = (await plans()).find((p) => p.name === 'Yearly four');
    expect(created).toMatchObject({
      interval: 'year',
      includedBookings: 4,
      trialDays: 0,
      price: { unitAmount: 9950, currency: 'usd' },
    });
    await page.click('[data-tab=subscriptions]');
    await page.click(`button[data-subscription-id="${id}"]`);
    const detail = page.locator(`[data-testid=subscription-detail][data-subscription-id="${id}"]`);
    await detail.waitFor();
    expect(await detail.locator('tr[data-period-id]').count()).toBe(1);
    await detail.locator('[data-action=advance-clock]').click();
    await page.locator('#admin-flash .notice-ok').waitFor({ timeout: 20_000 });
    await expect
      .poll(
        async () => {
          const sub = await admin<AdminSubscription>(`/api/admin/subscriptions/${id}`);
          return sub.periods.length;
        },
        { timeout: 10_000 },
      )
      .toBe(2);
    await page.locator('[data-action=refresh]').click();
    await expect
      .poll(() => page.locator('[data-testid=subscription-detail] tr[data-period-id]').count())
      .toBe(2);
    await page.screenshot({ path: `${SHOTS}/console-subscription.png`, fullPage: true });
    expect(problems).toEqual([]);
    await page.context().close();
  });

  it('operator console: refunds an invoice (confirm step, once) and cancels another subscription now with a prorated refund', async () => {
    const ids: string[] = [];
    for (const email of ['refund@example.test', 'prorate@example.test']) {
      const setup = await newPage(browser);
      ids.push(await subscribe(setup.page, CLASS_PASS, email));
      await returnState(setup.page, 'active');
      await setup.page.context().close();
    }
    const [refundId, prorateId] = ids as [string, string];
    const { page, problems } = await newPage(browser);
    await page.goto(`${settle.url}/admin`);
    await page.fill('#login-form input[name=token]', settle.adminToken);
    await page.click('#login-form button[type=submit]');
    await page.click('[data-tab=subscriptions]');

    await page.click(`button[data-subscription-id="${refundId}"]`);
    let detail = page.locator(`[data-testid=subscription-detail][data-subscription-id="${refundId}"]`);
    await detail.locator('[data-action=refund-period]').click();
    await detail.locator('[data-testid=confirm-period-refund]').dblclick();
    await page.locator('#admin-flash .notice-ok').waitFor({ timeout: 20_000 });
    expect(await page.locator('#admin-flash').textContent()).toContain('$180.00');
    await expect
      .poll(async () => (await admin<AdminRefunds>(`/api/admin/subscriptions/${refundId}`)).refunds.length)
      .toBe(1);
    const refunded = await admin<AdminRefunds>(`/api/admin/subscriptions/${refundId}`);
    expect(refunded.refunds[0]).toMatchObject({ amount: 18000 });

    await page.click(`button[data-subscription-id="${prorateId}"]`);
    detail = page.locator(`[data-testid=subscription-detail][data-subscription-id="${prorateId}"]`);
    await detail.locator('[data-action=cancel-prorate]').click();
    await detail.locator('[data-testid=confirm-cancel-now]').click();
    await expect
      .poll(() => page.locator('#admin-flash').textContent(), { timeout: 20_000 })
      .toContain('canceled now');
    const canceled = await admin<AdminRefunds & { status: string }>(`/api/admin/subscriptions/${prorateId}`);
    expect(canceled.status).toBe('canceled');
    expect(canceled.refunds).toHaveLength(1);
    expect(canceled.refunds[0]!.amount).toBeGreaterThan(0);
    expect(canceled.refunds[0]!.amount).toBeLessThanOrEqual(18000);
    await expect
      .poll(() =>
        page
          .locator(`[data-testid=subscription-detail][data-subscription-id="${prorateId}"] h2`)
          .textContent(),
      )
      .toContain('canceled');
    expect(await page.locator('[data-action=cancel-now]').count()).toBe(0);
    expect(problems).toEqual([]);
    await page.context().close();
  });
});

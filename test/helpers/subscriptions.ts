import { expect } from 'vitest';
import { setupMarket, type Harness, type MarketSetup } from './settle.js';

export interface PlanSetup extends MarketSetup {
  planId: string;
}

/** An onboarded seller with a listing, a slot and a plan for that listing. */
export async function setupPlan(
  h: Harness,
  opts: {
    chargeType: 'direct' | 'destination';
    unitAmount?: number;
    trialDays?: number;
    includedBookings?: number;
    capacity?: number;
    feeBps?: number;
    feeFixed?: number;
  },
): Promise<PlanSetup> {
  const m = await setupMarket(h, {
    chargeType: opts.chargeType,
    capacity: opts.capacity ?? 10,
    feeBps: opts.feeBps ?? 1000,
    ...(opts.feeFixed !== undefined ? { feeFixed: opts.feeFixed } : {}),
  });
  const plan = await h.admin<{ id: string }>('POST', '/api/admin/plans', {
    sellerId: m.sellerId,
    listingId: m.listingId,
    name: 'Monthly membership',
    interval: 'month',
    unitAmount: opts.unitAmount ?? 4000,
    trialDays: opts.trialDays ?? 0,
    includedBookings: opts.includedBookings ?? 4,
  });
  if (plan.status !== 201) throw new Error(`plan: ${plan.status} ${JSON.stringify(plan.body)}`);
  return { ...m, planId: plan.body.id };
}

export interface Subscribed {
  subscriptionId: string;
  manageToken: string;
  checkoutUrl: string;
  sessionId: string;
}

export async function startSubscription(
  h: Harness,
  planId: string,
  email = 'member@example.test',
): Promise<Subscribed> {
  const r = await h.api<{ subscriptionId: string; manageToken: string; checkoutUrl: string }>(
    'POST',
    '/api/subscriptions/checkout',
    { planId, email },
  );
  if (r.status !== 201) throw new Error(`subscription checkout: ${r.status} ${JSON.stringify(r.body)}`);
  const sessionId = new URL(r.body.checkoutUrl).pathname.split('/').pop() ?? '';
  return { ...r.body, sessionId };
}

/** Starts a subscription and pays its hosted checkout with `card` (default 4242…). */
export async function subscribe(
  h: Harness,
  planId: string,
  opts: { card?: string; email?: string } = {},
): Promise<Subscribed> {
  const s = await startSubscription(h, planId, opts.email);
  const pay = await h.settle.emulator!.paySession(s.sessionId, {
    card_number: opts.card ?? '4242424242424242',
  });
  expect(pay.status).toBe(303);
  return s;
}

export const manage = (token: string): Record<string, string> => ({ 'settle-manage-token': token });

export interface AdminSubscription {
  id: string;
  status: string;
  cancelAtPeriodEnd: boolean;
  currentPeriodStart: string | null;
  currentPeriodEnd: string | null;
  entitlement: { access: boolean; reason: string; bookingsLeft: number | null; bookingsUsed: number };
  periods: {
    id: string;
    invoiceId: string;
    amountPaid: number;
    applicationFee: number;
    billingReason: string | null;
    periodStart: string;
    periodEnd: string;
    usedBookings: number;
    paymentId: string | null;
    refundedAmount: number;
  }[];
  events: { from: string | null; to: string; note: string | null; via: string | null }[];
  refunds: { refundId: string; amount: number; status: string }[];
  providerSubscriptionId: string | null;
  providerCustomerId: string | null;
  providerAccountId: string;
  chargeType: 'direct' | 'destination';
  pastDueSince: string | null;
  endedAt: string | null;
}

export async function adminSubscription(h: Harness, id: string): Promise<AdminSubscription> {
  const r = await h.admin<AdminSubscription>('GET', `/api/admin/subscriptions/${id}`);
  if (r.status !== 200) throw new Error(`admin subscription: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

/** Advances the subscription's test clock by `days` past its current period start and waits for the webhooks. */
export async function advanceDays(h: Harness, id: string, days: number): Promise<AdminSubscription> {
  const r = await h.admin<AdminSubscription>('POST', `/api/admin/subscriptions/${id}/advance-clock`, {
    days,
  });
  if (r.status !== 200) throw new Error(`advance: ${r.status} ${JSON.stringify(r.body)}`);
  await h.settleDown();
  return adminSubscription(h, id);
}

export async function notificationsFor(h: Harness, kind: string) {
  return h.settle.ctx.db.selectFrom('notifications').selectAll().where('kind', '=', kind).execute();
}

/** Stripe request options that reach the subscription's account (the seller's for Direct, the platform's else). */
export function onAccountOf(sub: Pick<AdminSubscription, 'chargeType' | 'providerAccountId'>) {
  return sub.chargeType === 'direct' ? { stripeAccount: sub.providerAccountId } : {};
}

/** The provider's own view of the subscription (read with the official SDK). */
export async function remoteSubscription(h: Harness, id: string) {
  const sub = await adminSubscription(h, id);
  if (sub.providerSubscriptionId === null) throw new Error(`subscription ${id} is not linked`);
  return h.stripe.subscriptions.retrieve(sub.providerSubscriptionId, {}, onAccountOf(sub));
}

/** The provider's invoices of the subscription. */
export async function remoteInvoices(h: Harness, id: string) {
  const sub = await adminSubscription(h, id);
  if (sub.providerSubscriptionId === null) throw new Error(`subscription ${id} is not linked`);
  return (
    await h.stripe.invoices.list({ subscription: sub.providerSubscriptionId, limit: 100 }, onAccountOf(sub))
  ).data;
}

/** The member opens the customer portal through Settle and changes their card there. */
export async function updateCard(h: Harness, s: Subscribed, cardNumber: string): Promise<void> {
  const r = await h.api<{ url: string }>(
    'POST',
    `/api/subscriptions/${s.subscriptionId}/portal`,
    undefined,
    manage(s.manageToken),
  );
  if (r.status !== 200) throw new Error(`portal: ${r.status} ${JSON.stringify(r.body)}`);
  const portalId = new URL(r.body.url).pathname.split('/').pop() ?? '';
  const done = await h.settle.emulator!.portalAction(portalId, {
    action: 'update_card',
    card_number: cardNumber,
  });
  if (done.status >= 400) throw new Error(`portal update_card: ${done.status} ${done.notice.text}`);
  await h.settleDown();
}

/** Another slot of the plan's listing (starting in `inDays` days). */
export async function addSlot(h: Harness, listingId: string, capacity: number, inDays = 3): Promise<string> {
  const slot = await h.admin<{ id: string }>('POST', `/api/listings/${listingId}/slots`, {
    startsAt: new Date(
      Date.now() + inDays * 86_400_000 + Math.floor(Math.random() * 3_600_000),
    ).toISOString(),
    capacity,
  });
  if (slot.status !== 201) throw new Error(`slot: ${slot.status} ${JSON.stringify(slot.body)}`);
  return slot.body.id;
}

export interface Booked {
  bookingId: string;
  status: string;
  entitlement: { access: boolean; reason: string; bookingsLeft: number | null; bookingsUsed: number };
  error?: { code: string; message: string };
}

/** Books with the membership through POST /api/checkout (`token` null: no header). */
export async function book(
  h: Harness,
  subscriptionId: string,
  slotId: string,
  token: string | null,
  quantity = 1,
) {
  return h.api<Booked>(
    'POST',
    '/api/checkout',
    { slotId, quantity, subscriptionId },
    token === null ? {} : manage(token),
  );
}

export async function slotSold(h: Harness, slotId: string): Promise<number> {
  const row = await h.settle.ctx.db
    .selectFrom('slots')
    .select(['sold'])
    .where('id', '=', slotId)
    .executeTakeFirstOrThrow();
  return row.sold;
}

/** The subscription's history, oldest first (every row: nothing caps how many a double application writes). */
export async function historyOf(h: Harness, id: string) {
  return h.settle.ctx.db
    .selectFrom('subscription_events')
    .selectAll()
    .where('subscription_id', '=', id)
    .orderBy('id', 'asc')
    .execute();
}

/** Notifications of `kind` sent to `recipient` (all of that kind without one). */
export async function noticesTo(h: Harness, kind: string, recipient?: string) {
  const all = await notificationsFor(h, kind);
  return recipient === undefined ? all : all.filter((n) => n.recipient === recipient);
}

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
  },
): Promise<PlanSetup> {
  const m = await setupMarket(h, {
    chargeType: opts.chargeType,
    capacity: opts.capacity ?? 10,
    feeBps: opts.feeBps ?? 1000,
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
  providerAccountId: string;
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

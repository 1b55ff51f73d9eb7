import { createListing, createSlot } from '../core/catalog.js';
import { offerPromotionCode } from '../core/promotions.js';
import { createPlan } from '../core/subscriptions/plans.js';
import { completeOAuth, connectSeller, onboardSeller, refreshSeller } from '../core/sellers.js';
import type { AppContext } from './context.js';

/** Promotion codes of the demo marketplace (Settle's copy and the provider's must agree). */
export const DEMO_PROMOTION_CODES = [
  { code: 'FREE100', percentOff: 100 },
  { code: 'TENOFF', percentOff: 10 },
] as const;

/**
 * Plans (memberships) of the demo marketplace, on the Direct Charge seller's first listing. Subscriptions take the
 * seller's fee as a percentage of each invoice only, so that seller is seeded with a percentage-only fee rule.
 */
export const DEMO_PLAN_SELLER = 'Harbor Yoga';
export const DEMO_PLAN_LISTING = 'Sunrise vinyasa';
export const DEMO_PLANS = [
  { name: 'Harbor Yoga membership', interval: 'month', unitAmount: 8900, trialDays: 7, includedBookings: 0 },
  { name: '10-class pass', interval: 'month', unitAmount: 18000, trialDays: 0, includedBookings: 10 },
] as const;

/** How the demo completes a seller's onboarding at each emulator. */
export interface DemoOnboarding {
  /** Stripe: the connected account finishes onboarding. */
  stripe: (accountId: string) => Promise<void>;
  /** PayPal (when the PayPal emulator runs): the seller signs up through the partner referral tracked by its id. */
  paypal?: (sellerId: string) => Promise<void>;
  /**
   * Square (when the Square emulator runs): the seller allows Settle on the authorize page, which answers an
   * authorization code; the demo then comes back through Settle's OAuth callback path with it and the state.
   */
  square?: (sellerName: string) => Promise<{ code: string }>;
}

/**
 * Seeds the demo marketplace once (only into an empty database): a Direct Charge seller and a Destination
 * Charge seller, onboarded at the emulator(s) (Stripe, and PayPal and Square when their emulators run), each
 * with listings and upcoming slots; promotion codes FREE100 and TENOFF on the platform and on the Direct Charge
 * seller's account (direct-charge sessions live there), and in Settle's own copy for PayPal (which has no codes);
 * and the demo plans (seedDemoPlans).
 */
export async function seedDemo(ctx: AppContext, onboarding: DemoOnboarding): Promise<boolean> {
  const existing = await ctx.db.selectFrom('sellers').select('id').limit(1).execute();
  if (existing.length > 0) {
    // A database seeded before plans existed gets them now (once: only while it has no plan at all).
    await seedDemoPlans(ctx);
    return false;
  }
  // Offered before the sellers exist: creating a Direct Charge seller's account copies the codes onto it.
  for (const p of DEMO_PROMOTION_CODES)
    await offerPromotionCode(ctx, { code: p.code, percentOff: p.percentOff });
  const day = 86_400_000;
  const at = (days: number, hour: number): Date => {
    const d = new Date(ctx.now().getTime() + days * day);
    d.setUTCHours(hour, 0, 0, 0);
    return d;
  };
  const sellers = [
    {
      name: 'Harbor Yoga',
      email: 'hello@harbor-yoga.example',
      chargeType: 'direct' as const,
      // Percentage-only (whatever SETTLE_FEE_FIXED says): its plans are billed with a percentage fee per invoice.
      feeFixed: 0,
      listings: [
        {
          title: 'Sunrise vinyasa',
          description: 'A 60-minute flow by the water. Mats provided.',
          currency: 'usd',
          unitAmount: 2500,
          slots: [
            [1, 7, 12],
            [2, 7, 1],
            [4, 7, 12],
            [6, 7, 12],
          ],
        },
        {
          title: 'Restorative evening',
          description: 'Slow, supported poses to end the day.',
          currency: 'usd',
          unitAmount: 1800,
          slots: [[3, 19, 8]],
        },
      ],
    },
    {
      name: 'Kiln Pottery Studio',
      email: 'studio@kiln-pottery.example',
      chargeType: 'destination' as const,
      listings: [
        {
          title: 'Wheel-throwing taster',
          description: 'Two hours on the wheel; firing and glazing included.',
          currency: 'usd',
          unitAmount: 6500,
          slots: [
            [2, 14, 6],
            [5, 14, 2],
          ],
        },
        {
          title: 'Tokyo raku workshop',
          description: 'A zero-decimal currency example (JPY).',
          currency: 'jpy',
          unitAmount: 8000,
          slots: [[4, 10, 4]],
        },
      ],
    },
  ];
  for (const s of sellers) {
    const { seller, accounts } = await onboardSeller(ctx, {
      name: s.name,
      email: s.email,
      chargeType: s.chargeType,
      ...(s.feeFixed !== undefined ? { feeFixed: s.feeFixed } : {}),
    });
    for (const account of accounts) {
      if (account.provider === 'stripe' && account.provider_account_id !== null)
        await onboarding.stripe(account.provider_account_id);
    }
    if (onboarding.paypal !== undefined && ctx.providers.has('paypal')) {
      // The operator's "connect to PayPal" (a partner referral tracked by the seller id), then the seller's sign-up.
      await connectSeller(ctx, seller.id, 'paypal');
      await onboarding.paypal(seller.id);
    }
    if (onboarding.square !== undefined && ctx.providers.has('square')) {
      // The operator's "connect to Square" (an authorize URL with a state bound to the seller), the seller's
      // "Allow", and the return through the same path as a browser's (state checked, code exchanged, sealed).
      const { url } = await connectSeller(ctx, seller.id, 'square');
      const state = new URL(url).searchParams.get('state') ?? '';
      const { code } = await onboarding.square(s.name);
      const r = await completeOAuth(ctx, 'square', { code, state });
      if (r.outcome !== 'connected') throw new Error(`demo seller ${s.name} could not connect to Square`);
    }
    await refreshSeller(ctx, seller.id);
    for (const l of s.listings) {
      const listing = await createListing(ctx.db, {
        sellerId: seller.id,
        title: l.title,
        description: l.description,
        currency: l.currency,
        unitAmount: l.unitAmount,
      });
      for (const [days, hour, capacity] of l.slots) {
        await createSlot(ctx.db, {
          listingId: listing.id,
          startsAt: at(days ?? 1, hour ?? 9),
          capacity: capacity ?? 1,
        });
      }
    }
  }
  await seedDemoPlans(ctx);
  return true;
}

/**
 * The demo plans: a monthly membership (unlimited classes, 7-day trial) and a 10-class pass (monthly, no trial) on
 * Harbor Yoga's Sunrise vinyasa. Only into a database without any plan (plans are archived, never deleted, so this
 * runs once), and only when that seller and listing exist with a percentage-only fee rule. Returns whether it seeded.
 */
export async function seedDemoPlans(ctx: AppContext): Promise<boolean> {
  const anyPlan = await ctx.db.selectFrom('plans').select('id').limit(1).execute();
  if (anyPlan.length > 0) return false;
  const target = await ctx.db
    .selectFrom('listings')
    .innerJoin('sellers', 'sellers.id', 'listings.seller_id')
    .select(['listings.id as listingId', 'sellers.id as sellerId', 'sellers.fee_fixed'])
    .where('sellers.name', '=', DEMO_PLAN_SELLER)
    .where('listings.title', '=', DEMO_PLAN_LISTING)
    .orderBy('listings.created_at')
    .limit(1)
    .executeTakeFirst();
  if (target === undefined || target.fee_fixed > 0) return false;
  for (const p of DEMO_PLANS) {
    await createPlan(ctx, {
      sellerId: target.sellerId,
      listingId: target.listingId,
      name: p.name,
      interval: p.interval,
      unitAmount: p.unitAmount,
      trialDays: p.trialDays,
      includedBookings: p.includedBookings,
    });
  }
  return true;
}

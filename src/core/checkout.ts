import type { AppContext } from './context.js';
import type { Order, ProviderId } from '../db/schema.js';
import { confirmPayment, type AlsoWrite, type ConfirmResult } from './confirm-payment.js';
import { SettleError } from './errors.js';
import { CONFIRMABLE } from './order-status.js';
import { transitionOrder } from './order-transitions.js';
import { attachSession, createPendingOrder, getOrder } from './orders.js';
import { accountTakesCurrency, isReady, markAccountRevoked } from './sellers.js';
import { chargeableThrough } from './currency-rules.js';
import { currency } from './money.js';
import type { AccountContext, CheckoutState } from './provider.js';

export function accountOf(order: Pick<Order, 'provider_account_id' | 'charge_type'>): AccountContext {
  if (order.provider_account_id === null) throw new Error('order has no provider account');
  return { accountId: order.provider_account_id, chargeType: order.charge_type };
}

export interface StartedCheckout {
  orderId: string;
  checkoutUrl: string;
  expiresAt: Date;
  status: Order['status'];
}

/**
 * The provider a checkout goes through: the buyer's choice if the platform has it configured, else the platform's
 * first configured provider the seller is ready on (else its first configured one, so the refusal names what is
 * missing). Whether the seller can take payments there is checked with the order (createPendingOrder).
 */
async function chooseProvider(
  ctx: AppContext,
  slotId: string,
  requested: ProviderId | null,
): Promise<ProviderId> {
  if (requested !== null) {
    ctx.providers.get(requested);
    return requested;
  }
  const accounts = await ctx.db
    .selectFrom('slots')
    .innerJoin('listings', 'listings.id', 'slots.listing_id')
    .innerJoin('seller_accounts', 'seller_accounts.seller_id', 'listings.seller_id')
    .select([
      'seller_accounts.provider',
      'seller_accounts.provider_account_id',
      'seller_accounts.charges_enabled',
      'seller_accounts.capabilities',
      'listings.unit_amount',
      'listings.currency',
    ])
    .where('slots.id', '=', slotId)
    .execute();
  const configured = ctx.providers.ids;
  // Ready there, and able to charge this listing's price (PayPal takes no KWD, say).
  const ready = configured.find((id) =>
    accounts.some(
      (a) =>
        a.provider === id &&
        isReady(a) &&
        accountTakesCurrency(a, a.currency) &&
        chargeableThrough(id, { amount: a.unit_amount, currency: currency(a.currency) }),
    ),
  );
  const any = configured.find((id) => accounts.some((a) => a.provider === id));
  const first = ready ?? any ?? configured[0];
  if (first === undefined) throw new SettleError('provider_not_configured', 'No provider is configured.');
  return first;
}

/**
 * Starts a checkout: prices and holds (createPendingOrder), then creates the provider's hosted checkout with an
 * idempotency key derived from the order id. If the provider call fails, the order is canceled and the hold
 * released, so a failed start never blocks inventory.
 */
export async function startCheckout(
  ctx: AppContext,
  req: {
    slotId: string;
    quantity: number;
    promotionCode?: string | null;
    email?: string | null;
    /** Digest of the buyer's Idempotency-Key (scope + key): a re-run of the same request resumes its order. */
    checkoutKey?: string | null;
    /** The buyer's choice; default: the platform's first configured provider the seller is ready on. */
    provider?: ProviderId | null;
  },
): Promise<StartedCheckout> {
  const providerId = await chooseProvider(ctx, req.slotId, req.provider ?? null);
  const provider = ctx.providers.get(providerId);
  const order = await createPendingOrder(ctx.db, {
    slotId: req.slotId,
    quantity: req.quantity,
    promotionCode: req.promotionCode ?? null,
    buyerEmail: req.email ?? null,
    provider: providerId,
    holdMinutes: ctx.config.holdMinutes,
    checkoutKey: req.checkoutKey ?? null,
    now: ctx.now(),
  });
  if (order.resumed && order.status !== 'pending') {
    // The same request already ran to an end (the buyer canceled, or the provider refused): never a second order.
    throw new SettleError(
      'checkout_not_open',
      `This checkout request already ended (order ${order.status}); start a new one with a new Idempotency-Key.`,
    );
  }
  try {
    const listing = await ctx.db
      .selectFrom('listings')
      .select('title')
      .where('id', '=', order.listing_id)
      .executeTakeFirstOrThrow();
    const account = accountOf(order);
    const promoId =
      order.promotion_code !== null
        ? await provider.findPromotionCodeId(order.promotion_code, account)
        : null;
    if (order.promotion_code !== null && promoId === null) {
      throw new SettleError(
        'promotion_code_invalid',
        `Promotion code '${order.promotion_code}' is not available for this seller.`,
      );
    }
    const base = ctx.config.publicUrl;
    const session = await provider.createCheckout({
      orderId: order.id,
      account,
      lineItem: { name: listing.title, unitAmount: order.unit_amount, quantity: order.quantity },
      discount: order.discount,
      currency: order.currency,
      applicationFee: order.platform_fee,
      expiresAt: order.expires_at,
      successUrl: `${base}/checkout/return?order=${order.id}&session_id={CHECKOUT_SESSION_ID}`,
      cancelUrl: `${base}/checkout/cancel?order=${order.id}`,
      promotionCodeProviderId: promoId,
      customerEmail: order.buyer_email,
      idempotencyKey: `checkout:${order.id}`,
    });
    await attachSession(ctx.db, order.id, session.sessionId);
    return { orderId: order.id, checkoutUrl: session.url, expiresAt: order.expires_at, status: 'pending' };
  } catch (err) {
    if (
      err instanceof SettleError &&
      err.code === 'provider_account_revoked' &&
      order.provider_account_id !== null
    )
      await markAccountRevoked(ctx, order.provider, order.provider_account_id);
    // A resumed request leaves cleanup to the request that created the order (or to the hold's expiry).
    if (order.resumed) throw err;
    await transitionOrder(ctx.db, order.id, 'canceled', {
      via: 'checkout',
      note: 'provider checkout could not be created',
      now: ctx.now(),
    });
    throw err;
  }
}

/** Why a provider's checkout state may not move this order, or null when it may. */
function checkoutMismatch(
  order: Pick<Order, 'provider' | 'provider_session_id' | 'provider_account_id'>,
  state: CheckoutState,
): 'session' | 'account' | null {
  // A session that is not the order's own (another provider's, or another session): it never moves this order.
  if (
    state.provider !== order.provider ||
    (order.provider_session_id !== null && order.provider_session_id !== state.sessionId)
  )
    return 'session';
  // Paid to another account than the seller's (a payee the order does not name): never confirmed as this order.
  if (state.accountId !== null && state.accountId !== order.provider_account_id) return 'account';
  return null;
}

function logForeignAccount(ctx: AppContext, orderId: string, state: CheckoutState): void {
  ctx.logger.error(
    { orderId, provider: state.provider, account: state.accountId },
    "checkout paid to an account that is not the order's seller; not applied",
  );
}

/**
 * Applies what the provider says about a checkout. The one place that turns a CheckoutState into order changes,
 * shared by webhooks, the frontend verify call and reconciliation; payment always goes through confirmPayment().
 *
 * `known` is the order row the caller already read (the webhook path reads it before re-reading the checkout from
 * the provider). It only saves the re-read here for a payment, where the session and account checks are made again
 * by confirmPayment() on the row it reads and locks in its transaction; every other outcome, and a known row that
 * does not match, is decided on a fresh read as before.
 */
export async function applyCheckoutState(
  ctx: AppContext,
  orderId: string,
  state: CheckoutState,
  via: 'webhook' | 'frontend' | 'reconcile',
  known?: Order,
  /** For a payment: made in the confirmation's transaction (the inbox marks its row processed there). */
  alsoWrite?: AlsoWrite,
): Promise<ConfirmResult | { orderId: string; status: Order['status'] }> {
  const paying = state.outcome === 'succeeded' || state.outcome === 'zero_amount';
  const order =
    known !== undefined && known.id === orderId && paying && checkoutMismatch(known, state) === null
      ? known
      : await getOrder(ctx.db, orderId);
  const mismatch = checkoutMismatch(order, state);
  if (mismatch !== null) {
    if (mismatch === 'account') logForeignAccount(ctx, orderId, state);
    return { orderId, status: order.status };
  }
  switch (state.outcome) {
    case 'succeeded':
    case 'zero_amount':
      return confirmPayment(
        ctx.db,
        orderId,
        {
          via,
          provider: state.provider,
          sessionId: state.sessionId,
          paymentId: state.paymentId,
          amount: state.amountTotal,
          currency: state.currency,
          promotionCode: state.promotionCode,
          applicationFee: state.applicationFee,
        },
        {
          now: ctx.now(),
          ...(alsoWrite !== undefined ? { alsoWrite } : {}),
          // Decided first on the row read here (before the provider was asked): applied only if it did not change.
          known: order,
          // The same checks on the row confirmPayment() reads and locks: nothing can change it in between.
          applies: (current) => {
            const m = checkoutMismatch(current, state);
            if (m === 'account') logForeignAccount(ctx, orderId, state);
            return m === null;
          },
        },
      ).then((r) => {
        ctx.queue.nudge();
        return r;
      });
    case 'processing':
      return transitionOrder(ctx.db, orderId, 'processing', {
        via,
        note: 'delayed payment method',
        now: ctx.now(),
        holdUntil: new Date(ctx.now().getTime() + ctx.config.processingHoldDays * 86_400_000),
      });
    case 'failed':
      return transitionOrder(ctx.db, orderId, 'failed', { via, note: 'payment failed', now: ctx.now() });
    case 'expired':
      return transitionOrder(ctx.db, orderId, 'expired', { via, note: 'checkout expired', now: ctx.now() });
    case 'open':
      return { orderId, status: order.status };
  }
}

/** Frontend verify: reads the checkout from the provider (never from query parameters) and applies it. */
export async function verifyCheckout(
  ctx: AppContext,
  orderId: string,
): Promise<{ orderId: string; status: Order['status'] }> {
  const order = await getOrder(ctx.db, orderId);
  // Every status from which a payment can still be confirmed is re-checked with the provider: a buyer who paid
  // just as the order expired or was canceled must still see (and get) a paid order.
  if (order.provider_session_id === null || !CONFIRMABLE.includes(order.status)) {
    return { orderId, status: order.status };
  }
  const state = await ctx.providers
    .get(order.provider)
    .retrieveCheckout(order.provider_session_id, accountOf(order));
  const r = await applyCheckoutState(ctx, orderId, state, 'frontend');
  return { orderId, status: r.status };
}

/**
 * Buyer canceled on the hosted page: release the hold first, then end the provider checkout. If the provider
 * says the buyer paid after all (another tab), confirmPayment still accepts the payment from `canceled`.
 */
export async function cancelCheckout(
  ctx: AppContext,
  orderId: string,
): Promise<{ orderId: string; status: Order['status'] }> {
  const order = await getOrder(ctx.db, orderId);
  if (order.status !== 'pending') return { orderId, status: order.status };
  const r = await transitionOrder(ctx.db, orderId, 'canceled', {
    via: 'frontend',
    note: 'buyer canceled',
    now: ctx.now(),
  });
  if (order.provider_session_id !== null) {
    await ctx.providers.get(order.provider).expireCheckout(order.provider_session_id, accountOf(order));
    const state = await ctx.providers
      .get(order.provider)
      .retrieveCheckout(order.provider_session_id, accountOf(order));
    if (state.outcome === 'succeeded' || state.outcome === 'zero_amount' || state.outcome === 'processing') {
      const after = await applyCheckoutState(ctx, orderId, state, 'frontend');
      return { orderId, status: after.status };
    }
  }
  return { orderId, status: r.status };
}

import { createHash, randomBytes } from 'node:crypto';
import type { Db } from '../db/connect.js';
import type { ChargeType, ProviderId, Seller, SellerAccount } from '../db/schema.js';
import { createSeller, getSeller } from './catalog.js';
import type { AppContext } from './context.js';
import { dropGrant, saveGrant } from './credentials.js';
import { SettleError } from './errors.js';
import { mirrorPromotionCodes } from './promotions.js';
import type { NormalizedEvent, SellerAccountState, VerifiedEvent } from './provider.js';

/**
 * Sellers and their accounts at each provider: one `seller_accounts` row per seller and provider (account id,
 * charge type, onboarding state, capabilities). A seller can be sold through every provider it is ready on.
 */

/** A seller with its provider accounts, in the platform's order of preference. */
export interface SellerWithAccounts {
  seller: Seller;
  accounts: SellerAccount[];
}

/**
 * Whether the account can charge in this currency: a provider that restricts an account to some currencies (a
 * Square seller: its location's) records them in `capabilities.currencies` when the seller connects.
 */
export function accountTakesCurrency(a: Pick<SellerAccount, 'capabilities'>, currency: string): boolean {
  const only = a.capabilities['currencies'];
  return typeof only !== 'string' || only.split(' ').includes(currency.toLowerCase());
}

/** Ready to take payments through this provider: an account that can charge. */
export function isReady(a: Pick<SellerAccount, 'provider_account_id' | 'charges_enabled'>): boolean {
  return a.provider_account_id !== null && a.charges_enabled;
}

export async function sellerAccounts(db: Db, sellerId: string): Promise<SellerAccount[]> {
  return db
    .selectFrom('seller_accounts')
    .selectAll()
    .where('seller_id', '=', sellerId)
    .orderBy('created_at')
    .execute();
}

export async function sellerAccount(
  db: Db,
  sellerId: string,
  provider: ProviderId,
): Promise<SellerAccount | undefined> {
  return db
    .selectFrom('seller_accounts')
    .selectAll()
    .where('seller_id', '=', sellerId)
    .where('provider', '=', provider)
    .executeTakeFirst();
}

export async function getSellerWithAccounts(ctx: AppContext, sellerId: string): Promise<SellerWithAccounts> {
  const seller = await getSeller(ctx.db, sellerId);
  return { seller, accounts: sortByPreference(ctx, await sellerAccounts(ctx.db, sellerId)) };
}

function sortByPreference(ctx: AppContext, accounts: SellerAccount[]): SellerAccount[] {
  const rank = (p: ProviderId): number => {
    const i = ctx.providers.ids.indexOf(p);
    return i < 0 ? Number.MAX_SAFE_INTEGER : i;
  };
  return [...accounts].sort((a, b) => rank(a.provider) - rank(b.provider));
}

/**
 * Creates the seller and its account at the platform's first provider (idempotent per seller id). Other providers
 * are connected later (`connectSeller`).
 */
export async function onboardSeller(
  ctx: AppContext,
  input: { name: string; email: string; chargeType: ChargeType; feeBps?: number; feeFixed?: number },
): Promise<SellerWithAccounts> {
  const seller = await createSeller(ctx.db, {
    name: input.name,
    email: input.email,
    fee: {
      bps: input.feeBps ?? ctx.config.defaultFee.bps,
      fixed: input.feeFixed ?? ctx.config.defaultFee.fixed,
    },
  });
  const first = ctx.providers.ids[0];
  if (first !== undefined) await attachAccount(ctx, seller, first, input.chargeType);
  return getSellerWithAccounts(ctx, seller.id);
}

/**
 * Ensures the seller has an account at `provider` (retries safely: the row is keyed by seller and provider and the
 * provider call's idempotency key is derived from the seller id). The charge type is fixed by the first call.
 */
export async function attachAccount(
  ctx: AppContext,
  seller: Seller,
  providerId: ProviderId,
  chargeType: ChargeType = 'direct',
): Promise<SellerAccount> {
  const provider = ctx.providers.get(providerId);
  await ctx.db
    .insertInto('seller_accounts')
    .values({
      seller_id: seller.id,
      provider: providerId,
      provider_account_id: null,
      charge_type: chargeType,
      account_synced_at: null,
    })
    .onConflict((oc) => oc.columns(['seller_id', 'provider']).doNothing())
    .execute();
  const row = await sellerAccount(ctx.db, seller.id, providerId);
  if (row === undefined) throw new Error('seller account row vanished');
  if (row.provider_account_id !== null) return row;
  const account = await provider.createSellerAccount({
    sellerId: seller.id,
    email: seller.email,
    idempotencyKey: `account:${seller.id}`,
  });
  // A provider that assigns the account only when onboarding ends (PayPal: the merchant id) has none yet; the row
  // waits for it (refreshSeller on the onboarding return, or the provider's onboarding event).
  if (account.accountId === null) return row;
  if (row.charge_type === 'direct') await mirrorPromotionCodes(ctx, providerId, account.accountId);
  return ctx.db
    .updateTable('seller_accounts')
    .set({
      provider_account_id: account.accountId,
      ...onboardingState(account),
    })
    .where('seller_id', '=', seller.id)
    .where('provider', '=', providerId)
    .returningAll()
    .executeTakeFirstOrThrow();
}

/**
 * Connects the seller to a provider (creating the account there if needed) and returns the provider's onboarding
 * link, which comes back to the seller's onboarding-return page.
 */
export async function connectSeller(
  ctx: AppContext,
  sellerId: string,
  providerId: ProviderId,
): Promise<{ url: string }> {
  const seller = await getSeller(ctx.db, sellerId);
  const provider = ctx.providers.get(providerId);
  if (provider.oauth !== undefined) {
    checkFeeRule(seller, providerId);
    await attachAccount(ctx, seller, providerId);
    return {
      url: provider.oauth.authorizeUrl({
        state: await issueOAuthState(ctx, seller.id, providerId),
        redirectUrl: oauthRedirectUrl(ctx, providerId),
      }),
    };
  }
  const account = await attachAccount(ctx, seller, providerId);
  const base = ctx.config.publicUrl;
  const back = `${base}/sellers/${seller.id}/onboarding-return`;
  const query = providerId === ctx.providers.ids[0] ? '' : `?provider=${providerId}`;
  // accountId null: the provider assigns it during onboarding (PayPal) and echoes the seller id back.
  return ctx.providers.get(providerId).createOnboardingLink({
    accountId: account.provider_account_id,
    sellerId: seller.id,
    email: seller.email,
    returnUrl: `${back}${query}`,
    refreshUrl: `${back}${query === '' ? '?' : `${query}&`}refresh=1`,
  });
}

/** How long a seller has to finish the provider's authorize page (its `state` is refused afterwards). */
export const OAUTH_STATE_TTL_MS = 30 * 60_000;

/** Square's cap on the application fee: 90 % of the payment (`app_fee_money`). */
const SQUARE_MAX_FEE_BPS = 9000;

/**
 * A seller fee rule the provider can never apply is refused when connecting (Square caps the app fee at 90 % of
 * the payment; a fixed part that exceeds it on a small order is refused at that order's checkout instead).
 */
function checkFeeRule(seller: Seller, providerId: ProviderId): void {
  if (providerId === 'square' && seller.fee_bps > SQUARE_MAX_FEE_BPS)
    throw new SettleError(
      'fee_not_supported',
      `Square caps the platform fee at 90% of each payment; this seller's fee is ${seller.fee_bps / 100}%. Lower it to 90% or less before connecting Square.`,
    );
}

/** Where the provider's authorize page sends the seller back (register it as the application's redirect URL). */
export function oauthRedirectUrl(ctx: AppContext, providerId: ProviderId): string {
  return `${ctx.config.publicUrl}/oauth/${providerId}/callback`;
}

const hashState = (state: string): string => createHash('sha256').update(state).digest('hex');

/** A single-use `state` for one OAuth connection of this seller; only its hash is stored. */
async function issueOAuthState(ctx: AppContext, sellerId: string, providerId: ProviderId): Promise<string> {
  const state = randomBytes(32).toString('base64url');
  await ctx.db
    .insertInto('oauth_states')
    .values({
      state_hash: hashState(state),
      seller_id: sellerId,
      provider: providerId,
      expires_at: new Date(ctx.now().getTime() + OAUTH_STATE_TTL_MS),
    })
    .execute();
  return state;
}

/** What the provider's authorize page sent back (query parameters of the redirect). */
export interface OAuthReturn {
  code?: string | undefined;
  state?: string | undefined;
  error?: string | undefined;
  errorDescription?: string | undefined;
}

/**
 * The seller came back from the provider's authorize page. The `state` must be one Settle issued for this provider,
 * unused and unexpired; it is spent first (a replayed return is refused) and names the seller. Then the code is
 * exchanged, the scopes checked (by the provider), the grant sealed and stored, and the seller's account recorded.
 * A provider account already connected to another seller is refused. A refusal after the state was read is
 * returned with the seller id (`failed`), so the caller sends the seller back to their page with the reason.
 */
export async function completeOAuth(
  ctx: AppContext,
  providerId: ProviderId,
  ret: OAuthReturn,
): Promise<
  | { sellerId: string; outcome: 'connected' | 'denied' }
  | { sellerId: string; outcome: 'failed'; error: SettleError }
> {
  const provider = ctx.providers.get(providerId);
  if (provider.oauth === undefined)
    throw new SettleError('validation_failed', `${providerId} sellers do not connect through OAuth.`);
  const invalid = new SettleError(
    'oauth_state_invalid',
    'This connection link is invalid, was already used or has expired. Start the connection again from the seller page.',
  );
  if (ret.state === undefined || ret.state === '' || ret.state.length > 200) throw invalid;
  const now = ctx.now();
  const spent = await ctx.db
    .updateTable('oauth_states')
    .set({ used_at: now })
    .where('state_hash', '=', hashState(ret.state))
    .where('provider', '=', providerId)
    .where('used_at', 'is', null)
    .where('expires_at', '>', now)
    .returning('seller_id')
    .executeTakeFirst();
  if (spent === undefined) throw invalid;
  const sellerId = spent.seller_id;
  try {
    if (ret.error !== undefined) {
      ctx.logger.info(
        {
          sellerId,
          provider: providerId,
          error: ret.error.slice(0, 100),
          reason: ret.errorDescription?.slice(0, 200) ?? null,
        },
        'seller declined the OAuth connection',
      );
      return { sellerId, outcome: 'denied' };
    }
    if (ret.code === undefined || ret.code === '')
      throw new SettleError('validation_failed', 'The provider sent no authorization code.');
    const { grant, account } = await provider.oauth.exchangeCode({
      code: ret.code,
      redirectUrl: oauthRedirectUrl(ctx, providerId),
    });
    const owner = await ctx.db
      .selectFrom('seller_accounts')
      .select('seller_id')
      .where('provider', '=', providerId)
      .where('provider_account_id', '=', grant.accountId)
      .executeTakeFirst();
    if (owner !== undefined && owner.seller_id !== sellerId)
      throw new SettleError(
        'validation_failed',
        `This ${providerId} account is already connected to another seller; connect a different ${providerId} account.`,
      );
    await ctx.db.transaction().execute(async (trx) => {
      await saveGrant(trx, ctx.config.sealingKeys, providerId, sellerId, grant, now);
      await trx
        .updateTable('seller_accounts')
        .set({
          provider_account_id: grant.accountId,
          ...onboardingState(account),
          capabilities: JSON.stringify({
            scopes: grant.scopes.join(' '),
            location: grant.locationId ?? '',
            ...(account.currencies !== undefined ? { currencies: account.currencies.join(' ') } : {}),
          }),
          revoked_at: null,
          account_synced_at: now,
        })
        .where('seller_id', '=', sellerId)
        .where('provider', '=', providerId)
        .execute();
    });
    ctx.logger.info({ sellerId, provider: providerId }, 'seller connected through OAuth');
    return { sellerId, outcome: 'connected' };
  } catch (err) {
    // A refusal the seller can act on (scopes not granted, account taken, code expired) goes back to their page.
    if (err instanceof SettleError && err.httpStatus < 500) {
      ctx.logger.warn({ sellerId, provider: providerId, code: err.code }, 'OAuth connection refused');
      return { sellerId, outcome: 'failed', error: err };
    }
    throw err;
  }
}

/**
 * Operator action: withdraws the platform's access to the seller's account at the provider (revoked there, then
 * forgotten here). Checkout through that provider is refused afterwards; orders already paid stay as they are.
 */
export async function revokeSellerProvider(
  ctx: AppContext,
  sellerId: string,
  providerId: ProviderId,
): Promise<SellerWithAccounts> {
  const provider = ctx.providers.get(providerId);
  const row = await sellerAccount(ctx.db, sellerId, providerId);
  if (row === undefined)
    throw new SettleError('not_found', `Seller ${sellerId} has no ${providerId} account.`);
  if (provider.oauth === undefined)
    throw new SettleError(
      'validation_failed',
      `${providerId} accounts are not connected through OAuth; disconnect them in the ${providerId} dashboard.`,
    );
  if (row.provider_account_id !== null && row.revoked_at === null)
    await provider.oauth.revoke(row.provider_account_id);
  await markRevoked(ctx.db, providerId, row.seller_id, row.provider_account_id, ctx.now());
  return getSellerWithAccounts(ctx, sellerId);
}

/**
 * The provider refused the seller's grant while Settle used it (a refresh answered "revoked"): the seller is
 * marked revoked, as the revocation event would, so checkout there answers a clear 409 from now on.
 */
export async function markAccountRevoked(
  ctx: AppContext,
  providerId: ProviderId,
  accountId: string,
): Promise<void> {
  const row = await ctx.db
    .selectFrom('seller_accounts')
    .select('seller_id')
    .where('provider', '=', providerId)
    .where('provider_account_id', '=', accountId)
    .executeTakeFirst();
  if (row === undefined) return;
  await markRevoked(ctx.db, providerId, row.seller_id, accountId, ctx.now());
  ctx.logger.warn(
    { sellerId: row.seller_id, provider: providerId },
    'seller grant refused by the provider; marked revoked',
  );
}

/** The seller's grant is gone (revoked at the provider or by the operator): forget it and stop charging. */
async function markRevoked(
  db: Db,
  providerId: ProviderId,
  sellerId: string,
  accountId: string | null,
  at: Date,
): Promise<void> {
  await db.transaction().execute(async (trx) => {
    if (accountId !== null) await dropGrant(trx, providerId, accountId);
    await trx
      .updateTable('seller_accounts')
      .set({ charges_enabled: false, payouts_enabled: false, revoked_at: at, account_synced_at: at })
      .where('seller_id', '=', sellerId)
      .where('provider', '=', providerId)
      .execute();
  });
}

/** Grants are refreshed this long before their access token expires (Square's tokens last 30 days). */
export const GRANT_REFRESH_AHEAD_MS = 7 * 86_400_000;

/**
 * Keeps sellers' OAuth grants alive (the reconciler runs it): every grant whose access token expires within
 * GRANT_REFRESH_AHEAD_MS is refreshed now, so a seller who sells rarely is not found with a dead token. A grant the
 * provider refuses to refresh was revoked: the seller is marked so (checkout there refused until they reconnect).
 */
export async function refreshExpiringGrants(
  ctx: AppContext,
): Promise<{ refreshed: number; revoked: number; errors: string[] }> {
  const out = { refreshed: 0, revoked: 0, errors: [] as string[] };
  for (const provider of ctx.providers.all()) {
    if (provider.oauth === undefined) continue;
    const due = await ctx.db
      .selectFrom('seller_credentials')
      .select(['provider_account_id', 'seller_id'])
      .where('provider', '=', provider.id)
      .where('expires_at', '<', new Date(ctx.now().getTime() + GRANT_REFRESH_AHEAD_MS))
      .execute();
    for (const g of due) {
      try {
        await provider.oauth.refresh(g.provider_account_id);
        out.refreshed += 1;
      } catch (err) {
        if (err instanceof SettleError && err.code === 'provider_account_revoked') {
          await markRevoked(ctx.db, provider.id, g.seller_id, g.provider_account_id, ctx.now());
          out.revoked += 1;
        } else
          out.errors.push(
            `${provider.id} grant of seller ${g.seller_id}: ${err instanceof Error ? err.message : String(err)}`,
          );
      }
    }
  }
  return out;
}

/** The onboarding link at the platform's first provider the seller has an account on (or its first provider). */
export async function onboardingLink(ctx: AppContext, sellerId: string): Promise<{ url: string }> {
  const { accounts } = await getSellerWithAccounts(ctx, sellerId);
  const provider = accounts[0]?.provider ?? ctx.providers.ids[0];
  if (provider === undefined) throw new SettleError('provider_not_configured', 'No provider is configured.');
  return connectSeller(ctx, sellerId, provider);
}

/** Writes what the provider says about the seller's account there (the onboarding return page, doctor, tests). */
export async function applyAccountState(
  ctx: AppContext,
  sellerId: string,
  providerId: ProviderId,
  a: SellerAccountState,
): Promise<void> {
  await ctx.db
    .updateTable('seller_accounts')
    .set({
      ...onboardingState(a),
      account_synced_at: ctx.now(),
    })
    .where('seller_id', '=', sellerId)
    .where('provider', '=', providerId)
    .execute();
}

/**
 * Refreshes the seller's state at every configured provider it has an account on (the onboarding return page).
 * An account the provider assigns only when onboarding ends (PayPal) is looked up by the seller id the
 * onboarding link carried, and recorded once found.
 */
export async function refreshSeller(ctx: AppContext, sellerId: string): Promise<SellerWithAccounts> {
  const view = await getSellerWithAccounts(ctx, sellerId);
  for (const account of view.accounts) {
    if (!ctx.providers.has(account.provider)) continue;
    const provider = ctx.providers.get(account.provider);
    if (account.provider_account_id === null) {
      const found = provider.findSellerAccount ? await provider.findSellerAccount(sellerId) : null;
      if (found !== null) await recordAssignedAccount(ctx, account, found, ctx.now());
      continue;
    }
    const a = await provider.retrieveSellerAccount(account.provider_account_id);
    await applyAccountState(ctx, sellerId, account.provider, a);
  }
  return getSellerWithAccounts(ctx, sellerId);
}

/**
 * Records the account a provider assigned to a seller during onboarding, with its state, on the seller's row that
 * has none yet. An account already recorded for another seller is refused (one seller per provider account).
 * Returns whether the row changed.
 */
async function recordAssignedAccount(
  ctx: AppContext,
  row: SellerAccount,
  a: SellerAccountState,
  syncedAt: Date,
): Promise<boolean> {
  const accountId = a.accountId;
  if (accountId === null) return false;
  const owner = await ctx.db
    .selectFrom('seller_accounts')
    .select('seller_id')
    .where('provider', '=', row.provider)
    .where('provider_account_id', '=', accountId)
    .executeTakeFirst();
  if (owner !== undefined && owner.seller_id !== row.seller_id) {
    ctx.logger.error(
      { provider: row.provider, sellerId: row.seller_id, otherSellerId: owner.seller_id },
      'provider account already belongs to another seller; not recorded',
    );
    return false;
  }
  if (row.charge_type === 'direct') await mirrorPromotionCodes(ctx, row.provider, accountId);
  const r = await ctx.db
    .updateTable('seller_accounts')
    .set({
      provider_account_id: accountId,
      ...onboardingState(a),
      account_synced_at: syncedAt,
    })
    .where('seller_id', '=', row.seller_id)
    .where('provider', '=', row.provider)
    .where((eb) => eb.or([eb('provider_account_id', 'is', null), eb('provider_account_id', '=', accountId)]))
    .executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}

type AccountEvent = Extract<NormalizedEvent, { kind: 'account.updated' }>;

/**
 * An account event a provider delivers to the platform's own endpoint about one of its merchants (PayPal's
 * MERCHANT.ONBOARDING.COMPLETED and MERCHANT.PARTNER-CONSENT.REVOKED), verified as the provider's. It moves only
 * the seller it names: by account id, or by the seller id the provider echoes back (onboarding link) while the
 * seller's row has no account yet. An event older than the state already held is ignored (out-of-order
 * deliveries); `readBack` events carry no state, which is read from the provider instead.
 */
export async function applyPlatformAccountEvent(
  ctx: AppContext,
  ev: VerifiedEvent,
  e: AccountEvent,
): Promise<'processed' | 'ignored'> {
  const a = e.account;
  let row: SellerAccount | undefined;
  if (a.accountId !== null)
    row = await ctx.db
      .selectFrom('seller_accounts')
      .selectAll()
      .where('provider', '=', ev.provider)
      .where('provider_account_id', '=', a.accountId)
      .executeTakeFirst();
  if (row === undefined && a.sellerId !== undefined && a.sellerId !== null)
    row = await ctx.db
      .selectFrom('seller_accounts')
      .selectAll()
      .where('provider', '=', ev.provider)
      .where('seller_id', '=', a.sellerId)
      .where('provider_account_id', 'is', null)
      .executeTakeFirst();
  if (row === undefined || a.accountId === null) return 'ignored';
  if (row.account_synced_at !== null && row.account_synced_at.getTime() > ev.createdAt.getTime()) {
    return 'ignored'; // older than the state already recorded
  }
  if (e.readBack === true) {
    // The state as of now, from the provider's API; recorded as of now, so older events stay ignored.
    const state = await ctx.providers.get(ev.provider).retrieveSellerAccount(a.accountId);
    const now = ctx.now();
    const at = now.getTime() > ev.createdAt.getTime() ? now : ev.createdAt;
    if (row.provider_account_id === null) await recordAssignedAccount(ctx, row, state, at);
    else await writeAccountState(ctx, row, state, at);
    return 'processed';
  }
  if (e.revoked === true) {
    // The seller withdrew the platform's access (older than a reconnection: ignored above).
    await markRevoked(ctx.db, ev.provider, row.seller_id, a.accountId, ev.createdAt);
    ctx.logger.warn(
      { sellerId: row.seller_id, provider: ev.provider },
      "seller revoked the platform's access",
    );
    return 'processed';
  }
  if (row.provider_account_id === null) await recordAssignedAccount(ctx, row, a, ev.createdAt);
  else await writeAccountState(ctx, row, a, ev.createdAt);
  return 'processed';
}

/** Writes the account's flags unless a newer state is already recorded. */
async function writeAccountState(
  ctx: AppContext,
  row: SellerAccount,
  a: SellerAccountState,
  at: Date,
): Promise<void> {
  await ctx.db
    .updateTable('seller_accounts')
    .set({
      ...onboardingState(a),
      account_synced_at: at,
    })
    .where('seller_id', '=', row.seller_id)
    .where('provider', '=', row.provider)
    .where((eb) => eb.or([eb('account_synced_at', 'is', null), eb('account_synced_at', '<=', at)]))
    .execute();
}

/** The onboarding flags a provider reports, as `seller_accounts` columns (every write of them goes through here). */
export function onboardingState(a: SellerAccountState) {
  return {
    details_submitted: a.detailsSubmitted,
    charges_enabled: a.chargesEnabled,
    payouts_enabled: a.payoutsEnabled,
  };
}

function accountView(a: SellerAccount) {
  return {
    provider: a.provider,
    chargeType: a.charge_type,
    detailsSubmitted: a.details_submitted,
    chargesEnabled: a.charges_enabled,
    payoutsEnabled: a.payouts_enabled,
    revoked: a.revoked_at !== null,
    ready: isReady(a) && a.revoked_at === null,
  };
}

/**
 * What a buyer (or the seller's own onboarding-return page) may see: name, and per provider the charge type and
 * onboarding state. Never a provider account id, the e-mail or fee terms (`GET /api/sellers/:id` is public).
 * The top-level charge type and flags are the seller's first provider's (the platform's preferred one).
 */
export function publicSeller(v: SellerWithAccounts) {
  const first = v.accounts[0];
  return {
    id: v.seller.id,
    name: v.seller.name,
    chargeType: first?.charge_type ?? null,
    detailsSubmitted: first?.details_submitted ?? false,
    chargesEnabled: first?.charges_enabled ?? false,
    payoutsEnabled: first?.payouts_enabled ?? false,
    providers: v.accounts.map(accountView),
  };
}

/** The operator's view (operator routes only): the public view plus each provider account id. */
export function adminSeller(v: SellerWithAccounts) {
  return {
    ...publicSeller(v),
    accountId: v.accounts[0]?.provider_account_id ?? null,
    providers: v.accounts.map((a) => ({ ...accountView(a), accountId: a.provider_account_id })),
  };
}

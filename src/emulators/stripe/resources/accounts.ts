import type Stripe from 'stripe';
import type { Engine } from '../engine.js';
import { boolParam, paginate, createdMatches, NO_CAUSE, type EventCause } from '../engine.js';
import { invalid, missing, requiredParam } from '../errors.js';
import { expandingRouter } from '../expand.js';
import { obj, str } from '../form.js';
import { newId, nowSeconds } from '../ids.js';
import type { Router } from '../router.js';
import { applyMetadata } from '../rules.js';
import { emitUpdated, snapshot } from '../updates.js';

/** What Stripe asks of a new Express account before it can take charges (emptied by onboarding). */
const ONBOARDING_DUE = [
  'business_profile.url',
  'business_type',
  'external_account',
  'representative.first_name',
  'representative.last_name',
  'tos_acceptance.date',
  'tos_acceptance.ip',
];

function requirements(due: string[]): Stripe.Account.Requirements {
  return {
    alternatives: [],
    current_deadline: null,
    currently_due: [...due],
    disabled_reason: due.length > 0 ? 'requirements.past_due' : null,
    errors: [],
    eventually_due: [...due],
    past_due: [...due],
    pending_verification: [],
  };
}

function futureRequirements(): Stripe.Account.FutureRequirements {
  return {
    alternatives: [],
    current_deadline: null,
    currently_due: [],
    disabled_reason: null,
    errors: [],
    eventually_due: [],
    past_due: [],
    pending_verification: [],
  };
}

export function buildAccount(
  id: string,
  params: { type: string; country: string; email: string | null; metadata: Record<string, string> },
): Stripe.Account {
  return {
    id,
    object: 'account',
    business_profile: null,
    business_type: null,
    capabilities: {},
    charges_enabled: false,
    controller: {
      fees: { payer: 'application' },
      is_controller: true,
      losses: { payments: 'application' },
      requirement_collection: 'stripe',
      stripe_dashboard: { type: params.type === 'standard' ? 'full' : 'express' },
      type: 'application',
    },
    country: params.country,
    created: nowSeconds(),
    default_currency: params.country === 'US' ? 'usd' : 'eur',
    details_submitted: false,
    email: params.email,
    metadata: params.metadata,
    payouts_enabled: false,
    requirements: requirements(ONBOARDING_DUE),
    future_requirements: futureRequirements(),
    settings: null,
    tos_acceptance: { date: null, ip: null, user_agent: null },
    type: params.type as Stripe.Account.Type,
  };
}

/** Marks onboarding complete and emits `account.updated` on the connected account (Connect endpoints). */
export function completeOnboarding(
  engine: Engine,
  accountId: string,
  cause: EventCause = NO_CAUSE,
): Stripe.Account {
  const acct = engine.store.accounts.get(accountId);
  if (!acct) throw missing('account', accountId, 'account');
  const before = snapshot(acct);
  acct.details_submitted = true;
  acct.requirements = requirements([]);
  acct.tos_acceptance = { date: nowSeconds(), ip: '127.0.0.1', user_agent: 'Settle emulator onboarding' };
  acct.charges_enabled = true;
  acct.payouts_enabled = true;
  // The capabilities requested at creation become active (none requested: both, as Express accounts get).
  const requested = Object.keys(acct.capabilities ?? {}) as (keyof Stripe.Account.Capabilities)[];
  acct.capabilities =
    requested.length === 0
      ? { card_payments: 'active', transfers: 'active' }
      : Object.fromEntries(requested.map((k) => [k, 'active']));
  emitUpdated(engine, engine.store.scope(accountId), 'account.updated', acct, before, cause);
  return acct;
}

export function registerAccounts(apiRouter: Router, engine: Engine): void {
  const { store } = engine;
  const router = expandingRouter(apiRouter, store);

  router.post('/v1/accounts', (req) => {
    if (req.account) throw invalid('Connected accounts cannot create other accounts.');
    const type = str(req.params.type) ?? 'express';
    if (!['standard', 'express', 'custom', 'none'].includes(type))
      throw invalid(`Invalid type: ${type}`, 'type');
    const acct = buildAccount(newId('acct', 16), {
      type,
      country: str(req.params.country) ?? 'US',
      email: str(req.params.email) ?? null,
      metadata: applyMetadata({}, req.params.metadata),
    });
    // Requested capabilities are inactive until onboarding completes.
    const caps = obj(req.params.capabilities) ?? {};
    acct.capabilities = Object.fromEntries(
      Object.entries(caps)
        .filter(([, v]) => boolParam(obj(v)?.requested, 'capabilities[][requested]') === true)
        .map(([k]) => [k, 'inactive']),
    );
    // "Accounts do not currently support `card_payments` without `transfers`. Please visit
    // https://stripe.com/docs/connect/account-capabilities#card-payments for more details." (Stripe's answer, quoted
    // in Automattic/woocommerce-payments#5403): the platform-controlled accounts the emulator creates (Express,
    // Custom) need both.
    if (type !== 'standard' && 'card_payments' in acct.capabilities && !('transfers' in acct.capabilities))
      throw invalid(
        'Accounts do not currently support `card_payments` without `transfers`. Please visit https://stripe.com/docs/connect/account-capabilities#card-payments for more details.',
        'capabilities',
      );
    store.accounts.set(acct.id, acct);
    return acct;
  });

  router.get('/v1/accounts/:id', (req) => {
    const id = req.path.id ?? '';
    const acct = store.accounts.get(id);
    if (!acct || (req.account && req.account !== id)) throw missing('account', id);
    return acct;
  });

  router.post('/v1/accounts/:id', (req) => {
    const id = req.path.id ?? '';
    const acct = store.accounts.get(id);
    if (!acct) throw missing('account', id);
    const before = snapshot(acct);
    if (req.params.metadata !== undefined)
      acct.metadata = applyMetadata(acct.metadata ?? {}, req.params.metadata);
    if (str(req.params.email) !== undefined) acct.email = str(req.params.email) ?? null;
    emitUpdated(engine, store.scope(id), 'account.updated', acct, before, req.cause);
    return acct;
  });

  router.get('/v1/accounts', (req) => {
    const items = [...store.accounts.values()]
      .reverse()
      .filter((a) => createdMatches(a.created ?? 0, req.params.created));
    return paginate(items, req.params, req.url);
  });

  router.post('/v1/account_links', (req) => {
    const account = str(req.params.account);
    if (!account) throw requiredParam('account');
    if (!store.accounts.has(account)) throw missing('account', account, 'account');
    const type = str(req.params.type);
    if (!type) throw requiredParam('type');
    if (type !== 'account_onboarding' && type !== 'account_update')
      throw invalid(`Invalid type: ${type}`, 'type');
    const refresh = str(req.params.refresh_url);
    const ret = str(req.params.return_url);
    if (!ret) throw requiredParam('return_url');
    const id = newId('acctlink', 20).replace('acctlink_', '');
    const created = nowSeconds();
    store.accountLinks.set(id, {
      id,
      account,
      refresh_url: refresh ?? ret,
      return_url: ret,
      expires_at: created + 300,
      used: false,
    });
    const link: Stripe.AccountLink = {
      object: 'account_link',
      created,
      expires_at: created + 300,
      url: `${engine.settings.publicUrl}/connect/onboarding/${id}`,
    };
    return link;
  });
}

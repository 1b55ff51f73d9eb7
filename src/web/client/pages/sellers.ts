import { bearer, getAdminToken, setAdminToken } from '../admin-token.js';
import { errorText, getJson, post, type SellerProviderView, type SellerView } from '../api.js';
import { CheckoutError } from '../checkout.js';
import { byId, h, notice, param, replace } from '../dom.js';

/** Providers a seller can be connected to from these pages, in the platform's order of preference. */
const PROVIDERS = ['stripe', 'paypal', 'square'] as const;

function providerName(p: string): string {
  return p === 'stripe' ? 'Stripe' : p === 'paypal' ? 'PayPal' : p === 'square' ? 'Square' : p;
}

function operatorErrorText(err: unknown): string {
  return err instanceof CheckoutError && err.code === 'unauthorized'
    ? 'unauthorized: the operator token is wrong.'
    : errorText(err);
}

/**
 * Connects the seller to a provider with the operator token: Stripe and PayPal answer their onboarding page, Square
 * its permission (OAuth authorize) page. The browser goes there; the provider sends it back to onboarding-return.
 */
async function connectUrl(sellerId: string, provider: string, adminToken: string): Promise<string> {
  const res = await post(
    `/api/sellers/${encodeURIComponent(sellerId)}/providers/${encodeURIComponent(provider)}`,
    {},
    bearer(adminToken),
  );
  if (typeof res.url !== 'string') throw new Error(`The server returned no ${providerName(provider)} URL.`);
  return res.url;
}

/** /sellers/new: the operator creates a seller, then sends the browser to the chosen provider's page. */
export function sellerNewPage(): void {
  const form = byId<HTMLFormElement>('seller-form');
  const message = byId('seller-message');
  const token = form.elements.namedItem('token') as HTMLInputElement;
  const submit = form.querySelector('button[type=submit]') as HTMLButtonElement;
  token.value = getAdminToken() ?? '';
  // Once created, a retry (e.g. after the provider connection failed) connects the same seller again.
  let created: string | null = null;

  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const data = new FormData(form);
    const adminToken = String(data.get('token') ?? '').trim();
    const provider = String(data.get('provider') ?? 'stripe');
    const body = {
      name: String(data.get('name') ?? '').trim(),
      email: String(data.get('email') ?? '').trim(),
      chargeType: String(data.get('chargeType') ?? 'destination'),
    };
    if (!adminToken || !body.name || !body.email) {
      replace(message, notice('error', 'Operator token, name and email are required.'));
      return;
    }
    submit.disabled = true;
    replace(message, notice('info', created === null ? 'Creating the seller…' : 'Connecting the seller…'));
    (async () => {
      if (created === null) {
        const seller = await post('/api/sellers', body, bearer(adminToken));
        if (typeof seller.id !== 'string') throw new Error('The server returned no seller id.');
        created = seller.id;
      }
      setAdminToken(adminToken);
      const id = created;
      replace(message, notice('info', `Seller created; opening ${providerName(provider)}'s page…`));
      if (provider === 'stripe') {
        const link = await post(
          `/api/sellers/${encodeURIComponent(id)}/onboarding-link`,
          {},
          bearer(adminToken),
        );
        if (typeof link.url !== 'string') throw new Error('The server returned no onboarding URL.');
        location.assign(link.url);
      } else {
        location.assign(await connectUrl(id, provider, adminToken));
      }
    })().catch((err: unknown) => {
      submit.disabled = false;
      const sellerPage =
        created === null
          ? null
          : h(
              'p',
              {},
              'The seller was created: ',
              h('a', { href: `/sellers/${encodeURIComponent(created)}/onboarding-return` }, 'open its page'),
              ' to connect it later, or submit again to retry.',
            );
      replace(message, notice('error', operatorErrorText(err)), sellerPage);
    });
  });
}

function check(label: string, ok: boolean, testid: string): HTMLLIElement {
  return h(
    'li',
    { className: ok ? 'check ok' : 'check no', 'data-testid': testid, 'data-ok': String(ok) },
    label,
  );
}

type ProviderState = 'ready' | 'waiting' | 'revoked' | 'not-connected';

function providerState(p: SellerProviderView | undefined): ProviderState {
  if (p === undefined) return 'not-connected';
  if (p.revoked) return 'revoked';
  return p.ready ? 'ready' : 'waiting';
}

const STATE_TEXT: Record<ProviderState, string> = {
  ready: 'ready: buyers can pay through it',
  waiting: 'not ready yet',
  revoked: 'access revoked',
  'not-connected': 'not connected',
};

/** What the provider's refusal (`?error=&message=` on the return) means for the person reading the page. */
function refusalText(provider: string, code: string, message: string | null): string {
  const name = providerName(provider);
  if (code === 'access_denied')
    return `You declined the connection on ${name}'s page. Nothing was connected.`;
  return `${name} connection refused: ${message ?? 'the provider did not accept the connection.'} (${code})`;
}

/**
 * /sellers/:id/onboarding-return: the provider sends the seller back here (`?provider=` names it when it is not
 * the platform's first). Shows each provider's state, the refusal when the connection failed, and lets the
 * operator (token in this tab, or typed here) connect a provider that is not ready.
 *
 * `#onboarding[data-state]`: the state of the provider the seller came back from — `ready`, `incomplete`,
 * `revoked`, `refused` (the provider sent an error back) or `error` (the page could not load the seller).
 */
export function onboardingReturnPage(): void {
  const root = byId('onboarding');
  const m = /^\/sellers\/([^/]+)\/onboarding-return$/.exec(location.pathname);
  const id = m?.[1] ? decodeURIComponent(m[1]) : '';
  const focusParam = param('provider');
  const refusal = param('error');
  const refusalMessage = param('message');
  // Kept across redraws so what the operator types survives the polling.
  const tokenInput = h('input', {
    type: 'password',
    name: 'token',
    autocomplete: 'off',
    'data-testid': 'connect-token',
  });
  const connectMessage = h('div', { 'aria-live': 'polite', 'data-testid': 'connect-message' });
  let busy = false;

  const connect = (provider: string, button: HTMLButtonElement): void => {
    const adminToken = getAdminToken() ?? tokenInput.value.trim();
    if (!adminToken) {
      replace(connectMessage, notice('error', 'Enter the operator token to connect a provider.'));
      return;
    }
    busy = true;
    button.disabled = true;
    replace(connectMessage, notice('info', `Opening ${providerName(provider)}'s page…`));
    connectUrl(id, provider, adminToken)
      .then((url) => {
        setAdminToken(adminToken);
        location.assign(url);
      })
      .catch((err: unknown) => {
        busy = false;
        button.disabled = false;
        replace(connectMessage, notice('error', operatorErrorText(err)));
      });
  };

  const providerRow = (name: string, p: SellerProviderView | undefined): HTMLLIElement => {
    const state = providerState(p);
    const label = providerName(name);
    const button =
      state === 'ready'
        ? null
        : h(
            'button',
            { type: 'button', className: 'primary', 'data-testid': `connect-${name}` },
            state === 'revoked' ? `Reconnect ${label}` : `Connect ${label}`,
          );
    button?.addEventListener('click', () => connect(name, button));
    return h(
      'li',
      {
        className: `provider-row provider-${state}`,
        'data-testid': `provider-${name}`,
        'data-provider': name,
        'data-state': state,
        'data-ready': String(state === 'ready'),
      },
      h('strong', {}, label),
      ' ',
      h('span', { className: `status status-${state}`, 'data-status': state }, STATE_TEXT[state]),
      button === null ? null : ' ',
      button,
    );
  };

  let attempts = 0;
  const load = async (): Promise<void> => {
    // On the way to a provider's page: no redraw (it would bring back an enabled Connect button).
    if (busy) return;
    attempts++;
    try {
      const s = await getJson<SellerView>(`/api/sellers/${encodeURIComponent(id)}`);
      const accounts = s.providers;
      const byProvider = new Map(accounts.map((a) => [a.provider, a]));
      const focusName = focusParam ?? accounts[0]?.provider ?? 'stripe';
      const focus = byProvider.get(focusName);
      const focusState = providerState(focus);
      const done = focusState === 'ready';
      const refused = refusal !== null && !done;
      root.dataset.state = done
        ? 'ready'
        : refused
          ? 'refused'
          : focusState === 'revoked'
            ? 'revoked'
            : 'incomplete';
      // Every account the seller has, then the providers not connected yet.
      const names = [...accounts.map((a) => a.provider), ...PROVIDERS.filter((p) => !byProvider.has(p))];
      const anyToConnect = names.some((n) => providerState(byProvider.get(n)) !== 'ready');
      const waiting = !done && !refused && focusState !== 'revoked' && attempts < 10;
      const focusLabel = providerName(focusName);
      replace(
        root,
        h('h1', {}, s.name),
        h(
          'p',
          { className: 'muted' },
          s.chargeType === 'direct' ? 'Direct Charge seller' : 'Destination Charge seller',
        ),
        refusal === null
          ? null
          : h(
              'div',
              { 'data-testid': 'connect-error', 'data-code': refusal },
              notice('error', refusalText(focusName, refusal, refusalMessage)),
            ),
        h('h2', {}, focusLabel),
        h(
          'ul',
          { className: 'checks' },
          check('Details submitted', focus?.detailsSubmitted ?? false, 'details-submitted'),
          check('Charges enabled', focus?.chargesEnabled ?? false, 'charges-enabled'),
          check('Payouts enabled', focus?.payoutsEnabled ?? false, 'payouts-enabled'),
        ),
        done
          ? notice(
              'ok',
              `${focusLabel} is connected: this seller can take payments through it. Add listings through the operator API.`,
            )
          : refused
            ? null
            : focusState === 'revoked'
              ? notice(
                  'warn',
                  `The platform's access to this seller's ${focusLabel} account was revoked; connect it again to take payments there.`,
                )
              : notice(
                  'warn',
                  waiting
                    ? `Waiting for ${focusLabel} to confirm the account…`
                    : `${focusLabel} has not enabled this account yet. Reload later, or connect again.`,
                ),
        h('h2', {}, 'Providers'),
        h('ul', { className: 'provider-list' }, ...names.map((n) => providerRow(n, byProvider.get(n)))),
        anyToConnect && getAdminToken() === null
          ? h('label', { className: 'connect-token' }, 'Operator token (to connect) ', tokenInput)
          : null,
        connectMessage,
        h(
          'p',
          {},
          h('a', { href: '/', className: 'button' }, 'Marketplace'),
          ' ',
          h('a', { href: '/admin' }, 'Operator console'),
        ),
      );
      // The provider's account event may land a moment after the redirect: look again for a few seconds (not
      // while the operator is on the way to a provider's page).
      if (waiting) setTimeout(() => void load(), 1000);
    } catch (err) {
      root.dataset.state = 'error';
      replace(root, h('h1', {}, 'Seller onboarding'), notice('error', errorText(err)));
    }
  };
  void load();
}

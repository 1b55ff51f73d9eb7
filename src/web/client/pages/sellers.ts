import { bearer, getAdminToken, setAdminToken } from '../admin-token.js';
import { errorText, getJson, post, type SellerView } from '../api.js';
import { CheckoutError } from '../checkout.js';
import { byId, h, notice, replace } from '../dom.js';

/** /sellers/new: the operator creates a seller, then sends the browser to the provider's onboarding page. */
export function sellerNewPage(): void {
  const form = byId<HTMLFormElement>('seller-form');
  const message = byId('seller-message');
  const token = form.elements.namedItem('token') as HTMLInputElement;
  const submit = form.querySelector('button[type=submit]') as HTMLButtonElement;
  token.value = getAdminToken() ?? '';

  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const data = new FormData(form);
    const adminToken = String(data.get('token') ?? '').trim();
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
    replace(message, notice('info', 'Creating the seller…'));
    (async () => {
      const seller = await post('/api/sellers', body, bearer(adminToken));
      setAdminToken(adminToken);
      const id = typeof seller.id === 'string' ? seller.id : '';
      replace(message, notice('info', 'Seller created; opening the onboarding page…'));
      const link = await post(
        `/api/sellers/${encodeURIComponent(id)}/onboarding-link`,
        {},
        bearer(adminToken),
      );
      if (typeof link.url !== 'string') throw new Error('The server returned no onboarding URL.');
      location.assign(link.url);
    })().catch((err: unknown) => {
      submit.disabled = false;
      const text =
        err instanceof CheckoutError && err.code === 'unauthorized'
          ? 'unauthorized: the operator token is wrong.'
          : errorText(err);
      replace(message, notice('error', text));
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

/** /sellers/:id/onboarding-return: the provider sends the seller back here; show the account state. */
export function onboardingReturnPage(): void {
  const root = byId('onboarding');
  const m = /^\/sellers\/([^/]+)\/onboarding-return$/.exec(location.pathname);
  const id = m?.[1] ? decodeURIComponent(m[1]) : '';
  let attempts = 0;
  const load = async (): Promise<void> => {
    attempts++;
    try {
      const s = await getJson<SellerView>(`/api/sellers/${encodeURIComponent(id)}`);
      const done = s.detailsSubmitted && s.chargesEnabled && s.payoutsEnabled;
      root.dataset.state = done ? 'ready' : 'incomplete';
      replace(
        root,
        h('h1', {}, s.name),
        h(
          'p',
          { className: 'muted' },
          s.chargeType === 'direct' ? 'Direct Charge seller' : 'Destination Charge seller',
        ),
        h(
          'ul',
          { className: 'checks' },
          check('Details submitted', s.detailsSubmitted, 'details-submitted'),
          check('Charges enabled', s.chargesEnabled, 'charges-enabled'),
          check('Payouts enabled', s.payoutsEnabled, 'payouts-enabled'),
        ),
        done
          ? notice(
              'ok',
              'Onboarding complete: this seller can take payments. Add listings through the operator API.',
            )
          : notice(
              'warn',
              attempts < 10
                ? 'Waiting for the provider to confirm the account…'
                : 'The provider has not enabled this account yet. Reload later, or open a new onboarding link.',
            ),
        h(
          'p',
          {},
          h('a', { href: '/', className: 'button' }, 'Marketplace'),
          ' ',
          h('a', { href: '/admin' }, 'Operator console'),
        ),
      );
      // The account.updated webhook may land a moment after the redirect: look again for a few seconds.
      if (!done && attempts < 10) setTimeout(() => void load(), 1000);
    } catch (err) {
      root.dataset.state = 'error';
      replace(root, h('h1', {}, 'Seller onboarding'), notice('error', errorText(err)));
    }
  };
  void load();
}

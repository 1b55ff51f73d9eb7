import {
  errorText,
  getJson,
  newIdempotencyKey,
  post,
  type ListingView,
  type MemberSubscriptionView,
  type PlanView,
} from '../api.js';
import { CheckoutError } from '../checkout.js';
import { append, byId, formatDate, h, notice, param, replace, statusPill, type Child } from '../dom.js';
import {
  clearManageToken,
  clearSubscriptionCheckout,
  getManageToken,
  getSubscriptionCheckout,
  manageHeaders,
  setManageToken,
  setSubscriptionCheckout,
} from '../manage-token.js';
import { formatMinor } from '../money.js';

/** Memberships: the marketplace's plans, the return page after the provider's checkout, and the member's page. */

const EMAIL_KEY = 'settle.buyerEmail';

export function pricePerInterval(unitAmount: number, currency: string, interval: string): string {
  return `${formatMinor(unitAmount, currency)} / ${interval}`;
}

function includedText(included: number | null, interval: string): string {
  return included === null || included === 0 ? 'Unlimited classes' : `${included} classes per ${interval}`;
}

function manageUrl(subscriptionId: string): string {
  return `/subscriptions/manage?subscription=${encodeURIComponent(subscriptionId)}`;
}

// ---------------------------------------------------------------------------------------------------------
// Marketplace: the plans on sale
// ---------------------------------------------------------------------------------------------------------

function planCard(plan: PlanView): HTMLElement {
  const price = plan.price;
  const email = h('input', {
    type: 'email',
    name: 'email',
    required: true,
    autocomplete: 'email',
    placeholder: 'you@example.com',
    'aria-label': 'Your email',
    'data-testid': 'plan-email',
  });
  email.value = sessionStorage.getItem(EMAIL_KEY) ?? '';
  const label = plan.trialDays > 0 ? `Start ${plan.trialDays}-day free trial` : 'Subscribe';
  const button = h('button', { type: 'submit', className: 'primary', 'data-testid': 'subscribe' }, label);
  const message = h('div', {
    className: 'buy-message',
    'aria-live': 'polite',
    'data-testid': 'plan-message',
  });
  let busy = false;
  const form = h(
    'form',
    { className: 'subscribe', 'data-plan-id': plan.id, novalidate: true },
    h('label', {}, 'Email ', email),
    button,
    message,
  );
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    if (busy) return; // one checkout per click: a second request would only answer subscription_exists
    const address = email.value.trim();
    if (address === '' || !email.checkValidity()) {
      replace(message, notice('error', 'Enter your email: the membership and its links are sent there.'));
      return;
    }
    sessionStorage.setItem(EMAIL_KEY, address);
    busy = true;
    button.disabled = true;
    button.textContent = 'Starting checkout…';
    replace(message);
    post('/api/subscriptions/checkout', { planId: plan.id, email: address })
      .then((res) => {
        const id = typeof res.subscriptionId === 'string' ? res.subscriptionId : '';
        const token = typeof res.manageToken === 'string' ? res.manageToken : '';
        const url = typeof res.checkoutUrl === 'string' ? res.checkoutUrl : '';
        if (!id || !token || !url)
          throw new CheckoutError('invalid_response', 'The server answered without a checkout URL.', 201);
        // The token is shown once: kept in this tab for the return and manage pages (the welcome mail has it too).
        setManageToken(id, token);
        setSubscriptionCheckout(id, url);
        button.textContent = 'Redirecting to payment…';
        location.assign(url);
      })
      .catch((err: unknown) => {
        busy = false;
        button.disabled = false;
        button.textContent = label;
        replace(message, notice('error', errorText(err)));
      });
  });
  return h(
    'article',
    { className: 'card plan', 'data-plan-id': plan.id, 'data-testid': 'plan' },
    h(
      'header',
      { className: 'listing-head' },
      h('h3', {}, plan.name),
      price === null
        ? null
        : h(
            'span',
            { className: 'price', 'data-testid': 'plan-price' },
            pricePerInterval(price.unitAmount, price.currency, plan.interval),
          ),
    ),
    h(
      'p',
      { className: 'meta' },
      'by ',
      h('strong', {}, plan.seller.name ?? ''),
      plan.listing?.title ? ` · ${plan.listing.title}` : '',
    ),
    h(
      'ul',
      { className: 'plan-terms' },
      h('li', { 'data-testid': 'plan-included' }, includedText(plan.includedBookings, plan.interval)),
      h(
        'li',
        { 'data-testid': 'plan-trial' },
        plan.trialDays > 0 ? `${plan.trialDays}-day free trial` : 'No trial: the first payment is today',
      ),
      h('li', {}, 'Cancel any time; access lasts to the end of the paid period'),
    ),
    form,
  );
}

/** Renders the plans on sale into #plans (hiding the section when there are none). */
export async function renderPlans(section: HTMLElement, container: HTMLElement): Promise<void> {
  try {
    const { plans } = await getJson<{ plans: PlanView[] }>('/api/plans');
    const onSale = plans.filter((p) => p.price !== null);
    section.hidden = onSale.length === 0;
    replace(container, ...onSale.map(planCard));
  } catch (err) {
    section.hidden = false;
    replace(container, notice('error', `Could not load the memberships: ${errorText(err)}`));
  }
}

// ---------------------------------------------------------------------------------------------------------
// Shared: a membership summary
// ---------------------------------------------------------------------------------------------------------

const LIVE = ['pending', 'incomplete', 'trialing', 'active', 'past_due', 'unpaid', 'paused'];

function renewalText(s: MemberSubscriptionView): string {
  const price = pricePerInterval(s.unitAmount, s.currency, s.plan.interval);
  if (!LIVE.includes(s.status))
    return s.endedAt ? `Ended on ${formatDate(s.endedAt)}.` : `This membership is ${s.status}.`;
  if (s.cancelAtPeriodEnd)
    return `Cancels at period end (${formatDate(s.currentPeriodEnd)}); access continues until then.`;
  if (s.status === 'trialing')
    return `Free trial until ${formatDate(s.trialEnd ?? s.currentPeriodEnd)}, then ${price}.`;
  if (s.status === 'past_due')
    return `The last renewal payment failed; the provider retries the card. Update it to keep the membership.`;
  return s.currentPeriodEnd ? `Renews on ${formatDate(s.currentPeriodEnd)} at ${price}.` : price;
}

function allowanceText(s: MemberSubscriptionView): string {
  const e = s.entitlement;
  if (!e.access) return 'No classes can be booked now.';
  if (e.bookingsLeft === null) return 'Unlimited classes this period.';
  return `${e.bookingsLeft} of ${e.bookingsIncluded ?? 0} classes left this period.`;
}

function accessText(s: MemberSubscriptionView): string {
  const e = s.entitlement;
  if (e.access)
    return e.reason === 'grace'
      ? `Access granted (grace period until ${formatDate(e.graceUntil)})`
      : 'Access granted';
  return `No access (${e.reason.replace(/_/g, ' ')})`;
}

export function membershipSummary(s: MemberSubscriptionView): HTMLElement {
  const e = s.entitlement;
  return h(
    'table',
    { className: 'summary', 'data-testid': 'membership-summary' },
    h(
      'tbody',
      {},
      h('tr', {}, h('th', {}, 'Plan'), h('td', { 'data-testid': 'plan-name' }, s.plan.name)),
      h('tr', {}, h('th', {}, 'Studio'), h('td', {}, s.seller.name)),
      h(
        'tr',
        {},
        h('th', {}, 'Price'),
        h('td', {}, pricePerInterval(s.unitAmount, s.currency, s.plan.interval)),
      ),
      h(
        'tr',
        {},
        h('th', {}, 'Status'),
        h('td', { 'data-testid': 'membership-status', 'data-status': s.status }, statusPill(s.status)),
      ),
      h(
        'tr',
        {},
        h('th', {}, 'Renewal'),
        h(
          'td',
          { 'data-testid': 'renewal', 'data-cancel-at-period-end': String(s.cancelAtPeriodEnd) },
          renewalText(s),
        ),
      ),
      h(
        'tr',
        {},
        h('th', {}, 'Access'),
        h('td', { 'data-testid': 'access', 'data-access': String(e.access) }, accessText(s)),
      ),
      h(
        'tr',
        {},
        h('th', {}, 'Classes'),
        h(
          'td',
          {
            'data-testid': 'bookings-left',
            'data-left': e.bookingsLeft === null ? 'unlimited' : String(e.bookingsLeft),
          },
          allowanceText(s),
        ),
      ),
      h('tr', {}, h('th', {}, 'Email'), h('td', {}, s.email)),
    ),
  );
}

// ---------------------------------------------------------------------------------------------------------
// /subscriptions/return?subscription=mem_…[&canceled=1]
// ---------------------------------------------------------------------------------------------------------

interface ReturnView {
  title: string;
  kind: 'info' | 'ok' | 'warn' | 'error';
  text: string;
}

const RETURN_VIEWS: Record<string, ReturnView> = {
  trialing: {
    title: 'Welcome — your free trial has started',
    kind: 'ok',
    text: 'Your membership is on trial: book classes now. The first payment is taken when the trial ends; cancel before then and nothing is charged.',
  },
  active: {
    title: 'Welcome — you are a member',
    kind: 'ok',
    text: 'Your payment went through and your membership is active. A welcome mail with your membership links is on its way.',
  },
  incomplete: {
    title: 'Payment needs attention',
    kind: 'warn',
    text: 'The first payment has not completed yet (your bank may ask to confirm it). The membership starts as soon as it does.',
  },
  past_due: {
    title: 'Payment failed',
    kind: 'warn',
    text: 'The payment failed; the provider retries it. Update your card from the membership page.',
  },
  checkout_expired: {
    title: 'Checkout expired',
    kind: 'error',
    text: 'The checkout ended before it was completed. Nothing was charged; you can subscribe again.',
  },
  incomplete_expired: {
    title: 'Payment not completed',
    kind: 'error',
    text: 'The first payment was never completed, so the membership did not start. Nothing was charged.',
  },
  canceled: {
    title: 'Membership canceled',
    kind: 'info',
    text: 'This membership has ended.',
  },
};

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** The verify call, polled with capped backoff until the status is not pending (bounded). */
async function pollVerify(
  id: string,
  attempts: number,
  onPending: () => void,
): Promise<{ status: string; cancelAtPeriodEnd: boolean } | null> {
  let last: { status: string; cancelAtPeriodEnd: boolean } | null = null;
  for (let i = 0; i < attempts; i++) {
    try {
      const res = await post('/api/subscriptions/verify', { subscriptionId: id });
      last = { status: String(res.status), cancelAtPeriodEnd: res.cancelAtPeriodEnd === true };
      if (last.status !== 'pending') return last;
      onPending();
    } catch (err) {
      if (!(err instanceof CheckoutError) || !err.retryable) throw err;
    }
    if (i < attempts - 1) await sleep(Math.min(4000, 400 * 2 ** i));
  }
  return last;
}

export function subscriptionReturnPage(): void {
  const root = byId('subscription-confirm');
  const id = param('subscription');
  const canceled = param('canceled') === '1';
  const show = (state: string, title: string, kind: ReturnView['kind'], ...body: Child[]): void => {
    root.dataset.state = state;
    replace(root, h('h1', { 'data-testid': 'state-title' }, title), notice(kind, ...body));
  };
  const back = (): HTMLElement =>
    h('p', {}, h('a', { href: '/', className: 'button' }, 'Back to the marketplace'));
  if (!id) {
    show('error', 'No membership', 'error', 'This page needs ?subscription=mem_… in its address.');
    return;
  }
  const token = getManageToken(id);

  const showDetails = (status: string): void => {
    const view = RETURN_VIEWS[status] ?? {
      title: `Membership ${status}`,
      kind: 'info' as const,
      text: 'See the membership page for details.',
    };
    show(status, view.title, view.kind, view.text);
    clearSubscriptionCheckout(id);
    if (token === null) {
      root.append(
        h(
          'p',
          { className: 'muted' },
          'To manage this membership, use the link in your welcome mail (this browser tab does not hold its key).',
        ),
        back(),
      );
      return;
    }
    const box = h('div', { className: 'summary-box' }, h('p', { className: 'muted' }, 'Loading membership…'));
    root.append(
      box,
      h(
        'p',
        {},
        h(
          'a',
          { href: manageUrl(id), className: 'button', 'data-testid': 'manage-link' },
          'Manage membership and book classes',
        ),
        ' ',
        h('a', { href: '/' }, 'Back to the marketplace'),
      ),
    );
    getJson<MemberSubscriptionView>(`/api/subscriptions/${encodeURIComponent(id)}`, manageHeaders(token))
      .then((s) => {
        if (root.dataset.state === status) replace(box, membershipSummary(s));
      })
      .catch((err: unknown) =>
        replace(box, notice('error', `Could not load the membership: ${errorText(err)}`)),
      );
  };

  const check = (): void => {
    show(
      'confirming',
      'Confirming your membership…',
      'info',
      'We are checking with the payment provider. This usually takes a second.',
    );
    pollVerify(id, canceled ? 1 : 14, () => undefined)
      .then((res) => {
        const status = res?.status ?? null;
        if (canceled && (status === 'pending' || status === 'checkout_expired' || status === null)) {
          // The buyer left the hosted checkout: end it (with this tab's key), so they can subscribe again at once.
          const ended =
            status === 'pending' && token !== null
              ? post(`/api/subscriptions/${encodeURIComponent(id)}/checkout/cancel`, {}, manageHeaders(token))
                  .then((r) => String(r.status))
                  .catch(() => status)
              : Promise.resolve(status);
          void ended.then((after) => {
            if (after !== null && after !== 'pending' && after !== 'checkout_expired') {
              showDetails(after); // paid after all (another tab)
              return;
            }
            const resume = getSubscriptionCheckout(id);
            show(
              'canceled_checkout',
              'Checkout canceled',
              'info',
              after === 'checkout_expired'
                ? 'Nothing was charged and no membership was started; you can subscribe again.'
                : 'Nothing was charged and no membership was started.',
            );
            root.appendChild(
              h(
                'p',
                {},
                resume !== null && after === 'pending'
                  ? h(
                      'a',
                      { href: resume, className: 'button', 'data-testid': 'resume-checkout' },
                      'Back to the checkout',
                    )
                  : null,
                ' ',
                h('a', { href: '/' }, 'Back to the marketplace'),
              ),
            );
          });
          return;
        }
        if (status === null || status === 'pending') {
          show(
            'unconfirmed',
            'Still confirming',
            'warn',
            'We could not confirm the membership yet. If you paid, nothing is lost: it starts as soon as the provider tells us.',
          );
          const again = h('button', { type: 'button', className: 'primary' }, 'Check again');
          again.addEventListener('click', check);
          root.appendChild(again);
          return;
        }
        showDetails(status);
      })
      .catch((err: unknown) => {
        show('error', 'Something went wrong', 'error', errorText(err));
        root.appendChild(back());
      });
  };
  check();
}

// ---------------------------------------------------------------------------------------------------------
// /subscriptions/manage?subscription=mem_…#token=…
// ---------------------------------------------------------------------------------------------------------

/** Takes the token out of the fragment (the welcome mail's link) into sessionStorage and off the address bar. */
function adoptFragmentToken(id: string): void {
  const fragment = new URLSearchParams(location.hash.replace(/^#/, ''));
  const token = fragment.get('token');
  if (token === null || token === '') return;
  setManageToken(id, token);
  history.replaceState(history.state, '', `${location.pathname}${location.search}`);
}

class ManagePage {
  private readonly root = byId('subscription-manage');
  private readonly flash = h('div', { 'aria-live': 'polite', 'data-testid': 'manage-flash' });
  private readonly body = h('div');

  constructor(
    private readonly id: string,
    private readonly token: string,
  ) {}

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    return { ...manageHeaders(this.token), ...extra };
  }

  start(): void {
    replace(this.root, h('h1', {}, 'Your membership'), this.flash, this.body);
    replace(this.body, h('p', { className: 'muted' }, 'Loading membership…'));
    void this.load();
  }

  private say(kind: 'info' | 'ok' | 'warn' | 'error', text: string): void {
    replace(this.flash, notice(kind, text));
  }

  /** Runs an action with its button disabled; shows the API's message on error, then reloads. */
  private act(button: HTMLButtonElement, run: () => Promise<string | null>): void {
    button.disabled = true;
    run()
      .then((ok) => {
        if (ok !== null) this.say('ok', ok);
        return this.load();
      })
      .catch((err: unknown) => {
        button.disabled = false;
        if (err instanceof CheckoutError && err.code === 'subscription_token_invalid')
          clearManageToken(this.id);
        this.say('error', errorText(err));
      });
  }

  async load(): Promise<void> {
    try {
      const [sub, listings] = await Promise.all([
        getJson<MemberSubscriptionView>(`/api/subscriptions/${encodeURIComponent(this.id)}`, this.headers()),
        getJson<{ listings: ListingView[] }>('/api/listings').then((r) => r.listings),
      ]);
      this.root.dataset.state = sub.status;
      replace(
        this.body,
        membershipSummary(sub),
        this.actions(sub),
        h('h2', {}, 'Your bookings'),
        this.bookings(sub),
        h('h2', {}, 'Upcoming classes'),
        this.classes(sub, listings),
      );
    } catch (err) {
      this.root.dataset.state = 'error';
      if (err instanceof CheckoutError && err.code === 'subscription_token_invalid') {
        clearManageToken(this.id);
        replace(
          this.body,
          notice('error', errorText(err)),
          h('p', { className: 'muted' }, 'Open the link from your welcome mail again.'),
        );
        return;
      }
      replace(this.body, notice('error', `Could not load the membership: ${errorText(err)}`));
    }
  }

  private actions(sub: MemberSubscriptionView): HTMLElement {
    const box = h('div', { className: 'member-actions', 'data-testid': 'member-actions' });
    const live = LIVE.includes(sub.status) && sub.status !== 'pending';
    if (!live) return box;
    const portal = h('button', { type: 'button', 'data-testid': 'update-card' }, 'Update card');
    portal.addEventListener('click', () =>
      this.act(portal, async () => {
        const res = await post(
          `/api/subscriptions/${encodeURIComponent(this.id)}/portal`,
          {},
          this.headers(),
        );
        if (typeof res.url !== 'string') throw new CheckoutError('invalid_response', 'No portal URL.', 200);
        location.assign(res.url);
        return null;
      }),
    );
    if (sub.cancelAtPeriodEnd) {
      const resume = h(
        'button',
        { type: 'button', className: 'primary', 'data-testid': 'resume-subscription' },
        'Keep my membership',
      );
      resume.addEventListener('click', () =>
        this.act(resume, async () => {
          await post(`/api/subscriptions/${encodeURIComponent(this.id)}/resume`, {}, this.headers());
          return 'Your membership continues; it renews as usual.';
        }),
      );
      append(box, resume, portal);
      return box;
    }
    const cancel = h(
      'button',
      { type: 'button', className: 'danger', 'data-testid': 'cancel-subscription' },
      'Cancel membership',
    );
    cancel.addEventListener('click', () => {
      const yes = h(
        'button',
        { type: 'button', className: 'danger', 'data-testid': 'confirm-cancel' },
        `Cancel at the end of the period (${formatDate(sub.currentPeriodEnd)})`,
      );
      const no = h('button', { type: 'button' }, 'Back');
      no.addEventListener('click', () => replace(box, cancel, portal));
      yes.addEventListener('click', () =>
        this.act(yes, async () => {
          no.disabled = true;
          await post(`/api/subscriptions/${encodeURIComponent(this.id)}/cancel`, {}, this.headers());
          return 'Your membership cancels at the end of the period; you keep access until then.';
        }),
      );
      replace(
        box,
        notice(
          'warn',
          'Cancel this membership? It stays active, with its classes, until the end of the current period; nothing more is charged.',
        ),
        yes,
        no,
      );
    });
    append(box, cancel, portal);
    return box;
  }

  private bookings(sub: MemberSubscriptionView): HTMLElement {
    if (sub.bookings.length === 0) return h('p', { className: 'muted' }, 'No bookings yet.');
    const now = Date.now();
    const rows = sub.bookings.map((b) => {
      const cancelable = b.status === 'booked' && new Date(b.startsAt).getTime() > now;
      let action: Child = null;
      if (cancelable) {
        const button = h('button', { type: 'button', 'data-testid': 'cancel-booking' }, 'Cancel booking');
        button.addEventListener('click', () =>
          this.act(button, async () => {
            await post(`/api/bookings/${encodeURIComponent(b.id)}/cancel`, {}, this.headers());
            return `Booking for ${b.title} on ${formatDate(b.startsAt)} canceled; the class is back in your allowance.`;
          }),
        );
        action = button;
      }
      return h(
        'tr',
        { 'data-booking-id': b.id, 'data-slot-id': b.slotId, 'data-status': b.status },
        h('td', {}, b.title),
        h('td', {}, formatDate(b.startsAt)),
        h('td', { className: 'num' }, b.quantity),
        h('td', {}, statusPill(b.status)),
        h('td', {}, action),
      );
    });
    return h(
      'table',
      { className: 'data', 'data-testid': 'bookings' },
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          h('th', {}, 'Class'),
          h('th', {}, 'When'),
          h('th', { className: 'num' }, 'Places'),
          h('th', {}, 'Status'),
          h('th', {}, ''),
        ),
      ),
      h('tbody', {}, ...rows),
    );
  }

  private classes(sub: MemberSubscriptionView, listings: ListingView[]): HTMLElement {
    const mine = listings.filter((l) =>
      sub.plan.listingId !== null ? l.id === sub.plan.listingId : l.seller.name === sub.seller.name,
    );
    const booked = new Set(sub.bookings.filter((b) => b.status === 'booked').map((b) => b.slotId));
    const e = sub.entitlement;
    const rows = mine.flatMap((l) =>
      l.slots.map((slot) => {
        let action: Child;
        if (booked.has(slot.id)) action = h('span', { className: 'muted' }, 'Booked');
        else {
          const reason = !e.access
            ? 'No access'
            : e.bookingsLeft !== null && e.bookingsLeft <= 0
              ? 'No classes left'
              : slot.available <= 0
                ? 'Full'
                : null;
          const button = h(
            'button',
            { type: 'button', className: 'primary', 'data-testid': 'book' },
            reason ?? 'Book with membership',
          );
          button.disabled = reason !== null;
          // One key per click: a retried request replays instead of booking twice.
          button.addEventListener('click', () =>
            this.act(button, async () => {
              const key = newIdempotencyKey();
              await post(
                '/api/checkout',
                { slotId: slot.id, quantity: 1, subscriptionId: this.id },
                this.headers({ 'idempotency-key': key }),
              );
              return `Booked: ${l.title} on ${formatDate(slot.startsAt)}.`;
            }),
          );
          action = button;
        }
        return h(
          'tr',
          { 'data-slot-id': slot.id },
          h('td', {}, l.title),
          h('td', {}, formatDate(slot.startsAt)),
          h('td', { className: 'num', 'data-col': 'available' }, slot.available),
          h('td', {}, action),
        );
      }),
    );
    if (rows.length === 0) return h('p', { className: 'muted' }, 'No upcoming classes are scheduled.');
    return h(
      'table',
      { className: 'data', 'data-testid': 'classes' },
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          h('th', {}, 'Class'),
          h('th', {}, 'When'),
          h('th', { className: 'num' }, 'Places left'),
          h('th', {}, ''),
        ),
      ),
      h('tbody', {}, ...rows),
    );
  }
}

export function subscriptionManagePage(): void {
  const root = byId('subscription-manage');
  const id = param('subscription');
  if (!id) {
    root.dataset.state = 'error';
    replace(
      root,
      h('h1', {}, 'No membership'),
      notice('error', 'This page needs ?subscription=mem_… in its address.'),
    );
    return;
  }
  adoptFragmentToken(id);
  const token = getManageToken(id);
  if (token === null) {
    root.dataset.state = 'no_token';
    replace(
      root,
      h('h1', {}, 'Your membership'),
      notice(
        'warn',
        'This page needs your membership key: open the link from your welcome mail (it carries the key), or come here from the page you landed on after subscribing.',
      ),
    );
    return;
  }
  new ManagePage(id, token).start();
}

import { bearer, clearAdminToken, getAdminToken, setAdminToken } from '../admin-token.js';
import { errorText, getJson, newIdempotencyKey, post, type ListingView } from '../api.js';
import { CheckoutError } from '../checkout.js';
import { byId, formatDate, h, notice, replace, statusPill, type Child } from '../dom.js';
import { formatMinor, minorToDecimal, parseDecimalToMinor } from '../money.js';

type Row = Record<string, unknown>;
type Tab = 'orders' | 'attention' | 'disputes' | 'subscriptions' | 'plans' | 'webhooks' | 'mailbox';

const REFRESH_MS = 5000;

/** Reads the first present field, accepting camelCase or snake_case (the admin API returns camelCase). */
function field(o: Row, ...keys: string[]): unknown {
  for (const k of keys) if (o[k] !== undefined) return o[k];
  return undefined;
}
function str(o: Row, ...keys: string[]): string {
  const v = field(o, ...keys);
  return v === null || v === undefined ? '' : String(v);
}
function num(o: Row, ...keys: string[]): number {
  const v = field(o, ...keys);
  return typeof v === 'number' ? v : Number(v ?? 0);
}
function isRow(v: unknown): v is Row {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
function rows(v: unknown): Row[] {
  return Array.isArray(v) ? v.filter((x): x is Row => typeof x === 'object' && x !== null) : [];
}
function amount(o: Row, key: string, fallbackCurrency = ''): string {
  const cur = str(o, 'currency') || fallbackCurrency;
  const n = num(o, key);
  return cur && Number.isSafeInteger(n) ? formatMinor(n, cur) : String(n);
}

function table(headers: string[], body: HTMLTableRowElement[], empty: string): HTMLElement {
  if (body.length === 0) return h('p', { className: 'muted' }, empty);
  return h(
    'table',
    { className: 'data' },
    h('thead', {}, h('tr', {}, ...headers.map((x) => h('th', {}, x)))),
    h('tbody', {}, ...body),
  );
}

function td(...children: Child[]): HTMLTableCellElement {
  return h('td', {}, ...children);
}

class Console {
  private tab: Tab = 'orders';
  private timer: ReturnType<typeof setInterval> | undefined;
  private readonly panel = byId('admin-panel');
  private readonly detail = byId('admin-detail');
  private readonly flash = byId('admin-flash');

  constructor(private readonly token: string) {}

  private get<T>(url: string): Promise<T> {
    return getJson<T>(url, bearer(this.token));
  }

  private post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<Row> {
    return post(url, body, { ...bearer(this.token), ...headers });
  }

  start(): void {
    for (const b of document.querySelectorAll<HTMLButtonElement>('[data-tab]')) {
      b.addEventListener('click', () => this.show(b.dataset.tab as Tab));
    }
    byId('admin-refresh').addEventListener('click', () => void this.load());
    this.show('orders');
    this.timer = setInterval(() => {
      // The plans tab holds a form: redrawing it would wipe what the operator is typing.
      if (document.visibilityState === 'visible' && this.tab !== 'plans') void this.load(true);
    }, REFRESH_MS);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private show(tab: Tab): void {
    this.tab = tab;
    for (const b of document.querySelectorAll<HTMLButtonElement>('[data-tab]')) {
      b.setAttribute('aria-selected', String(b.dataset.tab === tab));
    }
    replace(this.detail);
    replace(this.flash);
    replace(this.panel, h('p', { className: 'muted' }, 'Loading…'));
    void this.load();
  }

  private async load(background = false): Promise<void> {
    const tab = this.tab;
    try {
      const content = await this.render(tab);
      if (tab === this.tab) replace(this.panel, content);
    } catch (err) {
      if (err instanceof CheckoutError && err.code === 'unauthorized') {
        this.stop();
        clearAdminToken();
        showLogin('unauthorized: the token was refused.');
        return;
      }
      if (!background) replace(this.panel, notice('error', errorText(err)));
    }
  }

  private async render(tab: Tab): Promise<HTMLElement> {
    switch (tab) {
      case 'orders':
        return this.ordersTable();
      case 'attention':
        return this.attention();
      case 'disputes':
        return this.disputesTable();
      case 'subscriptions':
        return this.subscriptionsTable();
      case 'plans':
        return this.plansPanel();
      case 'webhooks':
        return this.webhooksTable();
      case 'mailbox':
        return this.mailbox();
    }
  }

  private async ordersTable(): Promise<HTMLElement> {
    const { orders } = await this.get<{ orders: unknown }>('/api/admin/orders?limit=50');
    const body = rows(orders).map((o) => {
      const id = str(o, 'id');
      const open = h('button', { type: 'button', className: 'link', 'data-order-id': id }, id);
      open.addEventListener('click', () => void this.openOrder(id));
      const title = str(o, 'title') || str(o, 'slotId');
      const seller = field(o, 'seller');
      return h(
        'tr',
        { 'data-order-id': id },
        td(formatDate(str(o, 'createdAt', 'created_at'))),
        td(open),
        td(title),
        td(typeof seller === 'string' ? seller : ''),
        td(str(o, 'provider')),
        h('td', { className: 'num' }, str(o, 'quantity')),
        h('td', { className: 'num' }, amount(o, 'total')),
        h(
          'td',
          { className: 'num' },
          num(o, 'refundedAmount', 'refunded_amount') > 0 ? amount(o, 'refundedAmount') : '',
        ),
        td(statusPill(str(o, 'status'))),
      );
    });
    return table(
      ['Created', 'Order', 'Listing', 'Seller', 'Provider', 'Qty', 'Total', 'Refunded', 'Status'],
      body,
      'No orders yet.',
    );
  }

  private async openOrder(id: string): Promise<void> {
    replace(this.detail, h('p', { className: 'muted' }, 'Loading order…'));
    try {
      const o = await this.get<Row>(`/api/admin/orders/${encodeURIComponent(id)}`);
      replace(this.detail, this.orderDetail(o));
      this.detail.scrollIntoView({ block: 'nearest' });
    } catch (err) {
      replace(this.detail, notice('error', errorText(err)));
    }
  }

  private orderDetail(o: Row): HTMLElement {
    const id = str(o, 'id');
    const currency = str(o, 'currency');
    const history = rows(field(o, 'history')).map((e) =>
      h(
        'tr',
        {},
        td(formatDate(str(e, 'createdAt', 'created_at', 'at'))),
        td(str(e, 'fromStatus', 'from_status', 'from') || '—'),
        td(statusPill(str(e, 'toStatus', 'to_status', 'to', 'status'))),
        td(str(e, 'via')),
        td(str(e, 'note')),
      ),
    );
    const payments = rows(field(o, 'payments')).map((p) =>
      h(
        'tr',
        {},
        td(h('code', {}, str(p, 'providerPaymentId', 'provider_payment_id', 'id'))),
        h('td', { className: 'num' }, amount(p, 'amount', currency)),
        h('td', { className: 'num' }, amount(p, 'applicationFee', currency)),
        td(str(p, 'status')),
      ),
    );
    const refunds = rows(field(o, 'refunds')).map((r) =>
      h(
        'tr',
        {},
        td(formatDate(str(r, 'createdAt', 'created_at'))),
        td(h('code', {}, str(r, 'refundId', 'id'))),
        h('td', { className: 'num' }, amount(r, 'amount', currency)),
        td(str(r, 'reason')),
        td(str(r, 'status')),
      ),
    );
    const disputes = rows(field(o, 'disputes')).map((d) =>
      h(
        'tr',
        {},
        td(h('code', {}, str(d, 'providerDisputeId', 'id'))),
        h('td', { className: 'num' }, amount(d, 'amount', currency)),
        td(str(d, 'reason')),
        td(str(d, 'status')),
        td(str(d, 'outcome')),
      ),
    );
    const total = num(o, 'total');
    const refunded = num(o, 'refundedAmount', 'refunded_amount');
    return h(
      'section',
      { className: 'card detail', 'data-testid': 'order-detail', 'data-order-id': id },
      h('h2', {}, 'Order ', h('code', {}, id), ' ', statusPill(str(o, 'status'))),
      h(
        'p',
        { className: 'meta' },
        `${str(o, 'title') ? `${str(o, 'title')} · ` : ''}${str(o, 'provider')} · ${str(o, 'chargeType')} charge · qty ${str(o, 'quantity')} · subtotal ${amount(o, 'subtotal')} · total ${amount(o, 'total')} · platform fee ${amount(o, 'platformFee')}`,
        num(o, 'discount') > 0
          ? ` · discount ${amount(o, 'discount')} (${str(o, 'promotionCode', 'promotion_code')})`
          : '',
        refunded > 0 ? ` · refunded ${amount(o, 'refundedAmount')}` : '',
        str(o, 'buyerEmail', 'buyer_email') ? ` · ${str(o, 'buyerEmail', 'buyer_email')}` : '',
        str(o, 'reviewReason', 'review_reason')
          ? ` · review: ${str(o, 'reviewReason', 'review_reason')}`
          : '',
      ),
      h('h3', {}, 'History'),
      table(['When', 'From', 'To', 'Via', 'Note'], history, 'No history.'),
      h('h3', {}, 'Payments'),
      table(['Payment', 'Amount', 'Platform fee', 'Status'], payments, 'No payments.'),
      h('h3', {}, 'Refunds'),
      table(['When', 'Refund', 'Amount', 'Reason', 'Status'], refunds, 'No refunds.'),
      h('h3', {}, 'Disputes'),
      table(['Dispute', 'Amount', 'Reason', 'Status', 'Outcome'], disputes, 'No disputes.'),
      currency && total - refunded > 0 ? this.refundForm(id, currency, total - refunded) : null,
    );
  }

  /** Refund with a confirm step; one Idempotency-Key per confirmed intent, so a double click refunds once. */
  private refundForm(orderId: string, currency: string, remaining: number): HTMLElement {
    const box = h('div', { className: 'refund', 'data-testid': 'refund' });
    const ask = (): void => {
      const input = h('input', {
        type: 'text',
        name: 'amount',
        inputmode: 'decimal',
        placeholder: `${minorToDecimal(remaining, currency)} (full remaining)`,
        'aria-label': 'Refund amount',
      });
      const go = h('button', { type: 'submit' }, 'Refund…');
      const msg = h('div');
      const form = h(
        'form',
        { className: 'inline' },
        h('label', {}, `Refund (${currency.toUpperCase()}) `, input),
        go,
        msg,
      );
      form.addEventListener('submit', (ev) => {
        ev.preventDefault();
        const text = input.value.trim();
        const amountMinor = text === '' ? null : parseDecimalToMinor(text, currency);
        if (text !== '' && (amountMinor === null || amountMinor > remaining)) {
          replace(
            msg,
            notice('error', `Enter an amount up to ${formatMinor(remaining, currency)}, or leave it empty.`),
          );
          return;
        }
        confirmStep(amountMinor);
      });
      replace(box, h('h3', {}, 'Refund'), form);
    };
    const confirmStep = (amountMinor: number | null): void => {
      const key = newIdempotencyKey();
      const shown = formatMinor(amountMinor ?? remaining, currency);
      const yes = h(
        'button',
        { type: 'button', className: 'danger', 'data-testid': 'confirm-refund' },
        `Confirm refund of ${shown}`,
      );
      const no = h('button', { type: 'button' }, 'Back');
      const msg = h('div');
      no.addEventListener('click', ask);
      yes.addEventListener('click', () => {
        yes.disabled = true;
        no.disabled = true;
        replace(msg, notice('info', 'Refunding…'));
        this.post(
          `/api/admin/orders/${encodeURIComponent(orderId)}/refunds`,
          amountMinor === null ? {} : { amount: amountMinor },
          { 'idempotency-key': key },
        )
          .then((r) => {
            replace(
              this.flash,
              notice(
                'ok',
                `Refund ${str(r, 'refundId')} of ${formatMinor(num(r, 'amount'), currency)}: ${str(r, 'status')}.`,
              ),
            );
            void this.openOrder(orderId);
            void this.load(true);
          })
          .catch((err: unknown) => {
            yes.disabled = false; // retrying reuses the same key: the server replays instead of refunding twice
            no.disabled = false;
            replace(msg, notice('error', errorText(err)));
          });
      });
      replace(
        box,
        h('h3', {}, 'Refund'),
        notice('warn', `Refund ${shown} to the buyer of order ${orderId}? This cannot be undone.`),
        h('p', {}, yes, ' ', no),
        msg,
      );
    };
    ask();
    return box;
  }

  /** What needs a person (GET /api/admin/attention): reviews to decide, owed refunds, refusals, dead work. */
  private async attention(): Promise<HTMLElement> {
    const a = await this.get<Row>('/api/admin/attention');
    const reviews = rows(field(a, 'reviews')).map((o) => {
      const id = str(o, 'orderId');
      const open = h('button', { type: 'button', className: 'link' }, id);
      open.addEventListener('click', () => void this.openOrder(id));
      return h(
        'tr',
        { 'data-review-order': id },
        td(open),
        td(str(o, 'reason')),
        h('td', { className: 'num' }, amount(o, 'total')),
        h('td', { className: 'num' }, field(o, 'charged') === null ? '—' : amount(o, 'charged')),
        td(this.reviewActions(id, num(o, 'charged'))),
      );
    });
    const owed = rows(field(a, 'owedRefunds')).map((o) =>
      h(
        'tr',
        { 'data-owed-order': str(o, 'orderId') },
        td(h('code', {}, str(o, 'orderId'))),
        h('td', { className: 'num' }, amount(o, 'owed')),
        h('td', { className: 'num' }, str(o, 'failedAttempts')),
        td(h('small', {}, str(o, 'lastError'))),
      ),
    );
    const refused = rows(field(a, 'refusedRefunds')).map((r) =>
      h(
        'tr',
        {},
        td(h('code', {}, str(r, 'orderId'))),
        h('td', { className: 'num' }, amount(r, 'amount')),
        td(str(r, 'reason')),
        td(h('small', {}, str(r, 'failureReason'))),
      ),
    );
    const dead = rows(field(a, 'deadJobs')).map((j) =>
      h(
        'tr',
        {},
        td(h('code', {}, str(j, 'kind'))),
        td(str(j, 'attempts')),
        td(h('small', {}, str(j, 'lastError'))),
      ),
    );
    const failed = rows(field(a, 'failedWebhookEvents')).map((e) =>
      h(
        'tr',
        {},
        td(h('code', {}, str(e, 'type'))),
        td(h('code', {}, str(e, 'eventId'))),
        td(h('small', {}, str(e, 'lastError'))),
      ),
    );
    return h(
      'div',
      { 'data-testid': 'attention' },
      h('h3', {}, 'Orders in review'),
      table(
        ['Order', 'Reason', 'Price', 'Charged', 'Decision'],
        reviews,
        'No order is waiting for a review.',
      ),
      h('h3', {}, 'Owed refunds (retried automatically until the buyer is refunded)'),
      table(['Order', 'Owed', 'Refused attempts', 'Last error'], owed, 'No owed refund is outstanding.'),
      h('h3', {}, 'Refunds the provider refused'),
      table(['Order', 'Amount', 'Reason', 'Provider said'], refused, 'None.'),
      h('h3', {}, 'Dead jobs (re-driven by reconciliation)'),
      table(['Kind', 'Attempts', 'Last error'], dead, 'None.'),
      h('h3', {}, 'Webhook events whose processing failed'),
      table(['Type', 'Event', 'Last error'], failed, 'None.'),
    );
  }

  /** Accept / refund / close for one review, each behind a confirm step. */
  private reviewActions(orderId: string, charged: number): HTMLElement {
    const box = h('div', { className: 'inline' });
    const choices: { decision: 'accept' | 'refund' | 'close'; label: string }[] =
      charged > 0
        ? [
            { decision: 'accept', label: 'Accept payment' },
            { decision: 'refund', label: 'Refund' },
          ]
        : [
            { decision: 'accept', label: 'Accept' },
            { decision: 'close', label: 'Close' },
          ];
    const ask = (): void => {
      const buttons = choices.map(({ decision, label }) => {
        const b = h('button', { type: 'button', 'data-decision': decision }, label);
        b.addEventListener('click', () => confirmStep(decision, label));
        return b;
      });
      replace(box, ...buttons);
    };
    const confirmStep = (decision: 'accept' | 'refund' | 'close', label: string): void => {
      const yes = h(
        'button',
        { type: 'button', className: 'danger', 'data-testid': 'confirm-decision' },
        `Confirm: ${label.toLowerCase()}`,
      );
      const no = h('button', { type: 'button' }, 'Back');
      no.addEventListener('click', ask);
      yes.addEventListener('click', () => {
        yes.disabled = true;
        this.post(`/api/admin/orders/${encodeURIComponent(orderId)}/review`, { decision })
          .then((r) => {
            replace(
              this.flash,
              notice('ok', `Order ${orderId}: ${decision} → ${str(r, 'status') || 'refund started'}.`),
            );
            void this.load(true);
          })
          .catch((err: unknown) => {
            yes.disabled = false;
            replace(this.flash, notice('error', errorText(err)));
          });
      });
      replace(box, yes, ' ', no);
    };
    ask();
    return box;
  }

  private async disputesTable(): Promise<HTMLElement> {
    const { disputes } = await this.get<{ disputes: unknown }>('/api/admin/disputes');
    const body = rows(disputes).map((d) =>
      h(
        'tr',
        {},
        td(formatDate(str(d, 'createdAt', 'created_at'))),
        td(h('code', {}, str(d, 'providerDisputeId', 'provider_dispute_id', 'id'))),
        td(h('code', {}, str(d, 'orderId', 'order_id'))),
        h('td', { className: 'num' }, amount(d, 'amount')),
        td(str(d, 'reason')),
        td(statusPill(str(d, 'status'))),
        td(str(d, 'outcome')),
      ),
    );
    return table(
      ['Opened', 'Dispute', 'Order', 'Amount', 'Reason', 'Status', 'Outcome'],
      body,
      'No disputes.',
    );
  }

  // -------------------------------------------------------------------------------------------------------
  // Subscriptions and plans
  // -------------------------------------------------------------------------------------------------------

  private async subscriptionsTable(): Promise<HTMLElement> {
    const { subscriptions } = await this.get<{ subscriptions: unknown }>('/api/admin/subscriptions');
    const body = rows(subscriptions).map((s) => {
      const id = str(s, 'id');
      const open = h('button', { type: 'button', className: 'link', 'data-subscription-id': id }, id);
      open.addEventListener('click', () => void this.openSubscription(id));
      const plan = field(s, 'plan');
      const seller = field(s, 'seller');
      return h(
        'tr',
        { 'data-subscription-id': id },
        td(formatDate(str(s, 'createdAt'))),
        td(open, h('br'), h('small', {}, str(s, 'email'))),
        td(
          isRow(plan) ? str(plan, 'name') : '',
          h('br'),
          h('small', {}, isRow(seller) ? str(seller, 'name') : ''),
        ),
        td(str(s, 'provider'), h('br'), h('small', {}, str(s, 'chargeType'))),
        h('td', { className: 'num' }, amount(s, 'unitAmount')),
        td(
          statusPill(str(s, 'status')),
          field(s, 'cancelAtPeriodEnd') === true ? h('small', {}, ' cancels at period end') : null,
        ),
        td(formatDate(str(s, 'currentPeriodEnd'))),
      );
    });
    return table(
      ['Created', 'Subscription', 'Plan', 'Provider', 'Price', 'Status', 'Period ends'],
      body,
      'No subscriptions yet.',
    );
  }

  private async openSubscription(id: string, view?: Row): Promise<void> {
    if (view === undefined) replace(this.detail, h('p', { className: 'muted' }, 'Loading subscription…'));
    try {
      const s = view ?? (await this.get<Row>(`/api/admin/subscriptions/${encodeURIComponent(id)}`));
      replace(this.detail, this.subscriptionDetail(s));
      this.detail.scrollIntoView({ block: 'nearest' });
    } catch (err) {
      replace(this.detail, notice('error', errorText(err)));
    }
  }

  /** Runs one subscription action; its answer (the subscription's operator view) redraws the detail. */
  private subscriptionAction(
    id: string,
    buttons: HTMLButtonElement[],
    run: () => Promise<Row>,
    done: (r: Row) => string,
  ): void {
    for (const b of buttons) b.disabled = true;
    run()
      .then((r) => {
        replace(this.flash, notice('ok', done(r)));
        void this.openSubscription(id, str(r, 'id') === id ? r : undefined);
        void this.load(true);
      })
      .catch((err: unknown) => {
        for (const b of buttons) b.disabled = false;
        replace(this.flash, notice('error', `Subscription ${id}: ${errorText(err)}`));
      });
  }

  private subscriptionDetail(s: Row): HTMLElement {
    const id = str(s, 'id');
    const currency = str(s, 'currency');
    const status = str(s, 'status');
    const plan = isRow(field(s, 'plan')) ? (field(s, 'plan') as Row) : {};
    const seller = isRow(field(s, 'seller')) ? (field(s, 'seller') as Row) : {};
    const ent = isRow(field(s, 'entitlement')) ? (field(s, 'entitlement') as Row) : {};
    const live = !['canceled', 'incomplete_expired', 'checkout_expired', 'pending'].includes(status);
    const linked = str(s, 'providerSubscriptionId') !== '';

    const refresh = h('button', { type: 'button', 'data-action': 'refresh' }, 'Refresh');
    const advance = h('button', { type: 'button', 'data-action': 'advance-clock' }, 'Advance clock 1 month');
    const cancelNow = h('button', { type: 'button', 'data-action': 'cancel-now' }, 'Cancel now');
    const cancelProrate = h(
      'button',
      { type: 'button', 'data-action': 'cancel-prorate' },
      'Cancel now with prorated refund',
    );
    const all = [refresh, advance, cancelNow, cancelProrate];
    const actionBox = h('div', { className: 'inline', 'data-testid': 'subscription-actions' });
    const showActions = (): void =>
      replace(
        actionBox,
        refresh,
        ' ',
        field(s, 'testClocks') === true && linked && live ? advance : null,
        ' ',
        live ? cancelNow : null,
        ' ',
        live ? cancelProrate : null,
      );
    refresh.addEventListener('click', () =>
      this.subscriptionAction(
        id,
        all,
        () => this.post(`/api/admin/subscriptions/${encodeURIComponent(id)}/refresh`, {}),
        (r) => `Subscription ${id} refreshed from the provider: ${str(r, 'status')}.`,
      ),
    );
    advance.addEventListener('click', () =>
      this.subscriptionAction(
        id,
        all,
        () => this.post(`/api/admin/subscriptions/${encodeURIComponent(id)}/advance-clock`, { days: 32 }),
        (r) =>
          `Test clock advanced 32 days from the period start: ${str(r, 'status')}, period ends ${formatDate(str(r, 'currentPeriodEnd'))}.`,
      ),
    );
    const confirmCancel = (prorate: boolean): void => {
      const yes = h(
        'button',
        { type: 'button', className: 'danger', 'data-testid': 'confirm-cancel-now' },
        prorate ? 'Confirm: cancel now and refund the unused part' : 'Confirm: cancel now',
      );
      const no = h('button', { type: 'button' }, 'Back');
      no.addEventListener('click', showActions);
      yes.addEventListener('click', () =>
        this.subscriptionAction(
          id,
          [yes, no],
          () => this.post(`/api/admin/subscriptions/${encodeURIComponent(id)}/cancel`, { prorate }),
          (r) => {
            const refund = field(r, 'refund');
            return `Subscription ${id} canceled now: ${str(r, 'status')}.${
              isRow(refund)
                ? ` Prorated refund ${str(refund, 'refundId')} of ${amount(refund, 'amount', currency)}: ${str(refund, 'status')}.`
                : prorate
                  ? ' Nothing to refund.'
                  : ''
            }`;
          },
        ),
      );
      replace(
        actionBox,
        notice(
          'warn',
          `End subscription ${id} now? The member loses access at once${prorate ? ' and is refunded the unused part of the current paid period' : ''}. This cannot be undone.`,
        ),
        yes,
        ' ',
        no,
      );
    };
    cancelNow.addEventListener('click', () => confirmCancel(false));
    cancelProrate.addEventListener('click', () => confirmCancel(true));
    showActions();

    const periods = rows(field(s, 'periods')).map((p) => {
      const left = num(p, 'amountPaid') - num(p, 'refundedAmount');
      return h(
        'tr',
        { 'data-period-id': str(p, 'id') },
        td(formatDate(str(p, 'periodStart')), ' – ', formatDate(str(p, 'periodEnd'))),
        td(h('code', {}, str(p, 'invoiceId')), h('br'), h('small', {}, str(p, 'billingReason'))),
        h('td', { className: 'num' }, amount(p, 'amountPaid', currency)),
        h('td', { className: 'num' }, amount(p, 'applicationFee', currency)),
        h(
          'td',
          { className: 'num' },
          num(p, 'refundedAmount') > 0 ? amount(p, 'refundedAmount', currency) : '',
        ),
        h(
          'td',
          { className: 'num' },
          `${num(p, 'usedBookings')} / ${num(p, 'includedBookings') === 0 ? '∞' : num(p, 'includedBookings')}`,
        ),
        td(left > 0 && currency ? this.periodRefund(id, str(p, 'id'), currency, left) : null),
      );
    });
    const bookings = rows(field(s, 'bookings')).map((b) =>
      h(
        'tr',
        { 'data-booking-id': str(b, 'id') },
        td(str(b, 'title')),
        td(formatDate(str(b, 'startsAt'))),
        h('td', { className: 'num' }, str(b, 'quantity')),
        td(statusPill(str(b, 'status'))),
      ),
    );
    const events = rows(field(s, 'events')).map((e) =>
      h(
        'tr',
        {},
        td(formatDate(str(e, 'at'))),
        td(str(e, 'from') || '—'),
        td(statusPill(str(e, 'to'))),
        td(str(e, 'via')),
        td(str(e, 'note')),
      ),
    );
    const refunds = rows(field(s, 'refunds')).map((r) =>
      h(
        'tr',
        {},
        td(formatDate(str(r, 'createdAt'))),
        td(h('code', {}, str(r, 'refundId'))),
        h('td', { className: 'num' }, amount(r, 'amount', currency)),
        td(str(r, 'reason')),
        td(statusPill(str(r, 'status'))),
        td(h('small', {}, str(r, 'failureReason'))),
      ),
    );
    const left = field(ent, 'bookingsLeft');
    return h(
      'section',
      { className: 'card detail', 'data-testid': 'subscription-detail', 'data-subscription-id': id },
      h('h2', {}, 'Subscription ', h('code', {}, id), ' ', statusPill(status)),
      h(
        'p',
        { className: 'meta' },
        `${str(plan, 'name')} · ${str(seller, 'name')} · ${str(s, 'email')} · ${amount(s, 'unitAmount')} / ${str(plan, 'interval')} · ${str(s, 'provider')} ${str(s, 'chargeType')} charge · fee ${num(s, 'feeBps') / 100}%`,
      ),
      h(
        'p',
        { className: 'meta', 'data-testid': 'subscription-period' },
        `Period ${formatDate(str(s, 'currentPeriodStart'))} – ${formatDate(str(s, 'currentPeriodEnd'))}`,
        str(s, 'trialEnd') ? ` · trial ends ${formatDate(str(s, 'trialEnd'))}` : '',
        field(s, 'cancelAtPeriodEnd') === true ? ' · cancels at period end' : '',
        ` · access: ${field(ent, 'access') === true ? 'yes' : 'no'} (${str(ent, 'reason')})`,
        ` · bookings left: ${left === null ? 'unlimited' : String(left)}`,
        str(s, 'providerSubscriptionId') ? ` · ${str(s, 'providerSubscriptionId')}` : '',
      ),
      actionBox,
      h('h3', {}, 'Invoices (paid periods)'),
      table(
        ['Period', 'Invoice', 'Paid', 'Platform fee', 'Refunded', 'Bookings', ''],
        periods,
        'No paid period yet.',
      ),
      h('h3', {}, 'Refunds'),
      table(['When', 'Refund', 'Amount', 'Reason', 'Status', 'Provider said'], refunds, 'No refunds.'),
      h('h3', {}, 'Bookings'),
      table(['Class', 'When', 'Places', 'Status'], bookings, 'No bookings.'),
      h('h3', {}, 'History'),
      table(['When', 'From', 'To', 'Via', 'Note'], events, 'No history.'),
    );
  }

  /** "Refund invoice" with a confirm step; one Idempotency-Key per confirmed intent (a retry replays). */
  private periodRefund(
    subscriptionId: string,
    periodId: string,
    currency: string,
    left: number,
  ): HTMLElement {
    const box = h('div', { className: 'inline' });
    const ask = (): void => {
      const b = h('button', { type: 'button', 'data-action': 'refund-period' }, 'Refund invoice');
      b.addEventListener('click', confirmStep);
      replace(box, b);
    };
    const confirmStep = (): void => {
      const key = newIdempotencyKey();
      const yes = h(
        'button',
        { type: 'button', className: 'danger', 'data-testid': 'confirm-period-refund' },
        `Confirm refund of ${formatMinor(left, currency)}`,
      );
      const no = h('button', { type: 'button' }, 'Back');
      no.addEventListener('click', ask);
      yes.addEventListener('click', () => {
        yes.disabled = true;
        no.disabled = true;
        this.post(
          `/api/admin/subscription-periods/${encodeURIComponent(periodId)}/refunds`,
          {},
          { 'idempotency-key': key },
        )
          .then((r) => {
            replace(
              this.flash,
              notice(
                'ok',
                `Refund ${str(r, 'refundId')} of ${formatMinor(num(r, 'amount'), currency)}: ${str(r, 'status')}.`,
              ),
            );
            void this.openSubscription(subscriptionId);
          })
          .catch((err: unknown) => {
            yes.disabled = false; // a retry reuses the key: the server replays instead of refunding twice
            no.disabled = false;
            replace(this.flash, notice('error', errorText(err)));
          });
      });
      replace(box, yes, ' ', no);
    };
    ask();
    return box;
  }

  private async plansPanel(): Promise<HTMLElement> {
    const [{ plans }, { sellers }, { listings }] = await Promise.all([
      this.get<{ plans: unknown }>('/api/admin/plans'),
      this.get<{ sellers: unknown }>('/api/admin/sellers'),
      getJson<{ listings: ListingView[] }>('/api/listings'),
    ]);
    const sellerRows = rows(sellers);
    const sellerName = (sid: string): string =>
      str(sellerRows.find((x) => str(x, 'id') === sid) ?? {}, 'name');
    const listingTitle = (lid: string): string => listings.find((l) => l.id === lid)?.title ?? lid;
    const body = rows(plans).map((p) => {
      const price = field(p, 'price');
      return h(
        'tr',
        { 'data-plan-id': str(p, 'id') },
        td(h('code', {}, str(p, 'id'))),
        td(str(p, 'name')),
        td(sellerName(str(p, 'sellerId'))),
        td(str(p, 'listingId') ? listingTitle(str(p, 'listingId')) : 'any of the seller’s'),
        h(
          'td',
          { className: 'num' },
          isRow(price) ? `${amount(price, 'unitAmount')} / ${str(p, 'interval')}` : '—',
        ),
        h('td', { className: 'num' }, num(p, 'trialDays') > 0 ? `${num(p, 'trialDays')} days` : '—'),
        h(
          'td',
          { className: 'num' },
          num(p, 'includedBookings') === 0 ? 'unlimited' : str(p, 'includedBookings'),
        ),
        td(statusPill(str(p, 'status'))),
      );
    });
    return h(
      'div',
      { 'data-testid': 'plans' },
      table(
        ['Plan', 'Name', 'Seller', 'Listing', 'Price', 'Trial', 'Bookings / period', 'Status'],
        body,
        'No plans yet.',
      ),
      this.planForm(sellerRows, listings),
    );
  }

  private planForm(sellers: Row[], listings: ListingView[]): HTMLElement {
    const seller = h(
      'select',
      { name: 'sellerId', required: true },
      ...sellers.map((x) => h('option', { value: str(x, 'id') }, str(x, 'name'))),
    );
    const listing = h('select', { name: 'listingId' });
    const fillListings = (): void => {
      replace(
        listing,
        h('option', { value: '' }, 'Any of the seller’s listings'),
        ...listings
          .filter((l) => l.seller.id === seller.value)
          .map((l) =>
            h(
              'option',
              { value: l.id, 'data-currency': l.currency },
              `${l.title} (${l.currency.toUpperCase()})`,
            ),
          ),
      );
    };
    seller.addEventListener('change', fillListings);
    fillListings();
    const name = h('input', { type: 'text', name: 'name', required: true, maxlength: 200 });
    const interval = h(
      'select',
      { name: 'interval' },
      h('option', { value: 'month' }, 'month'),
      h('option', { value: 'year' }, 'year'),
    );
    const price = h('input', {
      type: 'text',
      name: 'price',
      inputmode: 'decimal',
      required: true,
      placeholder: '49.00',
    });
    const currencyInput = h('input', { type: 'text', name: 'currency', value: 'usd', maxlength: 3, size: 4 });
    const trial = h('input', { type: 'number', name: 'trialDays', min: 0, max: 730, value: 0, step: 1 });
    const included = h('input', {
      type: 'number',
      name: 'includedBookings',
      min: 0,
      max: 10000,
      value: 0,
      step: 1,
    });
    const msg = h('div', { 'aria-live': 'polite' });
    const submit = h('button', { type: 'submit', className: 'primary' }, 'Create plan');
    const form = h(
      'form',
      { className: 'stack', 'data-testid': 'plan-form', novalidate: true },
      h('label', {}, 'Seller ', seller),
      h('label', {}, 'Listing members book ', listing),
      h('label', {}, 'Name ', name),
      h('label', {}, 'Interval ', interval),
      h('label', {}, 'Price per interval ', price),
      h('label', {}, 'Currency (without a listing) ', currencyInput),
      h('label', {}, 'Trial days ', trial),
      h('label', {}, 'Bookings per period (0 = unlimited) ', included),
      submit,
      msg,
    );
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const chosen = listing.selectedOptions[0];
      const code = (chosen?.dataset.currency ?? currencyInput.value.trim()).toLowerCase();
      const unitAmount = parseDecimalToMinor(price.value.trim(), code);
      if (name.value.trim() === '' || unitAmount === null || unitAmount <= 0) {
        replace(msg, notice('error', 'Enter a name and a price greater than zero.'));
        return;
      }
      submit.disabled = true;
      this.post('/api/admin/plans', {
        sellerId: seller.value,
        ...(listing.value ? { listingId: listing.value } : { currency: code }),
        name: name.value.trim(),
        interval: interval.value,
        unitAmount,
        trialDays: Number(trial.value || 0),
        includedBookings: Number(included.value || 0),
      })
        .then((p) => {
          replace(this.flash, notice('ok', `Plan ${str(p, 'id')} (${str(p, 'name')}) created.`));
          void this.load();
        })
        .catch((err: unknown) => {
          submit.disabled = false;
          replace(msg, notice('error', errorText(err)));
        });
    });
    return h('section', { className: 'card' }, h('h3', {}, 'New plan'), form);
  }

  private async webhooksTable(): Promise<HTMLElement> {
    const filter = byId<HTMLSelectElement>('webhook-filter').value;
    const q = filter === 'all' ? '' : `?status=${encodeURIComponent(filter)}`;
    const { events } = await this.get<{ events: unknown }>(`/api/admin/webhook-events${q}`);
    const body = rows(events).map((e) => {
      const id = str(e, 'id');
      const replay = h('button', { type: 'button', 'data-replay': id }, 'Replay');
      replay.addEventListener('click', () => {
        replay.disabled = true;
        this.post(`/api/admin/webhook-events/${encodeURIComponent(id)}/replay`, {})
          .then((r) => {
            replace(this.flash, notice('ok', `Event ${id} replayed: ${str(r, 'status')}.`));
            void this.load(true);
          })
          .catch((err: unknown) => {
            replay.disabled = false;
            replace(this.flash, notice('error', `Replay of ${id} failed: ${errorText(err)}`));
          });
      });
      return h(
        'tr',
        { 'data-event-id': id },
        td(formatDate(str(e, 'receivedAt', 'received_at'))),
        td(h('code', {}, str(e, 'type'))),
        td(
          str(e, 'endpoint'),
          str(e, 'account') ? h('br') : null,
          str(e, 'account') ? h('small', {}, str(e, 'account')) : null,
        ),
        td(h('code', {}, str(e, 'eventId', 'event_id'))),
        td(statusPill(str(e, 'status'))),
        h('td', { className: 'num' }, str(e, 'attempts')),
        td(h('small', {}, str(e, 'lastError', 'last_error'))),
        td(replay),
      );
    });
    return table(
      ['Received', 'Type', 'Endpoint', 'Event', 'Status', 'Attempts', 'Last error', ''],
      body,
      filter === 'failed' ? 'No failed webhook events. Everything was processed.' : 'No webhook events.',
    );
  }

  private async mailbox(): Promise<HTMLElement> {
    const { notifications } = await this.get<{ notifications: unknown }>('/api/admin/notifications');
    const items = rows(notifications).map((n) =>
      h(
        'article',
        { className: 'mail', 'data-kind': str(n, 'kind') },
        h(
          'header',
          {},
          h('strong', {}, str(n, 'subject')),
          h(
            'small',
            {},
            ` to ${str(n, 'recipient')} · ${str(n, 'kind')} · ${formatDate(str(n, 'createdAt', 'created_at'))}`,
          ),
        ),
        h('pre', {}, str(n, 'body')),
      ),
    );
    return items.length === 0
      ? h('p', { className: 'muted' }, 'The mailbox is empty.')
      : h('div', { className: 'mailbox' }, ...items);
  }
}

let current: Console | null = null;

function showLogin(message?: string): void {
  current?.stop();
  current = null;
  byId('admin-console').hidden = true;
  byId('admin-login').hidden = false;
  replace(byId('login-message'), message ? notice('error', message) : null);
}

async function signIn(token: string): Promise<void> {
  // Validate against a bearer-protected API before showing anything.
  await getJson<unknown>('/api/admin/orders?limit=1', bearer(token));
  setAdminToken(token);
  byId('admin-login').hidden = true;
  byId('admin-console').hidden = false;
  current = new Console(token);
  current.start();
}

export function adminPage(): void {
  const form = byId<HTMLFormElement>('login-form');
  const input = form.elements.namedItem('token') as HTMLInputElement;
  const submit = form.querySelector('button[type=submit]') as HTMLButtonElement;
  const tryToken = (token: string): void => {
    submit.disabled = true;
    signIn(token)
      .catch((err: unknown) => {
        clearAdminToken();
        showLogin(
          err instanceof CheckoutError && err.code === 'unauthorized'
            ? 'unauthorized: that token was refused.'
            : errorText(err),
        );
      })
      .finally(() => {
        submit.disabled = false;
      });
  };
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const token = input.value.trim();
    if (token) tryToken(token);
  });
  byId('admin-signout').addEventListener('click', () => {
    clearAdminToken();
    input.value = '';
    showLogin();
  });
  byId('webhook-filter').addEventListener('change', () => {
    document.querySelector<HTMLButtonElement>('[data-tab="webhooks"]')?.click();
  });
  const saved = getAdminToken();
  if (saved) tryToken(saved);
  else showLogin();
}

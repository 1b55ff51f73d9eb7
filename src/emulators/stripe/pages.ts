import type Stripe from 'stripe';
import { esc, htmlPage, messageBody } from '../kit/pages.js';
import { formatAmount } from './currencies.js';
import type { AccountLinkRecord, SessionRecord } from './store.js';

/** An API amount as Stripe's hosted page shows it (Stripe's own units: ISK 500000 is ISK 5,000). */
export function money(amount: number | null, currency: string | null): string {
  return formatAmount(amount ?? 0, currency ?? 'usd');
}

export { esc };

const CSS = `body{font-family:system-ui,sans-serif;max-width:34rem;margin:2rem auto;padding:0 1rem;color:#1a1f36}
table{width:100%;border-collapse:collapse}td{padding:.3rem 0}td.r{text-align:right}
.total{font-weight:600;border-top:1px solid #ccc}.error{color:#b00020;background:#fde8ea;padding:.6rem;border-radius:4px}
label{display:block;margin:.6rem 0 .2rem}input[type=text]{width:100%;padding:.4rem;box-sizing:border-box}
button{margin-top:1rem;padding:.6rem 1.2rem;background:#635bff;color:#fff;border:0;border-radius:4px}
.badge{font-size:.75rem;background:#fff3cd;padding:.1rem .4rem;border-radius:3px}`;

/** The toolkit's page shell with Stripe's look and the test-mode banner. */
function layout(title: string, body: string): string {
  return htmlPage({ title, body, css: CSS, banner: 'Settle Stripe emulator — test mode' });
}

export function checkoutPage(rec: SessionRecord, error?: string): string {
  const s = rec.session;
  const rows = rec.lineItems
    .map(
      (li) =>
        `<tr data-testid="line-item"><td>${esc(li.description)} × ${esc(li.quantity)}</td><td class="r">${esc(money(li.amount_subtotal, li.currency))}</td></tr>`,
    )
    .join('\n');
  const discount = s.total_details?.amount_discount ?? 0;
  const closed = s.status !== 'open';
  const form = closed
    ? `<p data-testid="status">This checkout session is ${esc(s.status)}.</p>`
    : `<form method="post" action="/c/pay/${esc(s.id)}" data-testid="pay-form">
  ${
    s.allow_promotion_codes
      ? `<label for="promotion_code">Promotion code</label><input type="text" id="promotion_code" name="promotion_code" autocomplete="off">`
      : ''
  }
  <fieldset><legend>Payment method</legend>
    <label><input type="radio" name="payment_method" value="card" checked> Card</label>
    <label for="card_number">Card number</label>
    <input type="text" id="card_number" name="card_number" inputmode="numeric" placeholder="4242 4242 4242 4242" autocomplete="off">
    <label><input type="radio" name="payment_method" value="delayed"> Delayed (bank debit)</label>
  </fieldset>
  <button type="submit" data-testid="pay">${s.mode === 'subscription' ? 'Subscribe' : 'Pay'} ${esc(money(s.amount_total, s.currency))}</button>
</form>
${s.cancel_url ? `<p><a href="${esc(s.cancel_url)}" data-testid="cancel">Cancel</a></p>` : ''}`;
  return layout(
    'Checkout',
    `<h1>Checkout</h1>
${error ? `<p class="error" role="alert" data-testid="error">${esc(error)}</p>` : ''}
<table>
${rows}
${discount > 0 ? `<tr data-testid="discount"><td>Discount</td><td class="r">−${esc(money(discount, s.currency))}</td></tr>` : ''}
<tr class="total"><td>Total</td><td class="r" data-testid="total">${esc(money(s.amount_total, s.currency))}</td></tr>
</table>
${form}`,
  );
}

export function completedPage(rec: SessionRecord): string {
  return layout(
    'Payment complete',
    `<h1>Thanks!</h1><p data-testid="status">Session ${esc(rec.session.id)} is ${esc(rec.session.status)} (${esc(rec.session.payment_status)}).</p>`,
  );
}

export function onboardingPage(link: AccountLinkRecord, account: Stripe.Account): string {
  return layout(
    'Connect onboarding',
    `<h1>Set up your payouts</h1>
<p>Account <code>${esc(account.id)}</code>${account.email ? ` (${esc(account.email)})` : ''}</p>
<form method="post" action="/connect/onboarding/${esc(link.id)}" data-testid="onboarding-form">
  <label for="business_name">Business name</label><input type="text" id="business_name" name="business_name" value="Test business">
  <button type="submit" data-testid="submit">Agree and submit</button>
</form>
<p><a href="${esc(link.refresh_url)}">Start over</a></p>`,
  );
}

export function messagePage(title: string, message: string): string {
  return layout(title, messageBody(title, message));
}

/**
 * The customer portal (`billing_portal.session.url`): the customer's live subscriptions, each with a button to cancel
 * at the end of the period (or to keep it), a card field to change the default payment method, and a link back.
 */
export function portalPage(
  session: Stripe.BillingPortal.Session,
  subscriptions: readonly Stripe.Subscription[],
  notice?: { error: boolean; text: string },
): string {
  const action = `/p/session/${esc(session.id)}`;
  const rows = subscriptions
    .map((sub) => {
      const item = sub.items.data[0];
      const price = item?.price;
      const what = `${esc(price?.nickname ?? price?.product)}: ${esc(money(price?.unit_amount ?? 0, sub.currency))} / ${esc(price?.recurring?.interval)}`;
      const end = item ? new Date(item.current_period_end * 1000).toISOString().slice(0, 10) : '';
      const state = sub.cancel_at_period_end ? `cancels on ${end}` : `${esc(sub.status)}, renews on ${end}`;
      const button = sub.cancel_at_period_end
        ? `<button type="submit" name="action" value="resume" data-testid="resume">Keep subscription</button>`
        : `<button type="submit" name="action" value="cancel" data-testid="cancel">Cancel subscription</button>`;
      return `<form method="post" action="${action}" data-testid="subscription" data-id="${esc(sub.id)}">
  <p>${what} <span class="badge">${state}</span></p>
  <input type="hidden" name="subscription" value="${esc(sub.id)}">${button}
</form>`;
    })
    .join('\n');
  const message = notice
    ? `<p class="${notice.error ? 'error' : 'badge'}" data-testid="notice">${esc(notice.text)}</p>`
    : '';
  return layout(
    'Manage your subscriptions',
    `<h1>Your subscriptions</h1>${message}
${rows || '<p>No active subscriptions.</p>'}
<form method="post" action="${action}" data-testid="card-form">
  <label for="card_number">New card</label>
  <input type="text" id="card_number" name="card_number" inputmode="numeric" placeholder="4242 4242 4242 4242" autocomplete="off">
  <button type="submit" name="action" value="update_card" data-testid="update-card">Update card</button>
</form>
${session.return_url ? `<p><a href="${esc(session.return_url)}" data-testid="return">Return</a></p>` : ''}`,
  );
}

/** The hosted invoice page (`hosted_invoice_url`): the invoice, and a card field while it is open. */
export function invoicePage(invoice: Stripe.Invoice, error?: string): string {
  const lines = invoice.lines.data
    .map(
      (l) => `<tr><td>${esc(l.description)}</td><td class="r">${esc(money(l.amount, l.currency))}</td></tr>`,
    )
    .join('');
  const form =
    invoice.status === 'open'
      ? `<form method="post" action="/i/${esc(invoice.id)}" data-testid="invoice-form">
  <label for="card_number">Card number</label>
  <input type="text" id="card_number" name="card_number" inputmode="numeric" placeholder="4242 4242 4242 4242" autocomplete="off">
  <button type="submit" data-testid="pay">Pay ${esc(money(invoice.amount_remaining, invoice.currency))}</button>
</form>`
      : '';
  return layout(
    `Invoice ${invoice.number ?? invoice.id}`,
    `<h1>Invoice ${esc(invoice.number ?? invoice.id)}</h1>
${error ? `<p class="error" data-testid="error">${esc(error)}</p>` : ''}
<p data-testid="status">Status: ${esc(invoice.status)}</p>
<table>${lines}<tr class="total"><td>Amount due</td><td class="r">${esc(money(invoice.amount_due, invoice.currency))}</td></tr></table>
${form}`,
  );
}

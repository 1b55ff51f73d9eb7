import { esc, htmlPage, messageBody, postForm } from '../kit/pages.js';
import type { Merchant, Order, PaymentLink } from './model.js';

/**
 * The emulator's hosted pages: Square's OAuth permission page and the payment link's checkout page. Both are plain
 * forms that post back to the same URL, so a person, a browser test or `fetch` can drive them; their controls carry
 * `data-testid`s.
 */
const BANNER = 'Settle Square emulator — sandbox';

const CSS = `body{font-family:system-ui,sans-serif;max-width:34rem;margin:2rem auto;padding:0 1rem;color:#1a1f36}
table{width:100%;border-collapse:collapse}td{padding:.3rem 0}td.r{text-align:right}
.error{color:#b00020;background:#fde8ea;padding:.6rem;border-radius:4px}
label{display:block;margin:.4rem 0}input[type=text],input[type=email],select{width:100%;padding:.4rem;box-sizing:border-box}
button{margin:1rem .5rem 0 0;padding:.6rem 1.2rem;border:0;border-radius:4px;background:#006aff;color:#fff}
button[value=deny]{background:#ddd;color:#1a1f36}
.badge{font-size:.75rem;background:#fff3cd;padding:.1rem .4rem;border-radius:3px}`;

export function errorPage(title: string, message: string): string {
  return htmlPage({ title, body: messageBody(title, message), css: CSS, banner: BANNER });
}

export function authorizePage(o: {
  applicationName: string;
  action: string;
  scopes: readonly string[];
  withheld: ReadonlySet<string>;
  sellers: readonly Merchant[];
  hidden: Record<string, string>;
}): string {
  const scopes = o.scopes
    .map(
      (s) =>
        `<label><input type="checkbox" name="grant" value="${esc(s)}" data-testid="scope-${esc(s)}"${
          o.withheld.has(s) ? '' : ' checked'
        }> ${esc(s)}</label>`,
    )
    .join('\n  ');
  const sellers = o.sellers
    .map((m) => `<option value="${esc(m.id)}">${esc(m.businessName)} (${esc(m.id)})</option>`)
    .join('');
  const fields = `<label>Business name (a new seller) <input type="text" name="seller_name" data-testid="seller-name" value="Demo Seller"></label>
  <label>…or reconnect an existing seller <select name="merchant_id" data-testid="merchant"><option value="">(new seller)</option>${sellers}</select></label>
  <p>Permissions requested (untick to grant without):</p>
  ${scopes}`;
  const body = `<h1>${esc(o.applicationName)} would like to access your Square account</h1>
${postForm({
  action: o.action,
  hidden: o.hidden,
  fields,
  buttons: [
    { label: 'Allow', name: 'action', value: 'allow', testId: 'allow' },
    { label: 'Deny', name: 'action', value: 'deny', testId: 'deny' },
  ],
  testId: 'authorize-form',
})}`;
  return htmlPage({ title: 'Square — Authorize', body, css: CSS, banner: BANNER });
}

function amount(n: number, currency: string): string {
  const zero = currency === 'JPY';
  return `${(zero ? n : n / 100).toFixed(zero ? 0 : 2)} ${currency}`;
}

export function checkoutPage(o: {
  link: PaymentLink;
  order: Order;
  merchant: Merchant;
  action: string;
  error?: string;
}): string {
  const rows = o.order.lineItems
    .map(
      (li) =>
        `<tr><td>${esc(li.name)} × ${esc(li.quantity)}</td><td class="r">${esc(amount(li.total, o.order.currency))}</td></tr>`,
    )
    .join('');
  const email =
    typeof o.link.prePopulatedData?.['buyer_email'] === 'string'
      ? o.link.prePopulatedData['buyer_email']
      : '';
  const fields = `<label><input type="radio" name="card" value="ok" data-testid="card-ok" checked> Visa •••• 1111 (approved)</label>
  <label><input type="radio" name="card" value="declined" data-testid="card-declined"> Visa •••• 0002 (declined)</label>
  <label><input type="radio" name="card" value="pending" data-testid="card-pending"> Bank transfer (ACH, stays pending)</label>
  <label>Email <input type="email" name="buyer_email" data-testid="buyer-email" value="${esc(email)}"></label>`;
  const body = `<h1>${esc(o.merchant.businessName)}</h1>
${o.link.description ? `<p>${esc(o.link.description)}</p>` : ''}
<table data-testid="order-summary">${rows}<tr><td><strong>Total</strong></td><td class="r" data-testid="total"><strong>${esc(
    amount(o.order.total, o.order.currency),
  )}</strong></td></tr></table>
${o.error ? `<p class="error" role="alert" data-testid="error">${esc(o.error)}</p>` : ''}
${postForm({ action: o.action, fields, buttons: [{ label: 'Pay', name: 'action', value: 'pay', testId: 'pay' }], testId: 'pay-form' })}`;
  return htmlPage({ title: `Pay ${o.merchant.businessName}`, body, css: CSS, banner: BANNER });
}

export function donePage(title: string, message: string): string {
  return htmlPage({
    title,
    body: `<h1 data-testid="done">${esc(title)}</h1><p>${esc(message)}</p>`,
    css: CSS,
    banner: BANNER,
  });
}

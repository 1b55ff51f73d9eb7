import { esc, htmlPage, messageBody, postForm } from '../kit/pages.js';
import type { Buyer, MerchantRecord, OrderRecord, ReferralRecord } from './model.js';
import { displayAmount } from './money.js';

/**
 * The emulator's hosted pages: the buyer's approval page (the order's `approve` / `payer-action` link) and the
 * seller's onboarding page (the partner referral's `action_url`). Both are plain HTML forms, so a person, a browser
 * test or `curl -d` can drive them; every interpolated value is escaped.
 */
const BANNER = 'Settle PayPal emulator — sandbox, no real money';

const CSS = `body{font-family:system-ui,sans-serif;max-width:32rem;margin:2rem auto;padding:0 1rem;color:#142c8e}
h1{font-size:1.4rem}table{width:100%;border-collapse:collapse}td{padding:.3rem 0}td.r{text-align:right}
.error{color:#b00020;background:#fde8ea;padding:.6rem;border-radius:4px}
fieldset{border:1px solid #cbd2e0;border-radius:6px;margin:1rem 0}label{display:block;margin:.35rem 0}
button{margin:1rem .5rem 0 0;padding:.6rem 1.2rem;border:0;border-radius:20px;background:#ffc439;color:#111;font-weight:600}
button[value=cancel]{background:#e5e7eb}.badge{font-size:.75rem;background:#fff3cd;padding:.1rem .4rem;border-radius:3px}`;

export const BUYER_LABELS: Readonly<Record<Buyer, string>> = {
  normal: 'Buyer with balance (capture completes)',
  declined: 'Buyer whose capture is declined (PAYMENT.CAPTURE.DECLINED)',
  pending: 'Buyer paying by e-check (capture stays PENDING until completed or denied)',
  instrument_declined:
    'Buyer whose funding is refused at capture (422 INSTRUMENT_DECLINED, must approve again)',
};

export function approvalPage(o: OrderRecord, action: string, error?: string): string {
  const brand = o.experience.brandName ?? 'the merchant';
  const rows = o.units
    .map(
      (u) =>
        `<tr><td>${esc(u.description ?? u.referenceId)}<br><small>to ${esc(u.payeeEmail)}</small></td><td class="r" data-testid="amount">${esc(
          displayAmount(u.currency, u.amountMinor),
        )}</td></tr>`,
    )
    .join('\n');
  const buyers = (Object.keys(BUYER_LABELS) as Buyer[])
    .map(
      (b, i) =>
        `<label><input type="radio" name="buyer" value="${esc(b)}"${i === 0 ? ' checked' : ''} data-testid="buyer-${esc(b)}"> ${esc(BUYER_LABELS[b])}</label>`,
    )
    .join('\n  ');
  const payLabel = o.experience.userAction === 'PAY_NOW' ? 'Pay Now' : 'Continue';
  const body = `<h1>Pay ${esc(brand)} with PayPal</h1>
${error ? `<p class="error" role="alert">${esc(error)}</p>` : ''}
<table data-testid="order">${rows}</table>
<p><small>Order ${esc(o.id)} · ${esc(o.status)}</small></p>
${postForm({
  action,
  testId: 'approval-form',
  fields: `<fieldset><legend>Log in as</legend>\n  ${buyers}\n  </fieldset>`,
  buttons: [
    { label: payLabel, name: 'action', value: 'approve', testId: 'approve' },
    { label: `Cancel and return to ${brand}`, name: 'action', value: 'cancel', testId: 'cancel' },
  ],
})}`;
  return htmlPage({ title: `PayPal Checkout - ${brand}`, body, css: CSS, banner: BANNER });
}

export function messagePage(title: string, message: string): string {
  return htmlPage({ title, body: messageBody(title, message), css: CSS, banner: BANNER });
}

export function donePage(title: string, message: string): string {
  return htmlPage({
    title,
    body: `<h1>${esc(title)}</h1><p data-testid="done">${esc(message)}</p>`,
    css: CSS,
    banner: BANNER,
  });
}

export function onboardingPage(
  r: ReferralRecord,
  action: string,
  merchant: MerchantRecord | undefined,
): string {
  const email = typeof r.data['email'] === 'string' ? r.data['email'] : (merchant?.email ?? '');
  const products = Array.isArray(r.data['products']) ? r.data['products'].join(', ') : '';
  const body = `<h1>Connect your PayPal business account</h1>
<p>A platform (partner client <code>${esc(r.partnerClientId)}</code>) asks to process payments for you.</p>
<table>
<tr><td>Tracking id</td><td class="r" data-testid="tracking-id">${esc(r.trackingId ?? '—')}</td></tr>
<tr><td>Products</td><td class="r">${esc(products || '—')}</td></tr>
${merchant ? `<tr><td>Already connected as</td><td class="r">${esc(merchant.merchantId)}</td></tr>` : ''}
</table>
${postForm({
  action,
  testId: 'onboarding-form',
  hidden: { form: '1' },
  fields: `<label>Business e-mail <input type="text" name="email" value="${esc(email)}" data-testid="email"></label>
  <label><input type="checkbox" name="email_confirmed" value="on" checked data-testid="email-confirmed"> Primary e-mail confirmed</label>
  <label><input type="checkbox" name="payments_receivable" value="on" checked data-testid="payments-receivable"> Account can receive payments</label>`,
  buttons: [{ label: 'Agree and Connect', name: 'action', value: 'complete', testId: 'connect' }],
})}`;
  return htmlPage({ title: 'PayPal - Sign up for a business account', body, css: CSS, banner: BANNER });
}

import { esc } from '../util/html.js';

export { esc };
/**
 * Static HTML shells. They contain no data: every page loads /assets/app.js, which reads <body data-page>
 * and renders from the JSON API. Anything interpolated goes through esc(). No inline script or style (CSP).
 */

export interface AssetVersions {
  js: string;
  css: string;
  /** Where payments go, for the footer: the local emulator, Stripe test mode, or live. */
  mode?: PaymentsMode;
}

export type PaymentsMode = 'emulator' | 'test' | 'live';

const MODE_NOTE: Record<PaymentsMode, string> = {
  emulator: 'Test mode: payments go to the local Stripe emulator.',
  test: "Stripe test mode: use Stripe's test cards; no real money moves.",
  live: 'Payments are processed by Stripe.',
};

function layout(page: string, title: string, main: string, v: AssetVersions): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)} · Settle demo</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/assets/app.css?v=${esc(v.css)}">
<script type="module" src="/assets/app.js?v=${esc(v.js)}"></script>
</head>
<body data-page="${esc(page)}">
<header class="topbar">
  <a class="brand" href="/">Settle <span>demo marketplace</span></a>
  <nav>
    <a href="/">Marketplace</a>
    <a href="/sellers/new">New seller</a>
    <a href="/admin">Operator console</a>
  </nav>
</header>
<main>
${main}
</main>
<footer class="footer">${esc(MODE_NOTE[v.mode ?? 'emulator'])} Card data is only ever typed on the provider's page.</footer>
<noscript><p class="notice notice-warn">This demo needs JavaScript.</p></noscript>
</body>
</html>
`;
}

export function marketplaceHtml(v: AssetVersions): string {
  return layout(
    'marketplace',
    'Marketplace',
    `<section class="intro">
  <h1>Book a class</h1>
  <p>Pick a time, choose how many places, and pay on the provider's hosted page. Try the promotion codes
  <code>FREE100</code> and <code>TENOFF</code>, the card <code>4242 4242 4242 4242</code>, or a delayed bank payment.
  Or take a <a href="#memberships">membership</a> and book classes with it.</p>
  <label class="buyer-email">Your email (for the receipt, optional)
    <input type="email" id="buyer-email" name="email" autocomplete="email" placeholder="you@example.com">
  </label>
  <p id="live-status" class="live muted" aria-live="polite">Loading availability…</p>
</section>
<section id="listings" class="listings"><p class="muted">Loading listings…</p></section>
<section id="memberships" class="memberships" aria-labelledby="memberships-title" hidden>
  <h2 id="memberships-title">Memberships</h2>
  <p class="muted">Subscribe once and book classes with your membership. Billed by the provider each period; cancel any time.</p>
  <div id="plans" class="plans"><p class="muted">Loading memberships…</p></div>
</section>`,
    v,
  );
}

export function returnHtml(v: AssetVersions): string {
  return layout(
    'checkout-return',
    'Your order',
    `<section id="confirm" class="card state" data-state="loading" aria-live="polite"><h1>Confirming your payment…</h1></section>`,
    v,
  );
}

export function cancelHtml(v: AssetVersions): string {
  return layout(
    'checkout-cancel',
    'Checkout canceled',
    `<section id="cancel" class="card state" data-state="loading" aria-live="polite"><h1>Canceling…</h1></section>`,
    v,
  );
}

export function subscriptionReturnHtml(v: AssetVersions): string {
  return layout(
    'subscription-return',
    'Your membership',
    `<section id="subscription-confirm" class="card state" data-state="loading" aria-live="polite"><h1>Confirming your membership…</h1></section>`,
    v,
  );
}

export function subscriptionManageHtml(v: AssetVersions): string {
  return layout(
    'subscription-manage',
    'Manage membership',
    `<section id="subscription-manage" class="card" data-state="loading" aria-live="polite"><h1>Your membership</h1><p class="muted">Loading membership…</p></section>`,
    v,
  );
}

export function sellerNewHtml(v: AssetVersions): string {
  return layout(
    'seller-new',
    'New seller',
    `<section class="card narrow">
  <h1>Onboard a seller</h1>
  <p class="muted">Operator action: creates the seller and its connected account, then opens the provider's onboarding page (Stripe, PayPal) or its permission page (Square).</p>
  <form id="seller-form" class="stack" novalidate>
    <label>Operator token <input type="password" name="token" autocomplete="off" required></label>
    <label>Business name <input type="text" name="name" required maxlength="200"></label>
    <label>Email <input type="email" name="email" required></label>
    <label>Provider
      <select name="provider" data-testid="seller-provider">
        <option value="stripe" selected>Stripe (Connect onboarding)</option>
        <option value="paypal">PayPal (partner referral)</option>
        <option value="square">Square (the seller allows Settle on Square's page)</option>
      </select>
    </label>
    <fieldset>
      <legend>Charge type <small>(Stripe)</small></legend>
      <label class="radio"><input type="radio" name="chargeType" value="destination" checked> Destination Charge <small>(platform is merchant of record)</small></label>
      <label class="radio"><input type="radio" name="chargeType" value="direct"> Direct Charge <small>(seller is merchant of record)</small></label>
    </fieldset>
    <button type="submit" class="primary">Create and start onboarding</button>
  </form>
  <div id="seller-message" aria-live="polite"></div>
</section>`,
    v,
  );
}

export function onboardingReturnHtml(v: AssetVersions): string {
  return layout(
    'onboarding-return',
    'Seller onboarding',
    `<section id="onboarding" class="card narrow" data-state="loading" aria-live="polite"><h1>Seller onboarding</h1><p class="muted">Loading account state…</p></section>`,
    v,
  );
}

export function adminHtml(v: AssetVersions): string {
  return layout(
    'admin',
    'Operator console',
    `<section id="admin-login" class="card narrow" hidden>
  <h1>Operator console</h1>
  <p class="muted">Enter the operator token (<code>SETTLE_ADMIN_TOKEN</code>). It stays in this tab's session storage.</p>
  <form id="login-form" class="stack" novalidate>
    <label>Operator token <input type="password" name="token" autocomplete="off" required></label>
    <button type="submit" class="primary">Sign in</button>
  </form>
  <div id="login-message" aria-live="polite"></div>
</section>
<section id="admin-console" hidden>
  <div class="console-head">
    <h1>Operator console</h1>
    <div>
      <button type="button" id="admin-refresh">Refresh</button>
      <button type="button" id="admin-signout">Sign out</button>
    </div>
  </div>
  <nav class="tabs" role="tablist">
    <button type="button" role="tab" data-tab="orders">Orders</button>
    <button type="button" role="tab" data-tab="attention">Needs action</button>
    <button type="button" role="tab" data-tab="disputes">Disputes</button>
    <button type="button" role="tab" data-tab="subscriptions">Subscriptions</button>
    <button type="button" role="tab" data-tab="plans">Plans</button>
    <button type="button" role="tab" data-tab="webhooks">Webhook inbox</button>
    <button type="button" role="tab" data-tab="mailbox">Mailbox</button>
    <label class="filter">Webhooks:
      <select id="webhook-filter">
        <option value="failed" selected>failed</option>
        <option value="processed">processed</option>
        <option value="all">all</option>
      </select>
    </label>
  </nav>
  <div id="admin-flash" aria-live="polite"></div>
  <div id="admin-panel"></div>
  <div id="admin-detail"></div>
</section>`,
    v,
  );
}

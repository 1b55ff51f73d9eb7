/**
 * Browser entry point, bundled at server start by src/web/bundle.ts and served as /assets/app.js.
 * Each HTML shell names its page in <body data-page="…">; this picks the matching module.
 */
import { adminPage } from './pages/admin.js';
import { cancelPage, returnPage } from './pages/checkout-return.js';
import { marketplacePage } from './pages/marketplace.js';
import { onboardingReturnPage, sellerNewPage } from './pages/sellers.js';
import { subscriptionManagePage, subscriptionReturnPage } from './pages/subscriptions.js';

const PAGES: Record<string, () => void> = {
  marketplace: marketplacePage,
  'checkout-return': returnPage,
  'checkout-cancel': cancelPage,
  'subscription-return': subscriptionReturnPage,
  'subscription-manage': subscriptionManagePage,
  'seller-new': sellerNewPage,
  'onboarding-return': onboardingReturnPage,
  admin: adminPage,
};

function boot(): void {
  const page = document.body.dataset.page ?? '';
  PAGES[page]?.();
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', boot);
else boot();

/**
 * A member's manage token (`Settle-Manage-Token`), per subscription, in this tab's sessionStorage only: the subscribe
 * button stores it before leaving for the provider's page, the return and manage pages read it. The welcome mail's
 * link carries it in the URL fragment (never sent to a server), which the manage page moves here.
 */
const PREFIX = 'settle.manageToken.';
const CHECKOUT_PREFIX = 'settle.subscriptionCheckout.';

export function getManageToken(subscriptionId: string): string | null {
  return sessionStorage.getItem(PREFIX + subscriptionId);
}

export function setManageToken(subscriptionId: string, token: string): void {
  sessionStorage.setItem(PREFIX + subscriptionId, token);
}

export function clearManageToken(subscriptionId: string): void {
  sessionStorage.removeItem(PREFIX + subscriptionId);
}

export function manageHeaders(token: string): Record<string, string> {
  return { 'settle-manage-token': token };
}

/** The hosted checkout a subscribe button opened (so a canceled checkout can be resumed while it is open). */
export function getSubscriptionCheckout(subscriptionId: string): string | null {
  return sessionStorage.getItem(CHECKOUT_PREFIX + subscriptionId);
}

export function setSubscriptionCheckout(subscriptionId: string, url: string): void {
  sessionStorage.setItem(CHECKOUT_PREFIX + subscriptionId, url);
}

export function clearSubscriptionCheckout(subscriptionId: string): void {
  sessionStorage.removeItem(CHECKOUT_PREFIX + subscriptionId);
}

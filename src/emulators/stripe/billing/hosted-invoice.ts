import type Stripe from 'stripe';
import { NO_CAUSE, type Engine, type EventCause } from '../engine.js';
import { attachPaymentMethod } from '../resources/payment-methods.js';
import { DECLINES } from '../resources/payments.js';
import type { Scope } from '../store.js';
import { paymentMethodOf } from './checkout.js';
import { afterAttempt } from './cycle.js';
import { attemptPayment, type BillingCtx } from './invoices.js';
import { billingNow } from './time.js';

/** An invoice anywhere (its hosted page carries no Stripe-Account). */
export function locateInvoice(engine: Engine, id: string): { scope: Scope; invoice: Stripe.Invoice } | null {
  const key = engine.store.invoiceScope.get(id);
  const scope = key === undefined ? undefined : engine.store.scope(key);
  const invoice = scope?.invoices.get(id);
  return scope && invoice ? { scope, invoice } : null;
}

export interface InvoicePayResult {
  status: number;
  error?: string;
}

/**
 * The hosted invoice page's form (`hosted_invoice_url`): pays an open invoice with the card typed there, attached
 * to the customer but not made its default. A paid invoice brings a `past_due` or `unpaid` subscription back to
 * `active`.
 */
export function payHostedInvoice(
  engine: Engine,
  invoiceId: string,
  cardNumber: string,
  cause: EventCause = NO_CAUSE,
): InvoicePayResult {
  const found = locateInvoice(engine, invoiceId);
  if (!found) return { status: 404, error: 'This invoice does not exist.' };
  const { scope, invoice } = found;
  if (invoice.status !== 'open') return { status: 400, error: `This invoice is ${String(invoice.status)}.` };
  const subId = invoice.parent?.subscription_details?.subscription;
  const sub = typeof subId === 'string' ? scope.subscriptions.get(subId) : undefined;
  if (!sub) return { status: 400, error: 'This invoice has no subscription.' };
  const number = cardNumber.replace(/[\s-]/g, '');
  if (!/^\d{12,19}$/.test(number)) return { status: 402, error: 'Your card number is invalid.' };
  const decline = DECLINES[number];
  if (decline) return { status: 402, error: decline.message };
  const pm = paymentMethodOf(scope, number);
  attachPaymentMethod(engine, scope, pm, String(sub.customer), cause);
  const ctx: BillingCtx = { engine, scope, cause };
  const now = billingNow(engine, scope, typeof sub.test_clock === 'string' ? sub.test_clock : null);
  const retryAt = invoice.next_payment_attempt;
  const failure = attemptPayment(ctx, invoice, sub, now, pm);
  if (failure !== null) {
    invoice.next_payment_attempt = retryAt;
    return { status: 402, error: failure.message };
  }
  afterAttempt(ctx, sub, invoice, null, now);
  return { status: 200 };
}

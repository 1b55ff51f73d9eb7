import type { OrderView } from '../api.js';
import { formatDate, h, statusPill } from '../dom.js';
import { formatMinor } from '../money.js';

/** The buyer-facing order summary (return page, cancel page). */
export function orderSummary(o: OrderView): HTMLElement {
  const row = (label: string, value: Node | string, testid?: string): HTMLTableRowElement =>
    h('tr', {}, h('th', {}, label), h('td', testid ? { 'data-testid': testid } : {}, value));
  return h(
    'table',
    { className: 'summary', 'data-testid': 'order-summary' },
    h(
      'tbody',
      {},
      row('Order', h('code', {}, o.id)),
      row('Status', statusPill(o.status)),
      row('Class', o.listing.title),
      row('Seller', o.seller.name),
      row('When', formatDate(o.slot.startsAt)),
      row('Quantity', String(o.quantity)),
      row('Subtotal', formatMinor(o.subtotal, o.currency)),
      o.discount > 0
        ? row(
            `Discount${o.promotionCode ? ` (${o.promotionCode})` : ''}`,
            `−${formatMinor(o.discount, o.currency)}`,
          )
        : null,
      row('Total', h('strong', {}, formatMinor(o.total, o.currency)), 'order-total'),
      o.refundedAmount > 0
        ? row('Refunded', formatMinor(o.refundedAmount, o.currency), 'order-refunded')
        : null,
      o.paidAt ? row('Paid at', formatDate(o.paidAt)) : null,
    ),
  );
}

import { errorText, getJson, post, type OrderView } from '../api.js';
import { confirmOnReturn, type ConfirmState } from '../checkout.js';
import { byId, h, notice, param, replace, type Child } from '../dom.js';
import { orderSummary } from './order-summary.js';

interface StateView {
  title: string;
  kind: 'info' | 'ok' | 'warn' | 'error';
  text: string;
  /** Show the order summary for this state. */
  summary: boolean;
}

const VIEWS: Record<ConfirmState, StateView> = {
  confirming: {
    title: 'Confirming your payment…',
    kind: 'info',
    text: 'We are checking with the payment provider. This usually takes a second.',
    summary: false,
  },
  pending: {
    title: 'Confirming your payment…',
    kind: 'info',
    text: 'The payment provider has not finished yet. We keep checking.',
    summary: false,
  },
  processing: {
    title: 'Payment processing',
    kind: 'info',
    text: "Your bank has not confirmed the payment yet. Your place is reserved; we'll email you when the bank confirms. You can close this page.",
    summary: true,
  },
  paid: {
    title: 'Confirmed — you are booked',
    kind: 'ok',
    text: 'Your payment went through and your place is confirmed. A receipt is on its way to your inbox.',
    summary: true,
  },
  paid_oversold: {
    title: 'Sold out while you paid',
    kind: 'warn',
    text: 'The last place was taken while you were paying. You have been refunded in full; nothing is charged.',
    summary: true,
  },
  needs_review: {
    title: 'Payment under review',
    kind: 'warn',
    text: 'The payment did not match your order exactly, so a person will check it. We will email you; no action is needed.',
    summary: true,
  },
  failed: {
    title: 'Payment failed',
    kind: 'error',
    text: 'The payment did not go through and nothing was charged. The place was released; you can try again.',
    summary: false,
  },
  expired: {
    title: 'Checkout expired',
    kind: 'error',
    text: 'The checkout timed out before a payment arrived. The place was released; you can try again.',
    summary: false,
  },
  canceled: {
    title: 'Checkout canceled',
    kind: 'info',
    text: 'This checkout was canceled and the place released. Nothing was charged.',
    summary: false,
  },
  refunded: {
    title: 'Order refunded',
    kind: 'info',
    text: 'This order was refunded in full; nothing is charged. (If the last place sold out while you were paying, this is the automatic refund.)',
    summary: true,
  },
};

export function returnPage(): void {
  const root = byId('confirm');
  const orderId = param('order');
  const show = (state: string, title: string, kind: StateView['kind'], ...body: Child[]): void => {
    root.dataset.state = state;
    replace(root, h('h1', { 'data-testid': 'state-title' }, title), notice(kind, ...body));
  };
  if (!orderId) {
    show('error', 'No order', 'error', 'This page needs ?order=ord_… in its address.');
    return;
  }

  const render = (state: ConfirmState): void => {
    const view = VIEWS[state];
    show(state, view.title, view.kind, view.text);
    if (view.summary) {
      const box = h('div', { className: 'summary-box' }, h('p', { className: 'muted' }, 'Loading order…'));
      root.appendChild(box);
      getJson<OrderView>(`/api/orders/${encodeURIComponent(orderId)}`)
        .then((o) => {
          if (root.dataset.state === state) replace(box, orderSummary(o));
        })
        .catch((err: unknown) =>
          replace(box, notice('error', `Could not load the order: ${errorText(err)}`)),
        );
    }
    if (state !== 'confirming' && state !== 'pending') {
      root.appendChild(h('p', {}, h('a', { href: '/', className: 'button' }, 'Back to the marketplace')));
    }
  };

  const check = (): void => {
    let last = '';
    confirmOnReturn(orderId, {
      onState: (state) => {
        // Repeated reports of the same state do not redraw (no flicker while polling).
        if (state === last) return;
        last = state;
        render(state);
      },
    })
      .then((outcome) => {
        if (outcome.final || outcome.status === 'processing') return;
        show(
          'unconfirmed',
          'Still confirming',
          'warn',
          'We could not confirm the payment yet. If you paid, nothing is lost: the payment is matched to your order as soon as the provider tells us.',
        );
        const again = h('button', { type: 'button', className: 'primary' }, 'Check again');
        again.addEventListener('click', check);
        root.appendChild(again);
      })
      .catch((err: unknown) => {
        show('error', 'Something went wrong', 'error', errorText(err));
      });
  };
  check();
}

export function cancelPage(): void {
  const root = byId('cancel');
  const orderId = param('order');
  const show = (state: string, title: string, kind: StateView['kind'], text: string): void => {
    root.dataset.state = state;
    replace(
      root,
      h('h1', { 'data-testid': 'state-title' }, title),
      notice(kind, text),
      h('p', {}, h('a', { href: '/', className: 'button' }, 'Back to the marketplace')),
    );
  };
  if (!orderId) {
    show('error', 'No order', 'error', 'This page needs ?order=ord_… in its address.');
    return;
  }
  post('/api/checkout/cancel', { orderId })
    .then((res) => {
      const status = typeof res.status === 'string' ? res.status : 'unknown';
      if (status === 'canceled' || status === 'expired') {
        // Either way the provider checkout is closed, nothing was charged and the hold is released. (The
        // provider's own `expired` event can win the race against our cancel, so both read the same.)
        show(
          status,
          'Checkout canceled',
          'info',
          'Nothing was charged and your place was released for others.',
        );
      } else if (status === 'paid' || status === 'processing' || status === 'paid_oversold') {
        root.dataset.state = status;
        replace(
          root,
          h('h1', { 'data-testid': 'state-title' }, 'This order was already paid'),
          notice('info', 'The payment arrived before the cancel, so nothing was canceled.'),
          h(
            'p',
            {},
            h(
              'a',
              { href: `/checkout/return?order=${encodeURIComponent(orderId)}`, className: 'button' },
              'See the order',
            ),
          ),
        );
      } else {
        show(status, `Order is ${status}`, 'info', 'Nothing to cancel.');
      }
    })
    .catch((err: unknown) => show('error', 'Could not cancel', 'error', errorText(err)));
}

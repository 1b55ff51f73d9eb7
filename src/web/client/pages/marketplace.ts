import { errorText, getJson, type ListingView, type SlotView } from '../api.js';
import { CheckoutError, forgetCheckoutIntents, startCheckout } from '../checkout.js';
import { byId, formatDate, h, notice, replace } from '../dom.js';
import { formatMinor } from '../money.js';
import { renderPlans } from './subscriptions.js';

const POLL_MS = 3000;
const EMAIL_KEY = 'settle.buyerEmail';

interface SlotCells {
  sold: HTMLElement;
  held: HTMLElement;
  available: HTMLElement;
  quantity: HTMLInputElement;
  button: HTMLButtonElement;
  row: HTMLElement;
  ready: boolean;
  busy: boolean;
}

const slotCells = new Map<string, SlotCells>();
let renderedKey = '';

function providerLabel(p: string): string {
  return p === 'paypal' ? 'PayPal' : p === 'stripe' ? 'Card (Stripe)' : p === 'square' ? 'Square' : p;
}

function chargeTypeLabel(t: string): string {
  return t === 'direct' ? 'Direct Charge' : t === 'destination' ? 'Destination Charge' : t;
}

function updateSlot(cells: SlotCells, slot: SlotView): void {
  cells.sold.textContent = String(slot.sold);
  cells.held.textContent = String(slot.held);
  cells.available.textContent = String(slot.available);
  cells.quantity.max = String(Math.max(1, slot.available));
  cells.row.classList.toggle('sold-out', slot.available <= 0);
  if (!cells.busy) {
    cells.button.disabled = !cells.ready || slot.available <= 0;
    cells.button.textContent = !cells.ready ? 'Seller not ready' : slot.available <= 0 ? 'Sold out' : 'Buy';
  }
}

function buyForm(
  slot: SlotView,
  cells: Omit<SlotCells, 'row'>,
  providers: readonly string[],
): HTMLFormElement {
  const promo = h('input', {
    type: 'text',
    name: 'promotionCode',
    placeholder: 'Promotion code',
    autocomplete: 'off',
    'aria-label': 'Promotion code',
    className: 'promo',
  });
  const message = h('div', { className: 'buy-message', 'aria-live': 'polite' });
  // A seller ready on several providers: the buyer picks one (the first is the platform's default).
  const providerSelect =
    providers.length > 1
      ? h(
          'select',
          { name: 'provider', 'aria-label': 'Pay with', className: 'provider' },
          ...providers.map((p) => h('option', { value: p }, providerLabel(p))),
        )
      : null;
  const form = h(
    'form',
    { className: 'buy', 'data-slot-id': slot.id, novalidate: true },
    h('label', {}, 'Qty ', cells.quantity),
    promo,
    providerSelect === null ? null : h('label', {}, 'Pay with ', providerSelect),
    cells.button,
    message,
  );
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    if (cells.busy) return; // a double click while in flight is ignored; startCheckout would dedupe it anyway
    const quantity = Number(cells.quantity.value);
    const email = (document.getElementById('buyer-email') as HTMLInputElement | null)?.value.trim() ?? '';
    const promotionCode = promo.value.trim();
    cells.busy = true;
    cells.button.disabled = true;
    cells.button.textContent = 'Starting checkout…';
    replace(message);
    startCheckout({
      slotId: slot.id,
      quantity,
      ...(promotionCode ? { promotionCode } : {}),
      ...(email ? { email } : {}),
      ...(providerSelect !== null ? { provider: (providerSelect as HTMLSelectElement).value } : {}),
    })
      .then(({ checkoutUrl }) => {
        cells.button.textContent = 'Redirecting to payment…';
        location.assign(checkoutUrl);
      })
      .catch((err: unknown) => {
        cells.busy = false;
        cells.button.disabled = false;
        cells.button.textContent = 'Buy';
        const text =
          err instanceof CheckoutError && err.code === 'slot_unavailable'
            ? `${err.message} Try a smaller quantity or another time.`
            : errorText(err);
        replace(message, notice('error', text));
      });
  });
  return form;
}

function renderListing(listing: ListingView): HTMLElement {
  const ready = listing.seller.ready;
  const rows = listing.slots.map((slot) => {
    const quantity = h('input', {
      type: 'number',
      name: 'quantity',
      min: 1,
      max: Math.max(1, slot.available),
      value: 1,
      step: 1,
      className: 'qty',
    });
    const button = h('button', { type: 'submit', className: 'primary' }, 'Buy');
    const sold = h('td', { className: 'num', 'data-col': 'sold' });
    const held = h('td', { className: 'num', 'data-col': 'held' });
    const available = h('td', { className: 'num', 'data-col': 'available' });
    const partial = { sold, held, available, quantity, button, ready, busy: false };
    const row = h(
      'tr',
      { 'data-slot-id': slot.id },
      h('td', {}, formatDate(slot.startsAt)),
      h('td', { className: 'num' }, slot.capacity),
      sold,
      held,
      available,
      h('td', {}, buyForm(slot, partial, listing.seller.providers)),
    );
    const cells: SlotCells = { ...partial, row };
    slotCells.set(slot.id, cells);
    updateSlot(cells, slot);
    return row;
  });
  return h(
    'article',
    { className: 'card listing', 'data-listing-id': listing.id },
    h(
      'header',
      { className: 'listing-head' },
      h('h2', {}, listing.title),
      h(
        'span',
        { className: 'price', 'data-testid': 'price' },
        formatMinor(listing.unitAmount, listing.currency),
      ),
    ),
    h(
      'p',
      { className: 'meta' },
      'by ',
      h('strong', {}, listing.seller.name),
      ' · ',
      listing.seller.chargeType === null
        ? null
        : h(
            'span',
            { className: `badge badge-${listing.seller.chargeType}` },
            chargeTypeLabel(listing.seller.chargeType),
          ),
      ready ? null : h('span', { className: 'badge badge-warn' }, 'onboarding incomplete'),
    ),
    listing.description ? h('p', { className: 'description' }, listing.description) : null,
    listing.slots.length === 0
      ? h('p', { className: 'muted' }, 'No times scheduled yet.')
      : h(
          'table',
          { className: 'slots' },
          h(
            'thead',
            {},
            h(
              'tr',
              {},
              h('th', {}, 'When'),
              h('th', { className: 'num' }, 'Capacity'),
              h('th', { className: 'num' }, 'Sold'),
              h('th', { className: 'num' }, 'Held'),
              h('th', { className: 'num' }, 'Available'),
              h('th', {}, ''),
            ),
          ),
          h('tbody', {}, ...rows),
        ),
  );
}

async function refresh(container: HTMLElement, status: HTMLElement): Promise<void> {
  try {
    const { listings } = await getJson<{ listings: ListingView[] }>('/api/listings');
    const key = listings
      .map((l) => `${l.id}:${l.seller.ready}:${l.slots.map((s) => s.id).join(',')}`)
      .join('|');
    if (key !== renderedKey) {
      renderedKey = key;
      slotCells.clear();
      replace(
        container,
        ...(listings.length === 0
          ? [h('p', { className: 'muted' }, 'No listings yet.')]
          : listings.map(renderListing)),
      );
    } else {
      for (const l of listings) {
        for (const s of l.slots) {
          const cells = slotCells.get(s.id);
          if (cells) updateSlot(cells, s);
        }
      }
    }
    replace(status, `Live availability · updated ${new Date().toLocaleTimeString()}`);
    status.classList.remove('stale');
  } catch (err) {
    replace(status, `Could not refresh availability: ${errorText(err)}`);
    status.classList.add('stale');
  }
}

export function marketplacePage(): void {
  const container = byId('listings');
  const status = byId('live-status');
  const email = byId<HTMLInputElement>('buyer-email');
  email.value = sessionStorage.getItem(EMAIL_KEY) ?? '';
  email.addEventListener('change', () => sessionStorage.setItem(EMAIL_KEY, email.value.trim()));
  const memberships = byId('memberships');
  const plans = byId('plans');
  void renderPlans(memberships, plans);

  let timer: ReturnType<typeof setTimeout> | undefined;
  const loop = async (): Promise<void> => {
    await refresh(container, status);
    timer = setTimeout(() => void loop(), POLL_MS);
  };
  void loop();
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible') {
      clearTimeout(timer);
      void loop();
    }
  });
  // Back from the hosted page via the back/forward cache: the old intent was abandoned; start fresh.
  window.addEventListener('pageshow', (ev) => {
    if (!ev.persisted) return;
    forgetCheckoutIntents();
    void renderPlans(memberships, plans);
    renderedKey = '';
    clearTimeout(timer);
    void loop();
  });
}
